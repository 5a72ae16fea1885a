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

/* Frames: exhaustion, uniqueness, random-order free, coalescing. */
int mm_selftest_frames(const struct mm_selftest_env *env)
{
    struct frame_alloc_stats *st = env->frames;
    int failed = 0;
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
    failed += check("order-0 allocation until exhaustion hands out every free frame",
                    n == free_start && st->free_frames == 0, "%lu frames of %lu free", n, free_start);
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

    /* 2. Free in random order: everything coalesces back. */
    shuffle(list, n);
    for (uint64_t i = 0; i < n; i++)
        frame_alloc_plugin.free((uint64_t)list[i] << FRAME_SHIFT, 0);
    env->refresh_stats();
    failed += check("random-order free restores the free count", st->free_frames == free_start,
                    "%lu free, expected %lu", st->free_frames, free_start);
    /* The counters the metrics export: one alloc per block handed out, one failure for the
     * allocation that found nothing, one free per block given back; breaking up free
     * blocks and putting them together again both happened (every frame went and came back). */
    failed += check("counters: allocs, failures and frees count each call",
                    st->allocs - allocs_start == n && st->failures - failures_start == 1 &&
                    st->frees - frees_start == n,
                    "%lu allocs, %lu frees", st->allocs - allocs_start, st->frees - frees_start);
    failed += check("counters: splits and merges both counted", st->splits != splits_start &&
                    st->merges != merges_start, "%lu splits, %lu merges", st->splits - splits_start,
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
    int64_t free_start = (int64_t)env->frames->free_frames, held_start = (int64_t)st->frames_in_use;
    uint64_t shrinks_start = st->shrinks, seed = rng;
    heap_stress(&misaligned, &corrupted, &failures);
    int64_t free_after_one = (int64_t)env->frames->free_frames, held_after_one = (int64_t)st->frames_in_use;
    rng = seed;  /* the same sequence again */
    heap_stress(&misaligned, &corrupted, &failures);
    int64_t free_after_two = (int64_t)env->frames->free_frames;
    int failed = 0;
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
    void *zero = heap_plugin.alloc(0);
    heap_plugin.free(zero);
    heap_plugin.free(NULL);
    return failed;
}

/* Paging: map/unmap/translate round trips at a scratch address. */
#define PAGING_PROBES 24
#define SCRATCH_VA 0xFFFFD00000000000UL

int mm_selftest_paging(const struct mm_selftest_env *env, uint64_t probe_virt, uint64_t probe_phys)
{
    (void)env;
    int failed = 0;
    uint64_t frames[PAGING_PROBES], wrong = 0, data_bad = 0, unmapped_bad = 0, remap_bad = 0;
    for (unsigned i = 0; i < PAGING_PROBES; i++) {
        /* Spread over 4 KiB, 2 MiB, 1 GiB and 512 GiB boundaries: new tables each time. */
        uint64_t va = SCRATCH_VA + (uint64_t)i * 0x40201000UL;
        frames[i] = frame_alloc(0);
        if (!frames[i] || paging_plugin.map(va, frames[i], PTE_PRESENT | PTE_WRITE | PTE_NX) < 0 ||
            paging_plugin.translate(va + 0x123) != frames[i] + 0x123) {
            wrong++;
            continue;
        }
        *(volatile uint64_t *)mmu_access(va) = 0xC0FFEE00 + i;  /* write through the new mapping */
        if (*(uint64_t *)phys_to_virt(frames[i]) != 0xC0FFEE00 + i)  /* read through the direct map */
            data_bad++;
        if (paging_plugin.map(va, frames[i], PTE_PRESENT) == 0)
            remap_bad++;
    }
    for (unsigned i = 0; i < PAGING_PROBES; i++) {
        uint64_t va = SCRATCH_VA + (uint64_t)i * 0x40201000UL;
        if (paging_plugin.unmap(va) < 0 || paging_plugin.translate(va) != PAGING_NOT_MAPPED ||
            paging_plugin.unmap(va) == 0)
            unmapped_bad++;
        if (frames[i])
            frame_free(frames[i], 0);
    }
    failed += check("paging: map then translate gives the frame back", wrong == 0, "%lu wrong of %lu",
                    wrong, PAGING_PROBES);
    failed += check("paging: a write through the mapping lands in the frame", data_bad == 0,
                    "%lu wrong of %lu", data_bad, PAGING_PROBES);
    failed += check("paging: mapping a mapped page is refused", remap_bad == 0, "%lu accepted of %lu",
                    remap_bad, PAGING_PROBES);
    failed += check("paging: unmap then translate says not mapped", unmapped_bad == 0, "%lu wrong of %lu",
                    unmapped_bad, PAGING_PROBES);
    /* A second address space: its lower half is its own, its upper half shared. */
    uint64_t free_before = env->frames->free_frames;
    uint64_t home = paging_plugin.current_space(), space = paging_plugin.new_space();
    uint64_t frame = frame_alloc(0);
    paging_plugin.switch_space(space);
    int mapped = paging_plugin.map(0x400000, frame, PTE_PRESENT | PTE_WRITE | PTE_USER | PTE_OWNED) == 0 &&
                 paging_plugin.translate(0x400000) == frame;
    int shared = paging_plugin.translate(DIRECT_MAP_BASE + probe_phys) == probe_phys;
    paging_plugin.switch_space(home);
    int private_half = paging_plugin.translate(0x400000) == PAGING_NOT_MAPPED;
    paging_plugin.free_space(space);
    int freed = env->frames->free_frames == free_before;  /* root, tables and the owned frame all went back */
    failed += check("paging: address spaces: own lower half, shared kernel half, freed with their frames",
                    mapped && shared && private_half && freed, "mapped+shared %lu, private+freed %lu",
                    (uint64_t)(mapped * 10 + shared), (uint64_t)(private_half * 10 + freed));
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
    if (ram < 0xC0000000UL && paging_plugin.translate(DIRECT_MAP_BASE + ram) != PAGING_NOT_MAPPED)
        edges_bad |= 8;
    for (unsigned i = 0; i < sizeof window / sizeof window[0]; i++)
        if (paging_plugin.translate(DIRECT_MAP_BASE + window[i]) != window[i])
            edges_bad |= 2;
    if (paging_plugin.translate(KERNEL_VMA + image_end - 1) != image_end - 1)
        edges_bad |= 4;
    failed += check("paging: RAM, the MMIO window and the kernel image mapped to their last byte, no more",
                    edges_bad == 0, "wrong: %#lx (1 RAM end, 2 MMIO window, 4 image end, 8 past RAM)",
                    edges_bad, 0);
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
