/*
 * Host-side harness for the memory plugins: the same plugin sources and the
 * same kernel/mm_selftest.c, compiled for the host with -DPYOS_HARNESS.
 *
 * "Physical memory" is a malloc'd arena that starts at physical ARENA_BASE;
 * phys_to_virt() maps into it. A software MMU (mmu_access) walks the page
 * tables the paging plugin builds in the arena, from the root given to
 * load_cr3(), so virtual addresses the plugins create resolve as the CPU
 * would resolve them (the recursive slot included), through a TLB that only
 * invlpg() and load_cr3() clear.
 *
 *   harness selftest MIB      run the self-tests; exit status = failures
 *   harness paging MIB        only the paging self-test
 *   harness bench MIB N       N-iteration micro-benchmarks, ns/op
 *   harness misuse MIB CASE   one call the interfaces say panics (exit 99);
 *                             exit 0 if it returns
 *
 * Options (first): --no-1g-pages makes cpu_has_1g_pages() say no, so a paging
 * plugin's 2 MiB path runs on a host that has 1 GiB pages; --image-end BYTES
 * sets kernel_image_end_phys() (below ARENA_BASE; default 2 MiB + 8);
 * --metadata-last puts the frame allocator's metadata at the top of the arena
 * instead of its start, so the first managed frame is the arena's first
 * (4 MiB aligned); --reserve-low FRAMES holds back that many frames after
 * the metadata (as firmware might), so the first managed frame moves up;
 * --island passes a third region of five frames inside the reserved hole,
 * all in one 64-frame word; --dirty fills every free frame with 0xDB bytes
 * before the paging plugin's init (RAM is not zeroed for it: tables must be).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <pyos/counters.h>
#include <pyos/frame_alloc.h>
#include <pyos/heap.h>
#include <pyos/mm_env.h>
#include <pyos/mm_selftest.h>
#include <pyos/paging.h>

#define ARENA_BASE 0x400000UL   /* below it: the "kernel image" */

static unsigned char *arena;
static uint64_t arena_bytes;
static uint64_t cr3;
static int no_1g_pages;
static int metadata_last;
static uint64_t reserve_low;  /* frames held back at the start of the arena, after the metadata */
static int island;            /* a region of a few frames inside the reserved hole */
static int dirty;             /* free frames filled with garbage before the paging plugin starts */
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

/* A TLB, as the CPU has one: mmu_access() goes on using a translation it cached until
 * invlpg() drops it or load_cr3() flushes them all, so a plugin that changes a present
 * entry without invlpg sees the old page, as it would on the CPU. (4 KiB granules; no
 * not-present entries are cached, as on x86. It evicts nothing until it is full, so a
 * missing invlpg shows whatever other pages were touched meanwhile.) */
#define TLB_ENTRIES 4096  /* a power of two */
static struct {
    uint64_t page, frame;  /* virt >> 12, its physical 4 KiB frame */
    int valid;
} tlb[TLB_ENTRIES];
static unsigned tlb_used;

void load_cr3(uint64_t phys)
{
    cr3 = phys;
    memset(tlb, 0, sizeof tlb);
    tlb_used = 0;
}

/* The slot holding page, or the free slot where it would go (open addressing). */
static unsigned tlb_slot(uint64_t page)
{
    unsigned i = (unsigned)(page * 0x9E3779B97F4A7C15ULL >> 52) & (TLB_ENTRIES - 1);
    while (tlb[i].valid && tlb[i].page != page)
        i = (i + 1) & (TLB_ENTRIES - 1);
    return i;
}

void invlpg(uint64_t virt)
{
    unsigned i = tlb_slot(virt >> 12);
    if (!tlb[i].valid)
        return;
    /* remove it, then put back the entries after it in its probe run */
    tlb[i].valid = 0;
    tlb_used--;
    for (unsigned j = (i + 1) & (TLB_ENTRIES - 1); tlb[j].valid; j = (j + 1) & (TLB_ENTRIES - 1)) {
        uint64_t page = tlb[j].page, frame = tlb[j].frame;
        tlb[j].valid = 0;
        unsigned k = tlb_slot(page);
        tlb[k].page = page;
        tlb[k].frame = frame;
        tlb[k].valid = 1;
    }
}
/* The "kernel image" ends 8 bytes into its second 2 MiB page by default (the linker aligns
 * the kernel's end to 8 bytes only), or where --image-end says. */
static uint64_t image_end = 0x200008;
uint64_t kernel_image_end_phys(void) { return image_end; }

int cpu_has_1g_pages(void)
{
    if (no_1g_pages)
        return 0;
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000000), "c"(0));
    if (a < 0x80000001)
        return 0;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001), "c"(0));
    return (d >> 26) & 1;
}

/* The MMU's walk from CR3: the leaf entry for virt and its page size (0 if not mapped). */
static uint64_t mmu_walk(uint64_t virt, uint64_t *page_size)
{
    uint64_t table = cr3;
    for (int level = 4; level >= 1; level--) {
        uint64_t e = ((uint64_t *)phys_to_virt(table))[(virt >> (12 + 9 * (level - 1))) & 511];
        if (!(e & PTE_PRESENT))
            break;
        *page_size = 1UL << (12 + 9 * (level - 1));
        if (level == 1 || (level <= 3 && (e & PTE_HUGE)))
            return e;
        table = e & PTE_ADDR_MASK;
    }
    *page_size = 0;
    return 0;
}

void *mmu_access(uint64_t virt)
{
    /* As the CPU: an address whose bits 63-47 are not all equal is not canonical, and using
     * it is a general-protection fault before any walk (Intel SDM vol. 1, 3.3.7.1). */
    if ((uint64_t)((int64_t)virt >> 47) + 1 > 1) {
        fprintf(stderr, "harness: general protection fault: %#lx is not canonical\n", virt);
        abort();
    }
    uint64_t vpage = virt >> 12, page;
    unsigned i = tlb_slot(vpage);
    if (tlb[i].valid)
        return phys_to_virt(tlb[i].frame | (virt & 0xFFF));
    uint64_t e = mmu_walk(virt, &page);
    if (!page) {
        fprintf(stderr, "harness: page fault: %#lx is not mapped\n", virt);
        abort();
    }
    uint64_t phys = (e & PTE_ADDR_MASK & ~(page - 1)) | (virt & (page - 1));
    if (tlb_used + 1 >= TLB_ENTRIES) {  /* full: start again */
        memset(tlb, 0, sizeof tlb);
        tlb_used = 0;
        i = tlb_slot(vpage);
    }
    tlb[i].page = vpage;
    tlb[i].frame = phys & ~0xFFFUL;
    tlb[i].valid = 1;
    tlb_used++;
    return phys_to_virt(phys);
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

/* Calls the interfaces say end in a panic: a block free() cannot have handed out
 * (frame_alloc.h), and a pointer kfree() was not given by kmalloc (heap.h). */
static void misuse(const char *what, const struct frame_region *regions, uint32_t count)
{
    const struct frame_region *region = &regions[0];
    uint64_t end = regions[count - 1].base + regions[count - 1].length, p;
    if (!strcmp(what, "free-order-too-big")) {
        p = frame_alloc_plugin.alloc(0);
        frame_alloc_plugin.free(p, FRAME_ALLOC_MAX_ORDER + 1);
    } else if (!strcmp(what, "free-misaligned-block")) {
        p = frame_alloc_plugin.alloc(1);
        frame_alloc_plugin.free(p + FRAME_SIZE, 1);
    } else if (!strcmp(what, "free-inside-a-frame")) {
        p = frame_alloc_plugin.alloc(0);
        frame_alloc_plugin.free(p + 8, 0);
    } else if (!strcmp(what, "free-below-the-regions")) {
        frame_alloc_plugin.free(region->base - FRAME_SIZE, 0);
    } else if (!strcmp(what, "free-past-the-regions")) {
        frame_alloc_plugin.free(end, 0);
    } else if (!strcmp(what, "free-straddling-the-start")) {
        /* an aligned block of 8 frames whose first frames are the allocator's metadata */
        frame_alloc_plugin.free(region->base & ~(8 * FRAME_SIZE - 1), 3);
    } else if (!strcmp(what, "free-straddling-the-end")) {
        /* an aligned 4 MiB block that starts inside and ends past the end (which is not 4 MiB
         * aligned), its frames all handed out first: only the bounds can tell */
        while (frame_alloc_plugin.alloc(0))
            ;
        frame_alloc_plugin.free(end & ~((FRAME_SIZE << FRAME_ALLOC_MAX_ORDER) - 1), FRAME_ALLOC_MAX_ORDER);
    } else if (!strcmp(what, "double-free")) {
        p = frame_alloc_plugin.alloc(0);
        printf("harness: freeing %#lx twice\n", p);
        frame_alloc_plugin.free(p, 0);
        frame_alloc_plugin.free(p, 0);
    } else if (!strcmp(what, "kfree-twice")) {
        void *q = heap_plugin.alloc(100);
        heap_plugin.free(q);
        heap_plugin.free(q);
    } else if (!strcmp(what, "kfree-inside-a-block")) {
        char *q = heap_plugin.alloc(100);
        memset(q, 0, 100);
        heap_plugin.free(q + 16);
    } else if (!strcmp(what, "kfree-inside-a-freed-block")) {
        /* A freed block whose data looked like in-use headers (16 B apart), partly reused:
         * a pointer into the free part was never returned, however its bytes look. */
        uint64_t *q = heap_plugin.alloc(128);
        for (int i = 0; i < 16; i += 2) {
            q[i] = 64;                                  /* "size" */
            q[i + 1] = 48ULL << 32 | 0x55534544;        /* "requested" 48, the in-use magic */
        }
        heap_plugin.free(q);
        heap_plugin.alloc(48);
        heap_plugin.free((char *)q + 64);
    } else if (!strcmp(what, "paging-without-memory")) {
        /* not a misuse: with no frame left, new_space() says 0 and a map needing tables -1 */
        while (frame_alloc_plugin.alloc(0))
            ;
        uint64_t space = paging_plugin.new_space();
        int mapped = paging_plugin.map(0xFFFFD00000000000UL, region->base, PTE_PRESENT | PTE_NX);
        printf("harness: with no free frame: new_space %#lx, map %d\n", space, mapped);
        exit(0);
    } else if (!strcmp(what, "new-space-in-its-frame")) {
        /* new_space() writes its root and nothing else: with one free frame, whose neighbour
         * we hold and have filled, that neighbour is untouched */
        uint64_t prev = 0, frame, hole = 0;
        while ((frame = frame_alloc_plugin.alloc(0)) != 0) {
            if (!hole && prev && frame == prev + FRAME_SIZE)
                hole = prev;  /* prev is free again below; frame, right after it, stays ours */
            prev = frame;
        }
        memset(phys_to_virt(hole + FRAME_SIZE), 0x5C, FRAME_SIZE);
        frame_alloc_plugin.free(hole, 0);
        uint64_t root = paging_plugin.new_space();
        const unsigned char *next = phys_to_virt(hole + FRAME_SIZE);
        uint64_t changed = 0;
        for (uint64_t i = 0; i < FRAME_SIZE; i++)
            changed += next[i] != 0x5C;
        printf("harness: new space at %s, %lu bytes changed after it\n", root == hole ? "the free frame" : "?", changed);
        exit(0);
    } else if (!strcmp(what, "write-in-a-new-space")) {
        /* not a misuse: after switch_space() the MMU walks the new space (CR3 was loaded) */
        uint64_t home = paging_plugin.current_space(), space = paging_plugin.new_space();
        uint64_t frame = frame_alloc_plugin.alloc(0);
        paging_plugin.switch_space(space);
        paging_plugin.map(0x400000, frame, PTE_PRESENT | PTE_WRITE | PTE_USER);
        *(volatile uint64_t *)mmu_access(0x400008) = 0xFEED;
        paging_plugin.switch_space(home);
        printf("harness: written through the new space: %#lx\n", ((uint64_t *)phys_to_virt(frame))[1]);
        exit(0);
    } else if (!strcmp(what, "map-over-the-direct-map")) {
        /* not a misuse: a page inside init's large pages is mapped already (map -1), and is
         * not a 4 KiB page unmap could take away (-1); the RAM there is left alone */
        uint64_t va = DIRECT_MAP_BASE + region->base + 0x5000, before = *(uint64_t *)phys_to_virt(region->base);
        int mapped = paging_plugin.map(va, region->base, PTE_PRESENT | PTE_NX);
        int unmapped = paging_plugin.unmap(va);
        printf("harness: over the direct map: map %d, unmap %d, translate %s, RAM %s\n", mapped, unmapped,
               paging_plugin.translate(va) == region->base + 0x5000 ? "unchanged" : "changed",
               *(uint64_t *)phys_to_virt(region->base) == before ? "unchanged" : "changed");
        exit(0);
    } else if (!strcmp(what, "largest-after-a-free")) {
        /* not a misuse: refresh_stats() brings largest_free_frames up to date after frees alone */
        uint64_t last = 0, frame;
        while ((frame = frame_alloc_plugin.alloc(0)) != 0)
            last = frame;
        refresh();
        uint64_t none = pyos_counters.frames.largest_free_frames;
        frame_alloc_plugin.free(last, 0);
        refresh();
        printf("harness: largest free block: %lu when none is free, %lu after one frame came back\n", none,
               pyos_counters.frames.largest_free_frames);
        exit(0);
    } else if (!strcmp(what, "largest-block-at-the-top")) {
        /* not a misuse: every frame handed out, then the regions' last 4 MiB (RAM ends on a
         * 4 MiB boundary) given back frame by frame: the largest order finds that block */
        uint64_t top = end - (FRAME_SIZE << FRAME_ALLOC_MAX_ORDER), ours = 0;
        while ((p = frame_alloc_plugin.alloc(0)) != 0)
            ours += p >= top;
        if (ours != 1UL << FRAME_ALLOC_MAX_ORDER || (end & ((FRAME_SIZE << FRAME_ALLOC_MAX_ORDER) - 1))) {
            printf("harness: the last 4 MiB are not all free after init\n");
            exit(0);
        }
        for (p = top; p < end; p += FRAME_SIZE)
            frame_alloc_plugin.free(p, 0);
        p = frame_alloc_plugin.alloc(FRAME_ALLOC_MAX_ORDER);
        printf("harness: the last 4 MiB block: %s\n", p == top ? "found" : p ? "another" : "not found");
        exit(0);
    } else if (!strcmp(what, "next-fit")) {
        /* not a misuse: bitmap.c's next fit. Its bitmap starts at the first region's 64-frame
         * word; a search starts in the 4096-frame group (level-0 word) where the last one
         * succeeded, and goes on upwards, wrapping. With every frame handed out: one frame
         * back in group 3 and taken again (the hint is there now); then a frame back in
         * groups 0, 2 and 3 each: order 0 takes group 3's; then a whole word back in groups
         * 0 and 3: order 6 takes group 3's. */
        uint64_t base = (region->base >> FRAME_SHIFT) & ~63UL, got[2];
        while (frame_alloc_plugin.alloc(0))
            ;
#define FRAME_AT(word, off) ((base + (word) * 64 + (off)) << FRAME_SHIFT)
        frame_alloc_plugin.free(FRAME_AT(192, 0), 0);
        p = frame_alloc_plugin.alloc(0);
        frame_alloc_plugin.free(FRAME_AT(20, 5), 0);
        frame_alloc_plugin.free(FRAME_AT(150, 7), 0);
        frame_alloc_plugin.free(FRAME_AT(200, 9), 0);
        got[0] = frame_alloc_plugin.alloc(0);
        for (uint64_t f = 0; f < 64; f++) {
            frame_alloc_plugin.free(FRAME_AT(30, f), 0);
            frame_alloc_plugin.free(FRAME_AT(210, f), 0);
        }
        got[1] = frame_alloc_plugin.alloc(6);
        printf("harness: next fit: %s, then order 0 from group %ld, order 6 from group %ld\n",
               p == FRAME_AT(192, 0) ? "the only free frame taken" : "?", ((got[0] >> FRAME_SHIFT) - base) / 4096,
               ((got[1] >> FRAME_SHIFT) - base) / 4096);
#undef FRAME_AT
        exit(0);
    } else if (!strcmp(what, "the-recursive-window")) {
        /* not a misuse: recursive.c's own window (PML4 slot 510, mapped by init: the page
         * tables themselves) is not a place map() or unmap() may change: both refuse, and
         * the root table is as it was */
        uint64_t root = paging_plugin.current_space(), va = 0xFFFFFF0000000000UL, frame = frame_alloc_plugin.alloc(0);
        static uint64_t before[512];
        memcpy(before, phys_to_virt(root), sizeof before);
        uint64_t self = va | 510UL << 30 | 510UL << 21 | 510UL << 12;  /* the root, seen through the window */
        int mapped = paging_plugin.map(va, frame, PTE_PRESENT | PTE_WRITE | PTE_NX);
        int unmapped = paging_plugin.unmap(self);
        printf("harness: in the recursive window: map %d, unmap %d, the root %s, translate of the root %s\n", mapped,
               unmapped, memcmp(before, phys_to_virt(root), sizeof before) ? "changed" : "unchanged",
               paging_plugin.translate(self) == root ? "right" : "wrong");
        exit(0);
    } else if (!strcmp(what, "touch-after-unmap")) {
        /* not a misuse of an interface: the access after unmap() must fault (abort here) */
        uint64_t va = 0xFFFFD00000000000UL, frame = frame_alloc_plugin.alloc(0);
        paging_plugin.map(va, frame, PTE_PRESENT | PTE_WRITE | PTE_NX);
        *(volatile uint64_t *)mmu_access(va) = 1;
        paging_plugin.unmap(va);
        *(volatile uint64_t *)mmu_access(va) = 2;
    } else {
        fprintf(stderr, "harness: no misuse case %s\n", what);
        exit(2);
    }
    printf("harness: %s returned without a panic\n", what);
}

int main(int argc, char **argv)
{
    for (;;) {
        if (argc > 1 && !strcmp(argv[1], "--no-1g-pages")) {
            no_1g_pages = 1;
        } else if (argc > 1 && !strcmp(argv[1], "--metadata-last")) {
            metadata_last = 1;
        } else if (argc > 1 && !strcmp(argv[1], "--island")) {
            island = 1;
        } else if (argc > 1 && !strcmp(argv[1], "--dirty")) {
            dirty = 1;
        } else if (argc > 2 && !strcmp(argv[1], "--reserve-low")) {
            reserve_low = strtoull(argv[2], NULL, 0);
            argv++;
            argc--;
        } else if (argc > 2 && !strcmp(argv[1], "--image-end")) {
            image_end = strtoull(argv[2], NULL, 0);
            argv++;
            argc--;
        } else {
            break;
        }
        argv++;
        argc--;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: %s [--no-1g-pages] [--image-end BYTES] [--metadata-last] [--reserve-low FRAMES] [--island] [--dirty] selftest|paging|bench|misuse MIB [ITERATIONS|CASE]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);  /* keep every line even if a plugin crashes us */
    arena_bytes = strtoull(argv[2], NULL, 0) << 20;
    /* Zeroed pages, touched only when used (a GiB-sized arena costs only what the run uses). */
    unsigned char *map = mmap(NULL, arena_bytes + (1 << 21), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                              -1, 0);
    if (map == MAP_FAILED) {
        perror("harness: mmap");
        return 2;
    }
    arena = (unsigned char *)(((uint64_t)map + (1 << 21) - 1) & ~((uint64_t)(1 << 21) - 1));

    /* As the kernel does: the early allocator gives the metadata, the rest is the allocator's,
     * but for a reserved hole in the middle (as firmware or a loaded image leaves), at frames
     * no large block is aligned to. The caller's array has one more entry than it passes
     * (the hole itself): an allocator must read only `count` entries. The metadata is at the
     * arena's start (so the first managed frame is not 64-frame aligned), or with
     * --metadata-last at its top (the first managed frame is 4 MiB aligned). The rest of the
     * metadata's last frame, past the bytes asked for, is filled with a pattern that must
     * stay (in the kernel, the early allocator's next allocation follows right after). */
    uint64_t frames = arena_bytes >> FRAME_SHIFT;
    uint64_t meta_bytes = frame_alloc_plugin.metadata_bytes(ARENA_BASE >> FRAME_SHIFT, frames);
    uint64_t meta = (meta_bytes + FRAME_SIZE - 1) & ~(FRAME_SIZE - 1);
    uint64_t meta_at = metadata_last ? ARENA_BASE + arena_bytes - meta : ARENA_BASE;
    uint64_t low = metadata_last ? ARENA_BASE : ARENA_BASE + meta, last = metadata_last ? meta_at : ARENA_BASE + arena_bytes;
    uint64_t first = low + reserve_low * FRAME_SIZE;
    uint64_t hole = ARENA_BASE + arena_bytes / 2 + 3 * FRAME_SIZE, hole_end = hole + 77 * FRAME_SIZE;
    /* the island: frames 20-24 of the hole, which starts 3 frames into a 64-frame word */
    uint64_t isle = hole + 20 * FRAME_SIZE, isle_end = isle + 5 * FRAME_SIZE;
    struct frame_region regions[4] = {{first, hole - first}, {isle, isle_end - isle}, {hole_end, last - hole_end}};
    uint32_t region_count = 3;
    if (!island) {
        regions[1] = regions[2];
        region_count = 2;
    }
    regions[region_count] = (struct frame_region){hole, hole_end - hole};  /* not passed */
    memset(phys_to_virt(hole), 0xA5, hole_end - hole);
    memset(phys_to_virt(low), 0xA5, first - low);
    unsigned char *slack = (unsigned char *)phys_to_virt(meta_at) + meta_bytes;
    memset(slack, 0x5A, meta - meta_bytes);
    frame_alloc_plugin.init(regions, region_count, phys_to_virt(meta_at), &pyos_counters.frames);
    /* What the allocator asks the kernel for, for a few sizes (its own documentation says how much). */
    static const uint64_t sizes[] = {1, 64, 65, 4096, 4097, 262144, 262145};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        printf("harness: metadata for %lu frames: %lu bytes\n", sizes[i],
               frame_alloc_plugin.metadata_bytes(ARENA_BASE >> FRAME_SHIFT, sizes[i]));
    refresh();
    uint64_t held = 0;
    for (uint32_t i = 0; i < region_count; i++)
        held += regions[i].length >> FRAME_SHIFT;
    printf("harness: the regions hold %lu frames; the allocator has %lu, %lu free, the largest block %lu\n",
           held, pyos_counters.frames.total_frames,
           pyos_counters.frames.free_frames, pyos_counters.frames.largest_free_frames);
    printf("harness: frame allocator '%s', heap '%s', paging '%s', %s MiB, 1 GiB pages: %s\n",
           frame_alloc_plugin.name, heap_plugin.name, paging_plugin.name, argv[2], cpu_has_1g_pages() ? "yes" : "no");
    struct mm_selftest_env env = {&pyos_counters.frames, &pyos_counters.heap, now_ns, refresh,
                                  &pyos_counters.paging};
    /* The frame allocator's self-test first, before the paging plugin takes frames for good:
     * every frame init() was given, the first one included, goes out and comes back. */
    if (!strcmp(argv[1], "selftest"))
        mm_selftest_frames(&env);
    if (!strcmp(argv[1], "misuse") && argc > 3 && !strcmp(argv[3], "paging-init-with-one-frame")) {
        /* one frame left: the root fits, the next table does not; init must say so (panic) */
        uint64_t last = 0, frame;
        while ((frame = frame_alloc_plugin.alloc(0)) != 0)
            last = frame;
        frame_alloc_plugin.free(last, 0);
    }
    if (dirty) {  /* every free frame taken, filled with garbage (bit 0, PTE_PRESENT, set), given back */
        uint64_t n = 0, *taken = malloc(frames * sizeof *taken), f;
        while ((f = frame_alloc_plugin.alloc(0)) != 0) {
            memset(phys_to_virt(f), 0xDB, FRAME_SIZE);
            taken[n++] = f;
        }
        while (n)
            frame_alloc_plugin.free(taken[--n], 0);
        free(taken);
    }
    uint64_t free_before_paging = pyos_counters.frames.free_frames;
    paging_plugin.init(ARENA_BASE + arena_bytes, &pyos_counters.paging);
    printf("harness: paging init took %lu frames; tables_allocated %lu\n",
           free_before_paging - pyos_counters.frames.free_frames, pyos_counters.paging.tables_allocated);
    heap_plugin.init(&pyos_counters.heap);
    if (!strcmp(argv[1], "bench")) {
        mm_bench(&env, argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 1000000);
        return 0;
    }
    if (!strcmp(argv[1], "misuse")) {
        misuse(argc > 3 ? argv[3] : "", regions, region_count);
        return 0;
    }
    if (strcmp(argv[1], "paging"))  /* "paging": only the paging checks (quick with much RAM) */
        mm_selftest_heap(&env);
    uint64_t probe = image_end / 2;  /* inside the "kernel image", mapped at KERNEL_VMA */
    mm_selftest_paging(&env, KERNEL_VMA + probe, probe);
    const unsigned char *reserved = phys_to_virt(hole);
    uint64_t touched = 0;
    for (uint64_t i = 0; i < hole_end - hole; i++)
        touched += reserved[i] != 0xA5 && !(island && hole + i >= isle && hole + i < isle_end);
    printf("harness: bytes written in the reserved hole: %lu\n", touched);
    reserved = phys_to_virt(low);
    touched = 0;
    for (uint64_t i = 0; i < first - low; i++)
        touched += reserved[i] != 0xA5;
    printf("harness: bytes written in the %lu frames held back low: %lu\n", reserve_low, touched);
    touched = 0;
    for (uint64_t i = 0; i < meta - meta_bytes; i++)
        touched += slack[i] != 0x5A;
    printf("harness: bytes written past the metadata asked for: %lu of %lu\n", touched, meta - meta_bytes);
    /* How init() mapped RAM, the MMIO window and the kernel image, as the MMU sees it. */
    static const struct { const char *what; uint64_t virt; } probes[] = {
        {"RAM start", DIRECT_MAP_BASE + ARENA_BASE},
        {"RAM end", 0},
        {"RAM second GiB", DIRECT_MAP_BASE + 0x40000000UL},
        {"MMIO window", DIRECT_MAP_BASE + 0xC0000000UL},
        {"kernel image", KERNEL_VMA},
    };
    for (unsigned i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        uint64_t page, virt = probes[i].virt ? probes[i].virt : DIRECT_MAP_BASE + ARENA_BASE + arena_bytes - 8;
        mmu_walk(virt, &page);
        printf("harness: page size at %s: %lu KiB\n", probes[i].what, page >> 10);
    }
    printf("harness: RAM ends at %#lx; the direct map covers %#lx\n", ARENA_BASE + arena_bytes,
           pyos_counters.paging.direct_map_bytes);
    printf("selftest memory: %d passed, %d failed\n", mm_selftest_passed, mm_selftest_failed);
    return mm_selftest_failed ? 1 : 0;
}
