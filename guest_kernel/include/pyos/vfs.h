/*
 * The VFS's own interface to the rest of the kernel (kernel/vfs.c,
 * kernel/vnode.c). Filesystem plugins use <pyos/fs_env.h> instead.
 *
 * Paths are kernel strings; relative ones start at the current task's cwd.
 * Results are 0 (or a count) or -errno. Every call takes the VFS lock, a
 * sleeping lock: filesystems, the buffer cache and the vnode cache run under
 * it, one task at a time.
 */
#ifndef PYOS_VFS_H
#define PYOS_VFS_H

#include <stddef.h>
#include <stdint.h>
#include <pyos/fs.h>

#define VFS_PATH_MAX 256
#define VFS_MOUNTS 8

struct file;

void vfs_init(void);        /* mount root from the first disk a linked filesystem recognises */
void vfs_shutdown(void);    /* close the caller's files, sync everything: before power-off */

int vfs_open(const char *path, int flags, struct file **out);
void vfs_release(struct file *f);                         /* from file_put */
long vfs_read(struct file *f, void *buf, size_t n);       /* buf: kernel or checked user memory */
long vfs_write(struct file *f, const void *buf, size_t n);
long vfs_pread(struct file *f, uint64_t offset, void *buf, size_t n);   /* f's offset untouched */
long vfs_pwrite(struct file *f, uint64_t offset, const void *buf, size_t n);
long vfs_lseek(struct file *f, int64_t offset, int whence);
long vfs_getdents(struct file *f, void *buf, size_t len); /* struct pyos_dirent records */
int vfs_fstat(struct file *f, struct fs_stat *out);
int vfs_ftruncate(struct file *f, uint64_t size);
int vfs_stat(const char *path, struct fs_stat *out);
int vfs_statfs(const char *path, struct fs_statfs *out);
int vfs_mkdir(const char *path);
int vfs_rmdir(const char *path);
int vfs_unlink(const char *path);
int vfs_rename(const char *oldpath, const char *newpath);
int vfs_truncate(const char *path, uint64_t size);
int vfs_chdir(const char *path);
long vfs_getcwd(char *buf, size_t size);
int vfs_sync(void);
int vfs_mount(const char *devname, const char *path);

/* Vnodes held on mount m (all mounts if NULL): a leak check at unmount. */
uint64_t vnodes_in_use(const struct fs_mount *m);

#endif
