/* System-call wrappers, printf, and malloc over brk. */
#include <pyos_user.h>

long write(int fd, const void *buf, size_t len) { return pyos_syscall(SYS_write, fd, (long)buf, (long)len, 0, 0); }
long read(int fd, void *buf, size_t len) { return pyos_syscall(SYS_read, fd, (long)buf, (long)len, 0, 0); }
void exit(int status)
{
    pyos_syscall(SYS_exit, status, 0, 0, 0, 0);
    for (;;)
        ;
}
int getpid(void) { return (int)pyos_syscall(SYS_getpid, 0, 0, 0, 0, 0); }
int spawn(const char *path, const char *const argv[]) { return (int)pyos_syscall(SYS_spawn, (long)path, (long)argv, 0, 0, 0); }
int wait(int pid, int *status) { return (int)pyos_syscall(SYS_wait, pid, (long)status, 0, 0, 0); }
int sleep_ms(long ms) { return (int)pyos_syscall(SYS_sleep, ms, 0, 0, 0, 0); }
int yield(void) { return (int)pyos_syscall(SYS_yield, 0, 0, 0, 0, 0); }
int open(const char *path, int flags) { return (int)pyos_syscall(SYS_open, (long)path, flags, 0, 0, 0); }
int close(int fd) { return (int)pyos_syscall(SYS_close, fd, 0, 0, 0, 0); }
int dup(int fd) { return (int)pyos_syscall(SYS_dup, fd, 0, 0, 0, 0); }
int pipe(int fds[2]) { return (int)pyos_syscall(SYS_pipe, (long)fds, 0, 0, 0, 0); }
int setpriority(int pid, int priority) { return (int)pyos_syscall(SYS_setpriority, pid, priority, 0, 0, 0); }
int sysinfo(struct pyos_sysinfo *info) { return (int)pyos_syscall(SYS_sysinfo, (long)info, 0, 0, 0, 0); }
long uptime(void) { return pyos_syscall(SYS_uptime, 0, 0, 0, 0, 0); }
long lseek(int fd, long offset, int whence) { return pyos_syscall(SYS_lseek, fd, offset, whence, 0, 0); }
int stat(const char *path, struct pyos_stat *st) { return (int)pyos_syscall(SYS_stat, (long)path, (long)st, 0, 0, 0); }
int fstat(int fd, struct pyos_stat *st) { return (int)pyos_syscall(SYS_fstat, fd, (long)st, 0, 0, 0); }
int statfs(const char *path, struct pyos_statfs *st) { return (int)pyos_syscall(SYS_statfs, (long)path, (long)st, 0, 0, 0); }
int mkdir(const char *path, int mode) { return (int)pyos_syscall(SYS_mkdir, (long)path, mode, 0, 0, 0); }
int rmdir(const char *path) { return (int)pyos_syscall(SYS_rmdir, (long)path, 0, 0, 0, 0); }
int unlink(const char *path) { return (int)pyos_syscall(SYS_unlink, (long)path, 0, 0, 0, 0); }
int rename(const char *a, const char *b) { return (int)pyos_syscall(SYS_rename, (long)a, (long)b, 0, 0, 0); }
long getdents(int fd, struct pyos_dirent *buf, size_t bytes) { return pyos_syscall(SYS_getdents, fd, (long)buf, (long)bytes, 0, 0); }
int chdir(const char *path) { return (int)pyos_syscall(SYS_chdir, (long)path, 0, 0, 0, 0); }
long getcwd(char *buf, size_t size) { return pyos_syscall(SYS_getcwd, (long)buf, (long)size, 0, 0, 0); }
int sync(void) { return (int)pyos_syscall(SYS_sync, 0, 0, 0, 0, 0); }
int truncate(const char *path, long length) { return (int)pyos_syscall(SYS_truncate, (long)path, length, 0, 0, 0); }
int ftruncate(int fd, long length) { return (int)pyos_syscall(SYS_ftruncate, fd, length, 0, 0, 0); }
int mount(const char *dev, const char *path) { return (int)pyos_syscall(SYS_mount, (long)dev, (long)path, 0, 0, 0); }
int fork(void) { return (int)pyos_syscall(SYS_fork, 0, 0, 0, 0, 0); }
int execve(const char *path, char *const argv[], char *const envp[])
{
    return (int)pyos_syscall(SYS_execve, (long)path, (long)argv, (long)envp, 0, 0);
}
int waitpid(int pid, int *status, int options) { return (int)pyos_syscall(SYS_waitpid, pid, (long)status, options, 0, 0); }
int kill(int pid, int sig) { return (int)pyos_syscall(SYS_kill, pid, sig, 0, 0, 0); }
int sigaction(int sig, const struct pyos_sigaction *act, struct pyos_sigaction *old)
{
    return (int)pyos_syscall(SYS_sigaction, sig, (long)act, (long)old, 0, 0);
}
int sigprocmask(int how, const unsigned long *set, unsigned long *old)
{
    return (int)pyos_syscall(SYS_sigprocmask, how, (long)set, (long)old, 0, 0);
}
int setpgid(int pid, int pgid) { return (int)pyos_syscall(SYS_setpgid, pid, pgid, 0, 0, 0); }
int getpgid(int pid) { return (int)pyos_syscall(SYS_getpgid, pid, 0, 0, 0, 0); }
int ioctl(int fd, unsigned long request, void *arg) { return (int)pyos_syscall(SYS_ioctl, fd, (long)request, (long)arg, 0, 0); }
int getppid(void) { return (int)pyos_syscall(SYS_getppid, 0, 0, 0, 0, 0); }
int dup2(int oldfd, int newfd) { return (int)pyos_syscall(SYS_dup2, oldfd, newfd, 0, 0, 0); }
int proclist(struct pyos_procinfo *buf, int count) { return (int)pyos_syscall(SYS_proclist, (long)buf, count, 0, 0, 0); }
void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)
{
    long r = pyos_syscall6(SYS_mmap, (long)addr, (long)length, prot, flags, fd, offset);
    return r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
}
int munmap(void *addr, size_t length) { return (int)pyos_syscall(SYS_munmap, (long)addr, (long)length, 0, 0, 0); }
int msync(void *addr, size_t length, int flags) { return (int)pyos_syscall(SYS_msync, (long)addr, (long)length, flags, 0, 0); }
int sched_swap(const char *name) { return (int)pyos_syscall(SYS_sched_swap, (long)name, 0, 0, 0, 0); }

void *sbrk(long increment)
{
    long old = pyos_syscall(SYS_brk, 0, 0, 0, 0, 0);
    if (increment && pyos_syscall(SYS_brk, old + increment, 0, 0, 0, 0) != old + increment)
        return (void *)-1;
    return (void *)old;
}

int dprintf(int fd, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    write(fd, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
    return n;
}

int printf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    write(1, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
    return n;
}

/* malloc: power-of-two size classes (32 B .. 1 MiB), freed blocks kept per class. */
#define CLASSES 16
struct header {
    size_t class_index;
    size_t pad;
};
static void *free_blocks[CLASSES];

void *malloc(size_t size)
{
    size_t c = 0;
    while (c < CLASSES && (32UL << c) < size + sizeof(struct header))
        c++;
    if (c == CLASSES)
        return 0;
    struct header *h = free_blocks[c];
    if (h) {
        free_blocks[c] = *(void **)(h + 1);
    } else {
        h = sbrk((long)(32UL << c));
        if (h == (void *)-1)
            return 0;
    }
    h->class_index = c;
    return h + 1;
}

void free(void *ptr)
{
    if (!ptr)
        return;
    struct header *h = (struct header *)ptr - 1;
    *(void **)ptr = free_blocks[h->class_index];
    free_blocks[h->class_index] = h;
}
