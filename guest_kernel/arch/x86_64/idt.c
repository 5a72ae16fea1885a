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
extern char isr_stubs[];

static void set_gate(int vector, int ist, uint8_t extra)
{
    uint64_t addr = (uint64_t)isr_stubs + (uint64_t)vector * STUB_SIZE;
    idt[vector] = (struct idt_gate){
        .offset_low = addr & 0xffff,
        .selector = KERNEL_CS,
        .ist = (uint8_t)ist,
        .type_attr = GATE_INTERRUPT | extra,
        .offset_mid = (addr >> 16) & 0xffff,
        .offset_high = addr >> 32,
    };
}

void idt_init(void)
{
    for (int v = 0; v < 256; v++)
        set_gate(v, 0, 0);
    set_gate(2, IST_NMI, 0);
    set_gate(3, 0, GATE_USER);  /* #BP from user mode: the int3 system-call trampoline */
    set_gate(8, IST_DOUBLE_FAULT, 0);
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idtr = {sizeof idt - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" : : "m"(idtr));
}
