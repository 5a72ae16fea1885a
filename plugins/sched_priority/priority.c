/*
 * Priority scheduling with aging. Priorities run from 0 (highest) to 39.
 * The next task is the waiting one with the best effective priority, its
 * priority minus one level for every AGE ticks it has waited, so a
 * low-priority task under load climbs until it runs: nothing starves.
 * Running resets its wait. The running task is preempted at the end of its
 * slice, or as soon as a waiting task's effective priority beats its own.
 */
#include <pyos/sched.h>

static struct runqueue queue;  /* scanned to pick (at most TASK_MAX tasks) */
static uint32_t slice, age_ticks;

static void prio_init(uint32_t hz)
{
    slice = hz / 20 ? hz / 20 : 1;
    age_ticks = hz / 50 ? hz / 50 : 1;  /* 39 levels in under a second at 100 Hz */
}

static int effective(const struct task *t)
{
    int p = t->sched.priority - (int)(t->sched.waited / age_ticks);
    return p < 0 ? 0 : p;
}

static void prio_enqueue(struct task *t)
{
    if (t->sched.on_queue)
        return;
    runqueue_add(&queue, t);
    if (!t->sched.slice_left)
        t->sched.slice_left = slice;
}

static void prio_dequeue(struct task *t)
{
    if (t->sched.on_queue)
        runqueue_remove(&queue, t);
}

static struct task *best(void)
{
    struct task *pick = NULL;
    for (struct task *t = queue.head; t; t = t->sched.next)  /* ties: the longest waiting */
        if (!pick || effective(t) < effective(pick) ||
            (effective(t) == effective(pick) && t->sched.waited > pick->sched.waited))
            pick = t;
    return pick;
}

static struct task *prio_pick_next(void)
{
    struct task *t = best();
    if (t) {
        prio_dequeue(t);
        t->sched.waited = 0;
        t->sched.dynamic_priority = t->sched.priority;
    }
    return t;
}

static int prio_tick(struct task *running)
{
    for (struct task *t = queue.head; t; t = t->sched.next) {
        t->sched.waited++;
        t->sched.dynamic_priority = effective(t);
    }
    struct task *rival = best();
    if (rival && effective(rival) < running->sched.priority)
        return 1;
    if (running->sched.slice_left && --running->sched.slice_left)
        return 0;
    running->sched.slice_left = slice;
    return rival != NULL;
}

static void prio_yielded(struct task *t) { t->sched.slice_left = slice; }

const struct sched_ops sched_plugin = {
    .interface_version = SCHED_INTERFACE,
    .name = "priority",
    .init = prio_init,
    .enqueue = prio_enqueue,
    .dequeue = prio_dequeue,
    .pick_next = prio_pick_next,
    .tick = prio_tick,
    .yielded = prio_yielded,
};
