/*
 * Two-level bitmap allocator for physical frames (as in rOSt).
 *
 * Level 1 has one bit per frame (1 = free), 64 frames to a word. Level 0 has
 * one bit per level-1 word (1 = that word has a free frame), so a search
 * skips 4096 allocated frames per level-0 word it reads. A block of order k
 * is 2^k free bits aligned to 2^k: inside one word for k <= 6, whole words
 * for bigger blocks. A next-fit hint starts each search where the last
 * one succeeded.
 *
 * "splits" counts allocations that broke into a fully free word; "merges"
 * frees that made a word fully free again. largest_free_frames costs a scan,
 * so it is refreshed by refresh_stats() (the kernel calls it when idle).
 */
#include <pyos/frame_alloc.h>
#include <pyos/mm_env.h>

#define FULL (~0ULL)

static uint64_t *bits;      /* level 1 */
static uint64_t *summary;   /* level 0 */
static uint64_t words, summary_words;
static uint64_t first_frame;
static uint64_t span_first, span_end;  /* the frames the regions span: [span_first, span_end) */
static uint64_t hint;        /* level-1 word to start searching at */
static int stats_dirty;
static struct frame_alloc_stats *stats;

static uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

static void summary_update(uint64_t w)
{
    if (bits[w])
        summary[w / 64] |= 1ULL << (w % 64);
    else
        summary[w / 64] &= ~(1ULL << (w % 64));
}

static uint64_t bitmap_metadata_bytes(uint64_t first, uint64_t count)
{
    (void)first;
    uint64_t w = div_up(count, 64);
    return (w + div_up(w, 64)) * 8;
}

static void bitmap_init(const struct frame_region *regions, uint32_t count, void *metadata,
                        struct frame_alloc_stats *st)
{
    stats = st;
    uint64_t end_frame;
    frame_regions_span(regions, count, &first_frame, &end_frame);
    span_first = first_frame;
    span_end = end_frame;
    first_frame &= ~63UL;  /* word-aligned, so alignment inside a word is physical alignment */
    words = div_up(end_frame - first_frame, 64);
    summary_words = div_up(words, 64);
    bits = metadata;
    summary = bits + words;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t f = (regions[i].base >> FRAME_SHIFT) - first_frame;
        uint64_t end = ((regions[i].base + regions[i].length) >> FRAME_SHIFT) - first_frame;
        stats->total_frames += end - f;
        for (; f < end && f % 64; f++)          /* ragged start, bit by bit */
            bits[f / 64] |= 1ULL << (f % 64);
        for (; f + 64 <= end; f += 64)           /* whole words at once */
            bits[f / 64] = FULL;
        for (; f < end; f++)                     /* ragged end */
            bits[f / 64] |= 1ULL << (f % 64);
    }
    for (uint64_t w = 0; w < words; w++)
        summary_update(w);
    stats->free_frames = stats->total_frames;
    stats_dirty = 1;
}

/* A free aligned run of 2^order frames inside word w: its bit offset, or -1. */
static int fit_in_word(uint64_t value, unsigned order)
{
    if (order == 0)
        return value ? __builtin_ctzll(value) : -1;
    unsigned n = 1U << order;
    uint64_t mask = n == 64 ? FULL : (1ULL << n) - 1;
    for (unsigned off = 0; off < 64; off += n)
        if (((value >> off) & mask) == mask)
            return (int)off;
    return -1;
}

/* Find (without taking) a block: its first frame index, or -1. */
static int64_t find(unsigned order)
{
    if (order <= 6) {
        for (uint64_t i = 0; i < summary_words; i++) {
            uint64_t sw = (hint / 64 + i) % summary_words;
            for (uint64_t candidates = summary[sw]; candidates; candidates &= candidates - 1) {
                uint64_t w = sw * 64 + __builtin_ctzll(candidates);
                int off = fit_in_word(bits[w], order);
                if (off >= 0)
                    return (int64_t)(w * 64 + off);
            }
        }
        return -1;
    }
    /* Whole words, aligned in physical memory: first_frame is only 64-frame aligned,
     * so the first candidate word is the one whose frame number is a multiple of the size. */
    uint64_t need = 1ULL << (order - 6);
    for (uint64_t w = (need - first_frame / 64 % need) % need; w + need <= words; w += need) {
        uint64_t k = 0;
        while (k < need && bits[w + k] == FULL)
            k++;
        if (k == need)
            return (int64_t)(w * 64);
    }
    return -1;
}

static void set_range(uint64_t f, uint64_t n, int free)
{
    for (uint64_t end = f + n; f < end;) {
        uint64_t w = f / 64, off = f % 64, take = 64 - off < end - f ? 64 - off : end - f;
        uint64_t mask = take == 64 ? FULL : ((1ULL << take) - 1) << off;
        uint64_t before = bits[w];
        if (free) {
            if (before & mask)
                panic("bitmap: double free of frame %#lx", (first_frame + f) << FRAME_SHIFT);
            bits[w] |= mask;
            if (bits[w] == FULL)
                stats->merges++;
        } else {
            bits[w] &= ~mask;
            if (before == FULL)
                stats->splits++;
        }
        summary_update(w);
        f += take;
    }
}

static uint64_t bitmap_alloc(unsigned order)
{
    int64_t f = order <= FRAME_ALLOC_MAX_ORDER ? find(order) : -1;
    if (f < 0) {
        stats->failures++;
        return 0;
    }
    set_range((uint64_t)f, 1ULL << order, 0);
    hint = (uint64_t)f / 64;
    stats->free_frames -= 1ULL << order;
    stats->allocs++;
    stats_dirty = 1;
    return (first_frame + (uint64_t)f) << FRAME_SHIFT;
}

static void bitmap_free(uint64_t phys, unsigned order)
{
    uint64_t frame = phys >> FRAME_SHIFT;
    /* Below the span, the word-aligned bitmap has bits for frames that are not ours (the
     * metadata, say): their 0 bits look allocated, so the span itself is the bound. */
    if (order > FRAME_ALLOC_MAX_ORDER || (phys & (FRAME_SIZE - 1)) || (frame & ((1ULL << order) - 1)) ||
        frame < span_first || frame + (1ULL << order) > span_end)
        panic("bitmap: free of %#lx order %u: not a block this allocator handed out", phys, order);
    set_range(frame - first_frame, 1ULL << order, 1);
    stats->free_frames += 1ULL << order;
    stats->frees++;
    stats_dirty = 1;
}

static void bitmap_refresh_stats(void)
{
    if (!stats_dirty)
        return;
    stats->largest_free_frames = 0;
    for (int order = FRAME_ALLOC_MAX_ORDER; order >= 0; order--) {
        if (find((unsigned)order) >= 0) {
            stats->largest_free_frames = 1ULL << order;
            break;
        }
    }
    stats_dirty = 0;
}

const struct frame_alloc_ops frame_alloc_plugin = {
    .interface_version = FRAME_ALLOC_INTERFACE,
    .name = "bitmap",
    .metadata_bytes = bitmap_metadata_bytes,
    .init = bitmap_init,
    .alloc = bitmap_alloc,
    .free = bitmap_free,
    .refresh_stats = bitmap_refresh_stats,
};
