/*
 * Scheduler interface (one plugin links in: sched_plugin), in the spirit of
 * Linux's sched_class. The kernel core owns the tasks and the context
 * switch; the plugin only decides who runs next. Called with interrupts off.
 */
#ifndef PYOS_SCHED_H
#define PYOS_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include <pyos/mm_stats.h>
#include <pyos/task.h>

struct sched_ops {
    uint32_t interface_version;    /* SCHED_INTERFACE */
    const char *name;
    void (*init)(uint32_t timer_hz);
    void (*enqueue)(struct task *t);       /* t became runnable */
    void (*dequeue)(struct task *t);       /* t blocks, sleeps or exits (it may be running) */
    struct task *(*pick_next)(void);       /* remove and return the next to run, or NULL */
    int (*tick)(struct task *running);     /* a timer tick while `running` ran: 1 to preempt it */
    void (*yielded)(struct task *t);       /* t gives up the CPU and stays runnable */
};

extern const struct sched_ops sched_plugin;  /* in a plugin's sources: renamed at build time */

/* Every scheduler linked in ([kernel] schedulers), NULL-terminated; the first
 * is the default the watchdog falls back to. `sched` is the active one: the
 * core always calls through it (kernel/task.c). */
extern const struct sched_ops *const sched_plugins[];
extern const struct sched_ops *sched;

/* Drain every runnable task from the active policy into the one named; 0, or
 * -EINVAL for a name not linked in. Interrupts are turned off inside. */
int sched_swap(const char *name);
void sched_poll_requests(void);   /* the VMM's mailbox and the watchdog, from the tick */

/* A run queue for plugins: a doubly linked list through sched_entity, in
 * the order tasks were added. */
struct runqueue {
    struct task *head, *tail;
};

static inline void runqueue_add(struct runqueue *q, struct task *t)
{
    t->sched.next = NULL;
    t->sched.prev = q->tail;
    if (q->tail)
        q->tail->sched.next = t;
    else
        q->head = t;
    q->tail = t;
    t->sched.on_queue = 1;
}

static inline void runqueue_remove(struct runqueue *q, struct task *t)
{
    if (t->sched.prev)
        t->sched.prev->sched.next = t->sched.next;
    else
        q->head = t->sched.next;
    if (t->sched.next)
        t->sched.next->sched.prev = t->sched.prev;
    else
        q->tail = t->sched.prev;
    t->sched.on_queue = 0;
}

#endif
