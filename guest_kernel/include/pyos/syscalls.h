/*
 * System-call table interface (one plugin links in: syscalls_plugin).
 * The kernel implements the calls (kernel/syscall.c, declared here); the
 * plugin is the table: which number reaches which call, for which ABI version.
 */
#ifndef PYOS_SYSCALLS_H
#define PYOS_SYSCALLS_H

#include <stdint.h>
#include <pyos/mm_stats.h>

typedef long (*syscall_fn)(long a0, long a1, long a2, long a3, long a4, long a5);

struct syscalls_ops {
    uint32_t interface_version;    /* SYSCALLS_INTERFACE */
    const char *name;
    uint32_t abi_version;          /* PYOS_SYSCALL_ABI of pyos/syscall_nr.h it implements */
    uint32_t count;
    const syscall_fn *table;       /* table[nr], NULL for a hole */
};

extern const struct syscalls_ops syscalls_plugin;

/* The kernel's implementations the table may point at. */
long sys_write(long fd, long buf, long len, long, long, long);
long sys_read(long fd, long buf, long len, long, long, long);
long sys_exit(long status, long, long, long, long, long);
long sys_getpid(long, long, long, long, long, long);
long sys_spawn(long path, long argv, long, long, long, long);
long sys_wait(long pid, long status, long, long, long, long);
long sys_sleep(long ms, long, long, long, long, long);
long sys_yield(long, long, long, long, long, long);
long sys_brk(long end, long, long, long, long, long);
long sys_open(long path, long flags, long, long, long, long);
long sys_close(long fd, long, long, long, long, long);
long sys_dup(long fd, long, long, long, long, long);
long sys_pipe(long fds, long, long, long, long, long);
long sys_setpriority(long pid, long priority, long, long, long, long);
long sys_sysinfo(long info, long, long, long, long, long);
long sys_uptime(long, long, long, long, long, long);
/* kernel/sys_procinfo.c */
long sys_getppid(long, long, long, long, long, long);
long sys_dup2(long oldfd, long newfd, long, long, long, long);
long sys_proclist(long buf, long count, long, long, long, long);
/* kernel/sys_file.c */
long sys_lseek(long fd, long offset, long whence, long, long, long);
long sys_stat(long path, long out, long, long, long, long);
long sys_fstat(long fd, long out, long, long, long, long);
long sys_mkdir(long path, long mode, long, long, long, long);
long sys_rmdir(long path, long, long, long, long, long);
long sys_unlink(long path, long, long, long, long, long);
long sys_rename(long oldpath, long newpath, long, long, long, long);
long sys_getdents(long fd, long buf, long len, long, long, long);
long sys_chdir(long path, long, long, long, long, long);
long sys_getcwd(long buf, long size, long, long, long, long);
long sys_sync(long, long, long, long, long, long);
long sys_truncate(long path, long length, long, long, long, long);
long sys_ftruncate(long fd, long length, long, long, long, long);
long sys_statfs(long path, long out, long, long, long, long);
long sys_mount(long dev, long path, long, long, long, long);
long sys_sched_swap(long name, long, long, long, long, long);
/* kernel/sys_proc.c */
long sys_fork(long, long, long, long, long, long);
long sys_execve(long path, long argv, long envp, long, long, long);
long sys_waitpid(long pid, long status, long options, long, long, long);
long sys_mmap(long addr, long length, long prot, long flags, long fd, long offset);
long sys_munmap(long addr, long length, long, long, long, long);
long sys_msync(long addr, long length, long flags, long, long, long);
/* Signals and process groups (kernel/signal.c), the tty's ioctl (kernel/tty.c). */
long sys_kill(long pid, long sig, long, long, long, long);
long sys_sigaction(long sig, long act, long old, long, long, long);
long sys_sigreturn(long, long, long, long, long, long);
long sys_sigprocmask(long how, long set, long old, long, long, long);
long sys_setpgid(long pid, long pgid, long, long, long, long);
long sys_getpgid(long pid, long, long, long, long, long);
long sys_ioctl(long fd, long request, long arg, long, long, long);

#endif
