/*
 * System calls on files and directories (the VFS's side of the ABI):
 * argument checks and copies between user memory and the kernel, then
 * kernel/vfs.c. Every path is copied in whole first (at most VFS_PATH_MAX).
 */
#include <pyos/file.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/syscalls.h>
#include <pyos/task.h>
#include <pyos/user.h>
#include <pyos/vfs.h>

struct file *fd_file(long fd);
long fd_install(struct file *f);

#define UNUSED4(a, b, c, d) ((void)(a), (void)(b), (void)(c), (void)(d))

static long path_in(char *dst, long user)
{
    long n = user_string(dst, (uint64_t)user, VFS_PATH_MAX);
    return n == -EINVAL ? -ENAMETOOLONG : n < 0 ? -EFAULT : 0;
}

long sys_open(long path, long flags, long a2, long a3, long a4, long a5)
{
    UNUSED4(a2, a3, a4, a5);
    char name[VFS_PATH_MAX];
    long r = path_in(name, path);
    if (r < 0)
        return r;
    struct file *f;
    if ((r = vfs_open(name, (int)flags, &f)) < 0)
        return r;
    return fd_install(f);
}

long sys_lseek(long fd, long offset, long whence, long a3, long a4, long a5)
{
    UNUSED4(a3, a4, a5, 0);
    struct file *f = fd_file(fd);
    return f ? vfs_lseek(f, offset, (int)whence) : -EBADF;
}

static long stat_out(long user, struct fs_stat *st)
{
    if (user_range_ok((uint64_t)user, sizeof *st))
        return -EFAULT;
    memcpy((void *)user, st, sizeof *st);
    return 0;
}

long sys_stat(long path, long out, long a2, long a3, long a4, long a5)
{
    UNUSED4(a2, a3, a4, a5);
    char name[VFS_PATH_MAX];
    struct fs_stat st;
    long r = path_in(name, path);
    if (r == 0)
        r = vfs_stat(name, &st);
    return r < 0 ? r : stat_out(out, &st);
}

long sys_fstat(long fd, long out, long a2, long a3, long a4, long a5)
{
    UNUSED4(a2, a3, a4, a5);
    struct file *f = fd_file(fd);
    struct fs_stat st;
    if (!f)
        return -EBADF;
    long r = vfs_fstat(f, &st);
    return r < 0 ? r : stat_out(out, &st);
}

long sys_statfs(long path, long out, long a2, long a3, long a4, long a5)
{
    UNUSED4(a2, a3, a4, a5);
    char name[VFS_PATH_MAX];
    struct fs_statfs st;
    long r = path_in(name, path);
    if (r == 0)
        r = vfs_statfs(name, &st);
    if (r < 0)
        return r;
    if (user_range_ok((uint64_t)out, sizeof st))
        return -EFAULT;
    memcpy((void *)out, &st, sizeof st);
    return 0;
}

static long one_path(long path, int (*fn)(const char *))
{
    char name[VFS_PATH_MAX];
    long r = path_in(name, path);
    return r < 0 ? r : fn(name);
}

long sys_mkdir(long path, long mode, long a2, long a3, long a4, long a5)
{
    UNUSED4(mode, a2, a3, a4);
    (void)a5;
    return one_path(path, vfs_mkdir);
}

long sys_rmdir(long path, long a1, long a2, long a3, long a4, long a5)
{
    UNUSED4(a1, a2, a3, a4);
    (void)a5;
    return one_path(path, vfs_rmdir);
}

long sys_unlink(long path, long a1, long a2, long a3, long a4, long a5)
{
    UNUSED4(a1, a2, a3, a4);
    (void)a5;
    return one_path(path, vfs_unlink);
}

long sys_chdir(long path, long a1, long a2, long a3, long a4, long a5)
{
    UNUSED4(a1, a2, a3, a4);
    (void)a5;
    return one_path(path, vfs_chdir);
}

long sys_rename(long oldpath, long newpath, long a2, long a3, long a4, long a5)
{
    UNUSED4(a2, a3, a4, a5);
    char a[VFS_PATH_MAX], b[VFS_PATH_MAX];
    long r = path_in(a, oldpath);
    if (r == 0)
        r = path_in(b, newpath);
    return r < 0 ? r : vfs_rename(a, b);
}

long sys_getdents(long fd, long buf, long len, long a3, long a4, long a5)
{
    UNUSED4(a3, a4, a5, 0);
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    if (len < 0 || user_range_ok((uint64_t)buf, (uint64_t)len))
        return -EFAULT;
    return vfs_getdents(f, (void *)buf, (size_t)len);
}

long sys_getcwd(long buf, long size, long a2, long a3, long a4, long a5)
{
    UNUSED4(a2, a3, a4, a5);
    if (size < 0 || user_range_ok((uint64_t)buf, (uint64_t)size))
        return -EFAULT;
    return vfs_getcwd((char *)buf, (size_t)size);
}

long sys_sync(long a0, long a1, long a2, long a3, long a4, long a5)
{
    UNUSED4(a0, a1, a2, a3);
    (void)a4, (void)a5;
    return vfs_sync();
}

long sys_truncate(long path, long length, long a2, long a3, long a4, long a5)
{
    UNUSED4(a2, a3, a4, a5);
    char name[VFS_PATH_MAX];
    long r = path_in(name, path);
    if (r == 0 && length < 0)
        r = -EINVAL;
    return r < 0 ? r : vfs_truncate(name, (uint64_t)length);
}

long sys_ftruncate(long fd, long length, long a2, long a3, long a4, long a5)
{
    UNUSED4(a2, a3, a4, a5);
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    return length < 0 ? -EINVAL : vfs_ftruncate(f, (uint64_t)length);
}

long sys_mount(long dev, long path, long a2, long a3, long a4, long a5)
{
    UNUSED4(a2, a3, a4, a5);
    char d[16], name[VFS_PATH_MAX];   /* device names are short: "hda" */
    long r = user_string(d, (uint64_t)dev, sizeof d);
    if (r < 0)
        return r == -EINVAL ? -ENAMETOOLONG : -EFAULT;
    r = path_in(name, path);
    return r < 0 ? r : vfs_mount(d, name);
}
