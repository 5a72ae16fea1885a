/*
 * Interrupt entry: one stub per vector, all 256.
 * Each stub makes the stack look the same (a dummy error code where the CPU
 * pushes none), pushes its vector number and jumps to trap_common, which
 * saves the general registers as a struct trap_frame and calls trap().
 */

/* Vectors for which the CPU pushes an error code. */
#define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

    .text
    .balign 4096  /* the 256 stubs' low 16 address bits never carry: idt.c fills gates by adding */
    .globl isr_stubs
isr_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if vec == 3
    jmp int3_entry          /* #BP: system calls and the null trap first */
    .elseif HAS_ERROR(vec)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp trap_common
    .set vec, vec + 1
    .endr

/*
 * #BP (int3): system calls first (a trap from the vDSO's `int3`, saved RIP =
 * VDSO_ADDR + VDSO_INT3_RIP), then the vDSO's null trap (RIP = VDSO_ADDR +
 * VDSO_NULL_TRAP + 1), which returns at once: the benchmarks' floor for a
 * user → kernel → user round trip. Anything else takes the common path.
 * RIP is compared in two halves: VDSO_ADDR does not fit an imm32 (kernel/vdso.c
 * checks the halves), and no register is free before we know it is the vDSO.
 *
 * The system-call fast path. Kernel mode is emulated instruction by
 * instruction on PVM-style hosts (about a microsecond each), so the path
 * is counted in instructions: 22 for getpid, from int3 to iretq.
 * A call that needs nothing but its arguments skips the trap frame: no
 * register is saved, the handler from syscall_fast_table
 * (kernel/syscall_fast.c) is called with the arguments where the C ABI wants
 * them (the vDSO copies r10 to rcx in user mode, where it costs nothing),
 * and iretq goes straight back. The vDSO is called as a function, so the
 * caller-saved registers are the kernel's to clobber (pyos/syscall_nr.h); on
 * the way out they hold 0, the result or the handler's address, so no kernel
 * data leaks. The kernel is built with an 8-byte stack boundary, so the call
 * needs no alignment of its own. Two cases take the full path:
 *  - a call that needs the user's registers in a trap frame (fork, execve,
 *    sigreturn; or an unknown number): its slot holds syscall_fast_full,
 *    never NULL (no test on the way in), which turns the call into the trap
 *    it would have been, before running anything;
 *  - pending work on the way out (a reschedule, or a signal pending and not
 *    blocked: task_pending_work(current), which the one word exit_work covers,
 *    pyos/task.h): after it, by
 *    building the trap frame then (the callee-saved registers are still the
 *    user's; the clobbered ones are saved as 0) and leaving through
 *    syscall_exit_work() and trap_return like every trap.
 */
#include <pyos/syscall_nr.h>
#define VDSO_LO 0xf0000000
#define VDSO_HI 0x7fff
#define SYSCALL_FAST_SLOTS 64   /* = PYOS_SYSCALL_SLOTS (kernel/syscall_fast.c checks) */
#define COUNTERS_SYSCALLS 584   /* offsetof(struct pyos_counters, syscalls) (checked there too) */
    .globl int3_entry
int3_entry:                 /* vector 3's gate points here (idt.c); its stub jumps here too */
    cmpl $(VDSO_LO + VDSO_INT3_RIP), (%rsp)
    jne 2f
    cmpl $VDSO_HI, 4(%rsp)
    jne .Lint3_trap
    cmpq $SYSCALL_FAST_SLOTS, %rax
    jae .Lint3_trap
    movq syscall_fast_table(,%rax,8), %r11   /* never NULL (kernel/syscall_fast.c) */
    incq pyos_counters + COUNTERS_SYSCALLS(,%rax,8)
    call *%r11
    cmpl $0, exit_work(%rip)
    jne 4f                  /* maybe a reschedule or a signal to deliver */
    xorl %ecx, %ecx         /* rax holds the result, r11 the handler's address */
    xorl %edx, %edx
    xorl %esi, %esi
    xorl %edi, %edi
    xorl %r8d, %r8d
    xorl %r9d, %r9d
    xorl %r10d, %r10d
    iretq
2:  cmpl $(VDSO_LO + VDSO_NULL_TRAP + 1), (%rsp)
    jne .Lint3_trap
    cmpl $VDSO_HI, 4(%rsp)
    jne .Lint3_trap
    iretq
.Lint3_trap:
    pushq $0
    pushq $3
    jmp trap_common

/* The fast table's entry for a call that needs the full path, reached by the
 * fast path's `call *%r11` with the user's registers as they came: drop the
 * return address, take back the count (syscall_dispatch counts the call) and
 * the table entry in r11, and go on as the trap it is. */
    .globl syscall_fast_full
syscall_fast_full:
    addq $8, %rsp
    decq pyos_counters + COUNTERS_SYSCALLS(,%rax,8)
    xorl %r11d, %r11d
    jmp .Lint3_trap
4:  pushq $0                /* the trap frame, in trap_common's order */
    pushq $3
    pushq %rax
    pushq %rbx
    pushq $0                /* rcx */
    pushq $0                /* rdx */
    pushq $0                /* rsi */
    pushq $0                /* rdi */
    pushq %rbp
    pushq $0                /* r8 */
    pushq $0                /* r9 */
    pushq $0                /* r10 */
    pushq $0                /* r11 */
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    call syscall_exit_work
    jmp trap_return

trap_common:
    cld
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    call trap
    .globl trap_return
trap_return:                /* also where a new task first leaves the kernel */
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp          /* vector and error code */
    iretq

/*
 * switch_context(save_sp, new_sp): save the callee-saved registers on this
 * stack, remember it in *save_sp, and continue on new_sp, which was saved
 * the same way (or laid out like it by task.c for a new task).
 */
    .globl switch_context
switch_context:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret

/* A new task's first return from switch_context lands here, with a trap
 * frame above it on the stack: finish in C, then leave like any trap. */
    .globl task_start
task_start:
    call task_first_run
    jmp trap_return

/*
 * The `syscall` instruction's entry (MSR_LSTAR), used where the CPU delivers
 * it (VT-x/AMD-V hosts): build the same trap frame an interrupt would, on
 * this task's kernel stack, with vector SYSCALL_VECTOR, and take the common
 * path; iretq returns to the instruction after `syscall` (saved in %rcx).
 * On PVM-style hosts the CPU stays in user mode here, so the first
 * privileged instruction (swapgs) faults: kernel/vdso.c notices and falls
 * back to the int3 trampoline.
 */
#define SYSCALL_VECTOR 0x100
#define USER_CS 0x33
#define USER_DS 0x2b
    .globl syscall_entry
syscall_entry:
    swapgs
    movq %rsp, %gs:8        /* percpu.user_rsp */
    movq %gs:0, %rsp        /* percpu.kernel_rsp */
    pushq $USER_DS
    pushq %gs:8
    pushq %r11              /* user RFLAGS */
    pushq $USER_CS
    pushq %rcx              /* user RIP */
    pushq $0
    pushq $SYSCALL_VECTOR
    swapgs                  /* the kernel does not use GS */
    jmp trap_common

    .section .note.GNU-stack, "", @progbits
