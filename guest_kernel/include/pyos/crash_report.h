/*
 * The crash record: what the kernel tells the VMM about a CPU exception, so
 * the VMM can name the function and source line of the faulting RIP and walk
 * the frame-pointer chain with the kernel's and the program's symbols
 * (vmm/symbols.py). The kernel fills one record and writes its physical
 * address to PYOS_CRASH_REPORT_PORT (a 32-bit `out`): one VM exit, taken
 * while the faulting stack is still intact. Other VMMs ignore the port.
 *
 * Shared with the VMM through cffi: keep it in the subset cffi parses.
 */
#ifndef PYOS_CRASH_REPORT_H
#define PYOS_CRASH_REPORT_H

#include <stdint.h>

#define PYOS_CRASH_REPORT_PORT 0x404
#define PYOS_CRASH_MAGIC 0x48535243
#define PYOS_CRASH_VERSION 1
#define PYOS_CRASH_TASK_MAX 32

/* What happened: a CPU exception (in the kernel, or in a user program that
 * is then killed) or a kernel panic (rip/rbp: where panic() was called). */
#define PYOS_CRASH_KERNEL_EXCEPTION 1
#define PYOS_CRASH_USER_EXCEPTION 2
#define PYOS_CRASH_PANIC 3

struct pyos_crash_report {
    uint32_t magic;          /* PYOS_CRASH_MAGIC */
    uint32_t version;        /* PYOS_CRASH_VERSION */
    uint32_t kind;           /* PYOS_CRASH_* */
    uint32_t vector;         /* CPU exception vector */
    int32_t pid;             /* the task running, 0 if none yet */
    uint32_t reserved;
    uint64_t error_code;
    uint64_t rip;
    uint64_t rsp;
    uint64_t rbp;
    uint64_t cs;
    uint64_t cr2;
    uint64_t cr3;            /* the address space to read the stack in */
    char task[PYOS_CRASH_TASK_MAX];  /* the task's name: its program, for a process */
};

#endif
