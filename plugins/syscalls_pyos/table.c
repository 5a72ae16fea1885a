/* The pyos system-call table, ABI version 1 (pyos/syscall_nr.h). */
#include <pyos/syscall_nr.h>
#include <pyos/syscalls.h>

static const syscall_fn table[SYS_COUNT] = {
    [SYS_write] = sys_write,
    [SYS_read] = sys_read,
    [SYS_exit] = sys_exit,
    [SYS_getpid] = sys_getpid,
    [SYS_spawn] = sys_spawn,
    [SYS_wait] = sys_wait,
    [SYS_sleep] = sys_sleep,
    [SYS_yield] = sys_yield,
    [SYS_brk] = sys_brk,
    [SYS_open] = sys_open,
    [SYS_close] = sys_close,
    [SYS_dup] = sys_dup,
    [SYS_pipe] = sys_pipe,
    [SYS_setpriority] = sys_setpriority,
    [SYS_sysinfo] = sys_sysinfo,
    [SYS_uptime] = sys_uptime,
    [SYS_getppid] = sys_getppid,      /* kernel/sys_procinfo.c */
    [SYS_dup2] = sys_dup2,
    [SYS_proclist] = sys_proclist,
    [SYS_lseek] = sys_lseek,
    [SYS_stat] = sys_stat,
    [SYS_fstat] = sys_fstat,
    [SYS_mkdir] = sys_mkdir,
    [SYS_rmdir] = sys_rmdir,
    [SYS_unlink] = sys_unlink,
    [SYS_rename] = sys_rename,
    [SYS_getdents] = sys_getdents,
    [SYS_chdir] = sys_chdir,
    [SYS_getcwd] = sys_getcwd,
    [SYS_sync] = sys_sync,
    [SYS_truncate] = sys_truncate,
    [SYS_ftruncate] = sys_ftruncate,
    [SYS_statfs] = sys_statfs,
    [SYS_mount] = sys_mount,
    [SYS_sched_swap] = sys_sched_swap,
};

const struct syscalls_ops syscalls_plugin = {
    .interface_version = SYSCALLS_INTERFACE,
    .name = "pyos",
    .abi_version = PYOS_SYSCALL_ABI,
    .count = SYS_COUNT,
    .table = table,
};
