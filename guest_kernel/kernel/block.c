/*
 * The buffer cache (pyos/blk.h), in the style of xv6's bio.c.
 *
 * BLK_NBUF buffers, each holding one block of one device. A hash table keyed
 * by (device, block number, size) finds a cached block in a few compares;
 * the unheld buffers sit on one LRU list (most recently released at the
 * head), so a miss takes its victim from the tail in O(1), writing it first
 * if it is dirty. Dirty buffers otherwise reach the disk only in blk_sync(),
 * in ascending block order, followed by the driver's flush.
 *
 * Portable C: the same file is compiled into the host fs harness
 * (vmm/harness/), where a "device" is an image file.
 *
 * Serialisation: callers hold the VFS lock (a filesystem runs under it), so
 * the cache needs no lock of its own even though a driver may sleep inside
 * bread(); interrupt handlers never touch the cache.
 *
 * Block sizes: a filesystem may read its superblock at one size and then use
 * another. Buffers are keyed by size too, so two sizes can alias the same
 * bytes; when a device has been used at more than one size, a miss first
 * writes back and drops unheld buffers that overlap the new block (a held
 * overlapping buffer is the caller's bug and is reported).
 */
#include <pyos/blk.h>
#include <pyos/counters.h>
#include <pyos/fs_env.h>

#define BLK_NBUF 256          /* 1 MiB of 4 KiB blocks */
#define BLK_HASH 128          /* power of two */

static struct buf bufs[BLK_NBUF];
static struct buf *hash[BLK_HASH];
static struct buf lru;        /* sentinel: lru.lru_next is the most recent */
static struct blkdev *devices[BLK_MAX_DEVICES];
static uint32_t sizes_used[BLK_MAX_DEVICES];   /* bit per block size seen (512<<n) */
static int ndevices;
static int initialised;

static unsigned bucket(const struct blkdev *dev, uint64_t blockno, uint32_t size)
{
    uint64_t h = blockno * 0x9E3779B97F4A7C15ULL ^ ((uintptr_t)dev >> 6) ^ size;
    return (unsigned)(h >> 40) & (BLK_HASH - 1);
}

static void lru_unlink(struct buf *b)
{
    b->lru_prev->lru_next = b->lru_next;
    b->lru_next->lru_prev = b->lru_prev;
    b->lru_next = b->lru_prev = NULL;
}

static void lru_push(struct buf *b, int most_recent)
{
    struct buf *after = most_recent ? &lru : lru.lru_prev;
    b->lru_prev = after;
    b->lru_next = after->lru_next;
    after->lru_next->lru_prev = b;
    after->lru_next = b;
}

static void hash_remove(struct buf *b)
{
    if (!b->dev)
        return;
    struct buf **p = &hash[bucket(b->dev, b->blockno, b->size)];
    while (*p && *p != b)
        p = &(*p)->hash_next;
    if (*p)
        *p = b->hash_next;
    b->hash_next = NULL;
}

static void hash_insert(struct buf *b)
{
    struct buf **head = &hash[bucket(b->dev, b->blockno, b->size)];
    b->hash_next = *head;
    *head = b;
}

void blk_init(void)
{
    if (initialised)
        return;
    lru.lru_next = lru.lru_prev = &lru;
    for (int i = 0; i < BLK_NBUF; i++)
        lru_push(&bufs[i], 0);
    initialised = 1;
}

static int dev_index(const struct blkdev *dev)
{
    for (int i = 0; i < ndevices; i++)
        if (devices[i] == dev)
            return i;
    return -1;
}

int blk_register(struct blkdev *dev)
{
    blk_init();
    if (ndevices == BLK_MAX_DEVICES)
        return -ENOSPC;
    int i = ndevices++;
    devices[i] = dev;
    sizes_used[i] = 0;
    dev->stats = &pyos_counters.blk[i];
    strncpy_z(pyos_counters.blk_name[i], dev->name, BLK_NAME_MAX);
    return 0;
}

struct blkdev *blk_find(const char *name)
{
    for (int i = 0; i < ndevices; i++)
        if (strcmp(devices[i]->name, name) == 0)
            return devices[i];
    return NULL;
}

struct blkdev *blk_get(int index)
{
    return index >= 0 && index < ndevices ? devices[index] : NULL;
}

static int valid_request(struct blkdev *dev, uint64_t blockno, uint32_t size)
{
    if (!dev || (size != 512 && size != 1024 && size != 2048 && size != 4096))
        return 0;
    uint64_t per = size / SECTOR_SIZE;
    return blockno < dev->sectors / per;   /* the whole block lies on the device */
}

static int write_buf(struct buf *b)
{
    uint32_t count = b->size / SECTOR_SIZE;
    struct blk_stats *st = b->dev->stats;
    st->writes++;
    int r = b->dev->readonly ? -EROFS : b->dev->ops->write(b->dev, b->blockno * count, count, b->data);
    if (r < 0) {
        st->errors++;
        printk("block: %s: writing block %lu (%u bytes) failed (%d)\n", b->dev->name,
               (unsigned long)b->blockno, b->size, r);
        return r;
    }
    st->sectors_written += count;
    pyos_counters.buf_writebacks++;
    b->dirty = 0;
    return 0;
}

/* Another size's buffers overlapping [blockno*size, +size): write and drop them. */
static int resolve_aliases(struct blkdev *dev, uint64_t blockno, uint32_t size)
{
    uint64_t start = blockno * size, end = start + size;
    for (int i = 0; i < BLK_NBUF; i++) {
        struct buf *b = &bufs[i];
        if (b->dev != dev || b->size == size)
            continue;
        uint64_t bstart = b->blockno * b->size;
        if (bstart >= end || bstart + b->size <= start)
            continue;
        if (b->refs) {
            printk("block: %s: block %lu is held at size %u while read at size %u\n", dev->name,
                   (unsigned long)b->blockno, b->size, size);
            continue;
        }
        if (b->dirty && write_buf(b) < 0)
            return -EIO;
        hash_remove(b);
        b->dev = NULL;
    }
    return 0;
}

static struct buf *lookup(struct blkdev *dev, uint64_t blockno, uint32_t size)
{
    for (struct buf *b = hash[bucket(dev, blockno, size)]; b; b = b->hash_next)
        if (b->blockno == blockno && b->dev == dev && b->size == size)
            return b;
    return NULL;
}

static struct buf *take(struct buf *b)
{
    if (b->refs++ == 0)
        lru_unlink(b);
    return b;
}

/* A buffer for (dev, blockno, size) that holds nothing yet: the LRU victim. */
static struct buf *claim(struct blkdev *dev, uint64_t blockno, uint32_t size)
{
    int i = dev_index(dev);
    if (i >= 0) {
        sizes_used[i] |= size;
        if ((sizes_used[i] & (sizes_used[i] - 1)) && resolve_aliases(dev, blockno, size) < 0)
            return NULL;
    }
    for (struct buf *b = lru.lru_prev; b != &lru; b = b->lru_prev) {
        if (!b->data && !(b->data = kmalloc(BLK_MAX_BLOCK_SIZE))) {
            printk("block: out of memory for a buffer\n");
            return NULL;
        }
        if (b->dirty && write_buf(b) < 0)
            continue;                     /* keep its data; try the next one */
        if (b->dev)
            pyos_counters.buf_evictions++;
        hash_remove(b);
        b->dev = dev;
        b->blockno = blockno;
        b->size = size;
        b->dirty = 0;
        hash_insert(b);
        return take(b);
    }
    printk("block: all %d buffers are held\n", BLK_NBUF);
    return NULL;
}

/* Forget a claimed buffer whose read failed. */
static void discard(struct buf *b)
{
    hash_remove(b);
    b->dev = NULL;
    b->refs = 0;
    lru_push(b, 0);
}

struct buf *bread(struct blkdev *dev, uint64_t blockno, uint32_t size)
{
    if (!valid_request(dev, blockno, size)) {
        if (dev) {
            dev->stats->errors++;
            printk("block: %s: block %lu (%u bytes) is past the end of the device\n", dev->name,
                   (unsigned long)blockno, size);
        }
        return NULL;
    }
    struct buf *b = lookup(dev, blockno, size);
    if (b) {
        dev->stats->hits++;
        return take(b);
    }
    dev->stats->misses++;
    if (!(b = claim(dev, blockno, size)))
        return NULL;
    uint32_t count = size / SECTOR_SIZE;
    dev->stats->reads++;
    int r = dev->ops->read(dev, blockno * count, count, b->data);
    if (r < 0) {
        dev->stats->errors++;
        printk("block: %s: reading block %lu (%u bytes) failed (%d)\n", dev->name,
               (unsigned long)blockno, size, r);
        discard(b);
        return NULL;
    }
    dev->stats->sectors_read += count;
    return b;
}

struct buf *bget_zero(struct blkdev *dev, uint64_t blockno, uint32_t size)
{
    if (!valid_request(dev, blockno, size))
        return NULL;
    struct buf *b = lookup(dev, blockno, size);
    if (b)
        take(b);
    else if (!(b = claim(dev, blockno, size)))
        return NULL;
    memset(b->data, 0, size);
    b->dirty = 1;
    return b;
}

void bdirty(struct buf *b)
{
    b->dirty = 1;
}

void brelse(struct buf *b)
{
    if (!b)
        return;
    if (b->refs <= 0) {
        printk("block: brelse of an unheld buffer (block %lu)\n", (unsigned long)b->blockno);
        return;
    }
    if (--b->refs == 0)
        lru_push(b, 1);
}

int blk_sync(struct blkdev *dev)
{
    static struct buf *dirty[BLK_NBUF];
    int n = 0, result = 0;
    for (int i = 0; i < BLK_NBUF; i++) {
        struct buf *b = &bufs[i];
        if (b->dirty && b->dev && (!dev || b->dev == dev)) {
            /* insertion into ascending (device, block) order: few are dirty */
            int j = n++;
            while (j > 0 && (dirty[j - 1]->dev > b->dev ||
                             (dirty[j - 1]->dev == b->dev && dirty[j - 1]->blockno * dirty[j - 1]->size >
                                                             b->blockno * b->size))) {
                dirty[j] = dirty[j - 1];
                j--;
            }
            dirty[j] = b;
        }
    }
    for (int i = 0; i < n; i++)
        if (write_buf(dirty[i]) < 0)
            result = -EIO;
    for (int i = 0; i < ndevices; i++) {
        struct blkdev *d = devices[i];
        if ((dev && d != dev) || d->readonly || !d->ops->flush)
            continue;
        d->stats->flushes++;
        if (d->ops->flush(d) < 0) {
            d->stats->errors++;
            printk("block: %s: cache flush failed\n", d->name);
            result = -EIO;
        }
    }
    return result;
}

void blk_invalidate(struct blkdev *dev)
{
    for (int i = 0; i < BLK_NBUF; i++) {
        struct buf *b = &bufs[i];
        if (b->dev == dev && !b->refs && !b->dirty) {
            hash_remove(b);
            b->dev = NULL;
        }
    }
}
