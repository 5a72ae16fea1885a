/*
 * Memory management core: the order in which the memory plugins come up,
 * and the kernel's entry points to them.
 *
 *   early_alloc   a bump allocator over the first usable RAM after the
 *                 kernel; it never frees, and is sealed once the frame
 *                 allocator takes over the rest of RAM
 *   frame_alloc   the frame-allocator plugin (buddy, bitmap, ...)
 *   paging        the paging plugin builds the kernel's page tables
 *   kmalloc       the heap plugin, over frames
 */
#include <pyos/bootinfo.h>
#include <pyos/counters.h>
#include <pyos/frame_alloc.h>
#include <pyos/heap.h>
#include <pyos/kernel.h>
#include <pyos/mm.h>
#include <pyos/paging.h>
#include <pyos/string.h>
#include <pyos/vm.h>

struct pyos_counters pyos_counters;

extern char _kernel_phys_start[], _kernel_end[];

uint64_t kernel_image_end_phys(void) { return (uint64_t)_kernel_end - KERNEL_VMA; }

#define MAX_REGIONS PYOS_MEMMAP_MAX
static struct frame_region regions[MAX_REGIONS];
static uint32_t region_count;

/* -- early bump allocator ------------------------------------------------ */
static uint64_t early_next, early_end;  /* physical */
static int early_sealed;

void *early_alloc(size_t size)
{
    if (early_sealed)
        panic("early_alloc(%zu) after the frame allocator took over", size);
    uint64_t at = (early_next + 15) & ~15UL;
    if (at + size > early_end)
        panic("early_alloc(%zu): the first usable region is too small", size);
    early_next = at + size;
    void *p = phys_to_virt(at);
    /* Nothing before us used this RAM (a bump allocator never gives back):
     * when the VMM promises it was zero at entry, it still is. Under
     * emulated kernel mode that skips one emulated store per word. */
    if (!(boot_info.flags & PYOS_BOOT_RAM_ZEROED))
        memset(p, 0, size);
    return p;
}

static void add_region(uint64_t base, uint64_t end)
{
    base = (base + FRAME_SIZE - 1) & ~(FRAME_SIZE - 1);
    end &= ~(FRAME_SIZE - 1);
    if (end > base && region_count < MAX_REGIONS)
        regions[region_count++] = (struct frame_region){base, end - base};
}

/* Usable RAM from the memory map, minus frame 0 and the kernel image. */
static void collect_regions(void)
{
    uint64_t kstart = (uint64_t)_kernel_phys_start, kend = kernel_image_end_phys();
    for (uint32_t i = 0; i < boot_info.memmap_count; i++) {
        const struct pyos_memmap_entry *e = &boot_info.memmap[i];
        if (e->type != PYOS_MEM_USABLE)
            continue;
        uint64_t base = e->base < FRAME_SIZE ? FRAME_SIZE : e->base, end = e->base + e->length;
        if (base < kend && end > kstart) {  /* split around the kernel image */
            add_region(base, kstart);
            add_region(kend, end);
        } else {
            add_region(base, end);
        }
    }
}

/* The early allocator takes the start of the largest region. */
static struct frame_region *early_region(void)
{
    struct frame_region *best = &regions[0];
    for (uint32_t i = 1; i < region_count; i++)
        if (regions[i].length > best->length)
            best = &regions[i];
    return best;
}

static void seal_early(struct frame_region *r)
{
    uint64_t used_end = (early_next + FRAME_SIZE - 1) & ~(FRAME_SIZE - 1);
    r->length -= used_end - r->base;
    r->base = used_end;
    early_sealed = 1;
}

/* -- the kernel's entry points --------------------------------------------- */
uint64_t frame_alloc(unsigned order) { return frame_alloc_plugin.alloc(order); }
void frame_free(uint64_t phys, unsigned order) { frame_alloc_plugin.free(phys, order); }
void *kmalloc(size_t size) { return heap_plugin.alloc(size); }
void kfree(void *ptr) { heap_plugin.free(ptr); }

void mm_refresh_stats(void)
{
    if (frame_alloc_plugin.refresh_stats)
        frame_alloc_plugin.refresh_stats();
}

static void set_name(char *dst, const char *name)
{
    strncpy_z(dst, name, PYOS_PLUGIN_NAME_MAX);
}

void mm_init(void)
{
    collect_regions();
    if (!region_count)
        panic("no usable memory in the memory map");
    struct frame_region *first = early_region();
    early_next = first->base;
    early_end = first->base + first->length;

    uint64_t lo = ~0UL, hi = 0;
    for (uint32_t i = 0; i < region_count; i++) {
        if (regions[i].base < lo)
            lo = regions[i].base;
        if (regions[i].base + regions[i].length > hi)
            hi = regions[i].base + regions[i].length;
    }
    uint64_t first_frame = lo >> FRAME_SHIFT, frames = (hi - lo) >> FRAME_SHIFT;
    void *metadata = early_alloc(frame_alloc_plugin.metadata_bytes(first_frame, frames));
    frame_ref_init(first_frame, frames);   /* the kernel's per-frame reference counts (kernel/frame_ref.c) */
    uint64_t early_used = early_next - first->base;
    seal_early(first);

    pyos_counters.magic = PYOS_COUNTERS_MAGIC;
    pyos_counters.version = PYOS_COUNTERS_VERSION;
    set_name(pyos_counters.frame_alloc_name, frame_alloc_plugin.name);
    set_name(pyos_counters.heap_name, heap_plugin.name);
    set_name(pyos_counters.paging_name, paging_plugin.name);

    frame_alloc_plugin.init(regions, region_count, metadata, &pyos_counters.frames);
    mm_refresh_stats();
    printk("memory: frame allocator '%s': %lu frames free of %lu (early allocator used %lu KiB)\n",
           frame_alloc_plugin.name, pyos_counters.frames.free_frames, pyos_counters.frames.total_frames,
           early_used / 1024);
    paging_plugin.init(hi, &pyos_counters.paging);
    printk("memory: paging '%s': %lu MiB direct-mapped at %#lx, %lu page-table pages\n", paging_plugin.name,
           pyos_counters.paging.direct_map_bytes >> 20, DIRECT_MAP_BASE, pyos_counters.paging.tables_allocated);
    heap_plugin.init(&pyos_counters.heap);
    printk("memory: heap '%s'\n", heap_plugin.name);
}

/* -- kernel stacks with guard pages ------------------------------------------- */
static uint32_t kstacks_used;
static uint32_t free_slots[KSTACK_MAX], free_slot_count;  /* slots given back, for reuse */

void kstack_free(void *top)
{
    uint64_t slot = (uint64_t)top - KSTACK_SLOT;
    for (uint64_t va = slot + KSTACK_SLOT - KSTACK_SIZE; va < slot + KSTACK_SLOT; va += FRAME_SIZE) {
        uint64_t frame = paging_plugin.translate(va);
        paging_plugin.unmap(va);
        frame_free(frame, 0);
    }
    free_slots[free_slot_count++] = (uint32_t)((slot - KSTACK_REGION) / KSTACK_SLOT);
}

void *kstack_alloc(void)
{
    uint32_t index;
    if (free_slot_count)
        index = free_slots[--free_slot_count];
    else if (kstacks_used < KSTACK_MAX)
        index = kstacks_used++;
    else
        return NULL;
    uint64_t slot = KSTACK_REGION + (uint64_t)index * KSTACK_SLOT;
    uint64_t bottom = slot + KSTACK_SLOT - KSTACK_SIZE;  /* below it: unmapped guard */
    for (uint64_t va = bottom; va < slot + KSTACK_SLOT; va += FRAME_SIZE) {
        uint64_t frame = frame_alloc(0);
        if (!frame || paging_plugin.map(va, frame, PTE_PRESENT | PTE_WRITE | PTE_NX) < 0)
            return NULL;
    }
    return (void *)(slot + KSTACK_SLOT);
}

int kstack_guard_hit(uint64_t addr)
{
    if (addr < KSTACK_REGION || addr >= KSTACK_REGION + (uint64_t)KSTACK_MAX * KSTACK_SLOT)
        return 0;
    return (addr - KSTACK_REGION) % KSTACK_SLOT < KSTACK_SLOT - KSTACK_SIZE;
}

/* -- selftest=memory and bench=memory --------------------------------------- */
#include <pyos/io.h>
#include <pyos/mm_selftest.h>
#include <pyos/timer.h>

static uint64_t tsc_now_ns(void)
{
    if (!tsc_khz)
        return 0;
    uint64_t t = rdtsc();  /* split so that t * 10^6 cannot overflow */
    return t / tsc_khz * 1000000 + t % tsc_khz * 1000000 / tsc_khz;
}

static const struct mm_selftest_env guest_env = {
    .frames = &pyos_counters.frames,
    .heap = &pyos_counters.heap,
    .now_ns = tsc_now_ns,
    .refresh_stats = mm_refresh_stats,
    .paging = &pyos_counters.paging,
};

int mm_selftest_run(void)
{
    printk("selftest memory: frame allocator '%s', heap '%s', paging '%s'\n", frame_alloc_plugin.name,
           heap_plugin.name, paging_plugin.name);
    mm_selftest_frames(&guest_env);
    mm_selftest_heap(&guest_env);
    uint64_t probe = (uint64_t)&pyos_counters;
    mm_selftest_paging(&guest_env, probe, probe - KERNEL_VMA);

    char *top = kstack_alloc();
    int guard_ok = top && paging_plugin.translate((uint64_t)top - 8) != PAGING_NOT_MAPPED &&
                   paging_plugin.translate((uint64_t)top - KSTACK_SIZE - 8) == PAGING_NOT_MAPPED &&
                   kstack_guard_hit((uint64_t)top - KSTACK_SIZE - 8);
    printk("selftest memory: kernel stack has an unmapped guard page below it: %s\n", guard_ok ? "PASS" : "FAIL");
    if (guard_ok)
        mm_selftest_passed++;
    else
        mm_selftest_failed++;
    printk("selftest memory: %d passed, %d failed\n", mm_selftest_passed, mm_selftest_failed);
    return mm_selftest_failed;
}

void mm_bench_run(unsigned iterations)
{
    printk("bench: frame allocator '%s', heap '%s', paging '%s' (in the guest, TSC at %lu kHz)\n",
           frame_alloc_plugin.name, heap_plugin.name, paging_plugin.name, tsc_khz);
    mm_bench(&guest_env, iterations);
}
