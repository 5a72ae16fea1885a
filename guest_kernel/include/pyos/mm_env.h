/*
 * What the kernel offers memory-subsystem plugins: the whole environment a
 * plugin may use. The host-side harness (vmm/harness/) provides the same
 * functions over a malloc'd arena, so plugin code runs unchanged on the host.
 */
#ifndef PYOS_MM_ENV_H
#define PYOS_MM_ENV_H

#include <stddef.h>
#include <stdint.h>

#ifdef PYOS_HARNESS
void *phys_to_virt(uint64_t phys);
uint64_t virt_to_phys(const void *virt);
/* The MMU's view of an address (the recursive paging plugin reads tables through it). */
void *mmu_access(uint64_t virt);
void load_cr3(uint64_t phys);
void invlpg(uint64_t virt);
#define DIRECT_MAP_BASE 0xFFFF800000000000UL
#define KERNEL_VMA 0xFFFFFFFF80000000UL
#else
#include <pyos/kernel.h>
static inline uint64_t virt_to_phys(const void *virt)
{
    uint64_t v = (uint64_t)virt;
    return v >= KERNEL_VMA ? v - KERNEL_VMA : v - DIRECT_MAP_BASE;
}
static inline void *mmu_access(uint64_t virt) { return (void *)virt; }
static inline void load_cr3(uint64_t phys) { __asm__ volatile("mov %0, %%cr3" : : "r"(phys) : "memory"); }
static inline void invlpg(uint64_t virt) { __asm__ volatile("invlpg (%0)" : : "r"(virt) : "memory"); }
#endif

int printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);

/* Frames for plugins built on the frame allocator (heap, paging). */
uint64_t frame_alloc(unsigned order);
void frame_free(uint64_t phys, unsigned order);

/* Free an address space reached through the direct map: the lower half's
 * tables, the PTE_OWNED frames they map, and the root. Returns the number of
 * page-table pages freed. (kernel/page_tables.c) */
uint64_t page_tables_free_space(uint64_t root);

/* Physical extent of the kernel image: paging maps it at KERNEL_VMA. */
uint64_t kernel_image_end_phys(void);

/* Whether the CPU can map 1 GiB pages (CPUID 0x80000001 EDX bit 26). The
 * kernel asks the CPU (arch/x86_64/cpu.c); the host harness asks the host's
 * CPU unless told to answer no (`harness --no-1g-pages`), so that the 2 MiB
 * path of a paging plugin is exercised on any host. */
int cpu_has_1g_pages(void);

#endif
