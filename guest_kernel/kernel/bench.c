/*
 * Boot-time benchmarks, chosen on the command line (python -m benchmarks runs them):
 *   bench_pio=N     N writes to the UART scratch register, each one a port-I/O
 *                   exit to the VMM and back, in a two-instruction loop
 *                   (benchmarks/pio_exit.py, python -m benchmarks);
 *   bench_serial=N  N bytes printed on COM1 through the UART driver, then
 *                   power-off: the serial-throughput row.
 * and tick_cost_report() for timer_test=S: what one timer tick costs the code
 * it interrupts.
 */
#include <pyos/bootinfo.h>
#include <pyos/io.h>
#include <pyos/kernel.h>
#include <pyos/string.h>
#include <pyos/timer.h>
#include <pyos/uart.h>
#include <pyos/x86.h>

#define UART_SCRATCH 7

/* N bytes of printable lines (63 characters and a newline) straight to the UART. */
static void bench_serial(long n)
{
    char line[64];
    for (int i = 0; i < 63; i++)
        line[i] = (char)('!' + i);
    line[63] = '\n';
    uint64_t start = rdtsc();
    for (long done = 0; done < n; done += 64)
        uart_write(line, (size_t)(n - done < 64 ? n - done : 64));
    uint64_t us = tsc_to_us(rdtsc() - start);
    printk("\nbench_serial: %ld bytes in %lu us\n", n, us);
    poweroff(0);
}

/* n writes of `value` to `port`, two instructions per write (out; loop), as
 * the C floor's real-mode guest loops (out; jmp: benchmarks/minimal_exit_loop.c).
 * Kernel mode is emulated per instruction on PVM-style hosts, so a compiled
 * loop (five instructions) would add its own extra instructions to every exit:
 * with the same two, the figure compares the VMMs, not the loops. */
static void pio_loop(uint16_t port, uint8_t value, long n)
{
    if (n > 0)
        __asm__ volatile("1: outb %%al, %%dx\n\tloop 1b" : "+c"(n) : "a"(value), "d"(port) : "memory");
}

void bench_if_asked(void)
{
    char value[24];
    if (cmdline_get("bench_serial", value, sizeof value))
        bench_serial(strtol(value, NULL, 0));
    if (!cmdline_get("bench_pio", value, sizeof value))
        return;
    long n = strtol(value, NULL, 0);
    uint16_t port = (uint16_t)(boot_info.serial_port + UART_SCRATCH);
    uint64_t start = rdtsc();
    pio_loop(port, 0x5a, n);
    uint64_t cycles = rdtsc() - start;
    printk("bench_pio: %ld exits, %lu TSC cycles each\n", n, n ? cycles / n : 0);
}

/*
 * What a timer tick costs the code it interrupts, everything included (the
 * VMM's injection, the trap, the handler, EOI, the way back): spin reading
 * the TSC with interrupts on for `n` ticks; a step much longer than the
 * loop's usual one is time taken away. The host's own interruptions (the
 * vCPU thread descheduled) make gaps too, longer and rarer: the median gap
 * is the figure reported.
 */
#define MAX_GAPS 512
void tick_cost_report(uint64_t n)
{
    extern volatile uint64_t ticks;
    static uint64_t gap[MAX_GAPS];
    uint64_t least = ~0UL, gaps = 0;
    sti();
    uint64_t prev = rdtsc();
    for (int i = 0; i < 64; i++) {  /* the loop's own step */
        uint64_t now = rdtsc();
        if (now - prev < least)
            least = now - prev;
        prev = now;
    }
    uint64_t t0 = ticks;
    prev = rdtsc();
    while (ticks - t0 < n && gaps < MAX_GAPS) {
        uint64_t now = rdtsc(), step = now - prev;
        prev = now;
        if (step > 4 * least)
            gap[gaps++] = step - least;
    }
    for (uint64_t i = 1; i < gaps; i++)  /* insertion sort: a few hundred at most */
        for (uint64_t j = i; j > 0 && gap[j - 1] > gap[j]; j--) {
            uint64_t t = gap[j];
            gap[j] = gap[j - 1];
            gap[j - 1] = t;
        }
    printk("timer_test: a tick takes %lu us from the interrupted code (median of %lu gaps over %lu ticks, TSC)\n",
           gaps ? tsc_to_us(gap[gaps / 2]) : 0, gaps, n);
}
