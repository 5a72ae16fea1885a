/*
 * Filesystem interface (kernel/vfs.c is the other side). Unlike the other
 * subsystems several filesystem plugins may be linked into one kernel
 * (`[kernel] filesystems = ["ext2", "fat32"]`): each defines its ops
 * structure under the symbol fs_plugin_<name>, and the build generates the
 * table fs_plugins[] of those linked in. Mounting a device tries each
 * plugin's mount() in turn; the first that recognises the device wins.
 *
 * Objects: a struct fs_mount per mounted filesystem, a struct vnode per
 * file or directory in use. The VFS owns vnodes (allocation, the cache keyed
 * by (mount, ino), reference counts); the filesystem fills them and keeps its
 * per-file state in v->priv. Everything a plugin may call is in
 * <pyos/fs_env.h>; the host harness provides the same over an image file.
 *
 * Conventions: functions return 0 or a count, or -errno (<pyos/syscall_nr.h>);
 * truncate, create, unlink, rmdir and rename have no count: 0 or -errno
 * (the VFS hands their result to the user as the system call's):
 * -ENOENT, -EEXIST, -ENOTDIR, -EISDIR, -ENOTEMPTY, -ENOSPC, -EIO, -EINVAL,
 * -ENAMETOOLONG, -EROFS. Names are (pointer, length) pairs, never "." or ".."
 * (the VFS resolves those) and never containing '/'. Called with the VFS
 * lock held: a plugin need not be re-entrant.
 */
#ifndef PYOS_FS_H
#define PYOS_FS_H

#include <stddef.h>
#include <stdint.h>
#include <pyos/blk.h>

/* FS_INTERFACE is in <pyos/blk_stats.h> (the VMM reads it through cffi). */
#define FS_NAME_MAX 255

/* File types and permission bits, as POSIX spells them (st_mode). */
#define S_IFMT   0170000
#define S_IFDIR  0040000
#define S_IFCHR  0020000
#define S_IFREG  0100000
#define S_IFIFO  0010000
#define S_ISDIR(m) (((m) & S_IFMT) == S_IFDIR)
#define S_ISREG(m) (((m) & S_IFMT) == S_IFREG)

struct fs_stat {              /* also what stat()/fstat() return to user programs */
    uint64_t ino;
    uint32_t mode;            /* S_IF* | permission bits */
    uint32_t nlink;
    uint64_t size;            /* bytes */
    uint64_t blocks;          /* 512-byte units allocated */
    uint64_t mtime;           /* seconds since the epoch (0 if unknown) */
    uint32_t dev;             /* the mount's index */
    uint32_t blksize;
};

struct fs_statfs {
    uint64_t block_size;
    uint64_t blocks, blocks_free;
    uint64_t files, files_free;      /* inodes (0 if the fs has no such limit) */
    char type[16];                   /* the plugin's name */
};

struct fs_dirent {                   /* one readdir() result */
    uint64_t ino;
    uint32_t type;                   /* S_IFDIR, S_IFREG, ... (0 unknown) */
    uint32_t name_len;
    char name[FS_NAME_MAX + 1];      /* NUL-terminated */
};

struct fs_mount;

struct vnode {
    struct fs_mount *mount;
    uint64_t ino;             /* the filesystem's identity for the file */
    uint32_t mode;            /* kept current by the filesystem */
    void *priv;               /* the filesystem's per-file state */
    /* the VFS's own fields */
    uint32_t refs;
    struct vnode *hash_next;
};

struct fs_mount {
    const struct fs_ops *ops;
    struct blkdev *dev;
    struct vnode *root;       /* set by mount() (with vnode_get) */
    void *priv;               /* the filesystem's per-mount state */
    int readonly;
    uint32_t index;
};

struct fs_ops {
    uint32_t interface_version;    /* FS_INTERFACE */
    const char *name;              /* "ext2", "fat32" */
    /* Recognise and mount m->dev: 0, or -EINVAL when the device does not hold
     * this filesystem (the VFS then tries the next plugin), or another -errno
     * with a printk saying why (e.g. an ext2 incompatible feature, named). */
    int (*mount)(struct fs_mount *m);
    int (*unmount)(struct fs_mount *m);     /* after sync(); free m->priv */
    int (*sync)(struct fs_mount *m);        /* metadata into the buffer cache (the VFS then blk_sync()s) */
    /* Fill every byte of out: 0 for a count the fs does not keep, type
     * NUL-padded (the VFS copies it to user programs as it is). */
    int (*statfs)(struct fs_mount *m, struct fs_statfs *out);
    /* Fill a fresh vnode for v->ino (v->mode, v->priv): called by vnode_get on a cache miss. */
    int (*read_vnode)(struct vnode *v);
    /* The last reference went away: free v->priv; if the file has no links
     * left, free its data and inode now. */
    void (*release)(struct vnode *v);
    int (*lookup)(struct vnode *dir, const char *name, size_t len, struct vnode **out);
    int (*stat)(struct vnode *v, struct fs_stat *out);
    int64_t (*read)(struct vnode *v, uint64_t off, void *buf, size_t n);          /* short at EOF */
    /* Extends the file; bytes written (> 0 for n > 0: the VFS hands 0 to the
     * user as "nothing written", and a write loop would retry forever) or -errno. */
    int64_t (*write)(struct vnode *v, uint64_t off, const void *buf, size_t n);
    int (*truncate)(struct vnode *v, uint64_t size);                              /* shrink or grow (zeros) */
    /* Create a regular file (S_IFREG) or directory (S_IFDIR) `name` in dir;
     * -EEXIST if the name exists. *out gets a referenced vnode. */
    int (*create)(struct vnode *dir, const char *name, size_t len, uint32_t mode, struct vnode **out);
    int (*unlink)(struct vnode *dir, const char *name, size_t len);   /* not a directory: -EISDIR */
    int (*rmdir)(struct vnode *dir, const char *name, size_t len);    /* empty directories: -ENOTEMPTY */
    /* Rename within this mount; an existing target file is replaced, an
     * existing empty target directory too (POSIX rename). */
    int (*rename)(struct vnode *olddir, const char *oldname, size_t oldlen,
                  struct vnode *newdir, const char *newname, size_t newlen);
    /* Next entry after *cookie (start at 0; the fs advances it): 1 with *out
     * filled, 0 at the end, or -errno. "." and ".." are not returned. */
    int (*readdir)(struct vnode *dir, uint64_t *cookie, struct fs_dirent *out);
};

/* The plugins linked into this kernel (generated by the build), NULL-terminated. */
extern const struct fs_ops *const fs_plugins[];

#endif
