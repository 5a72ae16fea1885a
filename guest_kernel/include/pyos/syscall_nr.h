/*
 * System-call numbers and error codes: the ABI between user programs and
 * the kernel (version PYOS_SYSCALL_ABI). Shared by guest_kernel/user/.
 * A program enters the kernel only through the vDSO page at VDSO_ADDR:
 * rax = number, arguments in rdi, rsi, rdx, r10, r8, r9, result in rax
 * (negative: -errno), as Linux does. The vDSO is called as a function: like
 * any function it may clobber the caller-saved registers (rcx, rdx, rsi,
 * rdi, r8-r11; the kernel's fast path returns them zeroed) and keeps rbx,
 * rbp, r12-r15 and rsp.
 */
#ifndef PYOS_SYSCALL_NR_H
#define PYOS_SYSCALL_NR_H

#define PYOS_SYSCALL_ABI 1
#define VDSO_ADDR 0x00007ffff0000000UL
/* At VDSO_ADDR + VDSO_NULL_TRAP: `int3; ret`, a trap the kernel returns from
 * at once (arch/x86_64/isr.S): the floor of a user → kernel → user round
 * trip on this host, for the benchmarks to compare system calls against. */
#define VDSO_NULL_TRAP 16
/* The vDSO's int3 entry is `mov %r10, %rcx; int3; ret` (kernel/vdso.c): the
 * trap's saved RIP is VDSO_ADDR + VDSO_INT3_RIP, which marks a system call. */
#define VDSO_INT3_RIP 4

#define SYS_write 1
#define SYS_read 2
#define SYS_exit 3
#define SYS_getpid 4
#define SYS_spawn 5      /* spawn(path, argv) -> pid */
#define SYS_wait 6       /* wait(pid or -1, int *status) -> pid */
#define SYS_sleep 7      /* sleep(milliseconds) */
#define SYS_yield 8
#define SYS_brk 9        /* brk(new end or 0) -> current end */
#define SYS_open 10      /* open(path, flags): files, directories, /dev/console, /dev/null */
#define SYS_close 11
#define SYS_dup 12
#define SYS_pipe 13      /* pipe(int fds[2]) */
#define SYS_setpriority 14  /* setpriority(pid or 0, priority 0 (highest) - 39) */
#define SYS_sysinfo 15   /* sysinfo(struct pyos_sysinfo *) */
#define SYS_uptime 16    /* ticks since boot */
#define SYS_lseek 17     /* lseek(fd, offset, whence) -> new offset */
#define SYS_stat 18      /* stat(path, struct pyos_stat *) */
#define SYS_fstat 19     /* fstat(fd, struct pyos_stat *) */
#define SYS_mkdir 20     /* mkdir(path, mode) */
#define SYS_rmdir 21
#define SYS_unlink 22
#define SYS_rename 23    /* rename(old, new): within one mount */
#define SYS_getdents 24  /* getdents(fd, struct pyos_dirent *, bytes) -> bytes filled, 0 at the end */
#define SYS_chdir 25
#define SYS_getcwd 26    /* getcwd(buf, size) -> length */
#define SYS_sync 27
#define SYS_truncate 28  /* truncate(path, length) */
#define SYS_ftruncate 29 /* ftruncate(fd, length) */
#define SYS_statfs 30    /* statfs(path, struct pyos_statfs *) */
#define SYS_mount 31     /* mount(device name, directory) */
#define SYS_sched_swap 32  /* sched_swap(scheduler name): live swap (kernel/task.c) */
/* Processes, memory, signals, the tty (issue 10). */
#define SYS_fork 33      /* fork() -> child pid in the parent, 0 in the child */
#define SYS_execve 34    /* execve(path, argv, envp): a static ELF from the VFS */
#define SYS_waitpid 35   /* waitpid(pid or -1 or -pgid, int *status, options) -> pid */
#define SYS_mmap 36      /* mmap(addr, length, prot, flags, fd, offset) -> address */
#define SYS_munmap 37    /* munmap(addr, length) */
#define SYS_msync 38     /* msync(addr, length, flags) */
#define SYS_kill 39      /* kill(pid, or -pgid, signal) */
#define SYS_sigaction 40 /* sigaction(signal, const struct pyos_sigaction *, struct pyos_sigaction *old) */
#define SYS_sigreturn 41 /* from a handler's trampoline only */
#define SYS_sigprocmask 42 /* sigprocmask(how, const unsigned long *set, unsigned long *old) */
#define SYS_setpgid 43   /* setpgid(pid or 0, pgid or 0) */
#define SYS_getpgid 44   /* getpgid(pid or 0) */
#define SYS_ioctl 45     /* ioctl(fd, request, argument): the tty's TIOC and TCGETS/TCSETS */
#define SYS_getppid 46
#define SYS_dup2 47      /* dup2(old, new) */
#define SYS_proclist 48  /* proclist(struct pyos_procinfo *, count) -> tasks filled */
#define SYS_COUNT 49

/* open() flags (Linux's values). */
#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_ACCMODE 3
#define O_CREAT 0100
#define O_EXCL 0200
#define O_TRUNC 01000
#define O_APPEND 02000
#define O_DIRECTORY 0200000

#define SEEK_SET 0
#define SEEK_CUR 1
#define SEEK_END 2

#define EPERM 1
#define ENOENT 2
#define ESRCH 3
#define EINTR 4
#define EIO 5
#define ENXIO 6
#define E2BIG 7
#define ENOEXEC 8
#define EBADF 9
#define ECHILD 10
#define EAGAIN 11
#define ENOMEM 12
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define EXDEV 18
#define ENODEV 19
#define ENOTDIR 20
#define EISDIR 21
#define EINVAL 22
#define ENFILE 23
#define EMFILE 24
#define ENOTTY 25
#define EFBIG 27
#define ENOSPC 28
#define ESPIPE 29
#define EROFS 30
#define EMLINK 31
#define EPIPE 32
#define ERANGE 34
#define ENAMETOOLONG 36
#define ENOSYS 38
#define ENOTEMPTY 39
#define ELOOP 40

/* waitpid(): options and the status word (Linux's encoding). */
#define WNOHANG 1
#define WIFEXITED(s) (((s) & 0x7f) == 0)
#define WEXITSTATUS(s) (((s) >> 8) & 0xff)
#define WIFSIGNALED(s) (((s) & 0x7f) != 0 && ((s) & 0x7f) != 0x7f)
#define WTERMSIG(s) ((s) & 0x7f)

/* Signals (Linux's numbers). */
#define SIGHUP 1
#define SIGINT 2
#define SIGQUIT 3
#define SIGILL 4
#define SIGTRAP 5
#define SIGABRT 6
#define SIGBUS 7
#define SIGFPE 8
#define SIGKILL 9
#define SIGUSR1 10
#define SIGSEGV 11
#define SIGUSR2 12
#define SIGPIPE 13
#define SIGALRM 14
#define SIGTERM 15
#define SIGCHLD 17
#define SIGCONT 18
#define SIGSTOP 19
#define SIGTSTP 20
#define NSIG 32
#define SIG_DFL 0UL
#define SIG_IGN 1UL
#define SIG_BLOCK 0
#define SIG_UNBLOCK 1
#define SIG_SETMASK 2

/* mmap() */
#define PROT_NONE 0
#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4
#define MAP_SHARED 1
#define MAP_PRIVATE 2
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_FAILED ((void *)-1)
#define MS_SYNC 4

/* ioctl() on a tty (Linux's request numbers). */
#define TCGETS 0x5401
#define TCSETS 0x5402
#define TIOCGPGRP 0x540F
#define TIOCSPGRP 0x5410
/* struct pyos_termios.lflag bits */
#define ISIG 0001
#define ICANON 0002
#define ECHO 0010

/* Exit status of a process the kernel killed for a CPU exception. */
#define KILLED_STATUS_BASE 128   /* 128 + exception vector */

#ifndef __ASSEMBLER__
struct pyos_sysinfo {
    unsigned long free_frames;
    unsigned long total_frames;
    unsigned long ticks;
    unsigned long timer_hz;
    unsigned long context_switches;
    unsigned long processes;
    unsigned long tsc_khz;
    char scheduler[24];
    char syscall_entry[24];
    char programs[160];          /* the programs spawn can start, space-separated */
    unsigned long cpu_ticks;     /* timer ticks the calling process has run for */
    /* The memory plugins' counters, for `free` (pyos/mm_stats.h). */
    char frame_allocator[24], heap[24];
    unsigned long heap_bytes_in_use;   /* as the kernel's callers asked for them */
    unsigned long heap_frames;         /* frames the heap holds */
    unsigned long heap_allocs, heap_frees;
    unsigned long page_tables;         /* page-table pages allocated since boot */
};

/* stat()/fstat(): the same layout as struct fs_stat (pyos/fs.h). */
struct pyos_stat {
    unsigned long ino;
    unsigned int mode;            /* 0040000 directory, 0100000 file, 0020000 device, 0010000 pipe */
    unsigned int nlink;
    unsigned long size;
    unsigned long blocks;         /* 512-byte units */
    unsigned long mtime;
    unsigned int dev;             /* the mount's index */
    unsigned int blksize;
};

/* statfs(): the same layout as struct fs_statfs. */
struct pyos_statfs {
    unsigned long block_size;
    unsigned long blocks, blocks_free;
    unsigned long files, files_free;
    char type[16];
};

/* sigaction(): handler is SIG_DFL, SIG_IGN or a function void (*)(int). */
struct pyos_sigaction {
    unsigned long handler;
    unsigned long mask;           /* signals blocked while the handler runs */
    unsigned long flags;
};

/* ioctl(TCGETS/TCSETS): the subset of termios the tty implements. */
struct pyos_termios {
    unsigned int lflag;           /* ISIG | ICANON | ECHO */
    unsigned char cc_intr, cc_erase, cc_kill, cc_eof;  /* ^C, DEL/^H, ^U, ^D */
};

/* proclist(): one record per task. */
struct pyos_procinfo {
    int pid, ppid, pgid;
    int state;                    /* enum task_state: 1 runnable, 2 running, 3 sleeping, 4 blocked, 5 zombie */
    int priority;
    int pad;
    unsigned long cpu_ticks;
    unsigned long pages;          /* resident user pages */
    char name[32];
};

/* getdents() fills whole records of this size. */
struct pyos_dirent {
    unsigned long ino;
    unsigned int type;            /* 0040000 directory, 0100000 file, 0020000 device, 0 unknown */
    unsigned int name_len;
    char name[256];
};
#endif

#endif
