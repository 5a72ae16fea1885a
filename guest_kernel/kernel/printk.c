/* printk: formatted output to the console (the COM1 UART and the VGA screen). */
#include <pyos/console.h>
#include <pyos/kernel.h>
#include <pyos/uart.h>
#include <pyos/vga.h>

/* Does any byte of w equal '\n'? (the classic "has a zero byte" test on w ^ '\n'*8) */
static inline int has_newline(uint64_t w)
{
    uint64_t x = w ^ 0x0a0a0a0a0a0a0a0aULL;
    return ((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL) != 0;
}

/* To the UART in FIFO-sized bursts (uart_write), with CR before each LF: a
 * serial terminal needs CR LF. Eight bytes at a time while they hold no LF:
 * kernel code is emulated instruction by instruction on PVM hosts, and this
 * copy runs for every character the kernel prints. */
void console_write(const char *s, size_t n)
{
    char buf[66];  /* flushed at 64: four full 16-byte FIFO loads (+ a CR) */
    size_t k = 0, i = 0;
    while (i < n) {
        uint64_t w;
        if (i + 8 <= n && k + 8 <= 64) {
            __builtin_memcpy(&w, s + i, 8);
            if (!has_newline(w)) {
                __builtin_memcpy(buf + k, &w, 8);
                i += 8;
                k += 8;
                continue;
            }
        }
        if (s[i] == '\n')
            buf[k++] = '\r';
        buf[k++] = s[i++];
        if (k >= 64) {
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
