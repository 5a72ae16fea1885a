/* printk: formatted output to the console (the COM1 UART and the VGA screen). */
#include <pyos/console.h>
#include <pyos/kernel.h>
#include <pyos/uart.h>
#include <pyos/vga.h>

/* To the UART in FIFO-sized bursts (uart_write), with CR before each LF: a
 * serial terminal needs CR LF. */
void console_write(const char *s, size_t n)
{
    char buf[66];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            buf[k++] = '\r';
        buf[k++] = s[i];
        if (k >= sizeof buf - 1) {
            uart_write(buf, k);
            k = 0;
        }
    }
    if (k)
        uart_write(buf, k);
    vga_write(s, n);
}

int printk(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    console_write(buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
    return n;
}
