/*
 * Program entry. The kernel leaves the SysV layout on the stack:
 *   (%rsp) argc, 8(%rsp) argv[0..argc-1], NULL, envp[...], NULL, auxv
 * and we call main(argc, argv, envp).
 */
    .text
    .globl _start
_start:
    xor %ebp, %ebp
    mov (%rsp), %rdi            /* argc */
    lea 8(%rsp), %rsi           /* argv */
    lea 16(%rsp,%rdi,8), %rdx   /* envp: past argv's NULL */
    mov %rdx, environ(%rip)
    and $-16, %rsp
    call main
    mov %eax, %edi
    call exit
1:  jmp 1b

    .bss
    .balign 8
    .globl environ
environ:
    .quad 0

    .section .note.GNU-stack, "", @progbits
