/* 8259A PIC pair driver (drivers/pic.c). */
#ifndef PYOS_PIC_H
#define PYOS_PIC_H

#include <stdint.h>

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1

#define PIC_OCW3_READ_IRR 0x0a
#define PIC_OCW3_READ_ISR 0x0b
#define PIC_OCW3_POLL 0x0c
#define PIC_EOI 0x20
#define PIC_SPECIFIC_EOI 0x60

void pic_init(uint8_t master_base, uint8_t slave_base);  /* all lines masked but the cascade */
void pic_mask(int irq);
void pic_unmask(int irq);
void pic_eoi(int irq);
uint16_t pic_read_isr(void);   /* slave << 8 | master */
uint16_t pic_read_irr(void);
uint16_t pic_read_imr(void);

#endif
