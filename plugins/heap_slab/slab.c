/*
 * Slab allocator for the kernel heap (Bonwick 1994; Linux's SLAB/SLUB).
 *
 * Requests up to 1 KiB are rounded up to a size class (16, 32, ... 1024
 * bytes). Each class has slabs: one 4 KiB frame holding a header and equal
 * objects, the free ones chained through their own first word. A class keeps
 * the slabs that still have room on a list; a slab that becomes empty while
 * another has room is given back to the frame allocator.
 *
 * Larger requests take whole frames (2^order of them) with a 16-byte header in
 * front. free() tells the two apart by the header at the start of the frame
 * the pointer lies in.
 */
#include <pyos/frame_alloc.h>
#include <pyos/heap.h>
#include <pyos/mm_env.h>

#define SLAB_MAGIC 0x51ab51ab
#define BIG_MAGIC 0xb16b16b1
#define CLASSES 7                 /* 16 << 0 .. 16 << 6 = 1024 */
#define SLAB_HEADER 64            /* objects start here: keeps them 16-byte aligned */
#define BIG_HEADER 16

struct slab {
    uint32_t magic;
    uint32_t object_size;
    uint32_t capacity;
    uint32_t in_use;
    struct slab *next, *prev;     /* on its class's list of slabs with room */
    void *free_objects;
    uint32_t class_index;
    uint32_t on_list;
};

struct big_header {
    uint32_t magic;
    uint32_t order;
    uint64_t size;
};

static struct slab *with_room[CLASSES];
static struct heap_stats *stats;

static void list_add(struct slab *s)
{
    s->prev = NULL;
    s->next = with_room[s->class_index];
    if (s->next)
        s->next->prev = s;
    with_room[s->class_index] = s;
    s->on_list = 1;
}

static void list_remove(struct slab *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        with_room[s->class_index] = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->on_list = 0;
}

static struct slab *new_slab(unsigned class_index)
{
    uint64_t phys = frame_alloc(0);
    if (!phys)
        return NULL;
    struct slab *s = phys_to_virt(phys);
    uint32_t size = 16U << class_index;
    *s = (struct slab){.magic = SLAB_MAGIC, .object_size = size, .class_index = class_index,
                       .capacity = (uint32_t)((FRAME_SIZE - SLAB_HEADER) / size)};
    char *objects = (char *)s + SLAB_HEADER;
    for (uint32_t i = s->capacity; i-- > 0;) {  /* chain every object, first one on top */
        void **obj = (void **)(objects + (uint64_t)i * size);
        *obj = s->free_objects;
        s->free_objects = obj;
    }
    list_add(s);
    stats->grows++;
    stats->frames_in_use++;
    return s;
}

static void slab_init(struct heap_stats *st)
{
    stats = st;
}

static void *big_alloc(size_t size)
{
    unsigned order = 0;
    while ((FRAME_SIZE << order) < size + BIG_HEADER)
        order++;
    uint64_t phys = order <= FRAME_ALLOC_MAX_ORDER ? frame_alloc(order) : 0;
    if (!phys)
        return NULL;
    struct big_header *h = phys_to_virt(phys);
    *h = (struct big_header){BIG_MAGIC, order, size};
    stats->grows++;
    stats->frames_in_use += 1UL << order;
    stats->bytes_in_use += size;
    return (char *)h + BIG_HEADER;
}

static void *slab_alloc(size_t size)
{
    void *result;
    if (size > (16U << (CLASSES - 1))) {
        result = big_alloc(size);
    } else {
        unsigned c = 0;
        while ((16U << c) < size)
            c++;
        struct slab *s = with_room[c] ? with_room[c] : new_slab(c);
        if (s) {
            void **obj = s->free_objects;
            s->free_objects = *obj;
            if (++s->in_use == s->capacity)
                list_remove(s);
            stats->bytes_in_use += s->object_size;
            result = obj;
        } else {
            result = NULL;
        }
    }
    if (result)
        stats->allocs++;
    else
        stats->failures++;
    return result;
}

static void slab_free(void *ptr)
{
    if (!ptr)
        return;
    void *frame = (void *)((uint64_t)ptr & ~(FRAME_SIZE - 1));
    uint32_t magic = *(uint32_t *)frame;
    stats->frees++;
    if (magic == BIG_MAGIC && (char *)ptr == (char *)frame + BIG_HEADER) {
        struct big_header *h = frame;
        stats->bytes_in_use -= h->size;
        stats->frames_in_use -= 1UL << h->order;
        stats->shrinks++;
        h->magic = 0;
        frame_free(virt_to_phys(h), h->order);
        return;
    }
    struct slab *s = frame;
    if (magic != SLAB_MAGIC || ((char *)ptr - (char *)s - SLAB_HEADER) % s->object_size)
        panic("slab: kfree(%p): not a pointer kmalloc returned", ptr);
    *(void **)ptr = s->free_objects;
    s->free_objects = ptr;
    s->in_use--;
    stats->bytes_in_use -= s->object_size;
    if (!s->on_list)
        list_add(s);
    if (s->in_use == 0 && (s->next || s->prev)) {  /* empty, and not the class's only slab with room */
        list_remove(s);
        s->magic = 0;
        stats->frames_in_use--;
        stats->shrinks++;
        frame_free(virt_to_phys(s), 0);
    }
}

const struct heap_ops heap_plugin = {
    .interface_version = HEAP_INTERFACE,
    .name = "slab",
    .init = slab_init,
    .alloc = slab_alloc,
    .free = slab_free,
};
