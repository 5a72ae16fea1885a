/* Hardware interrupts (IRQ 0-15 through the 8259A pair, vectors 0x20-0x2f). */
#ifndef PYOS_IRQ_H
#define PYOS_IRQ_H

#include <stdint.h>
#include <pyos/x86.h>

#define IRQ_BASE_VECTOR 0x20
#define IRQ_COUNT 16

#define IRQ_TIMER 0
#define IRQ_CASCADE 2
#define IRQ_COM1 4

typedef void (*irq_handler_t)(int irq, struct trap_frame *frame);

void irq_register(int irq, irq_handler_t handler);  /* also unmasks the line */
irq_handler_t irq_handler(int irq);
void irq_dispatch(int irq, struct trap_frame *frame);

/* Interrupts and spurious interrupts are counted per line in pyos_counters
 * (pyos/counters.h), where the VMM reads them. */

#endif
