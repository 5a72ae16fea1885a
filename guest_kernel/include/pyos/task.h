/* Tasks: processes (a user address space) and kernel threads (kernel/task.c). */
#ifndef PYOS_TASK_H
#define PYOS_TASK_H

#include <stdint.h>
#include <pyos/x86.h>
#include <pyos/signal.h>

#define TASK_MAX 64
#define TASK_NAME_MAX 32
#define FD_MAX 16
#define TASK_CWD_MAX 256

enum task_state { TASK_FREE, TASK_RUNNABLE, TASK_RUNNING, TASK_SLEEPING, TASK_BLOCKED, TASK_ZOMBIE };

/* What a scheduler plugin may keep per task. */
struct sched_entity {
    struct task *next, *prev;    /* run-queue links */
    int priority;                /* 0 (highest) .. 39; 20 by default */
    int dynamic_priority;        /* priority scheduler: after aging */
    uint64_t waited;             /* ticks spent runnable but not running */
    uint64_t pass, stride;       /* stride scheduler */
    uint32_t slice_left;         /* ticks left in this time slice */
    int on_queue;
    uint64_t queued_tick;        /* when it last became runnable-and-waiting (watchdog) */
};

struct file;
struct vm;

struct task {
    int pid;
    enum task_state state;
    char name[TASK_NAME_MAX];
    uint64_t kernel_sp;          /* saved by switch_to */
    void *kstack_top;
    uint64_t space;              /* address-space root (0: kernel thread) */
    struct task *parent;
    int exit_status;
    uint64_t wake_tick;          /* TASK_SLEEPING until this tick */
    void *wait_channel;          /* TASK_BLOCKED on this */
    uint64_t brk_start, brk;     /* the heap of a user process */
    struct vm *vm;               /* its memory areas (pyos/vm.h); NULL for kernel threads */
    int term_signal;             /* the signal that killed it (waitpid's WTERMSIG); 0: it exited */
    struct file *files[FD_MAX];
    char cwd[TASK_CWD_MAX];      /* canonical absolute path; "" means "/" */
    struct sched_entity sched;
    uint64_t runtime_ticks;
    uint8_t fpu[512] __attribute__((aligned(16)));  /* fxsave64 image */
    /* Signals and process groups (kernel/signal.c). */
    struct task_signals sig;
    int pgid;                    /* process group; 0 for kernel threads */
};

extern struct task *current;
extern int need_resched;     /* the scheduler wants to run another task (kernel/task.c) */
/* The one word the system-call fast path tests on its way out (arch/x86_64/isr.S):
 * nonzero whenever task_pending_work(current) may be, so it leaves through the full
 * path. Set with need_resched, when a signal may have become deliverable and when
 * a task starts or resumes; made exact again by syscall_exit_work(). */
extern int exit_work;

/* An unblocked signal waits for task t (delivered on its way back to user mode). */
static inline int task_signal_pending(const struct task *t)
{
    return (t->sig.pending & ~t->sig.blocked) != 0;
}

/* Work to do before task t returns to user mode: a reschedule or a signal.
 * The system-call fast path tests exit_work instead, which is never 0 while
 * this is nonzero for current (see exit_work). */
static inline int task_pending_work(const struct task *t)
{
    return need_resched || task_signal_pending(t);
}

void tasks_init(void);
struct task *kthread_create(const char *name, void (*fn)(void *), void *arg);
int process_spawn(const char *path, const char *const *argv, struct task *parent);
void task_exit(int status) __attribute__((noreturn));
int task_wait(int pid, int *status);
int task_waitpid(int pid, int *status, int options);  /* Linux's status word; WNOHANG */
void task_sleep_ms(uint64_t ms);
void task_yield(void);
void task_block(void *channel);           /* call with interrupts off */
void task_wakeup(void *channel);
int task_can_block(void);                 /* a real task is running (not idle, not boot) */
void sched_tick(struct trap_frame *frame);  /* from the timer IRQ */
void schedule(void);
void task_kill_current(struct trap_frame *frame) __attribute__((noreturn));  /* a user CPU exception */
struct task *task_by_pid(int pid);
struct task *task_slot(int i);            /* tasks[i] for 1 <= i < TASK_MAX, any state */
void task_interrupt(struct task *t);      /* a signal came: a blocked or sleeping task runs again */
struct task *task_at(int slot);           /* slot 1..TASK_MAX-1, NULL if free: listings */

#endif
