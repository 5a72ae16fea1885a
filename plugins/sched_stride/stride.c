/*
 * Stride scheduling (Waldspurger and Weihl, 1995): proportional share.
 * A task holds 40 - priority tickets; its stride is BIG / tickets, and every
 * tick it runs adds one stride to its pass. The task with the lowest pass
 * runs next, so CPU time divides in proportion to tickets, deterministically.
 * A task that wakes up starts at the current global pass (no saved-up burst).
 */
#include <pyos/sched.h>

#define BIG (1UL << 20)

static struct runqueue queue;
static uint64_t global_pass;

static void stride_init(uint32_t hz) { (void)hz; }

static uint64_t stride_of(const struct task *t) { return BIG / (uint64_t)(40 - t->sched.priority); }

static void stride_enqueue(struct task *t)
{
    if (t->sched.on_queue)
        return;
    t->sched.stride = stride_of(t);
    if (t->sched.pass < global_pass)
        t->sched.pass = global_pass;
    runqueue_add(&queue, t);
}

static void stride_dequeue(struct task *t)
{
    if (t->sched.on_queue)
        runqueue_remove(&queue, t);
}

static struct task *lowest_pass(void)
{
    struct task *pick = NULL;
    for (struct task *t = queue.head; t; t = t->sched.next)
        if (!pick || t->sched.pass < pick->sched.pass)
            pick = t;
    return pick;
}

static struct task *stride_pick_next(void)
{
    struct task *t = lowest_pass();
    if (t) {
        stride_dequeue(t);
        global_pass = t->sched.pass;
    }
    return t;
}

static int stride_tick(struct task *running)
{
    running->sched.pass += running->sched.stride ? running->sched.stride : stride_of(running);
    struct task *rival = lowest_pass();
    return rival && rival->sched.pass < running->sched.pass;
}

static void stride_yielded(struct task *t) { (void)t; }

const struct sched_ops sched_plugin = {
    .interface_version = SCHED_INTERFACE,
    .name = "stride",
    .init = stride_init,
    .enqueue = stride_enqueue,
    .dequeue = stride_dequeue,
    .pick_next = stride_pick_next,
    .tick = stride_tick,
    .yielded = stride_yielded,
};
