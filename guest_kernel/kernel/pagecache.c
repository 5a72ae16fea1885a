/*
 * The page cache: file pages in frames, shared by every process that maps
 * them (program text above all: two processes running the same program map
 * the same frames). A page is keyed by (file identity, page offset): the
 * vnode of a VFS file, or the address of a program embedded in the kernel
 * image. The cache keeps a page only while some mapping uses it: the frame's
 * reference count (kernel/frame_ref.c) tells it when the last one goes.
 *
 * Simplification: the cache is not coherent with write() to a file while a
 * mapping of it exists (the filesystem's own buffer cache is below it);
 * MAP_SHARED changes reach the file on msync/munmap/exit.
 */
#include <pyos/file.h>
#include <pyos/frame_alloc.h>
#include <pyos/kernel.h>
#include <pyos/mm.h>
#include <pyos/mm_env.h>
#include <pyos/string.h>
#include <pyos/vfs.h>
#include <pyos/vm.h>

struct pc_page {
    const void *key;
    uint64_t offset;           /* page-aligned file offset */
    uint64_t phys;
    struct pc_page *next;
};

#define BUCKETS 64
static struct pc_page *buckets[BUCKETS];
static uint64_t cached_pages;

static unsigned bucket_of(const void *key, uint64_t offset)
{
    return (unsigned)((((uint64_t)key >> 4) ^ (offset >> FRAME_SHIFT)) % BUCKETS);
}

static const void *key_of(const struct vma *v) { return v->file ? (const void *)v->file->vnode : v->blob; }

static struct pc_page *lookup(const void *key, uint64_t offset)
{
    for (struct pc_page *p = buckets[bucket_of(key, offset)]; p; p = p->next)
        if (p->key == key && p->offset == offset)
            return p;
    return NULL;
}

/* Read one page of the file at `offset` into the frame; bytes past the end read as zeros. */
static int fill(const struct vma *v, uint64_t offset, uint64_t phys)
{
    uint8_t *page = phys_to_virt(phys);
    uint64_t got = 0;
    if (v->file) {
        while (got < FRAME_SIZE) {
            long r = vfs_pread(v->file, offset + got, page + got, FRAME_SIZE - got);
            if (r < 0)
                return (int)r;
            if (r == 0)
                break;
            got += (uint64_t)r;
        }
    } else if (offset < v->blob_size) {
        got = v->blob_size - offset < FRAME_SIZE ? v->blob_size - offset : FRAME_SIZE;
        memcpy(page, v->blob + offset, got);
    }
    if (got < FRAME_SIZE)
        memset(page + got, 0, FRAME_SIZE - got);
    return 0;
}

uint64_t pagecache_get(const struct vma *v, uint64_t offset)
{
    const void *key = key_of(v);
    struct pc_page *p = lookup(key, offset);
    if (p) {
        frame_ref_get(p->phys);
        return p->phys;
    }
    uint64_t phys = frame_alloc(0);
    if (!phys)
        return 0;
    if (fill(v, offset, phys) < 0) {   /* may sleep on the disk */
        frame_free(phys, 0);
        return 0;
    }
    if ((p = lookup(key, offset))) {   /* someone else read it meanwhile */
        frame_free(phys, 0);
        frame_ref_get(p->phys);
        return p->phys;
    }
    if (!(p = kmalloc(sizeof *p))) {
        frame_free(phys, 0);
        return 0;
    }
    *p = (struct pc_page){key, offset, phys, buckets[bucket_of(key, offset)]};
    buckets[bucket_of(key, offset)] = p;
    cached_pages++;
    frame_ref_set_cached(phys, 1);
    frame_ref_get(phys);               /* the caller's mapping */
    return phys;
}

void pagecache_evict(uint64_t phys)
{
    for (int b = 0; b < BUCKETS; b++) {
        for (struct pc_page **pp = &buckets[b]; *pp; pp = &(*pp)->next) {
            if ((*pp)->phys == phys) {
                struct pc_page *p = *pp;
                *pp = p->next;
                kfree(p);
                cached_pages--;
                return;
            }
        }
    }
    panic("pagecache: frame %#lx is marked cached but is not in the cache", phys);
}

uint64_t pagecache_pages(void) { return cached_pages; }
