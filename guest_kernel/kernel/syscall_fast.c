/*
 * The system-call fast path's C half; the entry itself is int3_entry in
 * arch/x86_64/isr.S, which explains the path. Here: which calls may take it
 * (syscall_fast_table) and the check on the way out.
 */
#include <stddef.h>
#include <pyos/counters.h>
#include <pyos/kernel.h>
#include <pyos/syscall_nr.h>
#include <pyos/syscalls.h>
#include <pyos/task.h>
#include <pyos/user.h>

#define SYSCALL_FAST_SLOTS 64   /* isr.S's bound: the counters' slots, so nr indexes both */
_Static_assert(SYSCALL_FAST_SLOTS == PYOS_SYSCALL_SLOTS, "isr.S indexes pyos_counters.syscalls by nr");
_Static_assert(offsetof(struct pyos_counters, syscalls) == 584,
               "pyos_counters.syscalls moved: update COUNTERS_SYSCALLS in arch/x86_64/isr.S");

/* The handler for each number that needs no trap frame; NULL: the full path. */
syscall_fn syscall_fast_table[SYSCALL_FAST_SLOTS];

/* Calls that read or rewrite the user's registers in the trap frame at the
 * top of the kernel stack (a fork's child starts from a copy of it, execve
 * and sigreturn replace it). */
static const int needs_frame[] = {SYS_fork, SYS_execve, SYS_sigreturn};

/* After the table plugin is known (tasks_init). */
void syscall_fast_init(void)
{
    for (uint32_t nr = 0; nr < SYSCALL_FAST_SLOTS && nr < syscalls_plugin.count; nr++)
        syscall_fast_table[nr] = syscalls_plugin.table[nr];
    for (size_t i = 0; i < sizeof needs_frame / sizeof needs_frame[0]; i++)
        if (needs_frame[i] < SYSCALL_FAST_SLOTS)
            syscall_fast_table[needs_frame[i]] = NULL;
}

struct fast_exit {
    long result;        /* rax */
    unsigned long work; /* rdx: nonzero sends isr.S through syscall_exit_work */
};

/* Kept short (no frame pointer): it runs on every fast system call. */
__attribute__((optimize("omit-frame-pointer")))
struct fast_exit syscall_fast_finish(long result)
{
    return (struct fast_exit){result, (unsigned long)task_pending_work(current)};
}
