/*
 * Paging strategy interface (one plugin links in: paging_plugin).
 *
 * init() builds the kernel's own page tables and switches CR3 to them:
 *   - all RAM at DIRECT_MAP_BASE, with large pages (2 MiB, or 1 GiB where
 *     cpu_has_1g_pages() says so, if the plugin uses them), writable, global,
 *     not executable (NX), kernel only;
 *   - the 3-4 GiB MMIO window there too, likewise but uncached (PCD and PWT)
 *     and not global;
 *   - the kernel image at KERNEL_VMA (-2 GiB), 2 MiB pages, writable, global
 *     and executable, kernel only;
 *   - nothing in the lower half (it is for user space).
 * map/unmap/translate then manage 4 KiB pages anywhere outside those, in the
 * current address space. Every address space shares the kernel half (PML4
 * slots 256-511): new_space() copies its entries, so they must not change
 * while a space made by new_space() exists. init creates the slots it maps;
 * others get their tables when first mapped, which must happen while no such
 * space exists (else a kernel-half map needing a new slot fails). The lower
 * half is each process's own.
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
#define PTE_OWNED 0x200ULL    /* software bit: free_space() frees this frame */
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
    /* Interface 2: address spaces, named by the physical address of their root. */
    uint64_t (*new_space)(void);            /* empty lower half, the kernel half shared; 0 if no memory */
    void (*switch_space)(uint64_t root);    /* make it current (load CR3) */
    uint64_t (*current_space)(void);
    /* Free every page of the lower half (the frames mapped there too) and the
     * tables; root must not be current. */
    void (*free_space)(uint64_t root);
};

extern const struct paging_ops paging_plugin;

#endif
