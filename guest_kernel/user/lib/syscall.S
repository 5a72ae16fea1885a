/*
 * pyos_syscall(nr, a0..a4) and pyos_syscall6(nr, a0..a5): the only way into
 * the kernel. Arguments move to the Linux registers (rdi, rsi, rdx, r10, r8,
 * r9) and we call the vDSO page, which holds `syscall; ret` where that
 * instruction works and `int3; nop; ret` where it does not (PVM-style hosts).
 */
#include <pyos/syscall_nr.h>
    .text
    .globl pyos_syscall
pyos_syscall:
    mov %rdi, %rax
    mov %rsi, %rdi
    mov %rdx, %rsi
    mov %rcx, %rdx
    mov %r8, %r10
    mov %r9, %r8
    movabs $VDSO_ADDR, %r11
    call *%r11
    ret

/* The sixth argument arrives on the stack (8(%rsp) at entry). */
    .globl pyos_syscall6
pyos_syscall6:
    mov %rdi, %rax
    mov %rsi, %rdi
    mov %rdx, %rsi
    mov %rcx, %rdx
    mov %r8, %r10
    mov %r9, %r8
    mov 8(%rsp), %r9
    movabs $VDSO_ADDR, %r11
    call *%r11
    ret

    .section .note.GNU-stack, "", @progbits
