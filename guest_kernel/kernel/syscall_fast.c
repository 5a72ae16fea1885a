/*
 * The system-call fast path's C half; the entry itself is int3_entry in
 * arch/x86_64/isr.S, which explains the path. Here: which calls may take it
 * (syscall_fast_table), and the word isr.S tests on the way out (exit_work).
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
/* isr.S tests exit_work (pyos/task.h) on the way out. */
_Static_assert(sizeof exit_work == 4, "isr.S tests exit_work with cmpl");

/* The handler for each number that needs no trap frame; syscall_fast_full
 * (arch/x86_64/isr.S: it turns the call into a full trap) for the others, so
 * the entry path calls every slot without testing it. */
syscall_fn syscall_fast_table[SYSCALL_FAST_SLOTS];
long syscall_fast_full(long, long, long, long, long, long);  /* not C: only its address is taken */

/* Calls that read or rewrite the user's registers in the trap frame at the
 * top of the kernel stack (a fork's child starts from a copy of it, execve
 * and sigreturn replace it). */
static const int needs_frame[] = {SYS_fork, SYS_execve, SYS_sigreturn};

/* After the table plugin is known (tasks_init). */
void syscall_fast_init(void)
{
    for (uint32_t nr = 0; nr < SYSCALL_FAST_SLOTS; nr++)
        syscall_fast_table[nr] = nr < syscalls_plugin.count && syscalls_plugin.table[nr]
                                     ? syscalls_plugin.table[nr] : syscall_fast_full;
    for (size_t i = 0; i < sizeof needs_frame / sizeof needs_frame[0]; i++)
        if (needs_frame[i] < SYSCALL_FAST_SLOTS)
            syscall_fast_table[needs_frame[i]] = syscall_fast_full;
}
