/* The IDT: all 256 vectors point at their stub in isr.S. */
#include <pyos/kernel.h>
#include <pyos/x86.h>

#define STUB_SIZE 16  /* isr.S aligns every stub to 16 bytes */
#define GATE_INTERRUPT 0x8e  /* present, DPL 0, 64-bit interrupt gate (clears IF) */
#define GATE_USER 0x60       /* DPL 3: user mode may raise it (int3 for system calls) */

struct __attribute__((packed)) idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};

static struct idt_gate idt[256];
extern char isr_stubs[], int3_entry[];

/* A gate as its two quadwords: fewer stores than the packed struct's seven
 * fields (kernel code is emulated instruction by instruction on PVM hosts). */
static void set_gate_to(int vector, uint64_t addr, int ist, uint8_t extra)
{
    uint64_t *q = (uint64_t *)&idt[vector];
    q[0] = (addr & 0xffff) | (uint64_t)KERNEL_CS << 16 | (uint64_t)ist << 32 |
           (uint64_t)(GATE_INTERRUPT | extra) << 40 | ((addr >> 16) & 0xffff) << 48;
    q[1] = addr >> 32;
}

static void set_gate(int vector, int ist, uint8_t extra)
{
    set_gate_to(vector, (uint64_t)isr_stubs + (uint64_t)vector * STUB_SIZE, ist, extra);
}

_Static_assert(sizeof(struct idt_gate) == 16, "an IDT gate is two quadwords");

void idt_init(void)
{
    /* Stub v's gate is stub 0's with v * STUB_SIZE added to the low quadword
     * (the offset's low 16 bits, which never carry: isr.S aligns the 4 KiB of
     * stubs to 4 KiB). One add and two stores a gate. */
    set_gate(0, 0, 0);
    uint64_t *q = (uint64_t *)idt, low = q[0], high = q[1];
    for (int v = 1; v < 256; v++) {
        low += STUB_SIZE;
        q[2 * v] = low;
        q[2 * v + 1] = high;
    }
    set_gate(2, IST_NMI, 0);
    /* #BP from user mode (DPL 3): the int3 system-call entry itself, not its
     * stub's jump there: one emulated instruction less per system call. */
    set_gate_to(3, (uint64_t)int3_entry, 0, GATE_USER);
    set_gate(8, IST_DOUBLE_FAULT, 0);
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idtr = {sizeof idt - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" : : "m"(idtr));
}
