/*
 * First-fit free-list heap (Knuth's algorithm A; K&R's malloc).
 *
 * Every block has a 16-byte header (size including the header, and a magic
 * word saying whether it is in use). Free blocks are on one list sorted by
 * address; allocation takes the first that fits and splits off the rest,
 * freeing puts a block back in order and merges it with a free neighbour on
 * either side. The heap grows by asking the frame allocator for chunks of at
 * least 16 KiB; it never gives chunks back (shrinks stays 0).
 */
#include <pyos/frame_alloc.h>
#include <pyos/heap.h>
#include <pyos/mm_env.h>

#define USED 0x55534544
#define FREE 0x46524545
#define HEADER 16
#define MIN_CHUNK_ORDER 2          /* 16 KiB */
#define MIN_SPLIT (HEADER + 16)    /* a remainder smaller than this stays with the block */

struct block {
    uint64_t size;                 /* bytes, header included, a multiple of 16 */
    uint32_t magic;
    uint32_t requested;            /* what the caller asked for, for bytes_in_use */
    struct block *next;            /* free blocks only: next free block by address */
};

static struct block *free_list;
static struct heap_stats *stats;

static void freelist_init(struct heap_stats *st)
{
    stats = st;
}

/* Put a free block in address order, merging with its neighbours. */
static void insert_free(struct block *b)
{
    b->magic = FREE;
    struct block **link = &free_list;
    while (*link && *link < b)
        link = &(*link)->next;
    struct block *next = *link;
    b->next = next;
    *link = b;
    if (next && (char *)b + b->size == (char *)next) {
        b->size += next->size;
        b->next = next->next;
    }
    if (link != &free_list) {
        struct block *prev = (struct block *)((char *)link - __builtin_offsetof(struct block, next));
        if ((char *)prev + prev->size == (char *)b) {
            prev->size += b->size;
            prev->next = b->next;
        }
    }
}

static int grow(uint64_t need)
{
    unsigned order = MIN_CHUNK_ORDER;
    while ((FRAME_SIZE << order) < need)
        order++;
    uint64_t phys = order <= FRAME_ALLOC_MAX_ORDER ? frame_alloc(order) : 0;
    if (!phys)
        return 0;
    struct block *b = phys_to_virt(phys);
    b->size = FRAME_SIZE << order;
    stats->grows++;
    stats->frames_in_use += 1UL << order;
    insert_free(b);
    return 1;
}

static void *freelist_alloc(size_t size)
{
    uint64_t need = ((size + 15) & ~15UL) + HEADER;
    for (int attempt = 0; attempt < 2; attempt++) {
        for (struct block **link = &free_list; *link; link = &(*link)->next) {
            struct block *b = *link;
            if (b->size < need)
                continue;
            if (b->size - need >= MIN_SPLIT) {  /* split: the tail stays free */
                struct block *rest = (struct block *)((char *)b + need);
                rest->size = b->size - need;
                rest->magic = FREE;
                rest->next = b->next;
                b->size = need;
                *link = rest;
            } else {
                *link = b->next;
            }
            b->magic = USED;
            b->requested = (uint32_t)size;
            stats->allocs++;
            stats->bytes_in_use += size;
            return (char *)b + HEADER;
        }
        if (!grow(need))
            break;
    }
    stats->failures++;
    return NULL;
}

static void freelist_free(void *ptr)
{
    if (!ptr)
        return;
    struct block *b = (struct block *)((char *)ptr - HEADER);
    if (b->magic != USED)
        panic("freelist: kfree(%p): %s", ptr, b->magic == FREE ? "double free" : "not a pointer kmalloc returned");
    stats->frees++;
    stats->bytes_in_use -= b->requested;
    insert_free(b);
}

const struct heap_ops heap_plugin = {
    .interface_version = HEAP_INTERFACE,
    .name = "freelist",
    .init = freelist_init,
    .alloc = freelist_alloc,
    .free = freelist_free,
};
