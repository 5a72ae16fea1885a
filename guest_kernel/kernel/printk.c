/* printk: formatted output to the console (the COM1 UART and the VGA screen). */
#include <pyos/console.h>
#include <pyos/kernel.h>
#include <pyos/uart.h>
#include <pyos/vga.h>
#include <pyos/word.h>

/* To the UART in FIFO-sized bursts (uart_write), with CR before each LF: a
 * serial terminal needs CR LF. A word at a time (pyos/word.h): kernel code
 * is emulated instruction by instruction on PVM hosts, and this copy runs
 * for every character the kernel prints. Each step copies eight bytes and
 * keeps those before the first LF (then adds CR LF), or all eight; the word
 * past the end of s is read only within s's page. */
void console_write(const char *s, size_t n)
{
    char buf[72];  /* flushed past 56 bytes: four or so 16-byte FIFO loads */
    size_t k = 0, i = 0;
    while (i < n) {
        size_t left = n - i;
        if (left >= 8 || word_in_page(s + i)) {
            uint64_t w = load_word(s + i);
            uint64_t lf = bytes_equal(w, '\n');
            size_t take = left < 8 ? left : 8;
            size_t j = lf ? first_marked(lf) : 8;
            store_word(buf + k, w);
            if (j < take) {
                k += j;
                i += j + 1;
                buf[k++] = '\r';
                buf[k++] = '\n';
            } else {
                k += take;
                i += take;
            }
        } else {
            if (s[i] == '\n')
                buf[k++] = '\r';
            buf[k++] = s[i++];
        }
        if (k > 56) {
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
