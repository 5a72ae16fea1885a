/*
 * Memory-subsystem self-tests and micro-benchmarks (kernel/mm_selftest.c).
 * The same file is compiled into the kernel (selftest=memory, bench=memory)
 * and into the host harness (vmm/harness), so a plugin's logic is checked
 * at native speed and in the guest by the very same code.
 */
#ifndef PYOS_MM_SELFTEST_H
#define PYOS_MM_SELFTEST_H

#include <stdint.h>
#include <pyos/mm_stats.h>

struct mm_selftest_env {
    struct frame_alloc_stats *frames;
    struct heap_stats *heap;
    uint64_t (*now_ns)(void);     /* a clock for the benchmarks */
    void (*refresh_stats)(void);  /* brings frames->largest_free_frames up to date */
    struct paging_stats *paging;  /* direct_map_bytes: how much RAM init() mapped */
};

/* Each returns the number of failed checks and prints a line per check. */
int mm_selftest_frames(const struct mm_selftest_env *env);
int mm_selftest_heap(const struct mm_selftest_env *env);
int mm_selftest_paging(const struct mm_selftest_env *env, uint64_t probe_virt, uint64_t probe_phys);

/* Prints "bench <what>: <ns> ns/op" lines; iterations scale the run. */
void mm_bench(const struct mm_selftest_env *env, unsigned iterations);

extern int mm_selftest_passed, mm_selftest_failed;

#endif
