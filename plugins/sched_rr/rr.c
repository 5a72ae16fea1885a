/*
 * Round-robin: one FIFO run queue; the running task is preempted when its
 * time slice (50 ms) runs out and someone else is waiting.
 */
#include <pyos/sched.h>

static struct runqueue queue;
static uint32_t slice;

static void rr_init(uint32_t hz) { slice = hz / 20 ? hz / 20 : 1; }

static void rr_enqueue(struct task *t)
{
    if (t->sched.on_queue)
        return;
    runqueue_add(&queue, t);
    if (!t->sched.slice_left)
        t->sched.slice_left = slice;
}

static void rr_dequeue(struct task *t)
{
    if (t->sched.on_queue)
        runqueue_remove(&queue, t);
}

static struct task *rr_pick_next(void)
{
    struct task *t = queue.head;
    if (t)
        runqueue_remove(&queue, t);
    return t;
}

static int rr_tick(struct task *running)
{
    if (running->sched.slice_left && --running->sched.slice_left)
        return 0;
    running->sched.slice_left = slice;  /* a fresh slice for its next turn */
    return queue.head != NULL;
}

static void rr_yielded(struct task *t) { t->sched.slice_left = slice; }

const struct sched_ops sched_plugin = {
    .interface_version = SCHED_INTERFACE,
    .name = "rr",
    .init = rr_init,
    .enqueue = rr_enqueue,
    .dequeue = rr_dequeue,
    .pick_next = rr_pick_next,
    .tick = rr_tick,
    .yielded = rr_yielded,
};
