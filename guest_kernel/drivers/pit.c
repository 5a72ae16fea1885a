/*
 * 8254 PIT: counter 0 as the periodic tick (mode 2, rate generator, IRQ 0),
 * counter 2 (gated through port 0x61) to measure the TSC's frequency.
 */
#include <pyos/counters.h>
#include <pyos/io.h>
#include <pyos/irq.h>
#include <pyos/kernel.h>
#include <pyos/task.h>
#include <pyos/timer.h>

#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PORT_B 0x61
#define PORT_B_GATE2 0x01
#define PORT_B_SPEAKER 0x02

volatile uint64_t ticks;
uint32_t timer_hz;
uint64_t tsc_khz;

static void tick(int irq, struct trap_frame *frame)
{
    (void)irq;
    pyos_counters.ticks = ++ticks;
    if (current)
        sched_tick(frame);
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

/*
 * TSC calibration: counter 2 counts down from 0xffff (mode 0, gate on). We
 * latch and read it, note the TSC, wait about 10 ms, and do the same again:
 * the PIT count is exact whenever it is read, so a slow port access only
 * shifts both readings alike. The median of three samples resists one stall.
 */
#define CALIBRATE_PIT_TICKS (PIT_HZ / 100)  /* 10 ms */
#define CALIBRATE_SAMPLES 3

static uint16_t read_counter2(void)
{
    outb(PIT_CMD, 0x80);  /* counter-latch command, counter 2 */
    uint8_t lo = inb(PIT_CH2);
    return (uint16_t)(lo | inb(PIT_CH2) << 8);
}

static uint64_t calibrate_once(void)
{
    outb(PIT_CMD, 0xb0);  /* counter 2, lobyte/hibyte, mode 0 */
    outb(PIT_CH2, 0xff);
    outb(PIT_CH2, 0xff);
    uint16_t start = read_counter2();
    uint64_t tsc_start = rdtsc();
    uint16_t now;
    do
        now = read_counter2();
    while ((uint16_t)(start - now) < CALIBRATE_PIT_TICKS);
    uint64_t cycles = rdtsc() - tsc_start;
    return cycles * PIT_HZ / ((uint64_t)(uint16_t)(start - now) * 1000);
}

uint64_t tsc_calibrate(void)
{
    uint64_t samples[CALIBRATE_SAMPLES];
    outb(PORT_B, (inb(PORT_B) & ~PORT_B_SPEAKER) | PORT_B_GATE2);
    for (int i = 0; i < CALIBRATE_SAMPLES; i++) {
        uint64_t v = calibrate_once();
        int j = i;
        for (; j > 0 && samples[j - 1] > v; j--)  /* insertion sort */
            samples[j] = samples[j - 1];
        samples[j] = v;
    }
    outb(PORT_B, inb(PORT_B) & ~PORT_B_GATE2);
    tsc_khz = samples[CALIBRATE_SAMPLES / 2];
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
