/*
 * Tasks: processes and kernel threads, the context switch, sleeping,
 * blocking and waiting. Which runnable task runs next is the scheduler
 * plugin's decision (pyos/sched.h); everything else is here.
 *
 * Uniprocessor and non-preemptive inside the kernel: all of this runs with
 * interrupts off. A task is preempted only when the timer interrupts it in
 * user mode (or in the idle loop), on the way out of trap().
 */
#include <pyos/counters.h>
#include <pyos/file.h>
#include <pyos/kernel.h>
#include <pyos/mm.h>
#include <pyos/paging.h>
#include <pyos/sched.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/syscalls.h>
#include <pyos/task.h>
#include <pyos/timer.h>
#include <pyos/user.h>
#include <pyos/vm.h>

static struct task tasks[TASK_MAX];
/* One past the highest slot ever handed out: the scans that run on every
 * wake-up and sleeper check stop there, not at TASK_MAX (kernel code is
 * emulated per instruction on PVM hosts, and a pipe wakes its peer on every
 * read and write). Slots above it have always been free. */
static int task_slots_used = 1;
struct task *current;
static struct task *idle;
static int next_pid = 1;
int need_resched;
int exit_work;

/* The scheduler wants the CPU for another task: on the next way out of an
 * interrupt or a system call (the fast path included). */
static void request_resched(void)
{
    need_resched = 1;
    exit_work = 1;
}
const struct sched_ops *sched;      /* the active scheduler: one of sched_plugins[] */
static uint64_t watchdog_ticks;     /* a runnable task waiting longer than this: plugin failed */
/* The tick must stay short (timer_hz up to 10000, every instruction of kernel
 * mode emulated on PVM-style hosts): no scan of the task table on a tick
 * unless a sleeper is due (next_wake) or the watchdog's turn comes (every
 * watchdog_period ticks, about 6 times a second at any rate). */
static uint64_t next_wake = UINT64_MAX;   /* no sleeper wakes before this tick */
static uint32_t watchdog_period = 16, watchdog_countdown = 16;
static void sched_fallback(const char *why, struct task *t);
uint64_t percpu[2];  /* kernel stack top, user RSP scratch: read by syscall_entry through GS */

/* A clean FPU/SSE state: x87 control word 0x37f, MXCSR 0x1f80, all masked. */
static uint8_t fpu_initial[512] __attribute__((aligned(16)));

static void fxsave(uint8_t *area) { __asm__ volatile("fxsave64 (%0)" : : "r"(area) : "memory"); }
static void fxrstor(const uint8_t *area) { __asm__ volatile("fxrstor64 (%0)" : : "r"(area) : "memory"); }

void switch_context(uint64_t *save_sp, uint64_t new_sp);
void task_start(void);

void tasks_init(void)
{
    *(uint16_t *)&fpu_initial[0] = 0x37f;
    *(uint32_t *)&fpu_initial[24] = 0x1f80;
    idle = &tasks[0];
    idle->pid = 0;
    idle->state = TASK_RUNNING;
    strncpy_z(idle->name, "idle", TASK_NAME_MAX);
    memcpy(idle->fpu, fpu_initial, sizeof fpu_initial);
    current = idle;
    /* Kernel stacks have a kernel-half PML4 slot of their own: create its tables
     * now, before the first address space copies the kernel half (a paging
     * plugin may refuse new kernel-half slots after that: pyos/paging.h). */
    void *first = kstack_alloc();
    if (!first)
        panic("no memory for a kernel stack");
    kstack_free(first);
    cpu_syscall_init(percpu);
    if (syscalls_plugin.abi_version != PYOS_SYSCALL_ABI)
        panic("system-call table '%s' implements ABI %u; user programs are built for ABI %u",
              syscalls_plugin.name, syscalls_plugin.abi_version, PYOS_SYSCALL_ABI);
    for (int i = 0; sched_plugins[i]; i++)
        sched_plugins[i]->init(timer_hz);
    sched = sched_plugins[0];
    strncpy_z(pyos_counters.sched_name, sched->name, PYOS_PLUGIN_NAME_MAX);
    char word[24];
    watchdog_ticks = 5 * (uint64_t)timer_hz;   /* default: 5 s */
    watchdog_period = watchdog_countdown = timer_hz / 6 > 16 ? timer_hz / 6 : 16;
    if (cmdline_get("sched_watchdog", word, sizeof word)) {
        uint64_t n = 0;
        const char *c = word;
        for (; *c >= '0' && *c <= '9' && n < 1000000000; c++)
            n = n * 10 + (uint64_t)(*c - '0');
        if (*c || !n) {
            printk("command line: sched_watchdog=%s: want a number of timer ticks, 1..1000000000; "
                   "powering off with status 2\n", word);
            poweroff(2);
        }
        watchdog_ticks = n;
    }
    printk("tasks: scheduler '%s', system-call table '%s' (ABI %u), up to %d tasks\n", sched->name,
           syscalls_plugin.name, syscalls_plugin.abi_version, TASK_MAX);
}

struct task *task_by_pid(int pid)
{
    for (int i = 1; i < TASK_MAX; i++)
        if (tasks[i].state != TASK_FREE && tasks[i].pid == pid)
            return &tasks[i];
    return NULL;
}

static void make_runnable(struct task *t);

struct task *task_slot(int i)
{
    return &tasks[i];
}

/* A signal for a task waiting in the kernel: it runs again, and its wait
 * loop sees signal_pending() and returns -EINTR. A task that was never
 * started (blocked without a channel) is left alone. */
void task_interrupt(struct task *t)
{
    if (t->state == TASK_SLEEPING || (t->state == TASK_BLOCKED && t->wait_channel)) {
        t->wait_channel = NULL;
        make_runnable(t);
    }
}

/* The task in table slot i (1..TASK_MAX-1), or NULL if the slot is free: for listings. */
struct task *task_at(int slot)
{
    return slot > 0 && slot < TASK_MAX && tasks[slot].state != TASK_FREE ? &tasks[slot] : NULL;
}

/* A free slot with a kernel stack whose top holds a trap frame (*frame) that
 * task_start leaves through the first time the task runs. */
struct task *task_alloc(const char *name, struct trap_frame **frame)
{
    struct task *t = NULL;
    for (int i = 1; i < TASK_MAX && !t; i++)
        if (tasks[i].state == TASK_FREE)
            t = &tasks[i];
    if (!t)
        return NULL;
    if (t - tasks >= task_slots_used)
        task_slots_used = (int)(t - tasks) + 1;
    void *top = kstack_alloc();
    if (!top)
        return NULL;
    memset(t, 0, sizeof *t);
    t->pid = next_pid++;
    t->state = TASK_BLOCKED;  /* not runnable until task_start_new */
    t->kstack_top = top;
    strncpy_z(t->name, name, TASK_NAME_MAX);
    memcpy(t->fpu, fpu_initial, sizeof fpu_initial);
    t->sched.priority = 20;
    /* Stack, from the top: trap frame, task_start, six callee-saved registers. */
    struct trap_frame *f = (struct trap_frame *)((char *)top - sizeof *f);
    memset(f, 0, sizeof *f);
    uint64_t *sp = (uint64_t *)f;
    *--sp = (uint64_t)task_start;
    for (int i = 0; i < 6; i++)
        *--sp = 0;
    t->kernel_sp = (uint64_t)sp;
    *frame = f;
    pyos_counters.processes_created++;
    return t;
}

void task_free_unstarted(struct task *t)
{
    kstack_free(t->kstack_top);
    t->state = TASK_FREE;
}

void task_start_new(struct task *t)
{
    make_runnable(t);
}

static void make_runnable(struct task *t)
{
    t->state = TASK_RUNNABLE;
    pyos_counters.tasks_runnable++;  /* leaves it in task_block, task_sleep_ms, task_exit */
    t->sched.queued_tick = ticks;
    sched->enqueue(t);
    request_resched();
}

static void kthread_trampoline(void (*fn)(void *), void *arg)
{
    fn(arg);
    task_exit(0);
}

struct task *kthread_create(const char *name, void (*fn)(void *), void *arg)
{
    struct trap_frame *f;
    uint64_t flags = irq_save();
    struct task *t = task_alloc(name, &f);
    if (t) {
        f->rip = (uint64_t)kthread_trampoline;
        f->cs = KERNEL_CS;
        f->ss = KERNEL_DS;
        f->rflags = RFLAGS_IF | 0x2;
        f->rsp = (uint64_t)f & ~15UL;  /* below the frame; iretq pops it off first */
        f->rsp -= 8;                   /* as if called: the ABI's alignment at function entry */
        f->rdi = (uint64_t)fn;
        f->rsi = (uint64_t)arg;
        t->parent = current;
        make_runnable(t);
    }
    irq_restore(flags);
    return t;
}

/* First thing a new task runs (from task_start, on its own stack). */
void task_first_run(void)
{
    fxrstor(current->fpu);
    exit_work = task_signal_pending(current);  /* need_resched is 0: see schedule() */
    /* Its first return to user mode: a signal sent before it ever ran is delivered now. */
    if (current->space && signal_pending(current))
        signal_deliver((struct trap_frame *)current->kstack_top - 1);
}

static void switch_to(struct task *next)
{
    struct task *prev = current;
    if (next == prev) {
        prev->state = TASK_RUNNING;
        return;
    }
    fxsave(prev->fpu);
    if (next->space && next->space != paging_plugin.current_space())
        paging_plugin.switch_space(next->space);
    tss_set_kernel_stack((uint64_t)next->kstack_top);
    percpu[0] = (uint64_t)next->kstack_top;
    next->state = TASK_RUNNING;
    current = next;
    pyos_counters.context_switches++;
    switch_context(&prev->kernel_sp, next->kernel_sp);
    /* Running as `prev` again, switched back to by someone. */
    fxrstor(current->fpu);
}

/* schedule() for a caller that has turned interrupts off (and saved IF) itself. */
static inline __attribute__((always_inline)) void schedule_irqs_off(void)
{
    struct task *prev = current;
    if (prev != idle && prev->state == TASK_RUNNING) {
        prev->state = TASK_RUNNABLE;
        prev->sched.queued_tick = ticks;
        sched->enqueue(prev);
    }
    struct task *next = sched->pick_next();
    if (next && next->state != TASK_RUNNABLE) {
        sched_fallback("pick_next returned a task that is not runnable", next);
        next = sched->pick_next();
        if (next && next->state != TASK_RUNNABLE)
            next = NULL;   /* the default failed too: idle rather than run it */
    }
    need_resched = 0;
    switch_to(next ? next : idle);
    /* Running again (as prev, or prev went on): signals may have come meanwhile.
     * (need_resched is 0: whoever switched to us cleared it, interrupts off since.) */
    exit_work = task_signal_pending(current);
}

void schedule(void)
{
    uint64_t flags = irq_save();
    schedule_irqs_off();
    irq_restore(flags);
}

/* The yield system call is the scheduler's own (the table calls it with no
 * wrapper in syscall.c), and interrupts are saved and turned off once for
 * both steps: kernel code is emulated instruction by instruction on PVM
 * hosts, and a yield is the context switch benchmark. */
long sys_yield(long a0, long a1, long a2, long a3, long a4, long a5)
{
    (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    uint64_t flags = irq_save();
    sched->yielded(current);
    schedule_irqs_off();
    irq_restore(flags);
    return 0;
}

void task_yield(void)
{
    sys_yield(0, 0, 0, 0, 0, 0);
}

/* Timer tick (IRQ 0, interrupts off): sleepers, accounting, preemption. */
void sched_tick(struct trap_frame *frame)
{
    if (ticks >= next_wake) {
        next_wake = UINT64_MAX;
        for (int i = 1; i < task_slots_used; i++) {
            struct task *t = &tasks[i];
            if (t->state != TASK_SLEEPING)
                continue;
            if (ticks >= t->wake_tick)
                make_runnable(t);
            else if (t->wake_tick < next_wake)
                next_wake = t->wake_tick;
        }
    }
    if (!--watchdog_countdown || pyos_counters.sched_swap_request[0])
        sched_poll_requests();
    if (current != idle) {
        current->runtime_ticks++;
        if (sched->tick(current))
            request_resched();
    }
    (void)frame;
}

/* On the way out of an interrupt: switch if the scheduler asked and we may. */
void preempt_if_needed(struct trap_frame *frame)
{
    if (need_resched && ((frame->cs & 3) || current == idle))
        schedule();
}

void task_block(void *channel)
{
    current->state = TASK_BLOCKED;
    pyos_counters.tasks_runnable--;
    current->wait_channel = channel;
    sched->dequeue(current);
    schedule();
}

/* May the caller sleep with task_block? Not before the scheduler runs, nor as idle. */
int task_can_block(void)
{
    return current && current != idle;
}

void task_wakeup(void *channel)
{
    for (int i = 1; i < task_slots_used; i++) {
        struct task *t = &tasks[i];
        if (t->state == TASK_BLOCKED && t->wait_channel == channel) {
            t->wait_channel = NULL;
            make_runnable(t);
        }
    }
}

void task_sleep_ms(uint64_t ms)
{
    uint64_t flags = irq_save();
    /* Saturate rather than wrap: sleep(huge) sleeps for (practically) ever. */
    uint64_t limit = (UINT64_MAX / 2 - ticks) / (timer_hz ? timer_hz : 1);
    uint64_t n = ms > limit ? UINT64_MAX / 2 - ticks : ms * timer_hz / 1000;
    current->wake_tick = ticks + (n ? n : 1);
    if (current->wake_tick < next_wake)
        next_wake = current->wake_tick;
    current->state = TASK_SLEEPING;
    pyos_counters.tasks_runnable--;
    sched->dequeue(current);
    schedule();
    irq_restore(flags);
}

void task_exit(int status)
{
    cli();
    struct task *t = current;
    if (t->pid == 1) {
        printk("pyos: init exited with status %d; powering off\n", status);
        poweroff(status);
    }
    vm_exit(t);            /* its pages go now; MAP_SHARED ones reach their files first */
    files_close_all(t);
    struct task *init = task_by_pid(1);
    for (int i = 1; i < TASK_MAX; i++) {  /* orphans go to init */
        if (tasks[i].state != TASK_FREE && tasks[i].parent == t) {
            tasks[i].parent = init;
            if (tasks[i].state == TASK_ZOMBIE && init)
                task_wakeup(init);   /* one to reap already: init's wait must see it */
        }
    }
    t->exit_status = status;
    t->state = TASK_ZOMBIE;
    pyos_counters.tasks_runnable--;
    pyos_counters.processes_exited++;
    sched->dequeue(t);
    if (t->parent) {
        task_wakeup(t->parent);
        signal_send(t->parent, SIGCHLD);
    }
    schedule();
    panic("a zombie ran again");
}

/* Reap a zombie child: its address space and kernel stack go back. */
static int reap(struct task *child, int *status)
{
    int pid = child->pid;
    if (status)
        *status = child->exit_status;
    if (child->space)
        paging_plugin.free_space(child->space);
    kstack_free(child->kstack_top);
    child->state = TASK_FREE;
    return pid;
}

/* waitpid: pid > 0 that child, -1 any child, 0 any child in the caller's
 * process group, -pgid any child in that group; Linux's status word (exit
 * status << 8, or the terminating signal); WNOHANG: 0 if none has ended. */
int task_waitpid(int pid, int *status, int options)
{
    int group = pid == 0 ? current->pgid : pid < -1 ? -pid : 0;
    uint64_t flags = irq_save();
    for (;;) {
        int children = 0;
        for (int i = 1; i < TASK_MAX; i++) {
            struct task *t = &tasks[i];
            if (t->state == TASK_FREE || t->parent != current || (pid > 0 && t->pid != pid) ||
                (pid <= 0 && pid != -1 && t->pgid != group))
                continue;
            children++;
            if (t->state == TASK_ZOMBIE) {
                int code = t->term_signal ? (t->term_signal & 0x7f) : (t->exit_status & 0xff) << 8;
                int reaped = reap(t, NULL);
                if (status)
                    *status = code;
                irq_restore(flags);
                return reaped;
            }
        }
        if (!children || (options & WNOHANG)) {
            irq_restore(flags);
            return children ? 0 : -ECHILD;
        }
        task_block(current);
    }
}

int task_wait(int pid, int *status)
{
    uint64_t flags = irq_save();
    for (;;) {
        int children = 0;
        for (int i = 1; i < TASK_MAX; i++) {
            struct task *t = &tasks[i];
            if (t->state == TASK_FREE || t->parent != current || (pid > 0 && t->pid != pid))
                continue;
            children++;
            if (t->state == TASK_ZOMBIE) {
                int reaped = reap(t, status);
                irq_restore(flags);
                return reaped;
            }
        }
        if (!children || signal_pending(current)) {
            irq_restore(flags);
            return children ? -EINTR : -ECHILD;
        }
        task_block(current);  /* an exiting child wakes its parent */
    }
}

void task_kill_current(struct trap_frame *frame)
{
    pyos_counters.processes_killed++;
    current->term_signal = signal_of_vector(frame->vector);
    task_exit(KILLED_STATUS_BASE + (int)frame->vector);
}

int tasks_alive(void)
{
    int n = 0;
    for (int i = 1; i < TASK_MAX; i++)
        if (tasks[i].state != TASK_FREE && tasks[i].state != TASK_ZOMBIE)
            n++;
    return n;
}

/* The boot thread becomes the idle task: halt until there is work. */
void idle_loop(void)
{
    cli();
    for (;;) {
        mm_refresh_stats();
        sti_hlt();
        cli();
        if (need_resched)
            schedule();
    }
}

/* --- live scheduler swap and its watchdog --------------------------------------------------- */

static const struct sched_ops *sched_find(const char *name)
{
    for (int i = 0; sched_plugins[i]; i++)
        if (!strcmp(sched_plugins[i]->name, name))
            return sched_plugins[i];
    return NULL;
}

/* Move every waiting task into `to`. trust_old: ask the old policy to let go
 * (a swap); otherwise (a failed plugin) just cut its links, since its own
 * structures are not to be trusted. The running task is on no queue. */
static void sched_move(const struct sched_ops *to, int trust_old)
{
    for (int i = 1; i < TASK_MAX; i++) {
        struct task *t = &tasks[i];
        if (t->state != TASK_RUNNABLE)
            continue;
        if (trust_old)
            sched->dequeue(t);
        t->sched.on_queue = 0;
        t->sched.next = t->sched.prev = NULL;
    }
    sched = to;
    for (int i = 1; i < TASK_MAX; i++)
        if (tasks[i].state == TASK_RUNNABLE)
            sched->enqueue(&tasks[i]);
    pyos_counters.sched_swaps++;
    strncpy_z(pyos_counters.sched_name, sched->name, PYOS_PLUGIN_NAME_MAX);
    request_resched();
}

int sched_swap(const char *name)
{
    const struct sched_ops *to = sched_find(name);
    if (!to)
        return -EINVAL;
    uint64_t flags = irq_save();
    if (to != sched)
        sched_move(to, 1);
    else
        pyos_counters.sched_swaps++;   /* a swap to itself still counts: the caller asked */
    irq_restore(flags);
    return 0;
}

/* Revert to the default scheduler (sched_plugins[0]) and say why. */
static void sched_fallback(const char *why, struct task *t)
{
    if (sched == sched_plugins[0]) {
        printk("sched: watchdog: default scheduler '%s' failed: %s (task %d '%s'); keeping it\n",
               sched->name, why, t ? t->pid : -1, t ? t->name : "");
        if (t)
            t->sched.queued_tick = ticks;   /* report once per period, not every tick */
        return;
    }
    printk("sched: watchdog: scheduler '%s' failed: %s (task %d '%s'); reverting to '%s'\n",
           sched->name, why, t ? t->pid : -1, t ? t->name : "", sched_plugins[0]->name);
    strncpy_z(pyos_counters.sched_failed, sched->name, PYOS_PLUGIN_NAME_MAX);
    pyos_counters.sched_fallbacks++;
    sched_move(sched_plugins[0], 0);
}

/* From the tick, interrupts off: a swap the VMM asked for, and every
 * WATCHDOG_PERIOD ticks a scan for a task left waiting too long. */
void sched_poll_requests(void)
{
    char *req = pyos_counters.sched_swap_request;
    if (req[0]) {
        char name[PYOS_PLUGIN_NAME_MAX];
        memcpy(name, req, sizeof name);
        name[sizeof name - 1] = 0;
        req[0] = 0;
        if (sched_swap(name))
            printk("sched: swap request for '%s': no such scheduler linked in\n", name);
        else
            printk("sched: swapped to '%s' on the VMM's request\n", name);
    }
    if (watchdog_countdown)
        return;
    watchdog_countdown = watchdog_period;
    for (int i = 1; i < TASK_MAX; i++) {
        struct task *t = &tasks[i];
        if (t->state == TASK_RUNNABLE && ticks - t->sched.queued_tick > watchdog_ticks) {
            sched_fallback("a runnable task was not run within the watchdog's limit", t);
            return;
        }
    }
}
