/*
 * Physical frame allocator interface (one plugin links in: frame_alloc_plugin).
 *
 * Frames are 4 KiB; a block of order k is 2^k frames, aligned to its size in
 * physical memory. Before the plugin is initialised the kernel hands out
 * memory with a non-reclaiming bump allocator (early_alloc in kernel/mm.c);
 * the regions given to init() exclude everything it used.
 */
#ifndef PYOS_FRAME_ALLOC_H
#define PYOS_FRAME_ALLOC_H

#include <stdint.h>
#include <pyos/mm_stats.h>

#define FRAME_SIZE 4096UL
#define FRAME_SHIFT 12
#define FRAME_ALLOC_MAX_ORDER 10   /* 4 MiB blocks */

struct frame_region {
    uint64_t base;     /* physical, frame-aligned */
    uint64_t length;   /* bytes, a multiple of FRAME_SIZE */
};

struct frame_alloc_ops {
    uint32_t interface_version;    /* FRAME_ALLOC_INTERFACE: checked at build time */
    const char *name;
    /* Bytes of metadata the allocator needs to manage frames first_frame ..
     * first_frame + frame_count - 1 (frame numbers, i.e. physical >> 12). */
    uint64_t (*metadata_bytes)(uint64_t first_frame, uint64_t frame_count);
    /* Take over the usable regions. `metadata` is that many zeroed bytes from
     * the early allocator. Counters live in *stats, which the VMM reads from
     * guest memory. */
    void (*init)(const struct frame_region *regions, uint32_t count, void *metadata,
                 struct frame_alloc_stats *stats);
    /* Physical address, or 0 when no block of that order is free (an order above
     * FRAME_ALLOC_MAX_ORDER never is); a 0 counts in stats->failures. */
    uint64_t (*alloc)(unsigned order);
    /* Give back a block alloc(order) returned. A block alloc cannot have handed
     * out panics: an order above FRAME_ALLOC_MAX_ORDER, an address not aligned to
     * the block's size, frames outside the span of the regions init() was given.
     * A double free panics where the allocator can tell (bitmap: any of its frames
     * free; buddy: the block still free as it was given back, not yet merged). */
    void (*free)(uint64_t phys, unsigned order);
    /* Optional (may be NULL): bring counters that are costly to keep exact on
     * every operation (largest_free_frames) up to date. */
    void (*refresh_stats)(void);
};

extern const struct frame_alloc_ops frame_alloc_plugin;

/* The frame numbers the regions span: [*first, *end). */
static inline void frame_regions_span(const struct frame_region *regions, uint32_t count, uint64_t *first,
                                      uint64_t *end)
{
    *first = ~0UL;
    *end = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t lo = regions[i].base >> FRAME_SHIFT, hi = (regions[i].base + regions[i].length) >> FRAME_SHIFT;
        if (lo < *first)
            *first = lo;
        if (hi > *end)
            *end = hi;
    }
}

#endif
