/* x86_64 CPU helpers and the trap frame every interrupt entry builds. */
#ifndef PYOS_X86_H
#define PYOS_X86_H

#include <stdint.h>

/* Selectors: the Linux GDT layout (PVM-style hosts require it). */
#define KERNEL_CS 0x10
#define KERNEL_DS 0x18
#define USER_CS32 0x23
#define USER_DS 0x2b
#define USER_CS 0x33
#define TSS_SEL 0x40

/* IST slots in the TSS. */
#define IST_DOUBLE_FAULT 1
#define IST_NMI 2

#define RFLAGS_IF 0x200

/* Saved by arch/x86_64/isr.S, lowest address first. */
struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;  /* pushed by the CPU */
};

static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
/* Enable interrupts and halt atomically: an IRQ cannot slip in between. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }

static inline uint64_t read_rflags(void)
{
    uint64_t f;
    __asm__ volatile("pushfq; popq %0" : "=r"(f));
    return f;
}

/* Save IF and disable interrupts; irq_restore() puts IF back. */
static inline uint64_t irq_save(void)
{
    uint64_t f = read_rflags();
    cli();
    return f;
}

static inline void irq_restore(uint64_t flags)
{
    if (flags & RFLAGS_IF)
        sti();
}

static inline uint64_t read_cr2(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

static inline uint64_t read_cr3(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}

void gdt_init(void);
void idt_init(void);
void cpu_use_legacy_pic(void);
void cpu_enable_nx(void);
void cpu_enable_sse(void);
uint32_t cpu_hypervisor_tsc_khz(void);  /* CPUID 0x40000010's TSC kHz, or 0 */
void tss_set_kernel_stack(uint64_t top);
void cpu_syscall_init(uint64_t *percpu);

#define SYSCALL_VECTOR 0x100  /* trap_frame.vector for the syscall instruction */

#endif
