/*
 * Paging strategy interface (one plugin links in: paging_plugin).
 *
 * init() builds the kernel's own page tables and switches CR3 to them:
 *   - all RAM at DIRECT_MAP_BASE, with 2 MiB pages (plus the 3-4 GiB MMIO
 *     window, uncached);
 *   - the kernel image at KERNEL_VMA (-2 GiB);
 *   - nothing in the lower half (it is for user space).
 * map/unmap/translate then manage 4 KiB pages anywhere outside those.
 */
#ifndef PYOS_PAGING_H
#define PYOS_PAGING_H

#include <stdint.h>
#include <pyos/mm_stats.h>

#define PTE_PRESENT 0x001ULL
#define PTE_WRITE 0x002ULL
#define PTE_USER 0x004ULL
#define PTE_PWT 0x008ULL
#define PTE_PCD 0x010ULL
#define PTE_HUGE 0x080ULL
#define PTE_GLOBAL 0x100ULL
#define PTE_NX (1ULL << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000ULL

#define PAGING_NOT_MAPPED (~0ULL)

struct paging_ops {
    uint32_t interface_version;    /* PAGING_INTERFACE */
    const char *name;
    void (*init)(uint64_t ram_bytes, struct paging_stats *stats);
    int (*map)(uint64_t virt, uint64_t phys, uint64_t flags);  /* 0, or -1 (no memory / already mapped) */
    int (*unmap)(uint64_t virt);                                /* 0, or -1 if not mapped */
    uint64_t (*translate)(uint64_t virt);                       /* physical address, or PAGING_NOT_MAPPED */
};

extern const struct paging_ops paging_plugin;

#endif
