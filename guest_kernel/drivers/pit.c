/*
 * 8254 PIT: counter 0 as the periodic tick (mode 2, rate generator, IRQ 0),
 * counter 2 (gated through port 0x61) to measure the TSC's frequency.
 */
#include <pyos/io.h>
#include <pyos/irq.h>
#include <pyos/kernel.h>
#include <pyos/timer.h>

#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PORT_B 0x61
#define PORT_B_GATE2 0x01
#define PORT_B_SPEAKER 0x02
#define PORT_B_OUT2 0x20

volatile uint64_t ticks;
uint32_t timer_hz;
uint64_t tsc_khz;

static void tick(int irq, struct trap_frame *frame)
{
    (void)irq;
    (void)frame;
    ticks++;
}

void pit_init(uint32_t hz)
{
    uint32_t divisor = (PIT_HZ + hz / 2) / hz;
    if (divisor > 0xffff)
        divisor = 0xffff;
    timer_hz = hz;
    outb(PIT_CMD, 0x34);  /* counter 0, lobyte/hibyte, mode 2, binary */
    outb(PIT_CH0, divisor & 0xff);
    outb(PIT_CH0, divisor >> 8);
    irq_register(IRQ_TIMER, tick);
}

#define CALIBRATE_MS 10

uint64_t tsc_calibrate(void)
{
    uint32_t count = PIT_HZ * CALIBRATE_MS / 1000;
    outb(PORT_B, (inb(PORT_B) & ~PORT_B_SPEAKER) | PORT_B_GATE2);
    outb(PIT_CMD, 0xb0);  /* counter 2, lobyte/hibyte, mode 0 */
    outb(PIT_CH2, count & 0xff);
    outb(PIT_CH2, count >> 8);
    uint64_t start = rdtsc();
    while (!(inb(PORT_B) & PORT_B_OUT2))
        ;
    uint64_t cycles = rdtsc() - start;
    outb(PORT_B, inb(PORT_B) & ~PORT_B_GATE2);
    tsc_khz = cycles / CALIBRATE_MS;
    return tsc_khz;
}

uint64_t tsc_to_us(uint64_t cycles)
{
    return tsc_khz ? cycles * 1000 / tsc_khz : 0;
}

void tsc_delay_us(uint64_t us)
{
    uint64_t end = rdtsc() + us * tsc_khz / 1000;
    while (rdtsc() < end)
        ;
}
