/*
 * The boot information, from either entry path. A direct boot by pyos-vmm
 * hands us struct pyos_boot_info as is; a PVH boot hands us Xen's
 * hvm_start_info, which we translate into the same structure.
 */
#include <pyos/bootinfo.h>
#include <pyos/kernel.h>
#include <pyos/string.h>

#define HVM_START_MAGIC 0x336ec578
#define E820_RAM 1

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;      /* version >= 1 */
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct hvm_memmap_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

struct pyos_boot_info boot_info;

/* Defaults for a PVH boot: the PC's COM1 and the QEMU isa-debug-exit port. */
#define PVH_SERIAL_PORT 0x3f8
#define PVH_EXIT_PORT 0xf4
#define PVH_TIMER_HZ 100

static void from_pvh(uint64_t info_phys)
{
    const struct hvm_start_info *pvh = phys_to_virt(info_phys);
    boot_info.magic = PYOS_BOOT_MAGIC;
    boot_info.version = PYOS_BOOT_VERSION;
    boot_info.boot_protocol = PYOS_BOOT_PVH;
    boot_info.serial_port = PVH_SERIAL_PORT;
    boot_info.exit_port = PVH_EXIT_PORT;
    boot_info.timer_hz = PVH_TIMER_HZ;
    if (pvh->magic != HVM_START_MAGIC)
        return;
    if (pvh->cmdline_paddr)
        strncpy_z(boot_info.cmdline, phys_to_virt(pvh->cmdline_paddr), sizeof boot_info.cmdline);
    if (pvh->version >= 1 && pvh->memmap_paddr) {
        const struct hvm_memmap_entry *e = phys_to_virt(pvh->memmap_paddr);
        uint32_t n = pvh->memmap_entries < PYOS_MEMMAP_MAX ? pvh->memmap_entries : PYOS_MEMMAP_MAX;
        uint32_t count = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (!e[i].size)
                continue;  /* QEMU may hand over empty entries */
            boot_info.memmap[count].base = e[i].addr;
            boot_info.memmap[count].length = e[i].size;
            boot_info.memmap[count].type = e[i].type == E820_RAM ? PYOS_MEM_USABLE : PYOS_MEM_RESERVED;
            if (e[i].type == E820_RAM)
                boot_info.ram_bytes += e[i].size;
            count++;
        }
        boot_info.memmap_count = count;
    }
}

/* Returns 0 when the structure we were given is not one we understand. */
int bootinfo_init(uint64_t info_phys, uint32_t protocol)
{
    if (protocol == PYOS_BOOT_PVH) {
        from_pvh(info_phys);
        return ((const struct hvm_start_info *)phys_to_virt(info_phys))->magic == HVM_START_MAGIC;
    }
    memcpy(&boot_info, phys_to_virt(info_phys), sizeof boot_info);
    boot_info.cmdline[PYOS_CMDLINE_MAX - 1] = 0;
    if (boot_info.memmap_count > PYOS_MEMMAP_MAX)
        boot_info.memmap_count = PYOS_MEMMAP_MAX;
    return boot_info.magic == PYOS_BOOT_MAGIC && boot_info.version == PYOS_BOOT_VERSION;
}
