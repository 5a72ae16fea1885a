/*
 * Mounting (the BPB checks) and the operations the VFS calls
 * (struct fs_ops fs_plugin_fat32). FAT32 and FAT16 are both handled; FAT12
 * (volumes under 4085 clusters, floppies) is refused at mount.
 *
 * Free-space bookkeeping: FAT32's FSInfo free count is trusted at mount
 * when it is plausible, otherwise (and always for FAT16) the FAT is counted
 * once; the count and the last-allocated hint are kept exact as clusters
 * come and go and written back to FSInfo by sync().
 */
#include "fat.h"

struct fat_scratch {                   /* per-mount work space: the VFS lock serialises calls */
    struct fat_found a, b;
    uint16_t n1[FAT_LFN_MAX + 1], n2[FAT_LFN_MAX + 1];
    uint32_t l1, l2;
};

struct fat_mount {
    struct fat_fs fs;
    struct fat_scratch s;
    struct fat_found tmp;
    struct fat_plan plan;
    uint8_t tails[FAT_TAILS_BYTES];
};

static struct fat_fs *FS(struct fs_mount *m) { return m->priv; }
static struct fat_scratch *SCR(struct fat_fs *fs) { return &((struct fat_mount *)fs)->s; }
static struct fat_node *NODE(struct vnode *v) { return v->priv; }

static uint32_t mode_of(const struct fat_node *n)
{
    if (n->is_dir)
        return S_IFDIR | 0755;
    return S_IFREG | (n->attr & ATTR_RO ? 0444 : 0644);
}

static struct fat_node *find_open(struct fat_fs *fs, uint64_t dirent_off)
{
    for (struct fat_node *n = fs->nodes; n; n = n->next)
        if (n->dirent_off == dirent_off)
            return n;
    return NULL;
}

/* Write a file's size, first cluster and modification time into its entry. */
static int node_update(struct fat_fs *fs, struct fat_node *n)
{
    if (!n->dirent_off)
        return 0;
    struct fat_cur cur = {0};
    uint8_t *e = fat_cur_get(fs, &cur, n->dirent_off);
    if (!e)
        return -EIO;
    wr16(e + 26, n->first & 0xFFFF);
    wr16(e + 20, fs->bits == 32 ? n->first >> 16 : 0);
    wr32(e + 28, n->is_dir ? 0 : n->size);
    if (!n->is_dir)
        e[11] |= ATTR_ARCHIVE;
    fat_stamp(e, fs_time_now(), 0);
    bdirty(cur.b);
    fat_cur_done(&cur);
    return 0;
}

/* --------------------------------------------------------------- mount */

static int bad(const char *why)
{
    printk("fat: not mounting: %s\n", why);
    return -EINVAL;
}

static int fat_mount(struct fs_mount *m)
{
    struct blkdev *dev = m->dev;
    struct buf *b = bread(dev, 0, 512);
    if (!b)
        return dev->sectors ? -EIO : -EINVAL;
    uint8_t s[90];
    memcpy(s, b->data, sizeof s);
    int sig = b->data[510] == 0x55 && b->data[511] == 0xAA;
    brelse(b);
    uint32_t bps = rd16(s + 11), spc = s[13];
    if (!sig || (s[0] != 0xEB && s[0] != 0xE9) ||
        (bps != 512 && bps != 1024 && bps != 2048 && bps != 4096))
        return -EINVAL;                /* not a FAT boot sector: quietly let others try */
    if (spc == 0 || (spc & (spc - 1)) || bps * spc > 65536)
        return bad("bad sectors per cluster");
    uint32_t resv = rd16(s + 14), nfats = s[16], root_ent = rd16(s + 17);
    uint32_t tot = rd16(s + 19) ? rd16(s + 19) : rd32(s + 32);
    uint32_t fatsz = rd16(s + 22) ? rd16(s + 22) : rd32(s + 36);
    int bits = rd16(s + 22) ? 16 : 32;
    if (resv == 0 || nfats == 0 || nfats > 4 || fatsz == 0 || tot == 0)
        return bad("bad BPB (reserved sectors, FAT count, FAT size or total sectors)");
    if (bits == 32 && (root_ent || rd16(s + 42)))
        return bad("FAT32 BPB with root entries or an unknown version");
    if (bits == 16 && (root_ent == 0 || (root_ent * 32) % bps))
        return bad("bad root directory size");
    uint64_t root_secs = ((uint64_t)root_ent * 32 + bps - 1) / bps;
    uint64_t meta = resv + (uint64_t)nfats * fatsz + root_secs;
    if ((uint64_t)tot * bps > dev->sectors * SECTOR_SIZE)
        return bad("the volume is larger than the device");
    if (tot <= meta || (tot - meta) / spc < 1)
        return bad("no data area");
    uint64_t ncl = (tot - meta) / spc;
    if (bits == 16 && ncl < 4085)
        return bad("FAT12 is not supported");
    /* FAT16: 65524 at most (more is FAT32, fatgen103); FAT32: 268,435,445 (2^28 - 11,
     * Microsoft's limit: clusters 2 .. 0x0FFFFFF6, below the bad and end marks). */
    if ((bits == 16 && ncl > 65524) || ncl > 0x0FFFFFF5)
        return bad("too many clusters for the FAT type");
    if ((uint64_t)fatsz * bps / (bits / 8) < ncl + 2)
        return bad("the FAT is too small for the cluster count");

    struct fat_mount *fm = kmalloc(sizeof *fm);
    if (!fm)
        return -ENOMEM;
    memset(fm, 0, sizeof *fm);
    struct fat_fs *fs = &fm->fs;
    fs->m = m;
    fs->dev = dev;
    fs->tmp = &fm->tmp;
    fs->tails = fm->tails;
    fs->plan = &fm->plan;
    fs->bits = bits;
    fs->csize = bps * spc;
    for (fs->cshift = 0; (1u << fs->cshift) < fs->csize; fs->cshift++)
        ;
    fs->nfats = nfats;
    fs->fat_start = (uint64_t)resv * bps;
    fs->fat_bytes = (uint64_t)fatsz * bps;
    fs->root_start = fs->fat_start + nfats * fs->fat_bytes;
    fs->root_entries = root_ent;
    fs->data_start = meta * bps;
    fs->nclusters = (uint32_t)ncl;
    /* Blocks of 4096 bytes when the device is a whole number of them (all
     * I/O is by byte offset, so clusters and FAT entries need not line up
     * with blocks; adjacent clusters are moved together). */
    uint64_t dev_bytes = dev->sectors * SECTOR_SIZE;
    fs->bsize = 4096;
    while (fs->bsize > bps && dev_bytes % fs->bsize)
        fs->bsize >>= 1;
    if (fs->bsize < 512)
        fs->bsize = 512;
    for (fs->bshift = 0; (1u << fs->bshift) < fs->bsize; fs->bshift++)
        ;
    fs->free_count = FAT_FREE_UNKNOWN;
    fs->next_free = 2;
    int r;
    if (bits == 32) {
        uint32_t ext = rd16(s + 40), fsinfo = rd16(s + 48);
        fs->root_cluster = rd32(s + 44);
        if (!fat_valid(fs, fs->root_cluster)) {
            kfree(fm);
            return bad("root cluster out of range");
        }
        if (ext & 0x80) {
            fs->active_fat = ext & 0x0F;
            if (fs->active_fat >= nfats) {
                kfree(fm);
                return bad("active FAT out of range");
            }
        }
        if (fsinfo && fsinfo < resv) {
            uint8_t fi[512];
            fs->fsinfo_off = (uint64_t)fsinfo * bps;
            if ((r = fat_dev_io(fs, fs->fsinfo_off, fi, NULL, 512, 0)) < 0) {
                kfree(fm);
                return r;
            }
            if (rd32(fi) != 0x41615252 || rd32(fi + 484) != 0x61417272 || rd32(fi + 508) != 0xAA550000) {
                fs->fsinfo_off = 0;    /* no usable FSInfo: leave it alone */
            } else {
                if (rd32(fi + 488) <= fs->nclusters)
                    fs->free_count = rd32(fi + 488);
                if (fat_valid(fs, rd32(fi + 492)))
                    fs->next_free = rd32(fi + 492);
            }
        }
    }
    if (fs->free_count == FAT_FREE_UNKNOWN) {
        if ((r = fat_count_free(fs)) < 0) {
            kfree(fm);
            return r;
        }
        fs->fsinfo_dirty = fs->fsinfo_off != 0;
    }
    m->priv = fs;
    int err = 0;
    m->root = vnode_get(m, FAT_ROOT_INO, &err);
    if (!m->root) {
        m->priv = NULL;
        kfree(fm);
        return err ? err : -EIO;
    }
    printk("fat: FAT%d volume, %u clusters of %u bytes, %u free, block size %u\n", bits,
           fs->nclusters, fs->csize, fs->free_count, fs->bsize);
    return 0;
}

static int fat_sync(struct fs_mount *m)
{
    struct fat_fs *fs = FS(m);
    if (!fs->fsinfo_off || !fs->fsinfo_dirty || m->readonly)
        return 0;
    struct fat_cur cur = {0};
    uint8_t *p = fat_cur_get(fs, &cur, fs->fsinfo_off);
    if (!p)
        return -EIO;
    wr32(p + 488, fs->free_count);
    wr32(p + 492, fs->next_free);
    bdirty(cur.b);
    fat_cur_done(&cur);
    fs->fsinfo_dirty = 0;
    return 0;
}

static int fat_unmount(struct fs_mount *m)
{
    int r = fat_sync(m);
    kfree(m->priv);
    m->priv = NULL;
    return r;
}

static int fat_statfs(struct fs_mount *m, struct fs_statfs *out)
{
    struct fat_fs *fs = FS(m);
    memset(out, 0, sizeof *out);
    out->block_size = fs->csize;
    out->blocks = fs->nclusters;
    out->blocks_free = fs->free_count;
    strncpy_z(out->type, "fat32", sizeof out->type);
    return 0;
}

/* -------------------------------------------------------------- vnodes */

static int fat_read_vnode(struct vnode *v)
{
    struct fat_fs *fs = FS(v->mount);
    struct fat_node *n = kmalloc(sizeof *n);
    if (!n)
        return -ENOMEM;
    memset(n, 0, sizeof *n);
    if (v->ino == FAT_ROOT_INO) {
        n->is_dir = n->is_root = 1;
        n->attr = ATTR_DIR;
        n->first = fs->bits == 32 ? fs->root_cluster : 0;
    } else {
        uint64_t off = v->ino << 5;
        uint8_t e[32];
        int in_root = fs->bits == 16 && off >= fs->root_start && off < fs->root_start + fs->root_entries * 32ull;
        int in_data = off >= fs->data_start && off < fat_cluster_off(fs, fs->nclusters + 2);
        int r = v->ino >= FAT_ORPHAN_INO ? -ENOENT : !in_root && !in_data ? -EIO
              : fat_dev_io(fs, off, e, NULL, 32, 0);
        if (r == 0 && (e[0] == 0 || e[0] == 0xE5 || (e[11] & 0x3F) == ATTR_LFN || (e[11] & ATTR_VOLUME)))
            r = -ENOENT;
        if (r == 0) {
            n->attr = e[11];
            n->is_dir = !!(e[11] & ATTR_DIR);
            n->first = rd16(e + 26) | (fs->bits == 32 ? rd16(e + 20) << 16 : 0);
            n->size = n->is_dir ? 0 : rd32(e + 28);
            n->dirent_off = off;
            if ((n->first && !fat_valid(fs, n->first)) || (n->is_dir && !n->first))
                r = -EIO;
        }
        if (r < 0) {
            kfree(n);
            return r;
        }
    }
    n->v = v;
    n->next = fs->nodes;
    if (fs->nodes)
        fs->nodes->prev = n;
    fs->nodes = n;
    v->priv = n;
    v->mode = mode_of(n);
    return 0;
}

static void fat_release(struct vnode *v)
{
    struct fat_node *n = NODE(v);
    struct fat_fs *fs = FS(v->mount);
    if (!n)
        return;
    if (n->prev)
        n->prev->next = n->next;
    else
        fs->nodes = n->next;
    if (n->next)
        n->next->prev = n->prev;
    if (n->unlinked && n->first)
        fat_free_chain(fs, n->first);
    kfree(n);
    v->priv = NULL;
}

/* The entry left the directory tree: free the file now, or at release if open. */
static int drop_file(struct fat_fs *fs, const struct fat_found *f)
{
    struct fat_node *open = find_open(fs, f->off);
    if (open) {
        open->unlinked = 1;
        open->dirent_off = 0;
        vnode_rekey(open->v, FAT_ORPHAN_INO + fs->orphan_seq++);
        return 0;
    }
    uint32_t first = rd16(f->raw + 26) | (fs->bits == 32 ? rd16(f->raw + 20) << 16 : 0);
    return fat_valid(fs, first) ? fat_free_chain(fs, first) : 0;
}

static int lookup_name(struct fat_fs *fs, struct vnode *dir, const char *name, size_t len,
                       uint16_t *u, uint32_t *ulen, struct fat_found *f)
{
    struct fat_node *d = NODE(dir);
    if (!d->is_dir)
        return -ENOTDIR;
    if (len > FS_NAME_MAX)
        return -ENAMETOOLONG;
    int r = fat_name_from_utf8(name, len, u, ulen, 0);
    if (r < 0)
        return r == -ENAMETOOLONG ? r : -ENOENT;
    return fat_dir_find(fs, d, u, *ulen, f);
}

static int fat_lookup(struct vnode *dir, const char *name, size_t len, struct vnode **out)
{
    struct fat_fs *fs = FS(dir->mount);
    struct fat_scratch *s = SCR(fs);
    int r = lookup_name(fs, dir, name, len, s->n1, &s->l1, &s->a);
    if (r < 0)
        return r;
    int err = 0;
    *out = vnode_get(dir->mount, s->a.off >> 5, &err);
    return *out ? 0 : err;
}

static int fat_stat(struct vnode *v, struct fs_stat *out)
{
    struct fat_fs *fs = FS(v->mount);
    struct fat_node *n = NODE(v);
    memset(out, 0, sizeof *out);
    out->ino = v->ino;
    out->mode = mode_of(n);
    out->nlink = n->unlinked ? 0 : n->is_dir ? 2 : 1;
    out->dev = v->mount->index;
    out->blksize = fs->csize;
    uint32_t ncl = 0;
    if (n->is_root && fs->bits == 16) {
        out->size = fs->root_entries * 32ull;
    } else if (n->is_dir) {
        if (fat_chain_len(fs, n, &ncl) < 0)
            return -EIO;
        out->size = (uint64_t)ncl << fs->cshift;
    } else {
        out->size = n->size;
        ncl = fat_clusters_for(fs, n->size);
    }
    out->blocks = ((uint64_t)ncl << fs->cshift) / 512;
    if (n->dirent_off) {
        uint8_t e[32];
        if (fat_dev_io(fs, n->dirent_off, e, NULL, 32, 0) == 0)
            out->mtime = fat_entry_mtime(e);
    }
    return 0;
}

/* ----------------------------------------------------------- file data */

static int64_t fat_read(struct vnode *v, uint64_t off, void *buf, size_t len)
{
    struct fat_fs *fs = FS(v->mount);
    struct fat_node *n = NODE(v);
    if (n->is_dir)
        return -EISDIR;
    if (off >= n->size)
        return 0;
    if (len > n->size - off)
        len = (size_t)(n->size - off);
    return len ? fat_file_io(fs, n, off, buf, NULL, len, 0) : 0;
}

/* Make the chain hold `bytes`; on a full disk give back what was taken. */
static int grow_to(struct fat_fs *fs, struct fat_node *n, uint64_t bytes, uint64_t *avail)
{
    uint32_t want = fat_clusters_for(fs, bytes);
    int r = fat_extend(fs, n, want, 0);
    if (r < 0)
        return r;
    *avail = (uint64_t)(uint32_t)r << fs->cshift;
    return 0;
}

static int64_t fat_write(struct vnode *v, uint64_t off, const void *buf, size_t len)
{
    struct fat_fs *fs = FS(v->mount);
    struct fat_node *n = NODE(v);
    if (n->is_dir)
        return -EISDIR;
    if (v->mount->readonly)
        return -EROFS;
    if (len == 0)
        return 0;
    if (off >= FAT_FILE_MAX)
        return -EFBIG;
    if (len > FAT_FILE_MAX - off)
        len = (size_t)(FAT_FILE_MAX - off);
    uint64_t avail, end = off + len;
    uint32_t old_first = n->first;
    int r = grow_to(fs, n, end, &avail);
    if (r < 0)
        return r;
    if (avail <= off) {                /* no room for even one byte */
        fat_trim(fs, n, fat_clusters_for(fs, n->size));
        if (n->first != old_first)
            node_update(fs, n);
        return -ENOSPC;
    }
    if (avail < end) {
        end = avail;
        len = (size_t)(end - off);
    }
    int64_t done;
    if (off > n->size) {               /* a hole: zeros, as POSIX says */
        done = fat_file_io(fs, n, n->size, NULL, NULL, (size_t)(off - n->size), 1);
        if (done < (int64_t)(off - n->size)) {
            fat_trim(fs, n, fat_clusters_for(fs, n->size));
            node_update(fs, n);
            return -EIO;
        }
    }
    done = fat_file_io(fs, n, off, NULL, buf, len, 1);
    if (done > 0 && off + (uint64_t)done > n->size)
        n->size = (uint32_t)(off + (uint64_t)done);
    if (fat_clusters_for(fs, n->size) < fat_clusters_for(fs, end))
        fat_trim(fs, n, fat_clusters_for(fs, n->size));
    r = node_update(fs, n);
    if (done <= 0)
        return done < 0 ? done : -EIO;
    return r < 0 ? r : done;
}

static int fat_truncate(struct vnode *v, uint64_t size)
{
    struct fat_fs *fs = FS(v->mount);
    struct fat_node *n = NODE(v);
    if (n->is_dir)
        return -EISDIR;
    if (v->mount->readonly)
        return -EROFS;
    if (size > FAT_FILE_MAX)
        return -EFBIG;
    int r = 0;
    if (size < n->size) {
        uint32_t keep = fat_clusters_for(fs, size);
        r = fat_trim(fs, n, keep);
        /* The size shrinks with the chain: a trim that failed before cutting
         * it (its walk or the new last entry unreadable) leaves the file as it
         * was, not an entry saying less than its chain holds (fsck.fat). */
        if (r == 0 || (n->len_known && n->n_cl <= keep))
            n->size = (uint32_t)size;
    } else if (size > n->size) {
        uint64_t avail;
        if ((r = grow_to(fs, n, size, &avail)) < 0)
            return r;
        if (avail < size) {
            fat_trim(fs, n, fat_clusters_for(fs, n->size));
            node_update(fs, n);
            return -ENOSPC;
        }
        int64_t z = fat_file_io(fs, n, n->size, NULL, NULL, (size_t)(size - n->size), 1);
        if (z < (int64_t)(size - n->size))
            r = -EIO;
        else
            n->size = (uint32_t)size;
    }
    int u = node_update(fs, n);
    return r < 0 ? r : u;
}

/* ---------------------------------------------------------- namespace */

static int fat_create(struct vnode *dir, const char *name, size_t len, uint32_t mode, struct vnode **out)
{
    struct fat_fs *fs = FS(dir->mount);
    struct fat_scratch *s = SCR(fs);
    struct fat_node *d = NODE(dir);
    if (!d->is_dir)
        return -ENOTDIR;
    if (d->unlinked)
        return -ENOENT;
    if (dir->mount->readonly)
        return -EROFS;
    if (len > FS_NAME_MAX)
        return -ENAMETOOLONG;
    int r = fat_name_from_utf8(name, len, s->n1, &s->l1, 1);
    if (r < 0)
        return r;
    uint8_t e[32];
    memset(e, 0, sizeof e);
    uint64_t now = fs_time_now();
    fat_stamp(e, now, 1);
    uint32_t cl = 0;
    if (S_ISDIR(mode)) {
        if ((r = fat_alloc(fs, 0, &cl)) < 0)
            return r;
        uint8_t dots[64];
        memset(dots, 0, sizeof dots);
        memcpy(dots, ".          ", 11);
        memcpy(dots + 32, "..         ", 11);
        uint32_t parent = d->is_root ? 0 : d->first;
        for (int i = 0; i < 2; i++) {
            uint8_t *p = dots + 32 * i;
            uint32_t c = i ? parent : cl;
            p[11] = ATTR_DIR;
            fat_stamp(p, now, 1);
            wr16(p + 26, c & 0xFFFF);
            wr16(p + 20, fs->bits == 32 ? c >> 16 : 0);
        }
        uint64_t co = fat_cluster_off(fs, cl);
        if ((r = fat_dev_io(fs, co, NULL, dots, 64, 1)) < 0 ||
            (r = fat_dev_io(fs, co + 64, NULL, NULL, fs->csize - 64, 1)) < 0) {
            fat_free_chain(fs, cl);
            return r;
        }
        e[11] = ATTR_DIR;
        wr16(e + 26, cl & 0xFFFF);
        wr16(e + 20, fs->bits == 32 ? cl >> 16 : 0);
    } else {
        e[11] = ATTR_ARCHIVE;
    }
    uint64_t where;
    r = fat_dir_add(fs, d, s->n1, s->l1, e, 0, &where);
    if (r < 0) {
        if (cl)
            fat_free_chain(fs, cl);
        return r;
    }
    int err = 0;
    *out = vnode_get(dir->mount, where >> 5, &err);
    return *out ? 0 : err;
}

static int fat_unlink(struct vnode *dir, const char *name, size_t len)
{
    struct fat_fs *fs = FS(dir->mount);
    struct fat_scratch *s = SCR(fs);
    if (dir->mount->readonly)
        return -EROFS;
    int r = lookup_name(fs, dir, name, len, s->n1, &s->l1, &s->a);
    if (r < 0)
        return r;
    if (s->a.raw[11] & ATTR_DIR)
        return -EISDIR;
    if ((r = fat_dir_remove(fs, NODE(dir), &s->a)) < 0)
        return r;
    return drop_file(fs, &s->a);
}

static uint32_t entry_cluster(const struct fat_fs *fs, const uint8_t *raw)
{
    return rd16(raw + 26) | (fs->bits == 32 ? rd16(raw + 20) << 16 : 0);
}

static int fat_rmdir(struct vnode *dir, const char *name, size_t len)
{
    struct fat_fs *fs = FS(dir->mount);
    struct fat_scratch *s = SCR(fs);
    if (dir->mount->readonly)
        return -EROFS;
    int r = lookup_name(fs, dir, name, len, s->n1, &s->l1, &s->a);
    if (r < 0)
        return r;
    if (!(s->a.raw[11] & ATTR_DIR))
        return -ENOTDIR;
    if ((r = fat_dir_empty(fs, entry_cluster(fs, s->a.raw))) <= 0)
        return r < 0 ? r : -ENOTEMPTY;
    if ((r = fat_dir_remove(fs, NODE(dir), &s->a)) < 0)
        return r;
    return drop_file(fs, &s->a);
}

/* The parent cluster recorded in directory `cl`'s ".." entry (0: the root). */
static int parent_of(struct fat_fs *fs, uint32_t cl, uint32_t *parent)
{
    uint8_t e[32];
    int r = fat_dev_io(fs, fat_cluster_off(fs, cl) + 32, e, NULL, 32, 0);
    if (r < 0)
        return r;
    if (memcmp(e, "..         ", 11) != 0)
        return -EIO;
    *parent = entry_cluster(fs, e);
    return 0;
}

static int fat_rename(struct vnode *olddir, const char *oldname, size_t oldlen,
                      struct vnode *newdir, const char *newname, size_t newlen)
{
    struct fat_fs *fs = FS(olddir->mount);
    struct fat_scratch *s = SCR(fs);
    struct fat_node *od = NODE(olddir), *nd = NODE(newdir);
    if (olddir->mount->readonly)
        return -EROFS;
    int r = lookup_name(fs, olddir, oldname, oldlen, s->n1, &s->l1, &s->a);
    if (r < 0)
        return r;
    if (!nd->is_dir)
        return -ENOTDIR;
    if (nd->unlinked)
        return -ENOENT;
    if (newlen > FS_NAME_MAX)
        return -ENAMETOOLONG;
    if ((r = fat_name_from_utf8(newname, newlen, s->n2, &s->l2, 1)) < 0)
        return r;
    int is_dir = !!(s->a.raw[11] & ATTR_DIR);
    uint32_t moving = entry_cluster(fs, s->a.raw);
    r = fat_dir_find(fs, nd, s->n2, s->l2, &s->b);
    if (r < 0 && r != -ENOENT)
        return r;
    int target = r == 0 && s->b.off != s->a.off;
    if (r == 0 && !target && s->b.nlen == s->l2 &&
        memcmp(s->b.name, s->n2, s->l2 * 2) == 0 && od == nd)
        return 0;                      /* the very same name */
    if (target) {
        int tdir = !!(s->b.raw[11] & ATTR_DIR);
        if (is_dir && !tdir)
            return -ENOTDIR;
        if (!is_dir && tdir)
            return -EISDIR;
        if (tdir && (r = fat_dir_empty(fs, entry_cluster(fs, s->b.raw))) <= 0)
            return r < 0 ? r : -ENOTEMPTY;
    }
    uint32_t new_parent = nd->is_root ? 0 : nd->first;
    if (is_dir && od != nd) {
        /* Not into itself or a descendant: walk up from the new parent.
         * After nclusters steps the walk has met nclusters + 1 directories,
         * each with a cluster of its own: one twice, a loop in the '..'
         * entries, and reading further tells nothing new. */
        uint32_t c = new_parent;
        for (uint32_t steps = 0; c; steps++) {
            if (c == moving)
                return -EINVAL;
            if (steps >= fs->nclusters || !fat_valid(fs, c) || (r = parent_of(fs, c, &c)) < 0)
                return -EIO;
        }
    }
    uint64_t where;
    if ((r = fat_dir_add(fs, nd, s->n2, s->l2, s->a.raw, target ? s->b.off : s->a.off, &where)) < 0)
        return r;
    if (target) {
        if ((r = fat_dir_remove(fs, nd, &s->b)) < 0 || (r = drop_file(fs, &s->b)) < 0)
            return r;
    }
    if ((r = fat_dir_remove(fs, od, &s->a)) < 0)
        return r;
    if (is_dir && od != nd && fat_valid(fs, moving)) {
        struct fat_cur cur = {0};
        uint8_t *e = fat_cur_get(fs, &cur, fat_cluster_off(fs, moving) + 32);
        if (!e)
            return -EIO;
        if (memcmp(e, "..         ", 11) == 0) {
            wr16(e + 26, new_parent & 0xFFFF);
            wr16(e + 20, fs->bits == 32 ? new_parent >> 16 : 0);
            bdirty(cur.b);
        }
        fat_cur_done(&cur);
    }
    struct fat_node *open = find_open(fs, s->a.off);
    if (open) {
        open->dirent_off = where;
        vnode_rekey(open->v, where >> 5);
    }
    return 0;
}

static int fat_readdir(struct vnode *dir, uint64_t *cookie, struct fs_dirent *out)
{
    struct fat_fs *fs = FS(dir->mount);
    struct fat_scratch *s = SCR(fs);
    struct fat_node *d = NODE(dir);
    if (!d->is_dir)
        return -ENOTDIR;
    if (*cookie >= FAT_DIR_MAX)
        return 0;
    uint32_t idx = (uint32_t)*cookie;
    int r = fat_dir_next(fs, d, &idx, &s->a);
    if (r <= 0) {
        *cookie = FAT_DIR_MAX;
        return r;
    }
    *cookie = idx;
    fat_dir_hint(fs, d, s->a.first_idx);
    out->ino = s->a.off >> 5;
    out->type = s->a.raw[11] & ATTR_DIR ? S_IFDIR : S_IFREG;
    size_t n = fat_name_to_utf8(s->a.name, s->a.nlen, out->name, sizeof out->name);
    if (!n)                            /* a long name over 255 UTF-8 bytes: its 8.3 name */
        n = fat_name_to_utf8(s->a.sname, s->a.snlen, out->name, sizeof out->name);
    out->name_len = (uint32_t)n;
    return 1;
}

const struct fs_ops fs_plugin_fat32 = {
    .interface_version = FS_INTERFACE,
    .name = "fat32",
    .mount = fat_mount,
    .unmount = fat_unmount,
    .sync = fat_sync,
    .statfs = fat_statfs,
    .read_vnode = fat_read_vnode,
    .release = fat_release,
    .lookup = fat_lookup,
    .stat = fat_stat,
    .read = fat_read,
    .write = fat_write,
    .truncate = fat_truncate,
    .create = fat_create,
    .unlink = fat_unlink,
    .rmdir = fat_rmdir,
    .rename = fat_rename,
    .readdir = fat_readdir,
};
