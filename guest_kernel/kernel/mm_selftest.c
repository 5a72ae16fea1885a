/*
 * Self-tests and micro-benchmarks of the memory plugins; see mm_selftest.h.
 * Everything goes through the plugin ops, so the same checks hold whichever
 * implementation is linked in.
 */
#include <pyos/frame_alloc.h>
#include <pyos/heap.h>
#include <pyos/mm_env.h>
#include <pyos/mm_selftest.h>
#include <pyos/paging.h>

int mm_selftest_passed, mm_selftest_failed;

/* fmt formats up to two numbers, a and b. */
static int check(const char *what, int ok, const char *fmt, uint64_t a, uint64_t b)
{
    printk("selftest memory: %s: %s (", what, ok ? "PASS" : "FAIL");
    printk(fmt, a, b);
    printk(")\n");
    if (ok)
        mm_selftest_passed++;
    else
        mm_selftest_failed++;
    return !ok;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next_random(void)  /* xorshift64 */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void shuffle(uint32_t *a, uint64_t n)
{
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = next_random() % i;
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static unsigned order_for_bytes(uint64_t bytes)
{
    unsigned order = 0;
    while ((FRAME_SIZE << order) < bytes)
        order++;
    return order;
}

/* Every free frame as blocks as big as alloc will give: the largest order until it
 * fails, then the next smaller, down to order 0; how many of each into count[]. The
 * blocks are chained through their first word, returned in *chain. */
static uint64_t take_greedily(uint64_t count[FRAME_ALLOC_MAX_ORDER + 1])
{
    uint64_t chain = 0, phys;
    for (int order = FRAME_ALLOC_MAX_ORDER; order >= 0; order--) {
        count[order] = 0;
        while ((phys = frame_alloc_plugin.alloc((unsigned)order)) != 0) {
            ((uint64_t *)phys_to_virt(phys))[0] = chain;
            ((uint64_t *)phys_to_virt(phys))[1] = (uint64_t)order;
            chain = phys;
            count[order]++;
        }
    }
    return chain;
}

static void give_back(uint64_t chain)
{
    while (chain) {
        uint64_t phys = chain, order = ((uint64_t *)phys_to_virt(phys))[1];
        chain = ((uint64_t *)phys_to_virt(phys))[0];
        frame_alloc_plugin.free(phys, (unsigned)order);
    }
}

/* Frames: exhaustion, uniqueness, random-order free, coalescing. */
int mm_selftest_frames(const struct mm_selftest_env *env)
{
    struct frame_alloc_stats *st = env->frames;
    int failed = 0;
    uint64_t splits_first = st->splits, merges_first = st->merges;
    /* 0. The free frames as the biggest blocks alloc gives, twice: right away (in the host
     *    harness, as init() left them) and after all of them came back and coalesced.
     *    The same blocks both times: init covers its regions with blocks as large as
     *    their alignment allows, as freeing does. */
    uint64_t first[FRAME_ALLOC_MAX_ORDER + 1], again[FRAME_ALLOC_MAX_ORDER + 1], free_now = st->free_frames;
    uint64_t frames_first = 0, differ = 0;
    give_back(take_greedily(first));
    give_back(take_greedily(again));
    for (int order = 0; order <= FRAME_ALLOC_MAX_ORDER; order++) {
        frames_first += first[order] << order;
        differ += first[order] != again[order];
    }
    failed += check("the free frames as the largest blocks: all of them, the same blocks after coalescing",
                    frames_first == free_now && differ == 0 && st->free_frames == free_now,
                    "%lu frames handed out, %lu orders differ", frames_first, differ);
    env->refresh_stats();
    uint64_t free_before = st->free_frames, largest_before = st->largest_free_frames;

    /* A list of frame numbers, itself from the allocator. */
    unsigned list_order = order_for_bytes(free_before * sizeof(uint32_t));
    uint64_t list_phys = frame_alloc_plugin.alloc(list_order);
    failed += check("allocate the test's own list", list_phys != 0, "order %lu", list_order, 0);
    if (!list_phys)
        return failed;
    uint32_t *list = phys_to_virt(list_phys);
    env->refresh_stats();
    uint64_t free_start = st->free_frames, largest_start = st->largest_free_frames;

    /* 1. Order 0 until exhaustion; each frame records its own number. */
    uint64_t allocs_start = st->allocs, frees_start = st->frees, failures_start = st->failures;
    uint64_t splits_start = st->splits, merges_start = st->merges;
    uint64_t n = 0, phys;
    while ((phys = frame_alloc_plugin.alloc(0)) != 0) {
        *(uint64_t *)phys_to_virt(phys) = phys >> FRAME_SHIFT;
        list[n++] = (uint32_t)(phys >> FRAME_SHIFT);
    }
    env->refresh_stats();
    failed += check("order-0 allocation until exhaustion hands out every free frame",
                    n == free_start && st->free_frames == 0 && st->largest_free_frames == 0,
                    "%lu frames of %lu free", n, free_start);
    uint64_t clobbered = 0, inside_list = 0;
    uint64_t list_lo = list_phys >> FRAME_SHIFT, list_hi = list_lo + (1UL << list_order);
    for (uint64_t i = 0; i < n; i++) {
        if (*(uint64_t *)phys_to_virt((uint64_t)list[i] << FRAME_SHIFT) != list[i])
            clobbered++;  /* two handouts of one frame would overwrite each other's mark */
        if (list[i] >= list_lo && list[i] < list_hi)
            inside_list++;
    }
    failed += check("no frame handed out twice", clobbered == 0 && inside_list == 0,
                    "%lu frames overwritten, %lu inside a live block", clobbered, inside_list);

    /* 1b. A 4 MiB-aligned run of 4 MiB + 256 KiB back, all else handed out: the one block of
     *     the largest order there is, at the start of the run, is what alloc finds (its
     *     search does not skip a free window because the frames after it are free too). */
    uint64_t run = 0, run_len = (1UL << FRAME_ALLOC_MAX_ORDER) + 64, top = 0, run_found = 0;
    for (uint64_t i = 0; i < n; i++)
        top = list[i] > top ? list[i] : top;
    for (uint64_t i = 0; i < n && !run; i++) {
        uint64_t f = list[i], k = 0;
        if (f & ((1UL << FRAME_ALLOC_MAX_ORDER) - 1) || f + run_len - 1 > top)
            continue;
        while (k < run_len && *(uint64_t *)phys_to_virt((f + k) << FRAME_SHIFT) == f + k)  /* ours: marked */
            k++;
        if (k == run_len)
            run = f;
    }
    if (run) {
        for (uint64_t k = 0; k < run_len; k++)
            frame_alloc_plugin.free((run + k) << FRAME_SHIFT, 0);
        run_found = frame_alloc_plugin.alloc(FRAME_ALLOC_MAX_ORDER);
        if (run_found)
            frame_alloc_plugin.free(run_found, FRAME_ALLOC_MAX_ORDER);
        for (uint64_t k = 0; k < run_len; k++)  /* the only free frames: the same run back */
            frame_alloc_plugin.alloc(0);
    }
    failed += check("a free 4 MiB window followed by more free frames is found", !run || run_found == run << FRAME_SHIFT,
                    "%#lx, expected %#lx", run_found, run << FRAME_SHIFT);
    uint64_t run_calls = run ? run_len + 1 : 0;  /* allocs and frees it made */

    /* 2. Every other frame back (the odd frame numbers): no two free frames make an
     *    aligned pair, so the largest block is one frame and an order-1 request fails. */
    uint64_t odd = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (list[i] & 1) {
            frame_alloc_plugin.free((uint64_t)list[i] << FRAME_SHIFT, 0);
            odd++;
        }
    }
    env->refresh_stats();
    uint64_t pair = odd ? frame_alloc_plugin.alloc(1) : 0, largest_odd = st->largest_free_frames;
    failed += check("with every other frame free, the largest block is one frame and order 1 fails",
                    !odd || (largest_odd == 1 && pair == 0 && st->free_frames == odd),
                    "largest %lu frames, order 1 gave %#lx", largest_odd, pair);
    /* One even frame back, at offset 2 of a 64-frame word: with its odd neighbour it is a
     *    free aligned pair, the only one, and order 1 finds it. */
    uint64_t pair_at = 0;
    for (uint64_t i = 0; i + 1 < n && !pair_at; i++)  /* its neighbour handed out next: a frame we had */
        if ((list[i] & 63) == 2 && list[i + 1] == list[i] + 1)
            pair_at = (uint64_t)list[i] << FRAME_SHIFT;
    uint64_t found_pair = 0;
    if (pair_at) {
        frame_alloc_plugin.free(pair_at, 0);
        found_pair = frame_alloc_plugin.alloc(1);
    }
    failed += check("the one free aligned pair is what order 1 finds", !pair_at || found_pair == pair_at,
                    "%#lx, expected %#lx", found_pair, pair_at);
    if (found_pair)
        frame_alloc_plugin.free(found_pair, 1);
    /* Then the rest in random order: everything coalesces back. */
    shuffle(list, n);
    for (uint64_t i = 0; i < n; i++)
        if (!(list[i] & 1) && (uint64_t)list[i] << FRAME_SHIFT != pair_at)
            frame_alloc_plugin.free((uint64_t)list[i] << FRAME_SHIFT, 0);
    env->refresh_stats();
    failed += check("random-order free restores the free count", st->free_frames == free_start,
                    "%lu free, expected %lu", st->free_frames, free_start);
    /* The counters the metrics export: one alloc per block handed out, one failure for the
     * allocation that found nothing, one free per block given back; breaking up free
     * blocks and putting them together again both happened (every frame went and came back). */
    failed += check("counters: allocs, failures and frees count each call",
                    st->allocs - allocs_start == n + (found_pair != 0) + run_calls &&
                    st->failures - failures_start == 1 + (odd != 0) &&
                    st->frees - frees_start == n + (found_pair != 0) + run_calls,
                    "%lu allocs, %lu frees", st->allocs - allocs_start, st->frees - frees_start);
    failed += check("counters: splits and merges both counted", st->splits > splits_start &&
                    st->merges > merges_start, "%lu splits, %lu merges", st->splits - splits_start,
                    st->merges - merges_start);
    failed += check("coalescing restores the largest block", st->largest_free_frames == largest_start,
                    "largest %lu frames, expected %lu", st->largest_free_frames, largest_start);

    /* 3. Mixed orders 0-5 until exhaustion, then random-order free. */
    uint64_t m = 0, frames = 0;
    for (;;) {
        unsigned order = (unsigned)(next_random() % 6);
        phys = frame_alloc_plugin.alloc(order);
        if (!phys && !(phys = frame_alloc_plugin.alloc(order = 0)))
            break;
        if (phys & ((FRAME_SIZE << order) - 1))
            failed += check("blocks are aligned to their size", 0, "%#lx order %lu", phys, order);
        list[m++] = (uint32_t)((phys >> FRAME_SHIFT) << 4 | order);
        frames += 1UL << order;
    }
    failed += check("mixed-order allocation until exhaustion", frames == free_start && st->free_frames == 0,
                    "%lu frames in blocks, %lu were free", frames, free_start);
    shuffle(list, m);
    for (uint64_t i = 0; i < m; i++)
        frame_alloc_plugin.free((uint64_t)(list[i] >> 4) << FRAME_SHIFT, list[i] & 15);
    env->refresh_stats();
    failed += check("mixed-order free coalesces back", st->free_frames == free_start &&
                    st->largest_free_frames == largest_start, "%lu free, largest %lu", st->free_frames,
                    st->largest_free_frames);

    frame_alloc_plugin.free(list_phys, list_order);
    env->refresh_stats();
    failed += check("all back: free count and largest block as before the test",
                    st->free_frames == free_before && st->largest_free_frames == largest_before,
                    "%lu free, largest %lu", st->free_frames, st->largest_free_frames);

    /* 4. The largest order: a FRAME_ALLOC_MAX_ORDER block (4 MiB) is handed out, aligned,
     *    whenever largest_free_frames says there is one, and given back whole; a bigger
     *    order is refused, and that refusal counts as a failure. */
    uint64_t max_frames = 1UL << FRAME_ALLOC_MAX_ORDER, failures_big = st->failures;
    uint64_t big = frame_alloc_plugin.alloc(FRAME_ALLOC_MAX_ORDER);
    int big_ok = largest_before == max_frames ? big && !(big & ((FRAME_SIZE << FRAME_ALLOC_MAX_ORDER) - 1)) &&
                                                    st->free_frames == free_before - max_frames
                                              : !big;
    uint64_t bigger = frame_alloc_plugin.alloc(FRAME_ALLOC_MAX_ORDER + 1);
    int refused = bigger == 0 && st->failures - failures_big == 1 + !big;
    if (big)
        frame_alloc_plugin.free(big, FRAME_ALLOC_MAX_ORDER);
    env->refresh_stats();
    failed += check("order FRAME_ALLOC_MAX_ORDER handed out and back, a bigger order refused",
                    big_ok && refused && st->free_frames == free_before && st->largest_free_frames == largest_before,
                    "4 MiB block %#lx, bigger %#lx", big, bigger);
    /* Everything is back as it was: each split (a free block, or a fully free word, broken
     * up) has been undone by a merge. */
    failed += check("counters: splits and merges balance once everything is back",
                    st->splits - splits_first == st->merges - merges_first, "%lu splits, %lu merges",
                    st->splits - splits_first, st->merges - merges_first);
    return failed;
}

/* Heap: sizes 8 B to 64 KiB, patterns intact, no leak. */
#define HEAP_LIVE 128
#define HEAP_ROUNDS 1500

struct live {
    unsigned char *p;
    uint64_t size;
    unsigned char tag;
};

static uint64_t random_size(void)
{
    unsigned bits = 3 + (unsigned)(next_random() % 14);  /* 8 B .. 64 KiB, log-uniform */
    uint64_t size = (1UL << bits) + next_random() % (1UL << bits);
    return size > 65536 ? 65536 : size;
}

static void fill(struct live *l)
{
    uint64_t edge = l->size < 16 ? l->size : 16;
    memset(l->p, l->tag, edge);
    memset(l->p + l->size - edge, l->tag ^ 0xff, edge);
}

static int intact(const struct live *l)
{
    uint64_t edge = l->size < 16 ? l->size : 16;
    for (uint64_t i = 0; i < edge && i < l->size - edge; i++)  /* head, where the tail did not overwrite it */
        if (l->p[i] != l->tag)
            return 0;
    for (uint64_t i = l->size - edge; i < l->size; i++)
        if (l->p[i] != (unsigned char)(l->tag ^ 0xff))
            return 0;
    return 1;
}

/* One stress run: HEAP_ROUNDS random allocations and frees with up to
 * HEAP_LIVE blocks live, then everything freed. */
static void heap_stress(uint64_t *misaligned, uint64_t *corrupted, uint64_t *failures)
{
    struct live live[HEAP_LIVE] = {0};
    for (unsigned round = 0; round < HEAP_ROUNDS; round++) {
        struct live *l = &live[next_random() % HEAP_LIVE];
        if (l->p) {
            if (!intact(l))
                (*corrupted)++;
            heap_plugin.free(l->p);
            l->p = NULL;
        }
        l->size = random_size();
        l->tag = (unsigned char)round;
        l->p = heap_plugin.alloc(l->size);
        if (!l->p) {
            (*failures)++;
            continue;
        }
        if ((uint64_t)l->p % HEAP_ALIGN)
            (*misaligned)++;
        fill(l);
    }
    for (unsigned i = 0; i < HEAP_LIVE; i++) {
        if (live[i].p) {
            if (!intact(&live[i]))
                (*corrupted)++;
            heap_plugin.free(live[i].p);
        }
    }
}

/* Frames a heap takes for a few exact sizes. In the host harness the heap is fresh here
 * (nothing has used it yet), so each bound is met exactly by the freelist heap (16 KiB
 * chunks, 16-byte headers, 16-byte rounding, a remainder of 32 bytes or more split off)
 * and with room by slab (4 frames for a big block, a frame per small-object slab). */
static int heap_frugal(const struct mm_selftest_env *env)
{
    struct heap_stats *st = env->heap;
    int failed = 0;
    int64_t base = (int64_t)env->frames->free_frames;
    uint64_t grows = st->grows;
    /* 16 KiB less a 16-byte header: one 4-frame block, which the heap fetched as a grow */
    void *exact = heap_plugin.alloc(16368);
    int64_t taken = base - (int64_t)env->frames->free_frames;
    failed += check("heap: 16 KiB less a header takes at most 4 frames, one grow if it took any",
                    exact && taken <= 4 && st->grows - grows == (uint64_t)(taken > 0), "%ld frames, %lu grows",
                    (uint64_t)taken, st->grows - grows);
    heap_plugin.free(exact);
    /* 512 blocks of 16 B (32 with a header) fill 16 KiB */
    static void *tiny[512];
    uint64_t got = 0;
    int64_t before = (int64_t)env->frames->free_frames;
    for (int i = 0; i < 512; i++)
        got += (tiny[i] = heap_plugin.alloc(16)) != NULL;
    taken = before - (int64_t)env->frames->free_frames;
    for (int i = 0; i < 512; i++)
        heap_plugin.free(tiny[i]);
    failed += check("heap: 512 blocks of 16 B take at most 4 frames", got == 512 && taken <= 4,
                    "%lu blocks, %ld frames", got, (uint64_t)taken);
    /* 16 KiB less 48 B leaves 32 B of a 16 KiB chunk: room for a 16 B block */
    void *most = heap_plugin.alloc(16336), *rest = heap_plugin.alloc(16);
    taken = base - (int64_t)env->frames->free_frames;
    failed += check("heap: 16 KiB less 48 B and a 16 B block: at most 5 frames since the first of these checks",
                    most && rest && taken <= 5, "%ld frames", (uint64_t)taken, 0);
    heap_plugin.free(most);
    heap_plugin.free(rest);
    /* Freed memory is used again: a round of 64 blocks of 256 B, all freed, then one of
     * 15 KiB, freed, takes frames from the allocator the first time only (a heap that
     * did not put freed neighbours back together would need new frames every round). */
    int64_t after_round[4];
    for (int round = 0; round < 4; round++) {
        void *blocks[64];
        for (int i = 0; i < 64; i++)
            blocks[i] = heap_plugin.alloc(256);
        for (int i = 0; i < 64; i++)
            heap_plugin.free(blocks[i]);
        heap_plugin.free(heap_plugin.alloc(15 * 1024));
        after_round[round] = (int64_t)env->frames->free_frames;
    }
    failed += check("heap: freed memory is used again (rounds 2-4 take no frames)",
                    after_round[3] == after_round[0] && after_round[1] == after_round[0],
                    "%ld frames more after round 4 than after round 1, %ld after round 2",
                    (uint64_t)(after_round[0] - after_round[3]), (uint64_t)(after_round[0] - after_round[1]));
    /* Bigger than the frame allocator's largest block: refused, one failure counted. */
    uint64_t heap_failures = st->failures;
    void *huge = heap_plugin.alloc((FRAME_SIZE << FRAME_ALLOC_MAX_ORDER) + 1);
    failed += check("heap: a block larger than the largest frame block is refused, and counted",
                    huge == NULL && st->failures == heap_failures + 1, "%#lx, %lu failures",
                    (uint64_t)huge, st->failures - heap_failures);
    if (huge)
        heap_plugin.free(huge);
    /* With no frame left, a request bigger than all the heap holds is refused: one failure
     * at the heap, one at the frame allocator (one request for frames, not a retry). */
    uint64_t chain = 0, frame, held = st->frames_in_use * FRAME_SIZE;
    while ((frame = frame_alloc_plugin.alloc(0)) != 0) {  /* every free frame, chained through its first word */
        *(uint64_t *)phys_to_virt(frame) = chain;
        chain = frame;
    }
    uint64_t want = held + FRAME_SIZE, frame_failures = env->frames->failures;
    heap_failures = st->failures;
    void *none = want < (FRAME_SIZE << FRAME_ALLOC_MAX_ORDER) - 64 ? heap_plugin.alloc(want) : NULL;
    int refused = none == NULL && (want >= (FRAME_SIZE << FRAME_ALLOC_MAX_ORDER) - 64 ||
                                   (st->failures == heap_failures + 1 && env->frames->failures == frame_failures + 1));
    if (none)
        heap_plugin.free(none);
    while (chain) {
        frame = chain;
        chain = *(uint64_t *)phys_to_virt(frame);
        frame_alloc_plugin.free(frame, 0);
    }
    failed += check("heap: out of frames, a request beyond what the heap holds fails once at each level", refused,
                    "%lu heap failures, %lu frame failures", st->failures - heap_failures,
                    env->frames->failures - frame_failures);
    return failed;
}

/* What a heap may keep from the frame allocator once every block is freed,
 * if it gives frames back at all: slab keeps one slab with room per size
 * class (7). A heap that never gives frames back (freelist: fragmentation
 * may even make a second identical run take more) is held to the other
 * check: every frame gone from the allocator is one the heap says it holds. */
#define HEAP_KEPT_MAX 8

int mm_selftest_heap(const struct mm_selftest_env *env)
{
    struct heap_stats *st = env->heap;
    uint64_t in_use_before = st->bytes_in_use, allocs_before = st->allocs, frees_before = st->frees;
    uint64_t misaligned = 0, corrupted = 0, failures = 0;
    /* The leak checks count frames at the frame allocator, not the heap's own figures. */
    int failed = heap_frugal(env);
    int64_t free_start = (int64_t)env->frames->free_frames, held_start = (int64_t)st->frames_in_use;
    uint64_t shrinks_start = st->shrinks, seed = rng;
    heap_stress(&misaligned, &corrupted, &failures);
    int64_t free_after_one = (int64_t)env->frames->free_frames, held_after_one = (int64_t)st->frames_in_use;
    rng = seed;  /* the same sequence again */
    heap_stress(&misaligned, &corrupted, &failures);
    int64_t free_after_two = (int64_t)env->frames->free_frames;
    failed += check("heap: 2x1500 allocations of 8 B-64 KiB succeed, 16-byte aligned", !failures && !misaligned,
                    "%lu failed, %lu misaligned", failures, misaligned);
    failed += check("heap: no block overwrote another", corrupted == 0, "%lu corrupted", corrupted, 0);
    failed += check("heap: every byte given back", st->bytes_in_use == in_use_before &&
                    st->allocs - allocs_before == st->frees - frees_before,
                    "%lu bytes still in use, %lu allocs not freed", st->bytes_in_use - in_use_before,
                    (st->allocs - allocs_before) - (st->frees - frees_before));
    int64_t held_after_two = (int64_t)st->frames_in_use;
    failed += check("heap: frames it holds are the frames the allocator lost",
                    free_start - free_after_one == held_after_one - held_start &&
                    free_start - free_after_two == held_after_two - held_start,
                    "%ld frames gone from the allocator, %ld more held by the heap",
                    (uint64_t)(free_start - free_after_two), (uint64_t)(held_after_two - held_start));
    int shrinks = st->shrinks != shrinks_start;
    failed += check("heap: a heap that gives frames back keeps few once all is freed",
                    !shrinks || (free_start - free_after_one <= HEAP_KEPT_MAX && free_start - free_after_two <= HEAP_KEPT_MAX),
                    "%ld frames kept after the first run, %ld after the second",
                    (uint64_t)(free_start - free_after_one), (uint64_t)(free_start - free_after_two));
    /* Small blocks share frames: three blocks of 1 KiB (slab's largest size class,
     * exactly) take at most two frames from the allocator, not one frame each. */
    int64_t free_before_small = (int64_t)env->frames->free_frames;
    void *small[3];
    for (int i = 0; i < 3; i++)
        small[i] = heap_plugin.alloc(1024);
    int64_t small_frames = free_before_small - (int64_t)env->frames->free_frames;
    failed += check("heap: three 1 KiB blocks share frames", small[0] && small[1] && small[2] && small_frames <= 2,
                    "%ld frames for three 1 KiB blocks", (uint64_t)small_frames, 0);
    for (int i = 0; i < 3; i++)
        heap_plugin.free(small[i]);
    /* 3 MiB, when a 4 MiB block is free: served, and writable to its end. */
    env->refresh_stats();
    if (env->frames->largest_free_frames >= 1UL << FRAME_ALLOC_MAX_ORDER) {
        unsigned char *big = heap_plugin.alloc(3 << 20);
        failed += check("heap: 3 MiB served while a 4 MiB frame block is free", big != NULL, "%#lx", (uint64_t)big, 0);
        if (big) {
            big[0] = big[(3 << 20) - 1] = 0x5A;
            heap_plugin.free(big);
        }
    } else {
        failed += check("heap: 3 MiB served while a 4 MiB frame block is free", 1, "no 4 MiB block free", 0, 0);
    }
    void *zero = heap_plugin.alloc(0);
    heap_plugin.free(zero);
    heap_plugin.free(NULL);
    return failed;
}

/* The mapping of virt in the current space as the MMU sees it: walked from the root
 * current_space() names (each table read through the direct map), the leaf entry with
 * its write and user bits ANDed and its NX bit ORed over every level. *size: the page
 * size, 0 if virt is not mapped. */
static uint64_t mapping_of(uint64_t virt, uint64_t *size)
{
    uint64_t table = paging_plugin.current_space(), w_u = PTE_WRITE | PTE_USER, nx = 0;
    for (int level = 4; level >= 1; level--) {
        uint64_t e = ((uint64_t *)phys_to_virt(table))[(virt >> (12 + 9 * (level - 1))) & 511];
        if (!(e & PTE_PRESENT))
            break;
        w_u &= e;
        nx |= e & PTE_NX;
        if (level == 1 || (level <= 3 && (e & PTE_HUGE))) {
            *size = 1UL << (12 + 9 * (level - 1));
            return (e & ~(PTE_WRITE | PTE_USER | PTE_NX)) | w_u | nx;
        }
        table = e & PTE_ADDR_MASK;
    }
    *size = 0;
    return 0;
}

/* Page-table pages reachable from `table` (a table at `level`), not following an entry
 * back to `root` (a recursive slot). */
static uint64_t count_tables(uint64_t table, int level, uint64_t root)
{
    uint64_t n = 1, *t = phys_to_virt(table);
    for (int i = 0; level > 1 && i < 512; i++)
        if ((t[i] & PTE_PRESENT) && !(t[i] & PTE_HUGE) && (t[i] & PTE_ADDR_MASK) != root)
            n += count_tables(t[i] & PTE_ADDR_MASK, level - 1, root);
    return n;
}

/* Pages in the kernel half under `table` (at `level`, mapping from `va`), reached by
 * every path the MMU could take (a recursive slot's too), that break paging.h: user
 * accessible, or executable outside [exec_lo, exec_hi) (the kernel image). */
static uint64_t kernel_half_breaches(uint64_t table, int level, uint64_t va, uint64_t user, uint64_t nx,
                                     uint64_t exec_lo, uint64_t exec_hi)
{
    uint64_t bad = 0, *t = phys_to_virt(table);
    for (unsigned i = level == 4 ? 256 : 0; i < 512; i++) {
        uint64_t e = t[i];
        if (!(e & PTE_PRESENT))
            continue;
        uint64_t v = va | (uint64_t)i << (12 + 9 * (level - 1)), u = user & e, x = nx | (e & PTE_NX);
        if (level == 4)
            v |= 0xFFFF000000000000UL;  /* canonical: the kernel half */
        if (level == 1 || (level <= 3 && (e & PTE_HUGE)))
            bad += (u & PTE_USER) || (!x && (v < exec_lo || v >= exec_hi));
        else
            bad += kernel_half_breaches(e & PTE_ADDR_MASK, level - 1, v, u, x, exec_lo, exec_hi);
    }
    return bad;
}

/* Paging: map/unmap/translate round trips at a scratch address. */
#define PAGING_PROBES 24
#define SCRATCH_VA 0xFFFFD00000000000UL

int mm_selftest_paging(const struct mm_selftest_env *env, uint64_t probe_virt, uint64_t probe_phys)
{
    (void)env;
    int failed = 0;
    uint64_t frames[PAGING_PROBES], wrong = 0, data_bad = 0, unmapped_bad = 0, remap_bad = 0, moved_bad = 0;
    struct paging_stats *ps = env->paging;
    uint64_t maps0 = ps->maps, unmaps0 = ps->unmaps, translations0 = ps->translations;
    uint64_t maps = 0, unmaps = 0, translations = 0;  /* successful calls made */
    for (unsigned i = 0; i < PAGING_PROBES; i++) {
        /* Spread over 4 KiB, 2 MiB, 1 GiB and 512 GiB boundaries: new tables each time. */
        uint64_t va = SCRATCH_VA + (uint64_t)i * 0x40201000UL;
        frames[i] = frame_alloc(0);
        if (!frames[i] || paging_plugin.map(va, frames[i], PTE_PRESENT | PTE_WRITE | PTE_NX) < 0 ||
            (maps++, translations++, paging_plugin.translate(va + 0x123) != frames[i] + 0x123)) {
            wrong++;
            continue;
        }
        *(volatile uint64_t *)mmu_access(va) = 0xC0FFEE00 + i;  /* write through the new mapping */
        if (*(uint64_t *)phys_to_virt(frames[i]) != 0xC0FFEE00 + i)  /* read through the direct map */
            data_bad++;
        if (paging_plugin.map(va, frames[i], PTE_PRESENT) == 0)
            remap_bad++, maps++;
    }
    for (unsigned i = 0; i < PAGING_PROBES; i++) {
        uint64_t va = SCRATCH_VA + (uint64_t)i * 0x40201000UL;
        translations++;
        if (paging_plugin.unmap(va) < 0 || (unmaps++, paging_plugin.translate(va) != PAGING_NOT_MAPPED) ||
            paging_plugin.unmap(va) == 0)
            unmapped_bad++;
        /* Mapped again, to another frame: a write lands there, not through what was unmapped. */
        uint64_t other = frames[(i + 1) % PAGING_PROBES];
        if (other && paging_plugin.map(va, other, PTE_PRESENT | PTE_WRITE | PTE_NX) == 0) {
            maps++;
            *(volatile uint64_t *)mmu_access(va) = 0xD00D00 + i;
            if (*(uint64_t *)phys_to_virt(other) != 0xD00D00 + i)
                moved_bad++;
            unmaps += paging_plugin.unmap(va) == 0;
        } else {
            moved_bad++;
        }
    }
    for (unsigned i = 0; i < PAGING_PROBES; i++)
        if (frames[i])
            frame_free(frames[i], 0);
    failed += check("paging: map then translate gives the frame back", wrong == 0, "%lu wrong of %lu",
                    wrong, PAGING_PROBES);
    failed += check("paging: a write through the mapping lands in the frame", data_bad == 0,
                    "%lu wrong of %lu", data_bad, PAGING_PROBES);
    failed += check("paging: mapping a mapped page is refused", remap_bad == 0, "%lu accepted of %lu",
                    remap_bad, PAGING_PROBES);
    failed += check("paging: unmap then translate says not mapped", unmapped_bad == 0, "%lu wrong of %lu",
                    unmapped_bad, PAGING_PROBES);
    failed += check("paging: unmapped, then mapped to another frame: writes land in the new frame",
                    moved_bad == 0, "%lu wrong of %lu", moved_bad, PAGING_PROBES);
    failed += check("paging: counters: maps, unmaps and translations count each successful call",
                    ps->maps - maps0 == maps && ps->unmaps - unmaps0 == unmaps &&
                    ps->translations - translations0 == translations,
                    "%lu maps, %lu unmaps", ps->maps - maps0, ps->unmaps - unmaps0);
    /* A second address space: its lower half is its own, its upper half shared. */
    uint64_t free_before = env->frames->free_frames;
    uint64_t home = paging_plugin.current_space(), space = paging_plugin.new_space();
    uint64_t frame = frame_alloc(0);
    paging_plugin.switch_space(space);
    int mapped = paging_plugin.map(0x400000, frame, PTE_PRESENT | PTE_WRITE | PTE_USER | PTE_OWNED) == 0 &&
                 paging_plugin.translate(0x400000) == frame;
    int shared = paging_plugin.translate(DIRECT_MAP_BASE + probe_phys) == probe_phys;
    uint64_t user_size, user_page = mapping_of(0x400000, &user_size);  /* user mode may write it: U and W at every level */
    mapped = mapped && user_size == FRAME_SIZE && (user_page & (PTE_USER | PTE_WRITE)) == (PTE_USER | PTE_WRITE);
    uint64_t image_top = KERNEL_VMA + ((kernel_image_end_phys() + 0x1FFFFFUL) & ~0x1FFFFFUL);
    uint64_t breaches_new = kernel_half_breaches(space, 4, 0, PTE_USER, 0, KERNEL_VMA, image_top);
    paging_plugin.switch_space(home);
    int private_half = paging_plugin.translate(0x400000) == PAGING_NOT_MAPPED;
    /* A kernel-half page in a PML4 slot nothing uses yet (paging.h): refused while a space
     * holds a copy of the kernel half, mapped once none does. */
    const uint64_t new_slot = 0xFFFFE80000000000UL;
    int refused = paging_plugin.map(new_slot, probe_phys, PTE_PRESENT | PTE_NX) < 0;
    paging_plugin.free_space(space);
    int freed = env->frames->free_frames == free_before;  /* root, tables and the owned frame all went back */
    failed += check("paging: address spaces: own lower half (user-writable as mapped), shared kernel half, freed with their frames",
                    mapped && shared && private_half && freed, "mapped+shared %lu, private+freed %lu",
                    (uint64_t)(mapped * 10 + shared), (uint64_t)(private_half * 10 + freed));
    uint64_t probe_frame = probe_phys & ~(FRAME_SIZE - 1);
    int later = paging_plugin.map(new_slot, probe_frame, PTE_PRESENT | PTE_NX) == 0 &&
                paging_plugin.translate(new_slot + 8) == probe_frame + 8 && paging_plugin.unmap(new_slot) == 0;
    failed += check("paging: a new kernel-half slot: refused while a space shares the kernel half, then mapped",
                    refused && later, "refused %lu, mapped later %lu", (uint64_t)refused, (uint64_t)later);
    uint64_t direct = paging_plugin.translate(DIRECT_MAP_BASE + probe_phys);
    uint64_t image = paging_plugin.translate(probe_virt);
    failed += check("paging: the direct map and the kernel image translate (2 MiB pages)",
                    direct == probe_phys && image == probe_phys, "direct %#lx, image %#lx", direct, image);
    /* The whole of what init() maps, edge to edge: RAM as init() reports it (to its last
     * byte and not a page further), the uncached 3-4 GiB MMIO window (a 1 GiB page where
     * the CPU has them) and the kernel image's last byte. */
    uint64_t ram = env->paging->direct_map_bytes, image_end = kernel_image_end_phys();
    static const uint64_t window[] = {0xC0000000UL, 0xC0200123UL, 0xFEE00000UL, 0xFFFFFFF8UL};
    uint64_t edges_bad = 0;
    if (!ram || paging_plugin.translate(DIRECT_MAP_BASE + ram - 8) != ram - 8)
        edges_bad |= 1;
    for (uint64_t at = 0x123; at < ram; at += 0x40000000UL)  /* and each GiB on the way */
        if (paging_plugin.translate(DIRECT_MAP_BASE + at) != at)
            edges_bad |= 1;
    if (ram < 0xC0000000UL && paging_plugin.translate(DIRECT_MAP_BASE + ram) != PAGING_NOT_MAPPED)
        edges_bad |= 8;
    for (unsigned i = 0; i < sizeof window / sizeof window[0]; i++)
        if (paging_plugin.translate(DIRECT_MAP_BASE + window[i]) != window[i])
            edges_bad |= 2;
    if (ram <= 0x100000000UL && paging_plugin.translate(DIRECT_MAP_BASE + 0x100000000UL) != PAGING_NOT_MAPPED)
        edges_bad |= 2;  /* the window ends at 4 GiB */
    if (paging_plugin.translate(KERNEL_VMA + image_end - 1) != image_end - 1 ||
        paging_plugin.translate(KERNEL_VMA + ((image_end + 0x1FFFFFUL) & ~0x1FFFFFUL)) != PAGING_NOT_MAPPED)
        edges_bad |= 4;
    failed += check("paging: RAM, the MMIO window and the kernel image mapped to their last byte, no more",
                    edges_bad == 0, "wrong: %#lx (1 RAM, 2 MMIO window, 4 image end or past it, 8 past RAM)",
                    edges_bad, 0);
    /* How they are mapped (paging.h): large pages, and the access each allows. */
    const uint64_t seen = PTE_WRITE | PTE_USER | PTE_PWT | PTE_PCD | PTE_GLOBAL | PTE_NX;
    const struct {
        uint64_t virt, flags;
        int image;
    } kinds[] = {
        {DIRECT_MAP_BASE, PTE_WRITE | PTE_GLOBAL | PTE_NX, 0},
        {DIRECT_MAP_BASE + ram - 8, PTE_WRITE | PTE_GLOBAL | PTE_NX, 0},
        {DIRECT_MAP_BASE + 0xC0000000UL, PTE_WRITE | PTE_PCD | PTE_PWT | PTE_NX, 0},
        {DIRECT_MAP_BASE + 0xFFFFFFF8UL, PTE_WRITE | PTE_PCD | PTE_PWT | PTE_NX, 0},
        {KERNEL_VMA, PTE_WRITE | PTE_GLOBAL, 1},
        {KERNEL_VMA + image_end - 1, PTE_WRITE | PTE_GLOBAL, 1},
    };
    uint64_t kinds_bad = 0, gb = cpu_has_1g_pages();
    for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        uint64_t size, e = mapping_of(kinds[i].virt, &size);
        int size_ok = kinds[i].image ? size == 0x200000UL : size == 0x200000UL || (gb && size == 0x40000000UL);
        if (!size_ok || (e & seen) != kinds[i].flags)
            kinds_bad |= 1UL << i;
    }
    failed += check("paging: large pages with the promised access: RAM and the MMIO window (uncached) "
                    "writable, NX, kernel only; the image executable",
                    kinds_bad == 0, "wrong: %#lx (bits: RAM start, RAM end, MMIO x2, image x2)", kinds_bad, 0);
    /* Everything in the kernel half, by every path the MMU could take: nothing for user
     * mode, nothing executable but the kernel image (in a new space too); and the table
     * pages there are the ones tables_allocated counts. */
    uint64_t root = paging_plugin.current_space();
    uint64_t breaches = paging_plugin.unmap(0x10000000) != -1;  /* nothing there: refused, and nothing built */
    breaches += kernel_half_breaches(root, 4, 0, PTE_USER, 0, KERNEL_VMA, image_top);
    for (unsigned slot = 0; slot < 256; slot++)  /* the kernel's own lower half is empty */
        breaches += ((uint64_t *)phys_to_virt(root))[slot] != 0;
    uint64_t tables = count_tables(root, 4, root);
    failed += check("paging: kernel half: only the image executable, nothing user; lower half empty; tables_allocated exact",
                    breaches == 0 && breaches_new == 0 && tables == env->paging->tables_allocated,
                    "%lu breaches, %lu tables not counted", breaches + breaches_new,
                    tables - env->paging->tables_allocated);
    return failed;
}

/* -- micro-benchmarks -------------------------------------------------------- */
static void report(const struct mm_selftest_env *env, const char *what, uint64_t start, uint64_t ops)
{
    uint64_t ns = env->now_ns() - start;
    printk("bench %s: %lu.%02lu ns/op (%lu ops)\n", what, ns / ops, ns * 100 / ops % 100, ops);
}

void mm_bench(const struct mm_selftest_env *env, unsigned iterations)
{
    uint64_t t, sink = 0;
    uint64_t blocks[64];

    t = env->now_ns();
    for (unsigned i = 0; i < iterations; i++)
        frame_alloc_plugin.free(frame_alloc_plugin.alloc(0), 0);
    report(env, "frame alloc+free order 0", t, iterations);

    t = env->now_ns();
    for (unsigned i = 0; i < iterations / 64; i++) {
        for (unsigned j = 0; j < 64; j++)
            blocks[j] = frame_alloc_plugin.alloc(0);
        for (unsigned j = 0; j < 64; j++)
            frame_alloc_plugin.free(blocks[j], 0);
    }
    report(env, "frame alloc+free order 0, 64 live", t, iterations / 64 * 64);

    t = env->now_ns();
    for (unsigned i = 0; i < iterations; i++)
        frame_alloc_plugin.free(frame_alloc_plugin.alloc(3), 3);
    report(env, "frame alloc+free order 3", t, iterations);

    t = env->now_ns();
    for (unsigned i = 0; i < iterations; i++) {
        void *p = heap_plugin.alloc(64);
        sink += (uint64_t)p;
        heap_plugin.free(p);
    }
    report(env, "kmalloc+kfree 64 B", t, iterations);

    void *ptrs[64];
    t = env->now_ns();
    for (unsigned i = 0; i < iterations / 64; i++) {
        for (unsigned j = 0; j < 64; j++)
            ptrs[j] = heap_plugin.alloc(8 + (next_random() % 1024));
        for (unsigned j = 0; j < 64; j++)
            heap_plugin.free(ptrs[j]);
    }
    report(env, "kmalloc+kfree 8-1032 B, 64 live", t, iterations / 64 * 64);

    uint64_t frame = frame_alloc(0);
    t = env->now_ns();
    for (unsigned i = 0; i < iterations; i++) {
        paging_plugin.map(SCRATCH_VA, frame, PTE_PRESENT | PTE_WRITE);
        paging_plugin.unmap(SCRATCH_VA);
    }
    report(env, "page map+unmap", t, iterations);
    t = env->now_ns();
    for (unsigned i = 0; i < iterations; i++)
        sink += paging_plugin.translate(DIRECT_MAP_BASE + (i & 4095) * FRAME_SIZE);  /* within 16 MiB of RAM */
    report(env, "page translate", t, iterations);
    frame_free(frame, 0);
    if (sink == 1)
        printk("%lu\n", sink);  /* keep the compiler from dropping the loops */
}
