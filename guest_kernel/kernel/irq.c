/*
 * IRQ dispatch: spurious-interrupt checks, the handler, then EOI.
 *
 * A spurious IRQ 7 (or 15) is one the PIC signalled but then found no request
 * for; it reports its lowest-priority vector without setting the ISR bit.
 * So for IRQ 7/15 we read the ISR first: no bit, no handler and no EOI to
 * that chip (for 15, the master did put the cascade in service: EOI it).
 */
#include <pyos/counters.h>
#include <pyos/irq.h>
#include <pyos/kernel.h>
#include <pyos/pic.h>
#include <pyos/io.h>

static irq_handler_t handlers[IRQ_COUNT];

void irq_register(int irq, irq_handler_t handler)
{
    handlers[irq] = handler;
    pic_unmask(irq);
}

irq_handler_t irq_handler(int irq)
{
    return handlers[irq];
}

void irq_dispatch(int irq, struct trap_frame *frame)
{
    if (irq == 7 || irq == 15) {
        if (!(pic_read_isr() & (1 << irq))) {
            pyos_counters.spurious_irqs[irq]++;
            if (irq == 15)
                outb(PIC1_CMD, PIC_EOI);
            return;
        }
    }
    pyos_counters.irqs[irq]++;
    if (handlers[irq])
        handlers[irq](irq, frame);
    pic_eoi(irq);
}
