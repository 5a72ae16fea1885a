/*
 * Signals (kernel/signal.c): POSIX-shaped and minimal. One pending bit per
 * signal (no queueing), a blocked mask, one handler record per signal.
 * Delivery happens in one place, signal_deliver(), on every return to user
 * mode (trap() ends with it): a handler runs on the user stack with a frame
 * holding the whole user context, and returns through the vDSO's sigreturn
 * trampoline. Blocking calls return -EINTR while signal_pending() is true.
 */
#ifndef PYOS_SIGNAL_H
#define PYOS_SIGNAL_H

#include <stdint.h>
#include <pyos/syscall_nr.h>

struct task;
struct trap_frame;

struct task_signals {
    uint64_t pending;                       /* bit (1 << sig) */
    uint64_t blocked;                       /* never has SIGKILL or SIGSTOP */
    struct pyos_sigaction action[NSIG];
};

#define SIG_BIT(sig) (1UL << (sig))
#define SIG_UNBLOCKABLE (SIG_BIT(SIGKILL) | SIG_BIT(SIGSTOP))

/* The vDSO's sigreturn trampoline: a handler's return address. */
#define VDSO_SIGRETURN_OFFSET 32   /* after the null trap at VDSO_NULL_TRAP (16) */

int signal_send(struct task *t, int sig);         /* 0 or -errno; wakes a sleeper */
int signal_send_group(int pgid, int sig);         /* to every process in the group */
int signal_pending(const struct task *t);         /* an unblocked signal waits */
void signal_deliver(struct trap_frame *f);        /* on the way back to user mode */
int signal_for_exception(struct trap_frame *f);   /* a user CPU exception: 1 if a handler takes it */
int signal_of_vector(uint64_t vector);
void signal_fork(struct task *child, const struct task *parent);  /* handlers, mask, group */
void signal_exec(struct task *t);              /* caught handlers back to SIG_DFL */

#endif
