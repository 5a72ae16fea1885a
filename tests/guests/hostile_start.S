/* Entry: a stack of our own, then hostile_main(SEED, COUNT) (patched in by the test via -D). */
    .text
    .globl _start
_start:
    lea stack_top(%rip), %rsp
    movabs $SEED, %rdi
    movabs $COUNT, %rsi
    call hostile_main
1:  hlt
    jmp 1b

    .bss
    .align 16
    .space 16384
stack_top:
