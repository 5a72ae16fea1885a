/* Program entry: the kernel starts us with argc in %rdi and argv in %rsi. */
    .text
    .globl _start
_start:
    xor %ebp, %ebp
    call main
    mov %eax, %edi
    call exit
1:  jmp 1b

    .section .note.GNU-stack, "", @progbits
