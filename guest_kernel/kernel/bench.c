/*
 * Boot-time benchmarks, chosen on the command line (python -m benchmarks runs them):
 *   bench_pio=N     N writes to the UART scratch register, each one a port-I/O
 *                   exit to the VMM and back (benchmarks/pio_exit.py);
 *   bench_serial=N  N bytes printed on COM1 through the UART driver, then
 *                   power-off: the serial-throughput row.
 */
#include <pyos/bootinfo.h>
#include <pyos/io.h>
#include <pyos/kernel.h>
#include <pyos/string.h>
#include <pyos/timer.h>
#include <pyos/uart.h>

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
    for (long i = 0; i < n; i++)
        outb(port, (uint8_t)i);
    uint64_t cycles = rdtsc() - start;
    printk("bench_pio: %ld exits, %lu TSC cycles each\n", n, n ? cycles / n : 0);
}
