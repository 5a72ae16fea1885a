/*
 * The kernel's counters, in one structure at the symbol pyos_counters.
 * The VMM finds it in the kernel ELF and reads it from guest RAM without a VM
 * exit (vmm/guest_counters.py); keep it in the subset cffi parses.
 */
#ifndef PYOS_COUNTERS_H
#define PYOS_COUNTERS_H

#include <stdint.h>
#include <pyos/mm_stats.h>
#include <pyos/blk_stats.h>

#define PYOS_COUNTERS_MAGIC 0x544e4350
#define PYOS_COUNTERS_VERSION 2   /* 2: 64 system-call slots, block devices */
#define PYOS_PLUGIN_NAME_MAX 24
#define PYOS_SYSCALL_SLOTS 64  /* the last slot counts every number past it */

struct pyos_counters {
    uint32_t magic;                /* PYOS_COUNTERS_MAGIC once the kernel has set it up */
    uint32_t version;
    char frame_alloc_name[PYOS_PLUGIN_NAME_MAX];
    char heap_name[PYOS_PLUGIN_NAME_MAX];
    char paging_name[PYOS_PLUGIN_NAME_MAX];
    char sched_name[PYOS_PLUGIN_NAME_MAX];
    char syscall_entry[PYOS_PLUGIN_NAME_MAX];  /* "int3 trampoline" or "syscall" */
    struct frame_alloc_stats frames;
    struct heap_stats heap;
    struct paging_stats paging;
    uint64_t ticks;
    uint64_t irqs[16];
    uint64_t spurious_irqs[16];
    uint64_t context_switches;
    uint64_t processes_created;
    uint64_t user_page_faults;       /* page faults taken in user mode */
    uint64_t processes_killed;       /* by a CPU exception */
    uint64_t syscalls[PYOS_SYSCALL_SLOTS];  /* by number */
    uint64_t processes_exited;       /* tasks that ended: exit, return or killed */
    uint64_t tasks_runnable;         /* runnable or running tasks, idle excluded (run-queue length) */
    /* Block devices in registration order (kernel/block.c); name "" = none. */
    char blk_name[BLK_MAX_DEVICES][BLK_NAME_MAX];
    struct blk_stats blk[BLK_MAX_DEVICES];
    uint64_t buf_evictions;          /* buffer cache: LRU buffers reused */
    uint64_t buf_writebacks;         /* dirty buffers written (evicted or synced) */
    /* Live scheduler swap (kernel/task.c). */
    uint64_t sched_swaps;            /* successful sched_swap()s, fallbacks included */
    uint64_t sched_fallbacks;        /* watchdog reverted to the default scheduler */
    char sched_swap_request[PYOS_PLUGIN_NAME_MAX];  /* mailbox: the VMM writes a name, the tick takes it */
    char sched_failed[PYOS_PLUGIN_NAME_MAX];        /* the last plugin the watchdog removed */
    /* Process memory (kernel/vm.c). */
    uint64_t demand_faults;          /* pages mapped on first touch (zeroed or from a file) */
    uint64_t cow_faults;             /* write faults on a shared page: copied, or made writable */
    uint64_t forks;
    uint64_t execs;
};

extern struct pyos_counters pyos_counters;

#endif
