/*
 * The buffer cache (pyos/blk.h), in the style of xv6's bio.c.
 *
 * BLK_NBUF buffers, each holding one block of one device. A hash table keyed
 * by (device, block number, size) finds a cached block in a few compares;
 * the unheld buffers sit on one LRU list (most recently released at the
 * head), so a miss takes its victim from the tail in O(1). Dirty buffers
 * reach the disk only when a dirty victim is needed (then every unheld dirty
 * buffer of that device goes, so a big write does not trickle out one block
 * per miss) or in blk_sync(), followed by the driver's flush.
 *
 * Requests are what cost here (an interrupt, a context switch and a few
 * hundred emulated kernel instructions each), so the cache moves runs:
 * write-back sorts the dirty blocks and sends each run of consecutive ones as
 * one scattered request, and a miss that continues a sequential pattern
 * (the block after the previous miss's window) reads ahead RA_BYTES.
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
#define RA_BYTES 32768        /* read-ahead window for sequential misses */
#define RUN_BYTES 65536       /* the longest run one write-back request carries */

static struct buf bufs[BLK_NBUF];
static struct buf *hash[BLK_HASH];
static struct buf lru;        /* sentinel: lru.lru_next is the most recent */
static struct blkdev *devices[BLK_MAX_DEVICES];
static uint32_t sizes_used[BLK_MAX_DEVICES];   /* bit per block size seen (512<<n) */
static int written[BLK_MAX_DEVICES];           /* written since the last flush */
static uint64_t seq_next[BLK_MAX_DEVICES];     /* the block a sequential reader misses next */
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
    seq_next[i] = UINT64_MAX;   /* no reader yet: the first miss reads one block */
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

/* Write n buffers holding consecutive blocks of one device and size in one request. */
static int write_run(struct buf **run, int n)
{
    struct blkdev *dev = run[0]->dev;
    uint32_t per = run[0]->size / SECTOR_SIZE;
    void *data[RUN_BYTES / SECTOR_SIZE];
    for (int k = 0; k < n; k++)
        data[k] = run[k]->data;
    struct blk_stats *st = dev->stats;
    st->writes++;
    int r = dev->readonly ? -EROFS : dev->ops->write(dev, run[0]->blockno * per, per * (uint32_t)n, per, data);
    if (r < 0) {
        st->errors++;
        printk("block: %s: writing blocks %lu-%lu (%u bytes each) failed (%d)\n", dev->name,
               (unsigned long)run[0]->blockno, (unsigned long)run[n - 1]->blockno, run[0]->size, r);
        return r;
    }
    st->sectors_written += (uint64_t)per * (uint64_t)n;
    pyos_counters.buf_writebacks += (uint64_t)n;
    int i = dev_index(dev);
    if (i >= 0)
        written[i] = 1;
    for (int k = 0; k < n; k++)
        run[k]->dirty = 0;
    return 0;
}

static int write_buf(struct buf *b)
{
    return write_run(&b, 1);
}

/* Write the dirty buffers of dev (all devices if NULL; held ones too unless
 * unheld_only) in ascending order, consecutive blocks as one request each. */
static int write_back(struct blkdev *dev, int unheld_only)
{
    static struct buf *dirty[BLK_NBUF];
    int n = 0, result = 0;
    for (int i = 0; i < BLK_NBUF; i++) {
        struct buf *b = &bufs[i];
        if (!b->dirty || !b->dev || (dev && b->dev != dev) || (unheld_only && b->refs))
            continue;
        /* insertion into ascending (device, byte offset) order */
        int j = n++;
        while (j > 0 && (dirty[j - 1]->dev > b->dev ||
                         (dirty[j - 1]->dev == b->dev &&
                          dirty[j - 1]->blockno * dirty[j - 1]->size > b->blockno * b->size))) {
            dirty[j] = dirty[j - 1];
            j--;
        }
        dirty[j] = b;
    }
    for (int i = 0; i < n;) {
        int k = 1;
        while (i + k < n && dirty[i + k]->dev == dirty[i]->dev && dirty[i + k]->size == dirty[i]->size &&
               dirty[i + k]->blockno == dirty[i]->blockno + (uint64_t)k &&
               (uint32_t)(k + 1) * dirty[i]->size <= RUN_BYTES)
            k++;
        if (write_run(&dirty[i], k) < 0)
            result = -EIO;
        i += k;
    }
    return result;
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
        if (b->dirty) {
            write_back(b->dev, 1);        /* this one and every other unheld dirty buffer there */
            if (b->dirty)
                continue;                 /* it could not be written: keep its data, try the next */
        }
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
    /* A sequential reader: also claim the next blocks not cached, up to RA_BYTES. */
    struct buf *run[RA_BYTES / SECTOR_SIZE];
    void *data[RA_BYTES / SECTOR_SIZE];
    int n = 1, d = dev_index(dev);
    run[0] = b;
    uint64_t last = dev->sectors / (size / SECTOR_SIZE);
    if (d >= 0 && blockno == seq_next[d])
        while ((uint32_t)(n + 1) * size <= RA_BYTES && blockno + (uint64_t)n < last &&
               !lookup(dev, blockno + (uint64_t)n, size) && (run[n] = claim(dev, blockno + (uint64_t)n, size)))
            n++;
    if (d >= 0)
        seq_next[d] = blockno + (uint64_t)n;
    for (int k = 0; k < n; k++)
        data[k] = run[k]->data;
    uint32_t per = size / SECTOR_SIZE;
    dev->stats->reads++;
    int r = dev->ops->read(dev, blockno * per, per * (uint32_t)n, per, data);
    if (r < 0) {
        dev->stats->errors++;
        printk("block: %s: reading block %lu (%u bytes) failed (%d)\n", dev->name,
               (unsigned long)blockno, size, r);
        for (int k = 0; k < n; k++)
            discard(run[k]);
        return NULL;
    }
    dev->stats->sectors_read += (uint64_t)per * (uint64_t)n;
    for (int k = 1; k < n; k++)
        brelse(run[k]);          /* read ahead: cached, unheld, most recent */
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
    int result = write_back(dev, 0);
    for (int i = 0; i < ndevices; i++) {
        struct blkdev *d = devices[i];
        if ((dev && d != dev) || d->readonly || !d->ops->flush || !written[i])
            continue;             /* nothing reached this device since its last flush */
        written[i] = 0;
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
