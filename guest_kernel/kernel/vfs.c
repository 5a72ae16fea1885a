/*
 * The VFS: mounts, path lookup, and open files on filesystems.
 *
 * Paths are made canonical first (the task's cwd prepended, "." and ".."
 * resolved as text: there are no symbolic links), so a filesystem never
 * sees "." or "..", and mounts are found by the longest mount path that
 * prefixes the canonical path: "/", "/dev" (served here: console, null, mouse) and
 * any added with mount(). The rest of the path is walked from that mount's
 * root through the filesystem's lookup(), one component at a time.
 *
 * One sleeping lock (vfs_lock) serialises everything below: filesystem
 * plugins, the buffer cache and the vnode cache need no locks of their own.
 * A task that sleeps inside (waiting for the disk) keeps it; others wait.
 */
#include <pyos/blk.h>
#include <pyos/file.h>
#include <pyos/fs.h>
#include <pyos/fs_env.h>
#include <pyos/kernel.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/task.h>
#include <pyos/timer.h>
#include <pyos/vfs.h>
#include <pyos/x86.h>

_Static_assert(sizeof(struct pyos_stat) == sizeof(struct fs_stat), "pyos_stat and fs_stat differ");
_Static_assert(sizeof(struct pyos_statfs) == sizeof(struct fs_statfs), "pyos_statfs and fs_statfs differ");

struct mount_entry {
    int used;
    char path[VFS_PATH_MAX];   /* canonical: "" for the root, "/mnt" */
    struct fs_mount fs;
};

static struct mount_entry mounts[VFS_MOUNTS];
static int lock_held;

static void vfs_lock(void)
{
    uint64_t flags = irq_save();
    while (lock_held)
        task_block(&lock_held);
    lock_held = 1;
    irq_restore(flags);
}

static void vfs_unlock(void)
{
    uint64_t flags = irq_save();
    lock_held = 0;
    task_wakeup(&lock_held);
    irq_restore(flags);
}

/* The clock filesystems stamp files with: none in hardware here, so a fixed
 * epoch (2025-01-01) plus the uptime: monotonic, and never in the future. */
uint64_t fs_time_now(void)
{
    return 1735689600ULL + (timer_hz ? ticks / timer_hz : 0);
}

/* ---- paths ---------------------------------------------------------- */

/* `path` made absolute and canonical in out[VFS_PATH_MAX]: "" is the root. */
static int canonical(const char *path, char *out)
{
    size_t n = 0;
    if (!path[0])
        return -ENOENT;
    if (path[0] != '/' && current && current->cwd[0]) {
        n = strlen(current->cwd);
        memcpy(out, current->cwd, n);
    }
    out[n] = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || (len == 1 && start[0] == '.'))
            continue;
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;            /* drop the slash too */
            out[n] = 0;
            continue;
        }
        if (len > FS_NAME_MAX || n + 1 + len >= VFS_PATH_MAX)
            return -ENAMETOOLONG;
        out[n++] = '/';
        memcpy(out + n, start, len);
        n += len;
        out[n] = 0;
    }
    return 0;
}

static int is_prefix(const char *mount_path, const char *path)
{
    size_t n = strlen(mount_path);
    return strncmp(mount_path, path, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static int is_dev(const char *path)
{
    return is_prefix("/dev", path);
}

/* The mount holding canonical `path` and the rest of the path within it. */
static struct mount_entry *find_mount(const char *path, const char **rest)
{
    struct mount_entry *best = NULL;
    for (int i = 0; i < VFS_MOUNTS; i++)
        if (mounts[i].used && is_prefix(mounts[i].path, path) &&
            (!best || strlen(mounts[i].path) > strlen(best->path)))
            best = &mounts[i];
    if (best)
        *rest = path + strlen(best->path);
    return best;
}

/* Walk `rest` ("/a/b" or "") from the mount's root: the vnode, referenced. */
static int walk(struct fs_mount *m, const char *rest, struct vnode **out)
{
    struct vnode *v = m->root;
    vnode_ref(v);
    const char *p = rest;
    while (*p) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        if (p == start)
            continue;
        struct vnode *next;
        int r = S_ISDIR(v->mode) ? m->ops->lookup(v, start, (size_t)(p - start), &next) : -ENOTDIR;
        vnode_put(v);
        if (r < 0)
            return r;
        v = next;
    }
    *out = v;
    return 0;
}

/* canonical path → its mount and vnode (referenced). */
static int resolve(const char *canon, struct mount_entry **mp, struct vnode **out)
{
    const char *rest;
    struct mount_entry *me = find_mount(canon, &rest);
    if (!me)
        return -ENOENT;
    *mp = me;
    return walk(&me->fs, rest, out);
}

/* The parent directory of canonical `canon` (referenced) and the last name. */
static int resolve_parent(const char *canon, struct mount_entry **mp, struct vnode **dir,
                          const char **name, size_t *len)
{
    char parent[VFS_PATH_MAX];
    size_t n = strlen(canon);
    if (n == 0)
        return -EBUSY;                    /* the root itself */
    size_t slash = n;
    while (canon[slash - 1] != '/')
        slash--;
    *name = canon + slash;
    *len = n - slash;
    memcpy(parent, canon, slash - 1);
    parent[slash - 1] = 0;
    const char *rest;
    struct mount_entry *me = find_mount(parent, &rest);
    if (!me)
        return -ENOENT;
    if (find_mount(canon, &rest) != me)
        return -EBUSY;                    /* canon is itself a mount point */
    int r = walk(&me->fs, parent + strlen(me->path), dir);
    if (r == 0 && !S_ISDIR((*dir)->mode)) {
        vnode_put(*dir);
        return -ENOTDIR;
    }
    *mp = me;
    return r;
}

/* ---- /dev ----------------------------------------------------------- */

static const char *const dev_names[] = {"console", "null", "mouse"};  /* mouse: kernel/file.c's input hook */

static int dev_known(const char *canon)
{
    for (uint64_t i = 0; i < ARRAY_SIZE(dev_names); i++)
        if (!strcmp(canon + 5, dev_names[i]))
            return 1;
    return 0;
}

static int dev_open(const char *canon, int flags, struct file **out)
{
    if (!strcmp(canon, "/dev")) {
        if ((flags & O_ACCMODE) != O_RDONLY)
            return -EISDIR;
        *out = file_new(FILE_DIR_DEV, NULL);
    } else {
        if (flags & O_DIRECTORY)
            return -ENOTDIR;
        if (strncmp(canon, "/dev/", 5) || !dev_known(canon))
            return (flags & O_CREAT) ? -EROFS : -ENOENT;
        *out = file_open(canon);
        if (!*out && !strcmp(canon, "/dev/mouse"))
            return -ENODEV;  /* no PS/2 mouse answered at boot */
    }
    if (!*out)
        return -ENOMEM;
    (*out)->flags = flags;
    return 0;
}

static int dev_stat(const char *canon, struct fs_stat *out)
{
    memset(out, 0, sizeof *out);
    if (!strcmp(canon, "/dev")) {
        out->mode = S_IFDIR | 0755;
        out->nlink = 2;
        return 0;
    }
    for (uint64_t i = 0; i < ARRAY_SIZE(dev_names); i++)
        if (!strcmp(canon + 5, dev_names[i])) {
            out->mode = S_IFCHR | 0666;
            out->nlink = 1;
            out->ino = i + 1;
            return 0;
        }
    return -ENOENT;
}

/* ---- mounting ------------------------------------------------------- */

/* Try each linked filesystem on dev; 0 and m filled, or -errno. */
static int mount_device(struct blkdev *dev, struct mount_entry *me, uint32_t index)
{
    int r = -EINVAL;
    for (const struct fs_ops *const *p = fs_plugins; *p; p++) {
        memset(&me->fs, 0, sizeof me->fs);
        me->fs.ops = *p;
        me->fs.dev = dev;
        me->fs.readonly = dev->readonly;
        me->fs.index = index;
        r = (*p)->mount(&me->fs);
        if (r == 0 && !me->fs.root) {
            printk("vfs: %s: filesystem '%s' mounted without a root\n", dev->name, (*p)->name);
            r = -EIO;
        }
        if (r != -EINVAL)
            return r;
    }
    return r;
}

static struct mount_entry *free_mount(uint32_t *index)
{
    for (int i = 0; i < VFS_MOUNTS; i++)
        if (!mounts[i].used) {
            *index = (uint32_t)i;
            return &mounts[i];
        }
    return NULL;
}

static int mounted_dev(struct blkdev *dev)
{
    for (int i = 0; i < VFS_MOUNTS; i++)
        if (mounts[i].used && mounts[i].fs.dev == dev)
            return 1;
    return 0;
}

int vfs_mount(const char *devname, const char *path)
{
    char canon[VFS_PATH_MAX];
    int r = canonical(path, canon);
    if (r < 0)
        return r;
    struct blkdev *dev = blk_find(devname);
    if (!dev)
        return -ENODEV;
    if (is_dev(canon))
        return -EBUSY;
    vfs_lock();
    uint32_t index = 0;
    struct mount_entry *me = free_mount(&index), *on;
    struct vnode *v = NULL;
    if (mounted_dev(dev))
        r = -EBUSY;
    else if (!me)
        r = -ENOSPC;
    else if (canon[0]) {                 /* not the root: an existing directory */
        if ((r = resolve(canon, &on, &v)) == 0) {
            r = S_ISDIR(v->mode) ? 0 : -ENOTDIR;
            vnode_put(v);
        }
        if (r == 0 && !strcmp(on->path, canon))
            r = -EBUSY;
    } else if (find_mount("", &path)) {
        r = -EBUSY;
    }
    if (r == 0 && (r = mount_device(dev, me, index)) == 0) {
        me->used = 1;
        strncpy_z(me->path, canon, sizeof me->path);
        printk("vfs: %s (%s) mounted on %s%s\n", dev->name, me->fs.ops->name, canon[0] ? canon : "/",
               me->fs.readonly ? " read-only" : "");
    }
    vfs_unlock();
    return r;
}

void vfs_init(void)
{
    int names = 0;
    for (const struct fs_ops *const *p = fs_plugins; *p; p++)
        names++;
    if (!names) {
        printk("vfs: no filesystems linked in; / holds only /dev\n");
        return;
    }
    struct blkdev *dev;
    for (int i = 0; (dev = blk_get(i)); i++) {
        int r = vfs_mount(dev->name, "/");
        if (r == 0)
            break;
        printk("vfs: %s: no root filesystem there (%s)\n", dev->name,
               r == -EINVAL ? "no linked filesystem recognises it" : "mount failed");
    }
    char value[64];
    if (cmdline_get("mount", value, sizeof value)) {   /* mount=hdb:/mnt */
        char *colon = value;
        while (*colon && *colon != ':')
            colon++;
        if (*colon) {
            *colon = 0;
            int r = vfs_mount(value, colon + 1);
            if (r < 0)
                printk("vfs: mount %s on %s failed (error %d)\n", value, colon + 1, -r);
        }
    }
}

int vfs_sync(void)
{
    vfs_lock();
    int r = 0;
    for (int i = 0; i < VFS_MOUNTS; i++)
        if (mounts[i].used && !mounts[i].fs.readonly && mounts[i].fs.ops->sync &&
            mounts[i].fs.ops->sync(&mounts[i].fs) < 0)
            r = -EIO;
    if (blk_sync(NULL) < 0)
        r = -EIO;
    vfs_unlock();
    return r;
}

void vfs_shutdown(void)
{
    static int done;
    if (done++)
        return;
    if (task_can_block())
        files_close_all(current);
    int any = 0;
    for (int i = 0; i < VFS_MOUNTS; i++)
        any |= mounts[i].used;
    if (!any)
        return;
    int r = vfs_sync();
    printk("vfs: synced for power-off%s\n", r < 0 ? " (with errors)" : "");
}

/* ---- open files ----------------------------------------------------- */

static int writable(int flags) { return (flags & O_ACCMODE) != O_RDONLY; }

int vfs_open(const char *path, int flags, struct file **out)
{
    char canon[VFS_PATH_MAX];
    int r = canonical(path, canon);
    if (r < 0)
        return r;
    if ((flags & O_ACCMODE) == O_ACCMODE)
        return -EINVAL;
    if (is_dev(canon))
        return dev_open(canon, flags, out);
    vfs_lock();
    struct mount_entry *me;
    struct vnode *v = NULL;
    r = resolve(canon, &me, &v);
    if (r == -ENOENT && !canon[0]) {      /* no root filesystem: an empty "/" */
        r = writable(flags) ? -EISDIR : 0;
        if (r == 0 && !(*out = file_new(FILE_DIR_ROOT, NULL)))
            r = -ENOMEM;
        vfs_unlock();
        return r;
    }
    if (r == -ENOENT && (flags & O_CREAT)) {
        struct vnode *dir;
        const char *name;
        size_t len;
        if ((r = resolve_parent(canon, &me, &dir, &name, &len)) == 0) {
            r = me->fs.readonly ? -EROFS : me->fs.ops->create(dir, name, len, S_IFREG | 0644, &v);
            vnode_put(dir);
        }
    } else if (r == 0 && (flags & O_CREAT) && (flags & O_EXCL)) {
        r = -EEXIST;
    } else if (r == 0 && S_ISDIR(v->mode) && (writable(flags) || (flags & O_TRUNC))) {
        r = -EISDIR;
    } else if (r == 0 && !S_ISDIR(v->mode) && (flags & O_DIRECTORY)) {
        r = -ENOTDIR;
    } else if (r == 0 && (writable(flags) || (flags & O_TRUNC)) && me->fs.readonly) {
        r = -EROFS;
    } else if (r == 0 && (flags & O_TRUNC)) {
        r = me->fs.ops->truncate(v, 0);
    }
    struct file *f = NULL;
    if (r == 0 && !(f = file_new(FILE_VNODE, NULL)))
        r = -ENOMEM;
    if (r < 0) {
        if (v)
            vnode_put(v);
    } else {
        f->vnode = v;
        f->flags = flags;
        *out = f;
    }
    vfs_unlock();
    return r;
}

void vfs_release(struct file *f)
{
    vfs_lock();
    vnode_put(f->vnode);
    f->vnode = NULL;
    vfs_unlock();
}

long vfs_read(struct file *f, void *buf, size_t n)
{
    if ((f->flags & O_ACCMODE) == O_WRONLY)
        return -EBADF;
    vfs_lock();
    struct vnode *v = f->vnode;
    long r = S_ISDIR(v->mode) ? -EISDIR : v->mount->ops->read(v, f->offset, buf, n);
    if (r > 0)
        f->offset += (uint64_t)r;
    vfs_unlock();
    return r;
}

long vfs_write(struct file *f, const void *buf, size_t n)
{
    if (!writable(f->flags))
        return -EBADF;
    vfs_lock();
    struct vnode *v = f->vnode;
    const struct fs_ops *ops = v->mount->ops;
    long r = 0;
    if (f->flags & O_APPEND) {
        struct fs_stat st;
        if ((r = ops->stat(v, &st)) == 0)
            f->offset = st.size;
    }
    if (r == 0)
        r = ops->write(v, f->offset, buf, n);
    if (r > 0)
        f->offset += (uint64_t)r;
    vfs_unlock();
    return r;
}

long vfs_lseek(struct file *f, int64_t offset, int whence)
{
    if (f->type != FILE_VNODE)
        return f->type == FILE_DIR_DEV || f->type == FILE_DIR_ROOT ? -EINVAL : -ESPIPE;
    vfs_lock();
    int64_t base = 0;
    long r = 0;
    if (whence == SEEK_CUR) {
        base = (int64_t)f->offset;
    } else if (whence == SEEK_END) {
        struct fs_stat st;
        r = f->vnode->mount->ops->stat(f->vnode, &st);
        base = (int64_t)st.size;
    } else if (whence != SEEK_SET) {
        r = -EINVAL;
    }
    if (r == 0 && (base + offset < 0 || S_ISDIR(f->vnode->mode)))
        r = -EINVAL;
    if (r == 0) {
        f->offset = (uint64_t)(base + offset);
        r = (long)f->offset;
    }
    vfs_unlock();
    return r;
}

static void fill_dirent(struct pyos_dirent *d, uint64_t ino, uint32_t type, const char *name, size_t len)
{
    d->ino = ino;
    d->type = type;
    d->name_len = (uint32_t)len;
    memcpy(d->name, name, len);
    d->name[len] = 0;
}

long vfs_getdents(struct file *f, void *buf, size_t len)
{
    struct pyos_dirent *out = buf;
    size_t max = len / sizeof *out, n = 0;
    if (max == 0)
        return -EINVAL;
    if (f->type == FILE_DIR_DEV) {
        for (; f->offset < ARRAY_SIZE(dev_names) && n < max; f->offset++, n++)
            fill_dirent(&out[n], f->offset + 1, S_IFCHR, dev_names[f->offset], strlen(dev_names[f->offset]));
        return (long)(n * sizeof *out);
    }
    if (f->type == FILE_DIR_ROOT) {
        if (f->offset == 0) {
            fill_dirent(&out[n++], 1, S_IFDIR, "dev", 3);
            f->offset = 1;
        }
        return (long)(n * sizeof *out);
    }
    if (f->type != FILE_VNODE)
        return -ENOTDIR;
    vfs_lock();
    struct vnode *v = f->vnode;
    long r = 0;
    if (!S_ISDIR(v->mode)) {
        r = -ENOTDIR;
    } else {
        static struct fs_dirent e;   /* under the lock */
        while (n < max) {
            uint64_t cookie = f->offset;
            int got = v->mount->ops->readdir(v, &cookie, &e);
            if (got < 0) {
                r = got;
                break;
            }
            if (got == 0)
                break;
            f->offset = cookie;
            fill_dirent(&out[n++], e.ino, e.type, e.name, e.name_len < FS_NAME_MAX ? e.name_len : FS_NAME_MAX);
        }
    }
    vfs_unlock();
    return n ? (long)(n * sizeof *out) : r;
}

int vfs_fstat(struct file *f, struct fs_stat *out)
{
    memset(out, 0, sizeof *out);
    switch (f->type) {
    case FILE_VNODE: {
        vfs_lock();
        int r = f->vnode->mount->ops->stat(f->vnode, out);
        out->dev = f->vnode->mount->index;
        vfs_unlock();
        return r;
    }
    case FILE_DIR_DEV:
    case FILE_DIR_ROOT:
        out->mode = S_IFDIR | 0755;
        out->nlink = 2;
        return 0;
    case FILE_PIPE_READ:
    case FILE_PIPE_WRITE:
        out->mode = S_IFIFO | 0600;
        out->nlink = 1;
        return 0;
    default:
        out->mode = S_IFCHR | 0666;
        out->nlink = 1;
        return 0;
    }
}

int vfs_ftruncate(struct file *f, uint64_t size)
{
    if (f->type != FILE_VNODE || !writable(f->flags))
        return f->type == FILE_VNODE ? -EBADF : -EINVAL;
    vfs_lock();
    struct vnode *v = f->vnode;
    int r = S_ISDIR(v->mode) ? -EISDIR : v->mount->readonly ? -EROFS : v->mount->ops->truncate(v, size);
    vfs_unlock();
    return r;
}

/* ---- calls by path -------------------------------------------------- */

int vfs_stat(const char *path, struct fs_stat *out)
{
    char canon[VFS_PATH_MAX];
    int r = canonical(path, canon);
    if (r < 0)
        return r;
    if (is_dev(canon))
        return dev_stat(canon, out);
    vfs_lock();
    struct mount_entry *me;
    struct vnode *v;
    r = resolve(canon, &me, &v);
    if (r == 0) {
        memset(out, 0, sizeof *out);
        r = me->fs.ops->stat(v, out);
        out->dev = me->fs.index;
        vnode_put(v);
    } else if (r == -ENOENT && !canon[0]) {
        memset(out, 0, sizeof *out);
        out->mode = S_IFDIR | 0755;
        out->nlink = 2;
        r = 0;
    }
    vfs_unlock();
    return r;
}

int vfs_statfs(const char *path, struct fs_statfs *out)
{
    char canon[VFS_PATH_MAX];
    int r = canonical(path, canon);
    if (r < 0)
        return r;
    memset(out, 0, sizeof *out);
    if (is_dev(canon)) {
        strncpy_z(out->type, "devfs", sizeof out->type);
        return 0;
    }
    vfs_lock();
    struct mount_entry *me;
    struct vnode *v;
    if ((r = resolve(canon, &me, &v)) == 0) {
        vnode_put(v);
        r = me->fs.ops->statfs(&me->fs, out);
    }
    vfs_unlock();
    return r;
}

enum name_op { OP_MKDIR, OP_RMDIR, OP_UNLINK };

static int by_name(const char *path, enum name_op op)
{
    char canon[VFS_PATH_MAX];
    int r = canonical(path, canon);
    if (r < 0)
        return r;
    if (is_dev(canon))
        return op == OP_MKDIR && !strcmp(canon, "/dev") ? -EEXIST : -EROFS;
    vfs_lock();
    struct mount_entry *me;
    struct vnode *dir, *v;
    const char *name;
    size_t len;
    if ((r = resolve_parent(canon, &me, &dir, &name, &len)) == 0) {
        if (me->fs.readonly)
            r = -EROFS;
        else if (op == OP_MKDIR && (r = me->fs.ops->create(dir, name, len, S_IFDIR | 0755, &v)) == 0)
            vnode_put(v);
        else if (op == OP_RMDIR)
            r = me->fs.ops->rmdir(dir, name, len);
        else if (op == OP_UNLINK)
            r = me->fs.ops->unlink(dir, name, len);
        vnode_put(dir);
    }
    vfs_unlock();
    return r;
}

int vfs_mkdir(const char *path) { return by_name(path, OP_MKDIR); }
int vfs_rmdir(const char *path) { return by_name(path, OP_RMDIR); }
int vfs_unlink(const char *path) { return by_name(path, OP_UNLINK); }

int vfs_rename(const char *oldpath, const char *newpath)
{
    char a[VFS_PATH_MAX], b[VFS_PATH_MAX];
    int r = canonical(oldpath, a);
    if (r == 0)
        r = canonical(newpath, b);
    if (r < 0)
        return r;
    if (is_dev(a) || is_dev(b))
        return -EXDEV;
    if (is_prefix(a, b))                  /* into itself (or onto itself) */
        return strcmp(a, b) ? -EINVAL : 0;
    vfs_lock();
    struct mount_entry *ma, *mb;
    struct vnode *da, *db;
    const char *na, *nb;
    size_t la, lb;
    if ((r = resolve_parent(a, &ma, &da, &na, &la)) == 0) {
        if ((r = resolve_parent(b, &mb, &db, &nb, &lb)) == 0) {
            if (ma != mb)
                r = -EXDEV;
            else if (ma->fs.readonly)
                r = -EROFS;
            else
                r = ma->fs.ops->rename(da, na, la, db, nb, lb);
            vnode_put(db);
        }
        vnode_put(da);
    }
    vfs_unlock();
    return r;
}

int vfs_truncate(const char *path, uint64_t size)
{
    char canon[VFS_PATH_MAX];
    int r = canonical(path, canon);
    if (r < 0)
        return r;
    if (is_dev(canon))
        return -EINVAL;
    vfs_lock();
    struct mount_entry *me;
    struct vnode *v;
    if ((r = resolve(canon, &me, &v)) == 0) {
        r = S_ISDIR(v->mode) ? -EISDIR : me->fs.readonly ? -EROFS : me->fs.ops->truncate(v, size);
        vnode_put(v);
    }
    vfs_unlock();
    return r;
}

int vfs_chdir(const char *path)
{
    char canon[VFS_PATH_MAX];
    struct fs_stat st;
    int r = canonical(path, canon);
    if (r == 0)
        r = vfs_stat(canon[0] ? canon : "/", &st);
    if (r == 0 && !S_ISDIR(st.mode))
        r = -ENOTDIR;
    if (r == 0)
        strncpy_z(current->cwd, canon, sizeof current->cwd);
    return r;
}

long vfs_getcwd(char *buf, size_t size)
{
    const char *cwd = current->cwd[0] ? current->cwd : "/";
    size_t n = strlen(cwd);
    if (n + 1 > size)
        return -ERANGE;
    memcpy(buf, cwd, n + 1);
    return (long)n;
}

/* At an offset, leaving the file's own offset alone: the page cache and
 * MAP_SHARED write-back (kernel/pagecache.c, vm.c) read and write through these. */
long vfs_pread(struct file *f, uint64_t offset, void *buf, size_t n)
{
    vfs_lock();
    struct vnode *v = f->vnode;
    long r = S_ISDIR(v->mode) ? -EISDIR : v->mount->ops->read(v, offset, buf, n);
    vfs_unlock();
    return r;
}

long vfs_pwrite(struct file *f, uint64_t offset, const void *buf, size_t n)
{
    if (!writable(f->flags))
        return -EBADF;
    vfs_lock();
    struct vnode *v = f->vnode;
    long r = v->mount->ops->write(v, offset, buf, n);
    vfs_unlock();
    return r;
}
