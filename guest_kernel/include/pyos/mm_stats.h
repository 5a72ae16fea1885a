/*
 * Counters every memory-subsystem plugin keeps, and the interface versions.
 *
 * Shared with the VMM (read through cffi, like bootinfo.h): structs of
 * fixed-width integers, plain #defines and comments only.
 */
#ifndef PYOS_MM_STATS_H
#define PYOS_MM_STATS_H

#include <stdint.h>

/* Interface versions: a plugin declares the one it implements. */
#define FRAME_ALLOC_INTERFACE 1
#define HEAP_INTERFACE 1
#define PAGING_INTERFACE 2
#define SCHED_INTERFACE 1
#define SYSCALLS_INTERFACE 1

struct frame_alloc_stats {
    uint64_t total_frames;         /* 4 KiB frames handed to the allocator */
    uint64_t free_frames;
    uint64_t allocs;               /* successful allocations (of any order) */
    uint64_t frees;
    uint64_t failures;             /* allocations that found nothing */
    uint64_t splits;               /* buddy: block splits; bitmap: allocations that broke up a fully free 64-frame word */
    uint64_t merges;               /* buddy: buddy merges; bitmap: frees that made a 64-frame word fully free again */
    uint64_t largest_free_frames;  /* the largest block alloc() could hand out now, in frames */
};

struct heap_stats {
    uint64_t allocs;
    uint64_t frees;
    uint64_t failures;
    uint64_t bytes_in_use;         /* as requested by callers */
    uint64_t frames_in_use;        /* 4 KiB frames the heap holds from the frame allocator */
    uint64_t grows;                /* frame-allocator requests (slab: new slabs) */
    uint64_t shrinks;              /* frames given back (slab: empty slabs released) */
};

struct paging_stats {
    uint64_t tables_allocated;     /* page-table pages taken from the frame allocator */
    uint64_t maps;
    uint64_t unmaps;
    uint64_t translations;
    uint64_t direct_map_bytes;     /* physical memory mapped at the direct map */
};

#endif
