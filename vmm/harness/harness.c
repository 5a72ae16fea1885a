/*
 * Host-side harness for the memory plugins: the same plugin sources and the
 * same kernel/mm_selftest.c, compiled for the host with -DPYOS_HARNESS.
 *
 * "Physical memory" is a malloc'd arena that starts at physical ARENA_BASE;
 * phys_to_virt() maps into it. A software MMU (mmu_access) walks the page
 * tables the paging plugin builds in the arena, from the root given to
 * load_cr3(), so virtual addresses the plugins create resolve as the CPU
 * would resolve them (the recursive slot included).
 *
 *   harness selftest MIB      run the self-tests; exit status = failures
 *   harness bench MIB N       N-iteration micro-benchmarks, ns/op
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pyos/counters.h>
#include <pyos/frame_alloc.h>
#include <pyos/heap.h>
#include <pyos/mm_env.h>
#include <pyos/mm_selftest.h>
#include <pyos/paging.h>

#define ARENA_BASE 0x100000UL   /* below it: the "kernel image" */

static unsigned char *arena;
static uint64_t arena_bytes;
static uint64_t cr3;
struct pyos_counters pyos_counters;

void *phys_to_virt(uint64_t phys)
{
    if (phys < ARENA_BASE || phys >= ARENA_BASE + arena_bytes) {
        fprintf(stderr, "harness: physical address %#lx is outside the arena\n", phys);
        abort();
    }
    return arena + (phys - ARENA_BASE);
}

uint64_t virt_to_phys(const void *virt)
{
    return (uint64_t)((const unsigned char *)virt - arena) + ARENA_BASE;
}

void load_cr3(uint64_t phys) { cr3 = phys; }
void invlpg(uint64_t virt) { (void)virt; }
uint64_t kernel_image_end_phys(void) { return ARENA_BASE; }

void *mmu_access(uint64_t virt)
{
    uint64_t table = cr3;
    for (int level = 4; level >= 1; level--) {
        uint64_t e = ((uint64_t *)phys_to_virt(table))[(virt >> (12 + 9 * (level - 1))) & 511];
        if (!(e & PTE_PRESENT)) {
            fprintf(stderr, "harness: page fault: %#lx is not mapped (level %d)\n", virt, level);
            abort();
        }
        uint64_t page = 1UL << (12 + 9 * (level - 1));
        if (level == 1 || (level <= 3 && (e & PTE_HUGE)))
            return phys_to_virt((e & PTE_ADDR_MASK & ~(page - 1)) | (virt & (page - 1)));
        table = e & PTE_ADDR_MASK;
    }
    return NULL;
}

int printk(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

void panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "PANIC: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(99);
}

uint64_t frame_alloc(unsigned order) { return frame_alloc_plugin.alloc(order); }
void frame_free(uint64_t phys, unsigned order) { frame_alloc_plugin.free(phys, order); }

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void refresh(void)
{
    if (frame_alloc_plugin.refresh_stats)
        frame_alloc_plugin.refresh_stats();
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s selftest|bench MIB [ITERATIONS]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);  /* keep every line even if a plugin crashes us */
    arena_bytes = strtoull(argv[2], NULL, 0) << 20;
    arena = aligned_alloc(1 << 21, arena_bytes);
    memset(arena, 0, arena_bytes);

    /* As the kernel does: the early allocator gives the metadata, the rest is the allocator's. */
    uint64_t frames = arena_bytes >> FRAME_SHIFT;
    uint64_t meta = frame_alloc_plugin.metadata_bytes(ARENA_BASE >> FRAME_SHIFT, frames);
    meta = (meta + FRAME_SIZE - 1) & ~(FRAME_SIZE - 1);
    struct frame_region region = {ARENA_BASE + meta, arena_bytes - meta};
    frame_alloc_plugin.init(&region, 1, phys_to_virt(ARENA_BASE), &pyos_counters.frames);
    paging_plugin.init(ARENA_BASE + arena_bytes, &pyos_counters.paging);
    heap_plugin.init(&pyos_counters.heap);
    printf("harness: frame allocator '%s', heap '%s', paging '%s', %s MiB\n", frame_alloc_plugin.name,
           heap_plugin.name, paging_plugin.name, argv[2]);

    struct mm_selftest_env env = {&pyos_counters.frames, &pyos_counters.heap, now_ns, refresh,
                                  &pyos_counters.paging};
    if (!strcmp(argv[1], "bench")) {
        mm_bench(&env, argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 1000000);
        return 0;
    }
    mm_selftest_frames(&env);
    mm_selftest_heap(&env);
    uint64_t probe = ARENA_BASE / 2;  /* inside the "kernel image", mapped at KERNEL_VMA */
    mm_selftest_paging(&env, KERNEL_VMA + probe, probe);
    printf("selftest memory: %d passed, %d failed\n", mm_selftest_passed, mm_selftest_failed);
    return mm_selftest_failed ? 1 : 0;
}
