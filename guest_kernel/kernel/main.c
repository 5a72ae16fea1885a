/* Kernel entry in C: from boot information to a running kernel. */
#include <pyos/bootinfo.h>
#include <pyos/kernel.h>
#include <pyos/string.h>
#include <pyos/uart.h>

int bootinfo_init(uint64_t info_phys, uint32_t protocol);
void crash_if_asked(void);
void bench_if_asked(void);

extern char _kernel_phys_start[], _kernel_end[];

static const char *memory_type_name(uint32_t type)
{
    switch (type) {
    case PYOS_MEM_USABLE: return "usable";
    case PYOS_MEM_RESERVED: return "reserved";
    case PYOS_MEM_BOOT_DATA: return "boot data";
    case PYOS_MEM_KERNEL: return "kernel";
    default: return "unknown";
    }
}

static void print_memory_map(void)
{
    uint64_t usable = 0;
    printk("memory map (%u entries):\n", boot_info.memmap_count);
    for (uint32_t i = 0; i < boot_info.memmap_count; i++) {
        const struct pyos_memmap_entry *e = &boot_info.memmap[i];
        printk("  [%#018lx-%#018lx] %s\n", e->base, e->base + e->length - 1, memory_type_name(e->type));
        if (e->type == PYOS_MEM_USABLE)
            usable += e->length;
    }
    printk("usable memory: %lu KiB\n", usable / 1024);
}

static void kmain(void)
{
    const char *how = boot_info.boot_protocol == PYOS_BOOT_PVH ? "PVH entry" : "pyos-vmm direct 64-bit entry";
    printk("pyos %s x86_64 kernel, booted via %s\n", PYOS_VERSION, how);
    printk("kernel image: phys %#lx-%#lx\n", (uint64_t)_kernel_phys_start,
           (uint64_t)_kernel_end - KERNEL_VMA - 1);
    print_memory_map();
    printk("command line: \"%s\"\n", boot_info.cmdline);

    crash_if_asked();
    bench_if_asked();

    char value[16];
    if (cmdline_get("idle", value, sizeof value)) {
        printk("idle=%s: halting with interrupts enabled until the VMM stops us\n", value);
        for (;;)
            __asm__ volatile("sti; hlt");
    }
    if (cmdline_get("spin", value, sizeof value)) {
        printk("spin=%s: spinning in kernel mode until the VMM stops us\n", value);
        for (;;)
            __asm__ volatile("" ::: "memory");
    }
    int status = 0;
    if (cmdline_get("exit", value, sizeof value))
        status = (int)strtol(value, NULL, 0);
    printk("pyos: nothing more to do, powering off with status %d\n", status);
    poweroff(status);
}

void kernel_start(uint64_t info_phys, uint32_t protocol)
{
    int ok = bootinfo_init(info_phys, protocol);
    uart_init(boot_info.serial_port ? boot_info.serial_port : 0x3f8);
    if (!ok)
        panic("boot information at phys %#lx is not valid (protocol %u)", info_phys, protocol);
    kmain();
}
