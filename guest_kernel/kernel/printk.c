/* printk: formatted output to the console (the COM1 UART and the VGA screen). */
#include <pyos/console.h>
#include <pyos/kernel.h>
#include <pyos/uart.h>
#include <pyos/vga.h>

void console_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            uart_putc('\r');  /* a serial terminal needs CR LF */
        uart_putc(s[i]);
    }
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
