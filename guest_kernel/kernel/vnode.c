/*
 * The vnode cache (pyos/fs_env.h): one struct vnode per file in use, found
 * by (mount, ino) in a hash table, counted by references. A vnode lives
 * exactly as long as someone holds it: when the last reference goes, the
 * filesystem's release() runs (freeing the file if it has no links left)
 * and the vnode is freed. Unheld files are not cached here; their blocks
 * stay in the buffer cache, which is what makes a second lookup cheap.
 *
 * Portable C, compiled into the kernel and into the host fs harness.
 * Callers hold the VFS lock.
 */
#include <pyos/fs_env.h>
#include <pyos/vfs.h>

#define VNODE_HASH 64   /* power of two */

static struct vnode *table[VNODE_HASH];
static uint64_t live;

static unsigned slot(const struct fs_mount *m, uint64_t ino)
{
    return (unsigned)((ino * 0x9E3779B97F4A7C15ULL) >> 40 ^ m->index) & (VNODE_HASH - 1);
}

static void unhash(struct vnode *v)
{
    struct vnode **p = &table[slot(v->mount, v->ino)];
    while (*p && *p != v)
        p = &(*p)->hash_next;
    if (*p)
        *p = v->hash_next;
    v->hash_next = NULL;
}

struct vnode *vnode_get(struct fs_mount *m, uint64_t ino, int *err)
{
    unsigned s = slot(m, ino);
    for (struct vnode *v = table[s]; v; v = v->hash_next)
        if (v->ino == ino && v->mount == m) {
            v->refs++;
            return v;
        }
    struct vnode *v = kmalloc(sizeof *v);
    if (!v) {
        *err = -ENOMEM;
        return NULL;
    }
    memset(v, 0, sizeof *v);
    v->mount = m;
    v->ino = ino;
    v->refs = 1;
    int r = m->ops->read_vnode(v);
    if (r < 0) {
        kfree(v);
        *err = r;
        return NULL;
    }
    v->hash_next = table[s];
    table[s] = v;
    live++;
    return v;
}

void vnode_ref(struct vnode *v)
{
    v->refs++;
}

void vnode_put(struct vnode *v)
{
    if (!v)
        return;
    if (v->refs == 0) {
        printk("vfs: vnode_put of an unreferenced vnode (ino %lu)\n", (unsigned long)v->ino);
        return;
    }
    if (--v->refs)
        return;
    unhash(v);
    live--;
    if (v->mount->ops->release)
        v->mount->ops->release(v);
    kfree(v);
}

void vnode_rekey(struct vnode *v, uint64_t new_ino)
{
    unhash(v);
    v->ino = new_ino;
    unsigned s = slot(v->mount, new_ino);
    v->hash_next = table[s];
    table[s] = v;
}

uint64_t vnodes_in_use(const struct fs_mount *m)
{
    if (!m)
        return live;
    uint64_t n = 0;
    for (int i = 0; i < VNODE_HASH; i++)
        for (struct vnode *v = table[i]; v; v = v->hash_next)
            n += v->mount == m;
    return n;
}
