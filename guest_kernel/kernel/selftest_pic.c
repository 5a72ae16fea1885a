/*
 * selftest=pic: check, from inside the guest, that the interrupt controller
 * behaves as the 8259A datasheet says. Each check prints PASS or FAIL; the
 * test suite boots with this option and reads the lines.
 */
#include <pyos/io.h>
#include <pyos/irq.h>
#include <pyos/kernel.h>
#include <pyos/pic.h>
#include <pyos/timer.h>
#include <pyos/uart.h>
#include <pyos/x86.h>

static int passed, failed;

static void check(const char *name, int ok, const char *detail)
{
    printk("selftest pic: %s: %s (%s)\n", name, ok ? "PASS" : "FAIL", detail);
    if (ok)
        passed++;
    else
        failed++;
}

static uint64_t period_us(void) { return 1000000 / timer_hz; }

static irq_handler_t timer_handler;  /* the PIT driver's: the probes call it, then it is put back */

static void tick_handler(int irq, struct trap_frame *frame)
{
    timer_handler(irq, frame);
}

/* 1. A masked line is latched in IRR but not delivered until unmasked. */
static void masked_irq_held(void)
{
    char detail[96];
    pic_mask(IRQ_TIMER);
    uint64_t before = ticks;
    tsc_delay_us(3 * period_us());
    uint64_t during = ticks;
    int latched = pic_read_irr() & 1;
    pic_unmask(IRQ_TIMER);
    tsc_delay_us(200);  /* interrupt latency; on pyos-vmm it is taken at once */
    uint64_t after = ticks;
    snprintf(detail, sizeof detail, "ticks %lu while masked, IRR0=%d, +%lu on unmask",
             during - before, latched, after - during);
    /* Exactly the one latched edge (two if a new period ended in the 200 µs). */
    check("masked IRQ held until unmasked",
          during == before && latched && (after == during + 1 || after == during + 2), detail);
}

/* 2. The ISR bit is set while the handler runs and cleared by the EOI. */
static volatile uint16_t isr_in_handler;
static void isr_probe(int irq, struct trap_frame *frame)
{
    isr_in_handler = pic_read_isr();
    tick_handler(irq, frame);
}

static void in_service_and_eoi(void)
{
    char detail[96];
    irq_register(IRQ_TIMER, isr_probe);
    uint64_t t = ticks;
    while (ticks == t)
        sti_hlt();
    irq_register(IRQ_TIMER, tick_handler);
    uint16_t isr_after = pic_read_isr();
    snprintf(detail, sizeof detail, "ISR in handler %#x, after EOI %#x", isr_in_handler, isr_after);
    check("in-service bit set in handler, cleared by EOI", (isr_in_handler & 1) && !(isr_after & 1), detail);
}

/* 3. Fixed priority: IRQ 4 waits while IRQ 0 is in service, runs on its EOI. */
static volatile int priority_armed;
static volatile uint64_t thre_before_eoi, thre_after_eoi, thre_at_start;
static void priority_probe(int irq, struct trap_frame *frame)
{
    tick_handler(irq, frame);
    if (!priority_armed)
        return;
    priority_armed = 0;
    thre_at_start = uart_thre_irqs;
    uart_enable_thre_irq();  /* THR is empty: IRQ 4 is requested at once */
    sti();                   /* nested interrupts allowed, yet IRQ 4 must wait */
    tsc_delay_us(2000);
    thre_before_eoi = uart_thre_irqs;
    outb(PIC1_CMD, PIC_SPECIFIC_EOI | IRQ_TIMER);
    /* Now IRQ 4 runs, nested inside this handler. Wait for it (up to half a
     * second of TSC time: a loaded host may not run the vCPU for a while). */
    for (int ms = 0; ms < 500 && uart_thre_irqs == thre_before_eoi; ms++)
        tsc_delay_us(1000);
    thre_after_eoi = uart_thre_irqs;
    cli();
}

static void priority_and_eoi(void)
{
    char detail[96];
    irq_register(IRQ_TIMER, priority_probe);
    priority_armed = 1;
    while (priority_armed)
        sti_hlt();
    irq_register(IRQ_TIMER, tick_handler);
    snprintf(detail, sizeof detail, "IRQ4 taken before EOI of IRQ0: %lu, after: %lu",
             thre_before_eoi - thre_at_start, thre_after_eoi - thre_at_start);
    check("lower priority waits for EOI", thre_before_eoi == thre_at_start && thre_after_eoi == thre_at_start + 1,
          detail);
}

/* 4. The poll command acts as INTA: returns 0x80 | level and sets ISR. */
static void poll_command(void)
{
    char detail[96];
    uint64_t flags = irq_save();     /* IF=0: the CPU takes nothing, the PIC keeps IRR0 */
    tsc_delay_us(2 * period_us());
    outb(PIC1_CMD, PIC_OCW3_POLL);
    uint8_t word = inb(PIC1_CMD);
    uint16_t isr = pic_read_isr();
    outb(PIC1_CMD, PIC_EOI);
    outb(PIC2_CMD, PIC_OCW3_POLL);
    uint8_t empty = inb(PIC2_CMD);  /* the slave has nothing requested */
    timer_handler(IRQ_TIMER, NULL);  /* the polled request was a tick */
    irq_restore(flags);
    snprintf(detail, sizeof detail, "poll word %#x, ISR %#x, slave poll %#x", word, isr, empty);
    check("poll command", word == 0x80 && (isr & 1) && empty == 0, detail);
}

/* Returns the number of failed checks: the boot's exit status depends on it. */
int selftest_pic(void)
{
    timer_handler = irq_handler(IRQ_TIMER);
    masked_irq_held();
    in_service_and_eoi();
    priority_and_eoi();
    poll_command();
    irq_register(IRQ_TIMER, timer_handler);
    printk("selftest pic: %d passed, %d failed\n", passed, failed);
    return failed;
}
