/*
 * Block devices and the buffer cache (kernel/block.c).
 *
 * A driver (drivers/ata.c) registers each disk it finds as a struct blkdev;
 * filesystems never call the driver directly: they read and write blocks
 * through the buffer cache, in the style of xv6's bio.c:
 *
 *     struct buf *b = bread(dev, blockno, 1024);   // held, data valid
 *     ... read or change b->data ...
 *     bdirty(b);                                   // changed: write back later
 *     brelse(b);                                   // no longer held
 *
 * The cache has a fixed number of buffers, evicts the least recently used
 * unheld one (writing it first if dirty), and writes dirty buffers back only
 * when evicted or on blk_sync() (the sync system call, unmount, power-off),
 * which then asks the device to flush its own write cache. One block size
 * per device at a time (a filesystem uses one block size per mount).
 */
#ifndef PYOS_BLK_H
#define PYOS_BLK_H

#include <stddef.h>
#include <stdint.h>

#include <pyos/blk_stats.h>   /* struct blk_stats, BLK_NAME_MAX, BLK_MAX_DEVICES */

#define SECTOR_SIZE 512
#define BLK_MAX_BLOCK_SIZE 4096

struct blkdev;

struct blk_driver_ops {
    /* Move `count` sectors starting at `lba`, scattered over buffers of `per`
     * sectors each: sector i is at bufs[i / per] + (i % per) * SECTOR_SIZE
     * (one contiguous buffer: per = count, bufs = &buf). The buffer cache
     * reads ahead and writes back runs of blocks this way, one request per
     * run. 0 or -errno (-EIO). May sleep. */
    int (*read)(struct blkdev *dev, uint64_t lba, uint32_t count, uint32_t per, void *const *bufs);
    int (*write)(struct blkdev *dev, uint64_t lba, uint32_t count, uint32_t per, void *const *bufs);
    int (*flush)(struct blkdev *dev);        /* the device's write cache to the medium */
};

struct blkdev {
    char name[BLK_NAME_MAX];    /* "hda", "hdb", ... in probe order */
    uint64_t sectors;           /* capacity in 512-byte sectors */
    int readonly;
    const struct blk_driver_ops *ops;
    void *driver;               /* the driver's own state */
    struct blk_stats *stats;    /* points into pyos_counters */
};

struct buf {
    struct blkdev *dev;
    uint64_t blockno;           /* in units of `size` bytes */
    uint32_t size;              /* 512, 1024, 2048 or 4096 */
    uint8_t *data;
    /* the cache's own fields */
    int refs;
    int dirty;
    struct buf *lru_prev, *lru_next;   /* most recently released at the head */
    struct buf *hash_next;             /* the cache's hash chain */
};

int blk_register(struct blkdev *dev);            /* drivers: 0 or -ENOSPC */
struct blkdev *blk_find(const char *name);       /* NULL if absent */
struct blkdev *blk_get(int index);               /* in registration order; NULL past the end */

struct buf *bread(struct blkdev *dev, uint64_t blockno, uint32_t size);  /* NULL: I/O error or bad block */
struct buf *bget_zero(struct blkdev *dev, uint64_t blockno, uint32_t size); /* held, zeroed, dirty, not read */
void bdirty(struct buf *b);
void brelse(struct buf *b);
int blk_sync(struct blkdev *dev);                /* NULL: every device; 0 or -EIO */
/* Drop the device's unheld clean buffers (after a sync: an unmount, a test). */
void blk_invalidate(struct blkdev *dev);
void blk_init(void);                             /* once, before the first register */

#endif
