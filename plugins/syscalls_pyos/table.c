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
};

const struct syscalls_ops syscalls_plugin = {
    .interface_version = SYSCALLS_INTERFACE,
    .name = "pyos",
    .abi_version = PYOS_SYSCALL_ABI,
    .count = SYS_COUNT,
    .table = table,
};
