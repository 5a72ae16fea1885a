/*
 * The file allocation table: entries, chains, allocation; and byte-level
 * I/O through the buffer cache (whole blocks written with bget_zero, so an
 * overwrite never reads first).
 *
 * FAT16 values are widened on read (>= 0xFFF8 becomes FAT_EOC, 0xFFF7
 * FAT_BAD) so the rest of the plugin sees one format. Writes go to every
 * FAT copy, so the copies stay identical; reads use the active one (FAT32
 * ext_flags may name one when mirroring is off).
 */
#include "fat.h"

uint8_t *fat_cur_load(struct fat_fs *fs, struct fat_cur *c, uint64_t off)
{
    if (c->b)
        brelse(c->b);
    c->b = bread(fs->dev, off >> fs->bshift, fs->bsize);
    return c->b ? c->b->data + (off & (fs->bsize - 1)) : NULL;
}

void fat_cur_done(struct fat_cur *c)
{
    if (c->b)
        brelse(c->b);
    c->b = NULL;
}

static uint64_t entry_off(const struct fat_fs *fs, uint32_t copy, uint32_t c)
{
    return fs->fat_start + copy * fs->fat_bytes + (uint64_t)c * (fs->bits / 8);
}

int fat_get(struct fat_fs *fs, uint32_t c, uint32_t *val)
{
    if (c > fs->nclusters + 1)
        return -EIO;
    uint64_t off = entry_off(fs, fs->active_fat, c);
    struct buf *b = bread(fs->dev, off >> fs->bshift, fs->bsize);
    if (!b)
        return -EIO;
    const uint8_t *p = b->data + (off & (fs->bsize - 1));
    uint32_t v;
    if (fs->bits == 32) {
        v = rd32(p) & 0x0FFFFFFF;
    } else {
        v = rd16(p);
        if (v >= 0xFFF7)
            v = v == 0xFFF7 ? FAT_BAD : FAT_EOC;
    }
    brelse(b);
    *val = v;
    return 0;
}

int fat_set(struct fat_fs *fs, uint32_t c, uint32_t val)
{
    if (c < 2 || c > fs->nclusters + 1)
        return -EIO;
    for (uint32_t i = 0; i < fs->nfats; i++) {
        uint64_t off = entry_off(fs, i, c);
        struct buf *b = bread(fs->dev, off >> fs->bshift, fs->bsize);
        if (!b)
            return -EIO;
        uint8_t *p = b->data + (off & (fs->bsize - 1));
        if (fs->bits == 32)
            wr32(p, (rd32(p) & 0xF0000000) | (val & 0x0FFFFFFF));
        else
            wr16(p, val >= 0x0FFFFFF8 ? 0xFFFF : val == FAT_BAD ? 0xFFF7 : val);
        bdirty(b);
        brelse(b);
    }
    return 0;
}

/*
 * Walk the FAT a block at a time from cluster `start`, wrapping once:
 * counting free entries (want_one 0) or stopping at the first (want_one 1).
 * Returns the count, or the cluster found (0: none), or -EIO.
 */
static int64_t scan_free(struct fat_fs *fs, uint32_t start, int want_one)
{
    uint32_t c = start, left = fs->nclusters, esz = fs->bits / 8;
    uint64_t count = 0;
    while (left) {
        uint64_t off = entry_off(fs, fs->active_fat, c);
        struct buf *b = bread(fs->dev, off >> fs->bshift, fs->bsize);
        if (!b)
            return -EIO;
        uint32_t o = (uint32_t)(off & (fs->bsize - 1));
        uint32_t n = (fs->bsize - o) / esz;
        if (n > fs->nclusters + 2 - c)
            n = fs->nclusters + 2 - c;
        if (n > left)
            n = left;
        const uint8_t *p = b->data + o;
        if (fs->bits == 32) {
            for (uint32_t k = 0; k < n; k++, p += 4)
                if (!(rd32(p) & 0x0FFFFFFF)) {
                    if (want_one) {
                        brelse(b);
                        return c + k;
                    }
                    count++;
                }
        } else {
            for (uint32_t k = 0; k < n; k++, p += 2)
                if (!rd16(p)) {
                    if (want_one) {
                        brelse(b);
                        return c + k;
                    }
                    count++;
                }
        }
        brelse(b);
        c += n;
        left -= n;
        if (c == fs->nclusters + 2)
            c = 2;
    }
    return want_one ? 0 : (int64_t)count;
}

int fat_count_free(struct fat_fs *fs)
{
    int64_t n = scan_free(fs, 2, 0);
    if (n < 0)
        return (int)n;
    fs->free_count = (uint32_t)n;
    return 0;
}

/* A free cluster marked end-of-chain, linked after `prev` if non-zero. */
int fat_alloc(struct fat_fs *fs, uint32_t prev, uint32_t *out)
{
    if (fs->free_count == 0)
        return -ENOSPC;
    uint32_t start = fs->next_free + 1;
    if (!fat_valid(fs, start))
        start = 2;
    int64_t c = scan_free(fs, start, 1);
    if (c < 0)
        return (int)c;
    if (c == 0) {
        fs->free_count = 0;
        fs->fsinfo_dirty = 1;
        return -ENOSPC;
    }
    int r = fat_set(fs, (uint32_t)c, FAT_EOC);
    if (r == 0 && prev)
        r = fat_set(fs, prev, (uint32_t)c);
    if (r < 0)
        return r;
    if (fs->free_count != FAT_FREE_UNKNOWN && fs->free_count > 0)
        fs->free_count--;
    fs->next_free = (uint32_t)c;
    fs->fsinfo_dirty = 1;
    *out = (uint32_t)c;
    return 0;
}

static uint32_t entry_value(const struct fat_fs *fs, const uint8_t *p)
{
    if (fs->bits == 32)
        return rd32(p) & 0x0FFFFFFF;
    uint32_t v = rd16(p);
    return v >= 0xFFF7 ? (v == 0xFFF7 ? FAT_BAD : FAT_EOC) : v;
}

static void entry_store(const struct fat_fs *fs, uint8_t *p, uint32_t val)
{
    if (fs->bits == 32)
        wr32(p, (rd32(p) & 0xF0000000) | (val & 0x0FFFFFFF));
    else
        wr16(p, val >= 0x0FFFFFF8 ? 0xFFFF : val == FAT_BAD ? 0xFFF7 : val);
}

/* Set entries c .. c+count-1 to `val` (0: free) or, with link, to a chain
 * c -> c+1 -> ... ending in FAT_EOC; in every FAT copy, a block at a time. */
static int set_range(struct fat_fs *fs, uint32_t c, uint32_t count, uint32_t val, int link)
{
    for (uint32_t i = 0; i < fs->nfats; i++) {
        struct fat_cur cur = {0};
        for (uint32_t k = 0; k < count; k++) {
            uint8_t *p = fat_cur_get(fs, &cur, entry_off(fs, i, c + k));
            if (!p) {
                fat_cur_done(&cur);
                return -EIO;
            }
            entry_store(fs, p, !link ? val : k + 1 == count ? FAT_EOC : c + k + 1);
            bdirty(cur.b);
        }
        fat_cur_done(&cur);
    }
    return 0;
}

/* Free `first` and every cluster after it; stops at anything not a chain.
 * Consecutive clusters are freed together, a block of each FAT at a time. */
int fat_free_chain(struct fat_fs *fs, uint32_t first)
{
    uint32_t c = first, steps = 0;
    while (fat_valid(fs, c) && steps < fs->nclusters) {
        /* The run c .. c+k-1, each pointing at the next; `next` follows it. */
        uint32_t k = 0, next = 0;
        struct fat_cur cur = {0};
        for (;;) {
            const uint8_t *p = fat_cur_get(fs, &cur, entry_off(fs, fs->active_fat, c + k));
            if (!p) {
                fat_cur_done(&cur);
                return -EIO;
            }
            next = entry_value(fs, p);
            k++;
            if (next != c + k || !fat_valid(fs, next) || steps + k >= fs->nclusters)
                break;
        }
        fat_cur_done(&cur);
        int broken = next == 0 || next == FAT_BAD;
        if (broken)
            k--;                       /* that one is not in use: leave it */
        if (k) {
            int r = set_range(fs, c, k, 0, 0);
            if (r < 0)
                return r;
            fs->free_count = fs->free_count + k > fs->nclusters ? fs->nclusters : fs->free_count + k;
            fs->fsinfo_dirty = 1;
        }
        if (broken)
            return -EIO;
        steps += k;
        if (next >= 0x0FFFFFF8)
            return 0;
        c = next;
    }
    /* Out of range, or as many clusters freed as the volume has and the chain
     * still going (a loop through the whole volume): either way no chain. */
    return -EIO;
}

/* The node's chain position moves to (idx, cl); the one it leaves is kept as the previous one. */
static void chain_move(struct fat_node *n, uint32_t idx, uint32_t cl)
{
    if (n->c_cl && n->c_idx != idx) {
        n->p_idx = n->c_idx;
        n->p_cl = n->c_cl;
    }
    n->c_idx = idx;
    n->c_cl = cl;
}

/*
 * The idx-th cluster of n's chain: 0 with *cl; 1 when the chain is shorter
 * (*cl its last cluster, 0 if empty; the length is then cached); -EIO for a
 * broken chain. Starts from the node's cached position (or the one before
 * it) when it can, so a sequential walk costs one FAT lookup per cluster,
 * and so does going back one cluster (a lookup of the name readdir just
 * gave, whose long-name entries began in the cluster before its 8.3 entry).
 */
int fat_chain_at(struct fat_fs *fs, struct fat_node *n, uint32_t idx, uint32_t *cl)
{
    if (n->first == 0) {
        n->n_cl = n->last_cl = 0;
        n->len_known = 1;
        *cl = 0;
        return 1;
    }
    if (n->len_known && idx >= n->n_cl) {
        *cl = n->last_cl;
        return 1;
    }
    uint32_t i = 0, c = n->first;
    if (n->c_cl && n->c_idx <= idx) {
        i = n->c_idx;
        c = n->c_cl;
    } else if (n->p_cl && n->p_idx <= idx) {
        i = n->p_idx;
        c = n->p_cl;
    }
    if (!fat_valid(fs, c))
        return -EIO;
    while (i < idx) {
        uint32_t next;
        int r = fat_get(fs, c, &next);
        if (r < 0)
            return r;
        if (next >= 0x0FFFFFF8) {
            n->n_cl = i + 1;
            n->last_cl = c;
            n->len_known = 1;
            chain_move(n, i, c);
            *cl = c;
            return 1;
        }
        if (!fat_valid(fs, next) || i + 1 >= fs->nclusters)
            return -EIO;               /* free/bad entry in a chain, out of range, or a loop */
        c = next;
        i++;
    }
    chain_move(n, i, c);
    *cl = c;
    return 0;
}

/*
 * Like fat_chain_at, and *run: how many clusters from there on (at most
 * max) follow each other on disk, read from the FAT a block at a time. The
 * node's position moves to the last of them.
 */
int fat_chain_run(struct fat_fs *fs, struct fat_node *n, uint32_t idx, uint32_t max, uint32_t *cl, uint32_t *run)
{
    int r = fat_chain_at(fs, n, idx, cl);
    if (r != 0)
        return r;
    uint32_t c = *cl, k = 1;
    struct fat_cur cur = {0};
    while (k < max) {
        const uint8_t *p = fat_cur_get(fs, &cur, entry_off(fs, fs->active_fat, c));
        if (!p || entry_value(fs, p) != c + 1 || !fat_valid(fs, c + 1))
            break;
        c++;
        k++;
    }
    fat_cur_done(&cur);
    chain_move(n, idx + k - 1, c);
    *run = k;
    return 0;
}

int fat_chain_len(struct fat_fs *fs, struct fat_node *n, uint32_t *len)
{
    uint32_t cl;
    if (!n->len_known) {
        int r = fat_chain_at(fs, n, fs->nclusters, &cl);
        if (r < 0)
            return r;
        if (r == 0)
            return -EIO;               /* longer than the volume: a loop */
    }
    *len = n->n_cl;
    return 0;
}

/*
 * Grow n's chain to at least `want` clusters (zero-filling new ones if
 * asked). Returns the chain length reached, which is short of `want` only
 * when the disk filled up; or -EIO. A new first cluster is only recorded in
 * the node: the caller writes the directory entry.
 */
int fat_extend(struct fat_fs *fs, struct fat_node *n, uint32_t want, int zero)
{
    uint32_t len;
    int r = fat_chain_len(fs, n, &len);
    if (r < 0)
        return r;
    while (len < want && fs->free_count) {
        uint32_t start = fs->next_free + 1;
        if (!fat_valid(fs, start))
            start = 2;
        int64_t c = scan_free(fs, start, 1);
        if (c < 0)
            return (int)c;
        if (c == 0) {
            fs->free_count = 0;
            fs->fsinfo_dirty = 1;
            break;
        }
        /* Take the free entries that follow it too (one FAT block's worth at most). */
        uint32_t count = 1, max = want - len;
        struct fat_cur cur = {0};
        while (count < max && count < 1024 && fat_valid(fs, (uint32_t)c + count)) {
            const uint8_t *p = fat_cur_get(fs, &cur, entry_off(fs, fs->active_fat, (uint32_t)c + count));
            if (!p || entry_value(fs, p) != 0)
                break;
            count++;
        }
        fat_cur_done(&cur);
        if ((r = set_range(fs, (uint32_t)c, count, 0, 1)) < 0)
            return r;
        if (n->first && (r = fat_set(fs, n->last_cl, (uint32_t)c)) < 0)
            return r;
        if (!n->first)
            n->first = (uint32_t)c;
        n->last_cl = (uint32_t)c + count - 1;
        n->n_cl = len += count;
        fs->free_count = fs->free_count > count ? fs->free_count - count : 0;
        fs->next_free = n->last_cl;
        fs->fsinfo_dirty = 1;
        if (zero && (r = fat_dev_io(fs, fat_cluster_off(fs, (uint32_t)c), NULL, NULL,
                                    (size_t)count << fs->cshift, 1)) < 0)
            return r;
    }
    return (int)len;
}

/* Keep the first `keep` clusters of n's chain and free the rest. */
int fat_trim(struct fat_fs *fs, struct fat_node *n, uint32_t keep)
{
    int r;
    if (n->c_cl && n->c_idx >= keep)
        n->c_cl = 0;
    if (n->p_cl && n->p_idx >= keep)
        n->p_cl = 0;
    if (keep == 0) {
        uint32_t first = n->first;
        n->first = 0;
        n->n_cl = n->last_cl = 0;
        n->len_known = 1;
        return first ? fat_free_chain(fs, first) : 0;
    }
    uint32_t cl, next;
    r = fat_chain_at(fs, n, keep - 1, &cl);
    if (r != 0)
        return r < 0 ? r : 0;          /* already no longer than that */
    if ((r = fat_get(fs, cl, &next)) < 0)
        return r;
    if (next >= 0x0FFFFFF8)
        return 0;
    if ((r = fat_set(fs, cl, FAT_EOC)) < 0)
        return r;
    n->n_cl = keep;
    n->last_cl = cl;
    n->len_known = 1;
    return fat_valid(fs, next) ? fat_free_chain(fs, next) : -EIO;
}

/* Read (rbuf), write (wbuf) or zero (both NULL, write=1) n bytes at disk offset off. */
int fat_dev_io(struct fat_fs *fs, uint64_t off, void *rbuf, const void *wbuf, size_t n, int write)
{
    while (n) {
        uint64_t blk = off >> fs->bshift;
        uint32_t o = (uint32_t)(off & (fs->bsize - 1));
        size_t k = fs->bsize - o;
        if (k > n)
            k = n;
        struct buf *b;
        if (write && k == fs->bsize)
            b = bget_zero(fs->dev, blk, fs->bsize);      /* whole block: no read */
        else
            b = bread(fs->dev, blk, fs->bsize);
        if (!b)
            return -EIO;
        if (!write) {
            memcpy(rbuf, b->data + o, k);
            rbuf = (uint8_t *)rbuf + k;
        } else {
            if (wbuf) {
                memcpy(b->data + o, wbuf, k);
                wbuf = (const uint8_t *)wbuf + k;
            } else if (k != fs->bsize) {
                memset(b->data + o, 0, k);
            }
            bdirty(b);
        }
        brelse(b);
        off += k;
        n -= k;
    }
    return 0;
}

/*
 * Move len bytes between a file's clusters (from byte `off` of the file) and
 * memory, cluster by cluster; wbuf NULL with write=1 zero-fills. The chain
 * must already be long enough. Returns bytes moved, or -EIO if none were.
 */
int64_t fat_file_io(struct fat_fs *fs, struct fat_node *n, uint64_t off, void *rbuf, const void *wbuf,
                    size_t len, int write)
{
    size_t done = 0;
    while (done < len) {
        uint32_t cl, ci = (uint32_t)(off >> fs->cshift);
        int r;
        uint32_t in = (uint32_t)(off & (fs->csize - 1)), run;
        /* Following clusters too while they are adjacent on disk, so one
         * transfer covers whole blocks (no read before a full overwrite). */
        uint64_t want = ((uint64_t)in + (len - done) + fs->csize - 1) >> fs->cshift;
        r = fat_chain_run(fs, n, ci, want > 4096 ? 4096 : (uint32_t)want, &cl, &run);
        if (r != 0)
            return done ? (int64_t)done : -EIO;
        size_t k = ((size_t)run << fs->cshift) - in;
        if (k > len - done)
            k = len - done;
        r = fat_dev_io(fs, fat_cluster_off(fs, cl) + in, rbuf ? (uint8_t *)rbuf + done : NULL,
                       wbuf ? (const uint8_t *)wbuf + done : NULL, k, write);
        if (r < 0)
            return done ? (int64_t)done : r;
        done += k;
        off += k;
    }
    return (int64_t)done;
}
