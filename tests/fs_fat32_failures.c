/*
 * One device read failing at the moment fat_table.c first needs a block:
 * what the harness's failing-request sweeps cannot aim at, since the buffer
 * cache reads ahead and keeps blocks, so the block a step needs is seldom a
 * miss at that step. This drives the fat32 plugin's fs_ops directly (like
 * tests/fs_fat32_positions.c), empties the buffer cache just before the
 * operation, and fails the one read request that covers a chosen byte of
 * the device (once: a later read of it succeeds), then judges the outcome:
 * the operation is an error, and what it leaves on disk.
 *
 * Usage: fs_fat32_failures IMAGE SCENARIO (a fresh FAT32 volume of
 * 512-byte clusters). Prints "FAIL ..." lines and exits 1 on a failed
 * check; "ok" and 0 otherwise.
 */
#include "fs_fat32_direct.h"
#include "fat.h"

static struct fat_fs *fs;
static uint32_t cs;                    /* cluster size */
static char data[4096];

/* ---- the device: one read request failing */

static const struct blk_driver_ops *real_ops;
static struct blk_driver_ops failing_ops;
static uint64_t fail_sector = UINT64_MAX;
static int failed;                     /* requests failed so far */

static int failing_read(struct blkdev *dev, uint64_t lba, uint32_t count, uint32_t per, void *const *bufs)
{
    if (fail_sector >= lba && fail_sector - lba < count) {
        fail_sector = UINT64_MAX;
        failed++;
        return -EIO;
    }
    return real_ops->read(dev, lba, count, per, bufs);
}

/* Everything written back and dropped from the buffer cache (the last block
 * of the device read, so the next miss is not taken for a sequential
 * read), then the next read request covering byte `off` fails. */
static void cold_then_fail(uint64_t off)
{
    CHECK(blk_sync(mnt.dev) == 0);
    blk_invalidate(mnt.dev);
    struct buf *b = bread(mnt.dev, mnt.dev->sectors * SECTOR_SIZE / fs->bsize - 1, fs->bsize);
    CHECK(b != NULL);
    brelse(b);
    fail_sector = off / SECTOR_SIZE;
}

/* ---- the volume seen directly */

static struct fat_node *node_of(struct vnode *v)
{
    return v->priv;
}

static uint64_t entry_at(uint32_t copy, uint32_t c)
{
    return fs->fat_start + copy * fs->fat_bytes + (uint64_t)c * 4;
}

static uint32_t block_of(uint64_t off)
{
    return (uint32_t)(off >> fs->bshift);
}

/* FAT copy `copy`'s entry for cluster c, as on disk (through the cache). */
static uint32_t raw_entry(uint32_t copy, uint32_t c)
{
    uint64_t off = entry_at(copy, c);
    struct buf *b = bread(mnt.dev, off >> fs->bshift, fs->bsize);
    CHECK(b != NULL);
    if (!b)
        return 0;
    uint32_t v = rd32(b->data + (off & (fs->bsize - 1))) & 0x0FFFFFFF;
    brelse(b);
    return v;
}

/* The idx-th cluster of the chain from `first` (0 if it is shorter). */
static uint32_t nth_cluster(uint32_t first, uint32_t idx)
{
    uint32_t c = first;
    for (uint32_t i = 0; i < idx && fat_valid(fs, c); i++)
        c = raw_entry(0, c);
    return fat_valid(fs, c) ? c : 0;
}

/* The clusters in the chain from `first`, in both FAT copies alike (0: the copies differ). */
static uint32_t chain_length(uint32_t first)
{
    uint32_t n = 0;
    for (uint32_t c = first; fat_valid(fs, c) && n <= fs->nclusters; n++) {
        uint32_t next = raw_entry(0, c);
        if (raw_entry(1, c) != next)
            return 0;
        c = next;
    }
    return n;
}

/* Where the next cluster search of a growth will find a free cluster. */
static uint32_t next_free_cluster(void)
{
    uint32_t c = fat_valid(fs, fs->next_free + 1) ? fs->next_free + 1 : 2;
    while (raw_entry(0, c) != 0)
        c = c == fs->nclusters + 1 ? 2 : c + 1;
    return c;
}

/* A file of n clusters, written a cluster at a time; held. */
static struct vnode *file_of(struct vnode *dir, const char *name, uint32_t n)
{
    struct vnode *v = make(dir, name, S_IFREG | 0644);
    CHECK(v != NULL);
    for (uint32_t i = 0; v && i < n; i++) {
        memset(data, 'a' + i % 26, cs);
        CHECK(ops->write(v, (uint64_t)i * cs, data, cs) == (int64_t)cs);
    }
    return v;
}

/* ---- the scenarios */

/* fat_extend: the new clusters are linked after the chain's last cluster in
 * every FAT copy; when the second copy's block holding that entry cannot be
 * read, the write is EIO (not a file that seems grown while one FAT copy
 * ends the chain before the new clusters). */
static void link_copy_unreadable(struct vnode *root)
{
    struct vnode *f = file_of(root, "link", 2);
    struct vnode *pad = file_of(root, "pad", 1100);   /* the growth's clusters: in a later FAT block */
    struct fat_node *n = f ? node_of(f) : NULL;
    if (!n || !pad)
        return;
    uint32_t last = n->last_cl, c = next_free_cluster();
    CHECK(block_of(entry_at(1, last)) != block_of(entry_at(1, c)));
    cold_then_fail(entry_at(1, last));
    memset(data, 'z', cs);
    int64_t w = ops->write(f, 2 * (uint64_t)cs, data, cs);
    printf("link_write=%lld failed=%d\n", (long long)w, failed);
    CHECK(failed == 1 && w == -EIO);
    vnode_put(pad);
    vnode_put(f);
}

/* fat_trim: the new last cluster gets the end mark in every FAT copy; when
 * the second copy's block holding it cannot be read, the truncate is EIO. */
static void end_mark_copy_unreadable(struct vnode *root)
{
    struct vnode *f = file_of(root, "cut", 8);
    if (!f)
        return;
    uint32_t cl = nth_cluster(node_of(f)->first, 3);
    CHECK(cl != 0);
    cold_then_fail(entry_at(1, cl));
    int r = ops->truncate(f, 4 * (uint64_t)cs);
    printf("cut_truncate=%d failed=%d\n", r, failed);
    CHECK(failed == 1 && r == -EIO);
    vnode_put(f);
}

/* fat_trim: the new last cluster's entry is read first (to see whether the
 * chain goes on); when its FAT block cannot be read, the truncate is EIO and
 * has changed nothing: the file's chain is whole in both copies, and its size
 * is what it was. */
/* The first cluster of the chain from `first` whose entry lies in another FAT
 * block than the one before it (0 if none), and its index in the chain. */
static uint32_t first_in_next_fat_block(uint32_t first, uint32_t *index)
{
    uint32_t i = 1, prev = first;
    for (uint32_t c = raw_entry(0, first); fat_valid(fs, c); prev = c, c = raw_entry(0, c), i++)
        if (block_of(entry_at(0, c)) != block_of(entry_at(0, prev))) {
            *index = i;
            return c;
        }
    CHECK(!"a chain that reaches another FAT block");
    return 0;
}

/* A new 1100-cluster file `name` whose chain crosses into another FAT block:
 * its vnode (NULL on failure), first cluster, and the first cluster in the
 * next FAT block (*cl) with its index in the chain (*index). */
static struct vnode *file_across_fat_blocks(struct vnode *root, const char *name, uint32_t *first,
                                            uint32_t *cl, uint32_t *index)
{
    struct vnode *f = file_of(root, name, 1100);
    if (!f)
        return NULL;
    *first = node_of(f)->first;
    *index = 0;
    if (!(*cl = first_in_next_fat_block(*first, index))) {
        vnode_put(f);
        return NULL;
    }
    return f;
}

static void last_entry_unreadable(struct vnode *root)
{
    uint32_t first, cl, i;
    struct vnode *f = file_across_fat_blocks(root, "trim", &first, &cl, &i);
    if (!f)
        return;
    vnode_put(f);
    f = look(root, "trim");             /* its chain walked from the start, entries before cl's block */
    CHECK(f != NULL);
    if (!f)
        return;
    cold_then_fail(entry_at(0, cl));
    int r = ops->truncate(f, (uint64_t)(i + 1) * cs);   /* keep i + 1 clusters: cl the last */
    printf("trim_truncate=%d failed=%d\n", r, failed);
    CHECK(failed == 1 && r == -EIO);
    CHECK(chain_length(first) == 1100);
    CHECK(node_of(f)->size == 1100 * cs);
    vnode_put(f);
}

/* fat_trim, then the cut-off clusters freed: when a FAT block of the part cut
 * off cannot be read, the truncate is EIO, but the chain was cut and ends at
 * the new last cluster, and the file's size says so: never more than its
 * chain holds now. */
static void freed_part_unreadable(struct vnode *root)
{
    uint32_t first, cl, keep;
    struct vnode *f = file_across_fat_blocks(root, "free", &first, &cl, &keep);
    if (!f)
        return;
    cold_then_fail(entry_at(0, cl));    /* keep clusters end in the block before cl's */
    int r = ops->truncate(f, (uint64_t)keep * cs);
    printf("free_truncate=%d failed=%d\n", r, failed);
    CHECK(failed == 1 && r == -EIO);
    CHECK(chain_length(first) == keep);
    CHECK(node_of(f)->size == keep * cs);
    vnode_put(f);
}

/* fat_extend with zeroing (a directory's new cluster): the cluster is
 * zeroed before it is used; when that cannot be done (its block, shared with
 * other clusters, cannot be read), the create that needed it is EIO. */
static void zeroing_unreadable(struct vnode *root)
{
    struct vnode *d = make(root, "D", S_IFDIR | 0755);
    struct vnode *pad = file_of(root, "pad", 64);     /* the growth's cluster: far from d's */
    CHECK(d && pad);
    if (!d || !pad)
        return;
    /* 16 entries a 512-byte cluster: ".", ".." and 14 8.3 names fill d's */
    for (int i = 0; i < 14; i++) {
        char name[8];
        snprintf(name, sizeof name, "F%02d", i);
        struct vnode *v = make(d, name, S_IFREG | 0644);
        CHECK(v != NULL);
        if (v)
            vnode_put(v);
    }
    uint32_t c = next_free_cluster();
    CHECK(block_of(fat_cluster_off(fs, c)) != block_of(fat_cluster_off(fs, node_of(d)->first)));
    cold_then_fail(fat_cluster_off(fs, c));
    struct vnode *v = NULL;
    int r = ops->create(d, "F14", 3, S_IFREG | 0644, &v);
    printf("zero_create=%d failed=%d\n", r, failed);
    CHECK(failed == 1 && r == -EIO);
    if (r == 0 && v)
        vnode_put(v);
    vnode_put(pad);
    vnode_put(d);
}

/* fat_extend: the free-cluster search reads the FAT; when its block cannot
 * be read, the write is EIO at once: the failed request is the only device
 * error, nothing else is asked of the device (nor past its end). */
static void search_unreadable(struct vnode *root)
{
    struct vnode *f = file_of(root, "grow", 1);
    if (!f)
        return;
    cold_then_fail(entry_at(0, next_free_cluster()));
    uint64_t errors = mnt.dev->stats->errors, requests = mnt.dev->stats->reads + mnt.dev->stats->writes;
    memset(data, 'z', cs);
    int64_t w = ops->write(f, cs, data, cs);
    printf("grow_write=%lld failed=%d errors=%llu requests=%llu\n", (long long)w, failed,
           (unsigned long long)(mnt.dev->stats->errors - errors),
           (unsigned long long)(mnt.dev->stats->reads + mnt.dev->stats->writes - requests));
    CHECK(failed == 1 && w == -EIO);
    CHECK(mnt.dev->stats->errors - errors == 1);
    vnode_put(f);
}

int main(int argc, char **argv)
{
    if (argc != 3 || !(mnt.dev = harness_open_image(argv[1], 0)))
        return 2;
    real_ops = mnt.dev->ops;
    failing_ops = *real_ops;
    failing_ops.read = failing_read;
    mnt.dev->ops = &failing_ops;
    mnt.ops = ops;
    if (ops->mount(&mnt) != 0)
        return 2;
    fs = mnt.priv;
    struct vnode *root = mnt.root;
    struct fs_stat st;
    CHECK(ops->stat(root, &st) == 0);
    cs = (uint32_t)st.blksize;
    CHECK(fs->bits == 32 && fs->nfats == 2 && cs == 512);
    const char *s = argv[2];
    if (!strcmp(s, "link"))
        link_copy_unreadable(root);
    else if (!strcmp(s, "cut"))
        end_mark_copy_unreadable(root);
    else if (!strcmp(s, "trim"))
        last_entry_unreadable(root);
    else if (!strcmp(s, "free"))
        freed_part_unreadable(root);
    else if (!strcmp(s, "zero"))
        zeroing_unreadable(root);
    else if (!strcmp(s, "search"))
        search_unreadable(root);
    else
        return 2;
    return finish(root);
}
