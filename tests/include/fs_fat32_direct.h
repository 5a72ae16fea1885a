/*
 * What the C tests that drive the fat32 plugin's fs_ops directly share
 * (tests/fs_fat32_open.c, tests/fs_fat32_positions.c,
 * tests/fs_fat32_failures.c): the harness's host
 * environment they link against, the mount, CHECK, and lookup and create by
 * name. Built by tests/test_fs_fat32.py's build_open_test.
 */
#ifndef FS_FAT32_DIRECT_H
#define FS_FAT32_DIRECT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <pyos/blk.h>
#include <pyos/fs.h>
#include <pyos/syscall_nr.h>

struct vnode *vnode_get(struct fs_mount *m, uint64_t ino, int *err);
void vnode_ref(struct vnode *v);
void vnode_put(struct vnode *v);
struct blkdev *harness_open_image(const char *path, int readonly);
extern const struct fs_ops fs_plugin_fat32;

static struct fs_mount mnt;
static const struct fs_ops *ops = &fs_plugin_fat32;
static int failures;

#define CHECK(cond) do { if (!(cond)) { printf("FAIL line %d: %s\n", __LINE__, #cond); failures++; } } while (0)

/* Mounts the image named by the only argument (writable): 0, or 2 for a usage or mount error. */
static int mount_argv(int argc, char **argv)
{
    if (argc != 2 || !(mnt.dev = harness_open_image(argv[1], 0)))
        return 2;
    mnt.ops = ops;
    return ops->mount(&mnt) == 0 ? 0 : 2;
}

static struct vnode *look(struct vnode *dir, const char *name)
{
    struct vnode *v = NULL;
    return ops->lookup(dir, name, strlen(name), &v) == 0 ? v : NULL;
}

static struct vnode *make(struct vnode *dir, const char *name, uint32_t mode)
{
    struct vnode *v = NULL;
    int r = ops->create(dir, name, strlen(name), mode, &v);
    if (r < 0)
        printf("create %s: %d\n", name, r);
    return r == 0 ? v : NULL;
}

/* n regular files in dir, named by fmt (one %d: 0 .. n-1), each created and let go. */
static void make_numbered(struct vnode *dir, const char *fmt, int n)
{
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, fmt, i);
        struct vnode *v = make(dir, name, S_IFREG | 0644);
        CHECK(v != NULL);
        if (v)
            vnode_put(v);
    }
}

/* A test's end: the root released, the volume unmounted and flushed, "ok"
 * printed when no check failed; main's exit status. */
static int finish(struct vnode *root)
{
    vnode_put(root);
    CHECK(ops->unmount(&mnt) == 0);
    blk_sync(mnt.dev);
    if (!failures)
        printf("ok\n");
    return failures ? 1 : 0;
}

#endif
