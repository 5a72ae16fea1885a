/*
 * Crash records for the VMM (pyos/crash_report.h): after the kernel has
 * printed its own report of an exception or panic, it hands the VMM the
 * faulting RIP, RBP and address space, and the VMM appends the function,
 * file:line and a frame-pointer backtrace resolved from the ELFs' symbols.
 */
#include <pyos/crash_report.h>
#include <pyos/io.h>
#include <pyos/kernel.h>
#include <pyos/string.h>
#include <pyos/task.h>
#include <pyos/x86.h>

static struct pyos_crash_report record;

static void send(uint32_t kind, uint64_t rip, uint64_t rbp, uint64_t rsp)
{
    memset(&record, 0, sizeof record);
    record.magic = PYOS_CRASH_MAGIC;
    record.version = PYOS_CRASH_VERSION;
    record.kind = kind;
    record.rip = rip;
    record.rbp = rbp;
    record.rsp = rsp;
    record.cr3 = read_cr3();
    if (current) {
        record.pid = current->pid;
        strncpy_z(record.task, current->name, PYOS_CRASH_TASK_MAX);
    }
}

void crash_report_exception(struct trap_frame *f)
{
    send((f->cs & 3) ? PYOS_CRASH_USER_EXCEPTION : PYOS_CRASH_KERNEL_EXCEPTION, f->rip, f->rbp, f->rsp);
    record.vector = (uint32_t)f->vector;
    record.error_code = f->error_code;
    record.cs = f->cs;
    if (f->vector == 14 || f->vector == 8)
        record.cr2 = read_cr2();
    outl(PYOS_CRASH_REPORT_PORT, (uint32_t)((uint64_t)&record - KERNEL_VMA));
}

void crash_report_panic(uint64_t caller_rip, uint64_t caller_rbp)
{
    send(PYOS_CRASH_PANIC, caller_rip, caller_rbp, 0);
    outl(PYOS_CRASH_REPORT_PORT, (uint32_t)((uint64_t)&record - KERNEL_VMA));
}
