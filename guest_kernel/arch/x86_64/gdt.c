/*
 * The kernel's GDT and TSS. Selectors follow Linux's layout; the TSS gives
 * the CPU a known-good stack for double faults and NMIs (IST), so a kernel
 * stack overflow still produces a report instead of a triple fault.
 */
#include <pyos/kernel.h>
#include <pyos/x86.h>

struct __attribute__((packed)) tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};

#define IST_STACK_SIZE 8192

static uint8_t double_fault_stack[IST_STACK_SIZE] __attribute__((aligned(16)));
static uint8_t nmi_stack[IST_STACK_SIZE] __attribute__((aligned(16)));
static struct tss tss;

static uint64_t gdt[10] = {
    0,
    0x00cf9a000000ffff, /* 0x08 kernel code, 32-bit */
    0x00af9a000000ffff, /* 0x10 kernel code, 64-bit */
    0x00cf92000000ffff, /* 0x18 kernel data */
    0x00cffa000000ffff, /* 0x20 user code, 32-bit (0x23) */
    0x00cff2000000ffff, /* 0x28 user data (0x2b) */
    0x00affa000000ffff, /* 0x30 user code, 64-bit (0x33) */
    0,                  /* 0x38 unused, as in Linux */
    0, 0,               /* 0x40 TSS: a 16-byte system descriptor */
};

extern char boot_stack_top[];

/* The stack the CPU switches to on an interrupt from user mode: the
 * current task's kernel stack (task.c updates it on every switch). */
void tss_set_kernel_stack(uint64_t top)
{
    tss.rsp[0] = top;
}

void gdt_init(void)
{
    uint64_t base = (uint64_t)&tss, limit = sizeof tss - 1;
    tss.ist[IST_DOUBLE_FAULT - 1] = (uint64_t)(double_fault_stack + IST_STACK_SIZE);
    tss.ist[IST_NMI - 1] = (uint64_t)(nmi_stack + IST_STACK_SIZE);
    tss.rsp[0] = (uint64_t)boot_stack_top;
    tss.iomap_base = sizeof tss;  /* no I/O permission bitmap: user port I/O faults */

    gdt[TSS_SEL / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ULL << 40 /* present, 64-bit TSS */
                       | ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
    gdt[TSS_SEL / 8 + 1] = base >> 32;

    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } gdtr = {sizeof gdt - 1, (uint64_t)gdt};
    __asm__ volatile(
        "lgdt %0\n\t"
        "pushq %1\n\t"            /* reload CS with a far return */
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rax\n\t"
        "lretq\n"
        "1:\n\t"
        "movl %2, %%eax\n\t"
        "movl %%eax, %%ds\n\t"
        "movl %%eax, %%es\n\t"
        "movl %%eax, %%ss\n\t"
        "xorl %%eax, %%eax\n\t"
        "movl %%eax, %%fs\n\t"
        "movl %%eax, %%gs\n\t"
        "ltr %w3"
        : : "m"(gdtr), "i"(KERNEL_CS), "i"(KERNEL_DS), "r"(TSS_SEL) : "rax", "memory");
}
