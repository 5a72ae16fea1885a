/*
 * Buddy allocator for physical frames (Knowlton 1965; Linux's page allocator
 * works the same way).
 *
 * Free memory is kept as blocks of 2^order frames, aligned to their size,
 * one doubly linked free list per order; the list nodes live inside the free
 * frames themselves. Allocation takes the smallest block that fits and splits
 * it, putting the upper halves back on the lower lists. Freeing looks at the
 * block's buddy (the frame number with bit `order` flipped): if that buddy is
 * free and of the same order the two merge, and so on up.
 *
 * Metadata: one byte per frame, nonzero only for the first frame of a free
 * block (FREE_HEAD | order), which is how free() finds out whether a buddy is
 * free without searching a list.
 */
#include <pyos/frame_alloc.h>
#include <pyos/mm_env.h>

#define MAX_ORDER FRAME_ALLOC_MAX_ORDER
#define FREE_HEAD 0x80

struct free_block {
    struct free_block *next, *prev;
};

static struct free_block *free_lists[MAX_ORDER + 1];
static uint8_t *state;           /* per frame: FREE_HEAD | order, or 0 */
static uint64_t first_frame, frame_count;
static struct frame_alloc_stats *stats;

static struct free_block *block_at(uint64_t frame) { return phys_to_virt(frame << FRAME_SHIFT); }
static uint64_t frame_of(struct free_block *b) { return virt_to_phys(b) >> FRAME_SHIFT; }
static int managed(uint64_t frame) { return frame >= first_frame && frame < first_frame + frame_count; }

static void push(uint64_t frame, unsigned order)
{
    struct free_block *b = block_at(frame);
    b->prev = NULL;
    b->next = free_lists[order];
    if (b->next)
        b->next->prev = b;
    free_lists[order] = b;
    state[frame - first_frame] = FREE_HEAD | order;
}

static void unlink_block(uint64_t frame, unsigned order)
{
    struct free_block *b = block_at(frame);
    if (b->prev)
        b->prev->next = b->next;
    else
        free_lists[order] = b->next;
    if (b->next)
        b->next->prev = b->prev;
    state[frame - first_frame] = 0;
}

static void update_largest(void)
{
    stats->largest_free_frames = 0;
    for (int order = MAX_ORDER; order >= 0; order--) {
        if (free_lists[order]) {
            stats->largest_free_frames = 1UL << order;
            return;
        }
    }
}

static uint64_t buddy_metadata_bytes(uint64_t first, uint64_t count)
{
    (void)first;
    return count;
}

static void buddy_init(const struct frame_region *regions, uint32_t count, void *metadata,
                       struct frame_alloc_stats *st)
{
    stats = st;
    state = metadata;
    uint64_t end_frame;
    frame_regions_span(regions, count, &first_frame, &end_frame);
    frame_count = end_frame - first_frame;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t frame = regions[i].base >> FRAME_SHIFT;
        uint64_t end = (regions[i].base + regions[i].length) >> FRAME_SHIFT;
        while (frame < end) {  /* cover the region with the largest aligned blocks */
            unsigned order = MAX_ORDER;
            while (order && ((frame & ((1UL << order) - 1)) || frame + (1UL << order) > end))
                order--;
            push(frame, order);
            frame += 1UL << order;
            stats->total_frames += 1UL << order;
        }
    }
    stats->free_frames = stats->total_frames;
    update_largest();
}

static uint64_t buddy_alloc(unsigned order)
{
    unsigned found = order;
    while (found <= MAX_ORDER && !free_lists[found])
        found++;
    if (found > MAX_ORDER) {
        stats->failures++;
        return 0;
    }
    uint64_t frame = frame_of(free_lists[found]);
    unlink_block(frame, found);
    while (found > order) {  /* split: the upper half goes back one order down */
        found--;
        push(frame + (1UL << found), found);
        stats->splits++;
    }
    stats->free_frames -= 1UL << order;
    stats->allocs++;
    update_largest();
    return frame << FRAME_SHIFT;
}

static void buddy_free(uint64_t phys, unsigned order)
{
    uint64_t frame = phys >> FRAME_SHIFT;
    if (order > MAX_ORDER || (phys & (FRAME_SIZE - 1)) || (frame & ((1UL << order) - 1)) || !managed(frame) ||
        !managed(frame + (1UL << order) - 1))
        panic("buddy: free of %#lx order %u: not a block this allocator handed out", phys, order);
    if (state[frame - first_frame] & FREE_HEAD)
        panic("buddy: double free of %#lx", phys);
    stats->free_frames += 1UL << order;
    stats->frees++;
    while (order < MAX_ORDER) {
        uint64_t buddy = frame ^ (1UL << order);
        if (!managed(buddy) || state[buddy - first_frame] != (FREE_HEAD | order))
            break;
        unlink_block(buddy, order);
        stats->merges++;
        frame &= ~(1UL << order);
        order++;
    }
    push(frame, order);
    update_largest();
}

const struct frame_alloc_ops frame_alloc_plugin = {
    .interface_version = FRAME_ALLOC_INTERFACE,
    .name = "buddy",
    .metadata_bytes = buddy_metadata_bytes,
    .init = buddy_init,
    .alloc = buddy_alloc,
    .free = buddy_free,
    .refresh_stats = NULL,  /* every counter is exact after each call */
};
