/*
 * Frame reference counts, kept by the kernel beside the frame-allocator
 * plugin (which knows only free and used): one 16-bit word per frame of RAM.
 * The low 15 bits count the mappings a frame has beyond its first, so a frame
 * fresh from frame_alloc (word 0) has exactly one owner and nothing needs
 * initialising per allocation. Bit 15 says the page cache holds the frame too;
 * when its last mapping goes, the cache lets it go (pagecache_evict), so the
 * free-frame count returns to where it was once no process maps a file.
 */
#include <pyos/frame_alloc.h>
#include <pyos/kernel.h>
#include <pyos/mm.h>
#include <pyos/vm.h>

#define REF_CACHED 0x8000
#define REF_COUNT 0x7fff

static uint16_t *refs;
static uint64_t ref_first, ref_frames;

void frame_ref_init(uint64_t first_frame, uint64_t frames)
{
    refs = early_alloc(frames * sizeof *refs);
    ref_first = first_frame;
    ref_frames = frames;
}

static uint16_t *word(uint64_t phys)
{
    uint64_t n = phys >> FRAME_SHIFT;
    if (n < ref_first || n - ref_first >= ref_frames)
        panic("frame_ref: %#lx is not a frame of RAM", phys);
    return &refs[n - ref_first];
}

void frame_ref_get(uint64_t phys)
{
    uint16_t *w = word(phys);
    if ((*w & REF_COUNT) == REF_COUNT)
        panic("frame_ref: too many mappings of %#lx", phys);
    (*w)++;
}

void frame_ref_put(uint64_t phys)
{
    uint16_t *w = word(phys);
    if (*w & REF_COUNT) {
        (*w)--;
        if (*w != REF_CACHED)
            return;
        pagecache_evict(phys);   /* only the cache holds it now */
    }
    *w = 0;
    frame_free(phys, 0);
}

int frame_ref_exclusive(uint64_t phys) { return *word(phys) == 0; }
int frame_ref_cached(uint64_t phys) { return (*word(phys) & REF_CACHED) != 0; }

void frame_ref_set_cached(uint64_t phys, int cached)
{
    uint16_t *w = word(phys);
    *w = (uint16_t)(cached ? *w | REF_CACHED : *w & REF_COUNT);
}
