/*
 * trap(): every interrupt and exception lands here from isr.S.
 * CPU exceptions in the kernel are fatal: a report, then power-off with
 * EXCEPTION_STATUS so the VMM's exit status says what happened.
 */
#include <pyos/irq.h>
#include <pyos/kernel.h>
#include <pyos/counters.h>
#include <pyos/mm.h>
#include <pyos/syscall_nr.h>
#include <pyos/task.h>
#include <pyos/user.h>
#include <pyos/vm.h>
#include <pyos/x86.h>

#define EXCEPTION_STATUS 3

static const char *const exception_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
    "#BR bound range exceeded", "#UD invalid opcode", "#NM device not available",
    "#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
    "#NP segment not present", "#SS stack-segment fault", "#GP general protection",
    "#PF page fault", "reserved (15)", "#MF x87 floating-point", "#AC alignment check",
    "#MC machine check", "#XM SIMD floating-point", "#VE virtualization",
    "#CP control protection", "reserved (22)", "reserved (23)", "reserved (24)",
    "reserved (25)", "reserved (26)", "reserved (27)", "#HV hypervisor injection",
    "#VC VMM communication", "#SX security", "reserved (31)",
};

static void page_fault_detail(uint64_t error)
{
    printk("  page fault: %s %s in %s mode%s%s\n",
           error & 1 ? "protection violation on" : "not-present page on",
           error & 16 ? "instruction fetch" : (error & 2 ? "write" : "read"),
           error & 4 ? "user" : "kernel",
           error & 8 ? ", reserved bit set" : "", "");
}

static void exception_report(struct trap_frame *f)
{
    printk("\nCPU EXCEPTION: %s (vector %lu), error code %#lx\n",
           exception_names[f->vector], f->vector, f->error_code);
    printk("  RIP %#018lx  CS %#lx  RFLAGS %#lx  RSP %#018lx  SS %#lx\n",
           f->rip, f->cs, f->rflags, f->rsp, f->ss);
    if (f->vector == 14 || f->vector == 8) {
        uint64_t cr2 = read_cr2();
        printk("  CR2 %#018lx (%s)\n", cr2, f->vector == 14 ? "the faulting address" : "the last page fault");
        if (f->vector == 14)
            page_fault_detail(f->error_code);
        if (kstack_guard_hit(cr2))
            printk("  kernel stack overflow: %#lx is in the guard area below a kernel stack\n", cr2);
    }
    printk("  RAX %#018lx  RBX %#018lx  RCX %#018lx  RDX %#018lx\n", f->rax, f->rbx, f->rcx, f->rdx);
    printk("  RSI %#018lx  RDI %#018lx  RBP %#018lx\n", f->rsi, f->rdi, f->rbp);
    printk("  R8  %#018lx  R9  %#018lx  R10 %#018lx  R11 %#018lx\n", f->r8, f->r9, f->r10, f->r11);
    printk("  R12 %#018lx  R13 %#018lx  R14 %#018lx  R15 %#018lx\n", f->r12, f->r13, f->r14, f->r15);
    printk("  CR3 %#018lx\n", read_cr3());
}

/* A CPU exception in user mode: the process's handler for the matching
 * signal (SIGSEGV, SIGILL, SIGFPE...) runs, or it dies and the kernel goes on. */
static void user_exception(struct trap_frame *f)
{
    if (f->vector == 14)
        pyos_counters.user_page_faults++;
    if (signal_for_exception(f))
        return;
    printk("pid %d (%s): killed by %s at RIP %#lx", current->pid, current->name,
           exception_names[f->vector], f->rip);
    if (f->vector == 14)
        printk(", address %#lx", read_cr2());
    printk(" (exit status %d)\n", KILLED_STATUS_BASE + (int)f->vector);
    crash_report_exception(f);
    task_kill_current(f);
}

/* A system call's way back to user mode, from trap_dispatch() below and from
 * the fast path (arch/x86_64/isr.S) when task_pending_work() says there is
 * work: a reschedule, then any signal. */
void syscall_exit_work(struct trap_frame *frame)
{
    preempt_if_needed(frame);
    if (task_signal_pending(current))
        signal_deliver(frame);
    exit_work = task_pending_work(current);  /* exact again: the next fast exit need not stop */
}

/* Not inlined: crash backtraces keep naming trap() as the caller. */
static __attribute__((noinline)) void trap_dispatch(struct trap_frame *frame)
{
    uint64_t v = frame->vector;
    if (v - IRQ_BASE_VECTOR < IRQ_COUNT) {  /* first: the timer tick must stay short */
        irq_dispatch((int)(v - IRQ_BASE_VECTOR), frame);
        if (current)
            preempt_if_needed(frame);
        return;
    }
    int from_user = frame->cs & 3;
    if (v == SYSCALL_VECTOR) {  /* the syscall instruction (syscall_entry) */
        vdso_syscall_arrived();
        syscall_dispatch(frame);
        syscall_exit_work(frame);
        return;
    }
    if (from_user && v == 3 && frame->rip == VDSO_ADDR + VDSO_INT3_RIP) {  /* int3 in the vDSO (the full path) */
        syscall_dispatch(frame);
        syscall_exit_work(frame);
        return;
    }
    if (from_user && (v == 13 || v == 14) && vdso_fault_is_syscall_probe(frame))
        return;
    if (from_user && v == 14 && vm_user_fault(frame)) {  /* demand paging, copy-on-write (kernel/vm.c) */
        preempt_if_needed(frame);
        return;
    }
    if (from_user && v < 32) {
        user_exception(frame);
        return;
    }
    if (v < 32) {
        exception_report(frame);
        crash_report_exception(frame);
        printk("pyos: unrecoverable exception in the kernel, powering off with status %d\n",
               EXCEPTION_STATUS);
        halt_machine(EXCEPTION_STATUS);
    }
    printk("pyos: unexpected interrupt vector %lu at RIP %#lx, ignored\n", v, frame->rip);
}

void trap(struct trap_frame *frame)
{
    trap_dispatch(frame);
    /* The one place signals are delivered: every return to user mode. */
    if ((frame->cs & 3) && current && task_signal_pending(current))
        signal_deliver(frame);
}
