/*
 * Signals and process groups: kill, sigaction, sigprocmask, sigreturn,
 * setpgid/getpgid, and delivery on the way back to user mode.
 *
 * Simplified from POSIX, on purpose:
 *  - one pending bit per signal (a second kill before delivery merges);
 *  - no stopping: SIGSTOP/SIGTSTP/SIGTTIN/SIGTTOU and SIGCONT are ignored
 *    by default (SIGSTOP, like SIGKILL, can be neither caught nor blocked);
 *  - sa_flags are ignored: handlers get (sig, 0, context) where context
 *    points at the saved registers (struct trap_frame order) in the frame;
 *    the signal itself and sa_mask are blocked while a handler runs;
 *  - init (pid 1) gets no signal whose action is the default, as on Linux;
 *  - no sessions: any process may join any existing group.
 *
 * The signal frame, built on the user stack below the red zone, holds the
 * return address (the vDSO's sigreturn trampoline), the mask to restore,
 * every general register, RIP, RFLAGS, RSP and the FPU/SSE state (fxsave),
 * so sigreturn resumes the interrupted code exactly, system call or not.
 */
#include <pyos/counters.h>
#include <pyos/kernel.h>
#include <pyos/signal.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/syscalls.h>
#include <pyos/task.h>
#include <pyos/user.h>
#include <pyos/x86.h>

struct sigframe {
    uint64_t ret;               /* where the handler returns: the trampoline */
    uint64_t sig;
    uint64_t blocked;           /* the mask before the handler */
    uint64_t pad;
    struct trap_frame regs;     /* the interrupted user context */
    uint8_t fpu[512];           /* its fxsave image */
};

#define USER_CANONICAL_END 0x0000800000000000UL
/* RFLAGS bits a user program may set: CF PF AF ZF SF TF DF OF AC. */
#define RFLAGS_USER 0x40dd5UL
#define RFLAGS_TF 0x100UL
#define RFLAGS_DF 0x400UL

static uint8_t fx[512] __attribute__((aligned(16)));  /* interrupts are off here: one buffer */

static int default_ignored(int sig)
{
    return sig == SIGCHLD || sig == SIGCONT || sig == SIGSTOP || sig == SIGTSTP ||
           sig == 21 /* SIGTTIN */ || sig == 22 /* SIGTTOU */ || sig == 23 /* SIGURG */ || sig == 28 /* SIGWINCH */;
}

/* Would sig be thrown away on arrival? */
static int discarded(const struct task *t, int sig)
{
    uint64_t h = t->sig.action[sig].handler;
    if (sig == SIGKILL)
        return t->pid == 1;
    return h == SIG_IGN || (h == SIG_DFL && (default_ignored(sig) || t->pid == 1));
}

static int is_process(const struct task *t)
{
    return t && t->state != TASK_FREE && t->space;
}

int signal_send(struct task *t, int sig)
{
    if (sig < 0 || sig >= NSIG)
        return -EINVAL;
    if (!is_process(t))
        return -ESRCH;
    if (!sig || t->state == TASK_ZOMBIE || discarded(t, sig))
        return 0;
    t->sig.pending |= SIG_BIT(sig);
    if (!(t->sig.blocked & SIG_BIT(sig))) {
        task_interrupt(t);
        exit_work = 1;  /* t may be current: the fast path must not return past it */
    }
    return 0;
}

int signal_send_group(int pgid, int sig)
{
    int found = 0, err = 0;
    for (int i = 1; i < TASK_MAX; i++) {
        struct task *t = task_slot(i);
        if (is_process(t) && t->pgid == pgid) {
            found++;
            err = signal_send(t, sig);
        }
    }
    return found ? err : -ESRCH;
}

int signal_pending(const struct task *t)
{
    return task_signal_pending(t);
}

/* Die of sig: the status a parent sees is 128 + sig, with term_signal set. */
static void signal_kill(int sig) __attribute__((noreturn));
static void signal_kill(int sig)
{
    current->term_signal = sig;
    task_exit(KILLED_STATUS_BASE + sig);
}

/* Build the frame and enter the handler; 0, or -EFAULT if the stack is unusable. */
static int setup_frame(struct trap_frame *f, int sig, const struct pyos_sigaction *a)
{
    uint64_t sp = f->rsp;
    if (sp > USER_CANONICAL_END || sp < 128 + sizeof(struct sigframe))
        return -EFAULT;
    sp = ((sp - 128 - sizeof(struct sigframe)) & ~15UL) - 8;  /* handler entry: rsp + 8 is 16-aligned */
    if (user_range_ok(sp, sizeof(struct sigframe)))
        return -EFAULT;
    struct sigframe *frame = (struct sigframe *)sp;   /* this process's space is current */
    __asm__ volatile("fxsave64 (%0)" : : "r"(fx) : "memory");
    frame->ret = VDSO_ADDR + VDSO_SIGRETURN_OFFSET;
    frame->sig = (uint64_t)sig;
    frame->blocked = current->sig.blocked;
    frame->pad = 0;
    memcpy(&frame->regs, f, sizeof *f);
    memcpy(frame->fpu, fx, sizeof fx);
    current->sig.blocked |= (a->mask | SIG_BIT(sig)) & ~SIG_UNBLOCKABLE;
    f->rip = a->handler;
    f->rsp = sp;
    f->rdi = (uint64_t)sig;
    f->rsi = 0;
    f->rdx = sp + __builtin_offsetof(struct sigframe, regs);
    f->rax = 0;
    f->rflags &= ~(RFLAGS_DF | RFLAGS_TF);  /* the ABI's direction flag at function entry */
    return 0;
}

void signal_deliver(struct trap_frame *f)
{
    struct task *t = current;
    uint64_t ready;
    while ((ready = t->sig.pending & ~t->sig.blocked)) {
        int sig = ready & SIG_BIT(SIGKILL) ? SIGKILL : __builtin_ctzl(ready);
        t->sig.pending &= ~SIG_BIT(sig);
        const struct pyos_sigaction *a = &t->sig.action[sig];
        if (a->handler == SIG_IGN && sig != SIGKILL)
            continue;
        if (a->handler == SIG_DFL || sig == SIGKILL) {
            if (sig != SIGKILL && (default_ignored(sig) || t->pid == 1))
                continue;
            signal_kill(sig);
        }
        if (setup_frame(f, sig, a) < 0) {
            printk("pid %d (%s): no room for a signal frame at RSP %#lx; killed by SIGSEGV\n",
                   t->pid, t->name, f->rsp);
            signal_kill(SIGSEGV);
        }
        return;  /* one handler per return; the next is delivered when it returns */
    }
}

int signal_of_vector(uint64_t vector)
{
    switch (vector) {
    case 0: case 7: case 16: case 19:
        return SIGFPE;
    case 1: case 3:
        return SIGTRAP;
    case 6:
        return SIGILL;
    case 17:
        return SIGBUS;
    default:
        return SIGSEGV;
    }
}

/* A user CPU exception: queued for a handler if there is one ready to take
 * it; otherwise (default, ignored or blocked) the caller kills the process. */
int signal_for_exception(struct trap_frame *f)
{
    int sig = signal_of_vector(f->vector);
    uint64_t h = current->sig.action[sig].handler;
    if (h == SIG_DFL || h == SIG_IGN || (current->sig.blocked & SIG_BIT(sig)))
        return 0;
    current->sig.pending |= SIG_BIT(sig);
    return 1;
}

void signal_fork(struct task *child, const struct task *parent)
{
    memcpy(child->sig.action, parent->sig.action, sizeof child->sig.action);
    child->sig.blocked = parent->sig.blocked;
    child->sig.pending = 0;
    child->pgid = parent->pgid;
}

void signal_exec(struct task *t)
{
    for (int sig = 1; sig < NSIG; sig++)
        if (t->sig.action[sig].handler != SIG_IGN)
            t->sig.action[sig] = (struct pyos_sigaction){.handler = SIG_DFL};
    if (!t->pgid)
        t->pgid = t->pid;  /* the first process leads its own group */
}

/* --- system calls ------------------------------------------------------------------------- */

long sys_kill(long pid, long sig, long a2, long a3, long a4, long a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    if (sig < 0 || sig >= NSIG)
        return -EINVAL;
    if (pid > 0) {
        struct task *t = task_by_pid((int)pid);
        return is_process(t) ? signal_send(t, (int)sig) : -ESRCH;
    }
    if (pid == 0)
        return signal_send_group(current->pgid, (int)sig);
    if (pid == -1) {  /* every process but init and the caller */
        int found = 0;
        for (int i = 1; i < TASK_MAX; i++) {
            struct task *t = task_slot(i);
            if (is_process(t) && t->pid != 1 && t != current) {
                found++;
                signal_send(t, (int)sig);
            }
        }
        return found ? 0 : -ESRCH;
    }
    if (pid < -(long)0x7fffffff)
        return -ESRCH;
    return signal_send_group((int)-pid, (int)sig);
}

long sys_sigaction(long sig, long act, long old, long a3, long a4, long a5)
{
    (void)a3, (void)a4, (void)a5;
    if (sig <= 0 || sig >= NSIG || (act && (sig == SIGKILL || sig == SIGSTOP)))
        return -EINVAL;
    if ((act && user_range_ok((uint64_t)act, sizeof(struct pyos_sigaction))) ||
        (old && user_range_ok((uint64_t)old, sizeof(struct pyos_sigaction))))
        return -EFAULT;
    struct pyos_sigaction now = current->sig.action[sig];
    if (act) {
        struct pyos_sigaction a = *(const struct pyos_sigaction *)act;
        a.mask &= ~SIG_UNBLOCKABLE;
        current->sig.action[sig] = a;
        if (discarded(current, (int)sig))   /* POSIX: a pending signal now ignored is dropped */
            current->sig.pending &= ~SIG_BIT(sig);
    }
    if (old)
        *(struct pyos_sigaction *)old = now;
    return 0;
}

long sys_sigprocmask(long how, long set, long old, long a3, long a4, long a5)
{
    (void)a3, (void)a4, (void)a5;
    if ((set && user_range_ok((uint64_t)set, sizeof(uint64_t))) ||
        (old && user_range_ok((uint64_t)old, sizeof(uint64_t))))
        return -EFAULT;
    uint64_t was = current->sig.blocked;
    if (set) {
        uint64_t s = *(const uint64_t *)set;
        if (how == SIG_BLOCK)
            current->sig.blocked |= s;
        else if (how == SIG_UNBLOCK)
            current->sig.blocked &= ~s;
        else if (how == SIG_SETMASK)
            current->sig.blocked = s;
        else
            return -EINVAL;
        current->sig.blocked &= ~SIG_UNBLOCKABLE & ~1UL;
        if (task_signal_pending(current))
            exit_work = 1;  /* an unblocked signal is delivered on this call's way out */
    }
    if (old)
        *(uint64_t *)old = was;
    return 0;
}

/* The trap frame a process entered the kernel with: at the top of its kernel stack. */
static struct trap_frame *user_frame(void)
{
    return (struct trap_frame *)current->kstack_top - 1;
}

long sys_sigreturn(long a0, long a1, long a2, long a3, long a4, long a5)
{
    (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    struct trap_frame *f = user_frame();
    uint64_t sp = f->rsp - 8;   /* the handler's `ret` popped the trampoline's address */
    if (f->rsp < 8 || user_range_ok(sp, sizeof(struct sigframe))) {
        printk("pid %d (%s): sigreturn without a valid signal frame at %#lx; killed by SIGSEGV\n",
               current->pid, current->name, sp);
        signal_kill(SIGSEGV);
    }
    const struct sigframe *frame = (const struct sigframe *)sp;
    struct trap_frame r = frame->regs;
    if (r.rip >= USER_CANONICAL_END || r.rsp >= USER_CANONICAL_END) {
        printk("pid %d (%s): sigreturn to a non-user RIP %#lx / RSP %#lx; killed by SIGSEGV\n",
               current->pid, current->name, r.rip, r.rsp);
        signal_kill(SIGSEGV);
    }
    memcpy(fx, frame->fpu, sizeof fx);
    uint8_t now[512] __attribute__((aligned(16)));
    __asm__ volatile("fxsave64 (%0)" : : "r"(now) : "memory");
    uint32_t mxcsr_mask = *(uint32_t *)&now[28];
    *(uint32_t *)&fx[24] &= mxcsr_mask ? mxcsr_mask : 0xffbf;   /* a reserved MXCSR bit would #GP in the kernel */
    __asm__ volatile("fxrstor64 (%0)" : : "r"(fx) : "memory");
    current->sig.blocked = frame->blocked & ~SIG_UNBLOCKABLE & ~1UL;
    r.cs = f->cs;
    r.ss = f->ss;
    r.vector = f->vector;
    r.error_code = f->error_code;
    r.rflags = (r.rflags & RFLAGS_USER) | (f->rflags & ~RFLAGS_USER) | RFLAGS_IF;
    *f = r;
    return (long)r.rax;   /* syscall_dispatch stores it back into rax */
}

long sys_setpgid(long pid, long pgid, long a2, long a3, long a4, long a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    struct task *t = pid ? task_by_pid((int)pid) : current;
    if (pid < 0 || pgid < 0 || pgid > 0x7fffffff)
        return -EINVAL;
    if (!is_process(t) || t->state == TASK_ZOMBIE || (t != current && t->parent != current))
        return -ESRCH;
    if (!pgid)
        pgid = t->pid;
    if (pgid != t->pid) {   /* joining a group: it must exist */
        int exists = 0;
        for (int i = 1; i < TASK_MAX && !exists; i++) {
            struct task *o = task_slot(i);
            exists = is_process(o) && o->pgid == pgid && o->state != TASK_ZOMBIE;
        }
        if (!exists)
            return -EPERM;
    }
    t->pgid = (int)pgid;
    return 0;
}

long sys_getpgid(long pid, long a1, long a2, long a3, long a4, long a5)
{
    (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    struct task *t = pid ? task_by_pid((int)pid) : current;
    return is_process(t) ? t->pgid : -ESRCH;
}
