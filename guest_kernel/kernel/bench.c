/*
 * bench_pio=N on the command line: N writes to the UART scratch register,
 * each one a port-I/O exit to the VMM and back. benchmarks/pio_exit.py times
 * it against minimal KVM loops.
 */
#include <pyos/bootinfo.h>
#include <pyos/io.h>
#include <pyos/kernel.h>
#include <pyos/string.h>

#define UART_SCRATCH 7

void bench_if_asked(void)
{
    char value[24];
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
