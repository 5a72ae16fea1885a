/*
 * CPU set-up that depends on what CPUID reports.
 *
 * pyos drives interrupts through the 8259A PIC alone. On a machine that also
 * has an enabled local APIC (QEMU, real PCs) and no BIOS to set it up, the
 * APIC would swallow the PIC's INTR: we put it in virtual-wire mode, as a
 * BIOS does (LINT0 = ExtINT: the PIC's vector passes straight through).
 * pyos-vmm models no local APIC and leaves it disabled in IA32_APIC_BASE,
 * which also clears the APIC bit in CPUID.
 */
#include <pyos/kernel.h>
#include <pyos/mm_env.h>
#include <pyos/x86.h>

#define CPUID1_EDX_APIC (1u << 9)
#define CPUID_EXT_EDX_NX (1u << 20)
#define MSR_EFER 0xc0000080
#define EFER_NXE (1ull << 11)
#define MSR_APIC_BASE 0x1b
#define APIC_BASE_ENABLE (1ull << 11)
#define APIC_SVR 0xf0
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_SVR_ENABLE 0x100
#define APIC_SPURIOUS_VECTOR 0xff
#define APIC_DELIVERY_EXTINT 0x700
#define APIC_DELIVERY_NMI 0x400

static void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

#define CPUID_EXT_EDX_1G_PAGES (1u << 26)

/* Declared in mm_env.h: paging plugins map 1 GiB pages where the CPU has them. */
int cpu_has_1g_pages(void)
{
    uint32_t a, b, c, d;
    cpuid(0x80000000, &a, &b, &c, &d);
    if (a < 0x80000001)
        return 0;
    cpuid(0x80000001, &a, &b, &c, &d);
    return (d & CPUID_EXT_EDX_1G_PAGES) != 0;
}

/*
 * The TSC's frequency from the hypervisor, if it says: CPUID 1 ECX bit 31
 * marks a hypervisor, 0x40000000 EAX is its highest leaf, and the timing
 * leaf 0x40000010 holds the TSC's kHz in EAX (VMware's convention, also
 * QEMU's, cloud-hypervisor's and pyos-vmm's). 0 when there is no such leaf:
 * real hardware, or a hypervisor that does not fill it in.
 */
#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define CPUID_HYPERVISOR_BASE 0x40000000u
#define CPUID_TIMING_LEAF 0x40000010u

uint32_t cpu_hypervisor_tsc_khz(void)
{
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    if (!(c & CPUID1_ECX_HYPERVISOR))
        return 0;
    cpuid(CPUID_HYPERVISOR_BASE, &a, &b, &c, &d);
    if (a < CPUID_TIMING_LEAF || a > CPUID_HYPERVISOR_BASE + 0xff)
        return 0;
    cpuid(CPUID_TIMING_LEAF, &a, &b, &c, &d);
    return a;
}

static uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t)hi << 32 | lo;
}

static void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

/* User programs may use SSE (the kernel never does): CR4.OSFXSR enables the
 * instructions and fxsave/fxrstor of their state, OSXMMEXCPT their
 * exceptions; CR0.EM off, MP on. Not every loader sets these up for us. */
void cpu_enable_sse(void)
{
    uint64_t cr0, cr4;
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    cr0 = (cr0 & ~(1UL << 2)) | (1UL << 1);
    __asm__ volatile("mov %0, %%cr0" : : "r"(cr0));
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    cr4 |= (1UL << 9) | (1UL << 10);
    __asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
}

/* Page tables mark data no-execute; the bit is reserved until EFER.NXE is set. */
void cpu_enable_nx(void)
{
    uint32_t a, b, c, d;
    cpuid(0x80000001, &a, &b, &c, &d);
    if (!(d & CPUID_EXT_EDX_NX))
        panic("this CPU has no NX (execute-disable) bit, which pyos's page tables use");
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
}

#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_SFMASK 0xc0000084
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define EFER_SCE 1
#define RFLAGS_TF_IF_DF 0x700

extern char syscall_entry[];

/* The `syscall` instruction: enter at syscall_entry with IF, DF and TF
 * clear; swapgs finds percpu (kernel stack top, scratch) through GS. */
void cpu_syscall_init(uint64_t *percpu)
{
    wrmsr(MSR_STAR, (uint64_t)KERNEL_CS << 32 | (uint64_t)(USER_CS32 & ~3) << 48);
    wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
    wrmsr(MSR_SFMASK, RFLAGS_TF_IF_DF);
    wrmsr(MSR_GS_BASE, 0);
    wrmsr(MSR_KERNEL_GS_BASE, (uint64_t)percpu);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}

void cpu_use_legacy_pic(void)
{
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    uint64_t base = (d & CPUID1_EDX_APIC) ? rdmsr(MSR_APIC_BASE) : 0;
    if (!(base & APIC_BASE_ENABLE)) {
        printk("cpu: no local APIC enabled; the 8259A PIC drives INTR\n");
        return;
    }
    volatile uint32_t *apic = phys_to_virt(base & ~0xfffULL);
    apic[APIC_SVR / 4] = APIC_SVR_ENABLE | APIC_SPURIOUS_VECTOR;
    apic[APIC_LVT_LINT0 / 4] = APIC_DELIVERY_EXTINT;
    apic[APIC_LVT_LINT1 / 4] = APIC_DELIVERY_NMI;
    printk("cpu: local APIC at %#lx in virtual-wire mode; the 8259A PIC drives INTR\n",
           base & ~0xfffULL);
}
