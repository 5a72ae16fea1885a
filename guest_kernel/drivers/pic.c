/*
 * 8259A pair: remap IRQ 0-7 and 8-15 to vectors past the CPU exceptions,
 * cascade the slave on IRQ 2, edge-triggered, normal (not auto) EOI.
 */
#include <pyos/io.h>
#include <pyos/irq.h>
#include <pyos/pic.h>

#define ICW1_INIT_ICW4 0x11  /* edge-triggered, cascade mode, ICW4 follows */
#define ICW4_8086 0x01

void pic_init(uint8_t master_base, uint8_t slave_base)
{
    outb(PIC1_CMD, ICW1_INIT_ICW4);
    outb(PIC2_CMD, ICW1_INIT_ICW4);
    outb(PIC1_DATA, master_base);        /* ICW2: vector base */
    outb(PIC2_DATA, slave_base);
    outb(PIC1_DATA, 1 << IRQ_CASCADE);   /* ICW3: slave on IR2 */
    outb(PIC2_DATA, IRQ_CASCADE);        /* ICW3: slave identity */
    outb(PIC1_DATA, ICW4_8086);
    outb(PIC2_DATA, ICW4_8086);
    outb(PIC1_DATA, (uint8_t)~(1 << IRQ_CASCADE));  /* OCW1: all masked but the cascade */
    outb(PIC2_DATA, 0xff);
}

void pic_mask(int irq)
{
    uint16_t port = irq < 8 ? PIC1_DATA : PIC2_DATA;
    outb(port, inb(port) | (1 << (irq & 7)));
}

void pic_unmask(int irq)
{
    uint16_t port = irq < 8 ? PIC1_DATA : PIC2_DATA;
    outb(port, inb(port) & ~(1 << (irq & 7)));
}

void pic_eoi(int irq)
{
    if (irq >= 8)
        outb(PIC2_CMD, PIC_EOI);
    outb(PIC1_CMD, PIC_EOI);
}

static uint16_t read_both(uint8_t ocw3)
{
    outb(PIC1_CMD, ocw3);
    outb(PIC2_CMD, ocw3);
    return (uint16_t)(inb(PIC2_CMD) << 8 | inb(PIC1_CMD));
}

uint16_t pic_read_isr(void) { return read_both(PIC_OCW3_READ_ISR); }
uint16_t pic_read_irr(void) { return read_both(PIC_OCW3_READ_IRR); }
uint16_t pic_read_imr(void) { return (uint16_t)(inb(PIC2_DATA) << 8 | inb(PIC1_DATA)); }
