/*
 * tinyfs: a test-only filesystem plugin that proves the fs plugin harness
 * and build work before the real plugins exist. One flat directory of up to
 * 32 files, each with a fixed 16 KiB extent; 1 KiB blocks:
 *   block 0: "TINYFS01", uint32 block count
 *   block 1: 32 entries of {char name[20]; uint32 unused; uint32 size; uint32 pad}
 *   blocks 2 + 16*i ...: file i's data
 * Root is ino 1, file i is ino 2 + i. No subdirectories (mkdir: -EPERM).
 */
#include <pyos/fs_env.h>

#define BS 1024
#define NFILES 32
#define EXTENT 16
#define NAMELEN 20

struct entry { char name[NAMELEN]; uint32_t unused; uint32_t size; uint32_t pad; };

static struct entry *dir_entries(struct fs_mount *m, struct buf **b)
{
    *b = bread(m->dev, 1, BS);
    return *b ? (struct entry *)(*b)->data : NULL;
}

static int find(struct fs_mount *m, const char *name, size_t len)
{
    struct buf *b;
    struct entry *e = dir_entries(m, &b);
    if (!e)
        return -EIO;
    int found = -ENOENT;
    for (int i = 0; i < NFILES && found < 0; i++)
        if (e[i].name[0] && len < NAMELEN && !memcmp(e[i].name, name, len) && !e[i].name[len])
            found = i;
    brelse(b);
    return found;
}

static int tiny_mount(struct fs_mount *m)
{
    struct buf *b = bread(m->dev, 0, BS);
    if (!b)
        return -EIO;
    int ok = !memcmp(b->data, "TINYFS01", 8);
    uint32_t blocks;
    memcpy(&blocks, b->data + 8, 4);
    brelse(b);
    if (!ok)
        return -EINVAL;
    if (blocks < 2 + NFILES * EXTENT || blocks * 2ULL > m->dev->sectors) {
        printk("tinyfs: bad block count %u\n", blocks);
        return -EIO;
    }
    int err;
    if (!(m->root = vnode_get(m, 1, &err)))
        return err;
    return 0;
}

static int tiny_unmount(struct fs_mount *m) { (void)m; return 0; }
static int tiny_sync(struct fs_mount *m) { (void)m; return 0; }

static int tiny_statfs(struct fs_mount *m, struct fs_statfs *out)
{
    struct buf *b;
    struct entry *e = dir_entries(m, &b);
    if (!e)
        return -EIO;
    uint64_t used = 0;
    for (int i = 0; i < NFILES; i++)
        used += e[i].name[0] != 0;
    brelse(b);
    memset(out, 0, sizeof *out);   /* fs.h: every byte is the plugin's (type NUL-padded) */
    out->block_size = BS;
    out->blocks = NFILES * EXTENT;
    out->blocks_free = (NFILES - used) * EXTENT;
    out->files = NFILES;
    out->files_free = NFILES - used;
    strncpy_z(out->type, "tinyfs", sizeof out->type);
    return 0;
}

static int tiny_read_vnode(struct vnode *v)
{
    if (v->ino == 1) {
        v->mode = S_IFDIR | 0755;
        return 0;
    }
    if (v->ino < 2 || v->ino >= 2 + NFILES)
        return -ENOENT;
    v->mode = S_IFREG | 0644;
    return 0;
}

static void tiny_release(struct vnode *v) { (void)v; }

static int tiny_lookup(struct vnode *dir, const char *name, size_t len, struct vnode **out)
{
    int i = find(dir->mount, name, len);
    if (i < 0)
        return i;
    int err;
    return (*out = vnode_get(dir->mount, 2 + (uint64_t)i, &err)) ? 0 : err;
}

static int entry_op(struct vnode *v, int write, uint32_t *size)
{
    struct buf *b;
    struct entry *e = dir_entries(v->mount, &b);
    if (!e)
        return -EIO;
    if (write) {
        e[v->ino - 2].size = *size;
        bdirty(b);
    } else {
        *size = e[v->ino - 2].size;
    }
    brelse(b);
    return 0;
}

static int tiny_stat(struct vnode *v, struct fs_stat *out)
{
    uint32_t size = 0;
    if (v->ino != 1 && entry_op(v, 0, &size) < 0)
        return -EIO;
    memset(out, 0, sizeof *out);
    out->ino = v->ino;
    out->mode = v->mode;
    out->nlink = 1;
    out->size = size;
    out->blocks = (size + 511) / 512;
    out->blksize = BS;
    return 0;
}

static int64_t tiny_rw(struct vnode *v, uint64_t off, void *buf, size_t n, int write)
{
    if (v->ino == 1)
        return -EISDIR;
    uint32_t size;
    if (entry_op(v, 0, &size) < 0)
        return -EIO;
    if (write && off + n > EXTENT * BS)
        return -ENOSPC;
    if (!write) {
        if (off >= size)
            return 0;
        if (off + n > size)
            n = size - off;
    }
    size_t done = 0;
    while (done < n) {
        uint64_t pos = off + done;
        struct buf *b = bread(v->mount->dev, 2 + (v->ino - 2) * EXTENT + pos / BS, BS);
        if (!b)
            return -EIO;
        size_t k = BS - pos % BS < n - done ? BS - pos % BS : n - done;
        if (write) {
            memcpy(b->data + pos % BS, (const char *)buf + done, k);
            bdirty(b);
        } else {
            memcpy((char *)buf + done, b->data + pos % BS, k);
        }
        brelse(b);
        done += k;
    }
    if (write && off + n > size) {
        size = (uint32_t)(off + n);
        entry_op(v, 1, &size);
    }
    return (int64_t)n;
}

static int64_t tiny_read(struct vnode *v, uint64_t off, void *buf, size_t n) { return tiny_rw(v, off, buf, n, 0); }
static int64_t tiny_write(struct vnode *v, uint64_t off, const void *buf, size_t n)
{
    return tiny_rw(v, off, (void *)buf, n, 1);
}

static int tiny_truncate(struct vnode *v, uint64_t size)
{
    if (size > EXTENT * BS)
        return -ENOSPC;
    uint32_t s = (uint32_t)size;
    return entry_op(v, 1, &s);
}

static int tiny_create(struct vnode *dir, const char *name, size_t len, uint32_t mode, struct vnode **out)
{
    if (S_ISDIR(mode))
        return -EPERM;
    if (len >= NAMELEN)
        return -ENAMETOOLONG;
    if (find(dir->mount, name, len) >= 0)
        return -EEXIST;
    struct buf *b;
    struct entry *e = dir_entries(dir->mount, &b);
    if (!e)
        return -EIO;
    int slot = -1;
    for (int i = 0; i < NFILES && slot < 0; i++)
        if (!e[i].name[0])
            slot = i;
    if (slot < 0) {
        brelse(b);
        return -ENOSPC;
    }
    memset(&e[slot], 0, sizeof e[slot]);
    memcpy(e[slot].name, name, len);
    bdirty(b);
    brelse(b);
    int err;
    return (*out = vnode_get(dir->mount, 2 + (uint64_t)slot, &err)) ? 0 : err;
}

static int tiny_unlink(struct vnode *dir, const char *name, size_t len)
{
    int i = find(dir->mount, name, len);
    if (i < 0)
        return i;
    struct buf *b;
    struct entry *e = dir_entries(dir->mount, &b);
    if (!e)
        return -EIO;
    memset(&e[i], 0, sizeof e[i]);
    bdirty(b);
    brelse(b);
    return 0;
}

static int tiny_rmdir(struct vnode *dir, const char *name, size_t len)
{
    int i = find(dir->mount, name, len);
    return i < 0 ? i : -ENOTDIR;
}

static int tiny_rename(struct vnode *od, const char *on, size_t ol, struct vnode *nd, const char *nn, size_t nl)
{
    (void)nd;
    if (nl >= NAMELEN)
        return -ENAMETOOLONG;
    int i = find(od->mount, on, ol);
    if (i < 0)
        return i;
    int j = find(od->mount, nn, nl);
    if (j >= 0 && j != i && tiny_unlink(od, nn, nl) < 0)
        return -EIO;
    struct buf *b;
    struct entry *e = dir_entries(od->mount, &b);
    if (!e)
        return -EIO;
    memset(e[i].name, 0, NAMELEN);
    memcpy(e[i].name, nn, nl);
    bdirty(b);
    brelse(b);
    return 0;
}

static int tiny_readdir(struct vnode *dir, uint64_t *cookie, struct fs_dirent *out)
{
    struct buf *b;
    struct entry *e = dir_entries(dir->mount, &b);
    if (!e)
        return -EIO;
    int r = 0;
    while (*cookie < NFILES && !r) {
        uint64_t i = (*cookie)++;
        if (e[i].name[0]) {
            out->ino = 2 + i;
            out->type = S_IFREG;
            memcpy(out->name, e[i].name, NAMELEN);
            out->name[NAMELEN] = 0;
            out->name_len = (uint32_t)strlen(out->name);
            r = 1;
        }
    }
    brelse(b);
    return r;
}

const struct fs_ops fs_plugin_tinyfs = {
    .interface_version = FS_INTERFACE, .name = "tinyfs",
    .mount = tiny_mount, .unmount = tiny_unmount, .sync = tiny_sync, .statfs = tiny_statfs,
    .read_vnode = tiny_read_vnode, .release = tiny_release, .lookup = tiny_lookup, .stat = tiny_stat,
    .read = tiny_read, .write = tiny_write, .truncate = tiny_truncate, .create = tiny_create,
    .unlink = tiny_unlink, .rmdir = tiny_rmdir, .rename = tiny_rename, .readdir = tiny_readdir,
};
