/*
 * Shared by the workload programs (wl_*.c) that `pyos-vmm compare` runs:
 * the TSC, nanosecond conversion, percentiles, and the one result line
 *     result workload=NAME key=value ...
 * the VMM collects (vmm/compare/). Values are integers, so the line parses
 * the same everywhere.
 */
#ifndef PYOS_WORKLOAD_H
#define PYOS_WORKLOAD_H

#include <pyos_user.h>

static inline unsigned long long wl_tsc(void)
{
    unsigned lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (unsigned long long)hi << 32 | lo;
}

static unsigned long wl_khz = 1;

static inline void wl_init(void)
{
    struct pyos_sysinfo info;
    sysinfo(&info);
    wl_khz = info.tsc_khz ? info.tsc_khz : 1;
}

static inline unsigned long wl_us(unsigned long long cycles) { return (unsigned long)(cycles * 1000ULL / wl_khz); }

/* Insertion sort: user code runs natively, and the arrays are small. */
static inline void wl_sort(unsigned long *v, int n)
{
    for (int i = 1; i < n; i++) {
        unsigned long x = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > x) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}

/* Nearest-rank percentile of a sorted array. */
static inline unsigned long wl_pct(const unsigned long *v, int n, int p)
{
    int rank = (p * n + 99) / 100;
    return n ? v[rank > 0 ? rank - 1 : 0] : 0;
}

static inline long wl_arg(int argc, char **argv, int i, long dflt)
{
    return argc > i ? strtol(argv[i], 0, 10) : dflt;
}

#endif
