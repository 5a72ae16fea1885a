/*
 * The vDSO: one kernel page mapped into every process at VDSO_ADDR, the only
 * way user code enters the kernel. It holds either
 *     syscall; ret           (0f 05 c3)   where the CPU delivers `syscall`
 *     mov %r10, %rcx; int3; ret   (4c 89 d1 cc c3)   elsewhere
 * (the copy puts the 4th argument where the C ABI wants it, in user mode,
 * where an instruction costs nothing: the kernel's fast path calls the
 * handler without moving it; arch/x86_64/isr.S).
 * It starts with `syscall` when the CPU has it. On PVM-style hosts the CPU
 * then jumps to syscall_entry but stays in user mode, so its first
 * privileged instruction faults from user mode at that address:
 * vdso_fault_is_syscall_probe() sees that, switches the page to int3 for
 * good, and restarts the call through it. Both outcomes are logged once.
 *
 * At VDSO_SIGRETURN_OFFSET it holds the sigreturn trampoline, the return
 * address of every signal handler (kernel/signal.c):
 *     mov $SYS_sigreturn, %eax; jmp VDSO_ADDR
 */
#include <pyos/counters.h>
#include <pyos/kernel.h>
#include <pyos/signal.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/x86.h>

_Static_assert((VDSO_ADDR & 0xffffffffUL) == 0xf0000000UL && VDSO_ADDR >> 32 == 0x7fff,
               "arch/x86_64/isr.S compares the trapping RIP with VDSO_ADDR's halves: update VDSO_LO/VDSO_HI");

uint8_t vdso_page[4096] __attribute__((aligned(4096)));
extern char syscall_entry[];
static int decided;

static const uint8_t use_syscall[] = {0x0f, 0x05, 0xc3};
static const uint8_t use_int3[] = {0x4c, 0x89, 0xd1, 0xcc, 0xc3};
_Static_assert(sizeof use_int3 == VDSO_INT3_RIP + 1, "the int3 entry's saved RIP is VDSO_ADDR + VDSO_INT3_RIP");
static const uint8_t null_trap[] = {0xcc, 0xc3};  /* int3; ret: the benchmarks' floor */

static void set_entry(const char *how)
{
    strncpy_z(pyos_counters.syscall_entry, how, PYOS_PLUGIN_NAME_MAX);
}

/* mov $SYS_sigreturn, %eax (b8 imm32); jmp rel32 (e9) back to the entry at offset 0. */
static void put_sigreturn_trampoline(void)
{
    uint8_t *p = vdso_page + VDSO_SIGRETURN_OFFSET;
    int32_t back = -(int32_t)(VDSO_SIGRETURN_OFFSET + 10);
    p[0] = 0xb8;
    *(uint32_t *)&p[1] = SYS_sigreturn;
    p[5] = 0xe9;
    memcpy(&p[6], &back, 4);
}

void vdso_init(void)
{
    _Static_assert(VDSO_SIGRETURN_OFFSET >= VDSO_NULL_TRAP + sizeof null_trap,
                   "the vDSO's sigreturn trampoline overlaps its null trap");
    put_sigreturn_trampoline();
    uint32_t a, b, c, d;
    memcpy(vdso_page + VDSO_NULL_TRAP, null_trap, sizeof null_trap);
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001), "c"(0));
    if (d & (1u << 11)) {  /* SYSCALL/SYSRET in long mode */
        memcpy(vdso_page, use_syscall, sizeof use_syscall);
        set_entry("syscall (probing)");
    } else {
        memcpy(vdso_page, use_int3, sizeof use_int3);
        set_entry("int3 trampoline");
        decided = 1;
    }
}

/* The first system call that arrives through `syscall` proves it works. */
void vdso_syscall_arrived(void)
{
    if (!decided) {
        decided = 1;
        set_entry("syscall");
        printk("syscall entry: the syscall instruction reaches the kernel; the vDSO keeps using it\n");
    }
}

/* A #GP or #PF from user mode: was it `syscall` failing to leave user mode? */
int vdso_fault_is_syscall_probe(struct trap_frame *f)
{
    /* Only the vDSO's own `syscall`, and only while undecided: a raw `syscall`
     * elsewhere, or after the choice is made, is the program's fault. */
    if (decided || f->rip != (uint64_t)syscall_entry || !(f->cs & 3) || f->rcx != VDSO_ADDR + 2)
        return 0;
    memcpy(vdso_page, use_int3, sizeof use_int3);
    decided = 1;
    set_entry("int3 trampoline");
    printk("syscall entry: syscall from user mode is not delivered on this host "
           "(it stayed in user mode at syscall_entry); the vDSO now uses int3\n");
    f->rip = f->rcx - 2;    /* back to the start of the vDSO, now int3 */
    f->rflags = f->r11;     /* what `syscall` saved */
    return 1;
}
