/*
 * A hostile guest for pyos-vmm: a freestanding 64-bit program, entered by
 * the VMM directly in long mode at CPL0, that makes N random port reads and
 * writes of every width, to every emulated device and to random ports, with
 * interrupts enabled (whatever the PIC and PIT were randomly programmed to
 * deliver lands on a handler that just returns), then writes its own status
 * to the exit port. The VMM must survive all of it and stop with that status.
 *
 * Built by tests/test_hostile.py: gcc -ffreestanding -nostdlib -static,
 * linked at 2 MiB (identity-mapped by the VMM's boot page tables).
 */
#include <stdint.h>

#define EXIT_PORT 0xf4
#define DONE_STATUS 42

struct __attribute__((packed)) gate {
    uint16_t off0, sel;
    uint8_t ist, type;
    uint16_t off1;
    uint32_t off2, zero;
};
static struct gate idt[256] __attribute__((aligned(16)));
static struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idtr;

extern char irq_return[];
__asm__(".text\nirq_return: iretq\n");

static uint64_t state;
static uint64_t next(void)   /* xorshift64 */
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

/* Ports of the devices pyos-vmm emulates (and their neighbours). */
static const uint16_t device_ports[] = {
    0x20, 0x21, 0xa0, 0xa1, 0x40, 0x41, 0x42, 0x43, 0x61,
    0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff,
    0x60, 0x64, 0x1f0, 0x1f1, 0x1f2, 0x1f3, 0x1f4, 0x1f5, 0x1f6, 0x1f7, 0x3f6,
    0x170, 0x177, 0x376, 0x3c0, 0x3c1, 0x3c2, 0x3c4, 0x3c5, 0x3c7, 0x3c8, 0x3c9, 0x3cc,
    0x3ce, 0x3cf, 0x3d4, 0x3d5, 0x3da, 0x3b4, 0x3b5, 0x3ba,
};
#define NPORTS (sizeof device_ports / sizeof device_ports[0])

static int forbidden(uint16_t port, int width, uint32_t value)
{
    /* The exit port and the ACPI power-off port would end the run early, and
     * so would the 8042's CPU reset: a pulse command (F0-FF with bit 0 clear)
     * or D1 (write output port: its data byte may clear the reset bit). */
    for (int i = 0; i < width; i++) {
        uint16_t p = (uint16_t)(port + i);
        uint8_t byte = (uint8_t)(value >> (8 * i));
        if ((p >= EXIT_PORT && p < EXIT_PORT + 4) || p == 0x604 || p == 0x605)
            return 1;
        if (p == 0x64 && (byte == 0xd1 || (byte & 0xf1) == 0xf0))
            return 1;
    }
    return 0;
}

static void access(uint16_t port, int width, int write, uint32_t value)
{
    if (write) {
        if (width == 1)
            __asm__ volatile("outb %b0, %w1" : : "a"(value), "Nd"(port));
        else if (width == 2)
            __asm__ volatile("outw %w0, %w1" : : "a"(value), "Nd"(port));
        else
            __asm__ volatile("outl %0, %w1" : : "a"(value), "Nd"(port));
    } else {
        uint32_t v;
        if (width == 1)
            __asm__ volatile("inb %w1, %b0" : "=a"(v) : "Nd"(port));
        else if (width == 2)
            __asm__ volatile("inw %w1, %w0" : "=a"(v) : "Nd"(port));
        else
            __asm__ volatile("inl %w1, %0" : "=a"(v) : "Nd"(port));
        (void)v;
    }
}

void hostile_main(uint64_t seed, uint64_t count)
{
    uint64_t handler = (uint64_t)irq_return;
    for (int v = 0; v < 256; v++)
        idt[v] = (struct gate){(uint16_t)handler, 0x10, 0, 0x8e, (uint16_t)(handler >> 16),
                               (uint32_t)(handler >> 32), 0};
    idtr.limit = sizeof idt - 1;
    idtr.base = (uint64_t)idt;
    __asm__ volatile("lidt %0; sti" : : "m"(idtr));
    state = seed | 1;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t r = next();
        int width = 1 << (r % 3);
        int write = (r >> 2) & 1;
        uint16_t port = (r >> 3) & 3 ? device_ports[(r >> 5) % NPORTS] : (uint16_t)(r >> 16);
        if (write && forbidden(port, width, (uint32_t)(r >> 32)))
            continue;
        access(port, width, write, (uint32_t)(r >> 32));
    }
    __asm__ volatile("cli");
    __asm__ volatile("outl %0, %w1" : : "a"(DONE_STATUS), "Nd"(EXIT_PORT));
    for (;;)
        __asm__ volatile("hlt");
}
