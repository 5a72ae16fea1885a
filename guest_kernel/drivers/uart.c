/*
 * 16550A UART, polled: the kernel console on COM1.
 * 115200 baud (divisor 1), 8 data bits, no parity, 1 stop bit, FIFOs on.
 */
#include <pyos/io.h>
#include <pyos/uart.h>

enum {
    UART_DATA = 0,  /* THR (write) / RBR (read); DLL when LCR.DLAB=1 */
    UART_IER = 1,   /* interrupt enable; DLM when LCR.DLAB=1 */
    UART_FCR = 2,   /* FIFO control (write) / IIR (read) */
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
};

#define LCR_DLAB 0x80
#define LCR_8N1 0x03
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define MCR_DTR_RTS_OUT2 0x0b

static uint16_t uart_base;

void uart_init(uint16_t base)
{
    uart_base = base;
    outb(base + UART_IER, 0x00);
    outb(base + UART_LCR, LCR_DLAB);
    outb(base + UART_DATA, 1);      /* divisor 1: 115200 baud */
    outb(base + UART_IER, 0);
    outb(base + UART_LCR, LCR_8N1);
    outb(base + UART_FCR, 0xc7);    /* enable and clear FIFOs, 14-byte trigger */
    outb(base + UART_MCR, MCR_DTR_RTS_OUT2);
}

void uart_putc(char c)
{
    if (!uart_base)
        return;
    while (!(inb(uart_base + UART_LSR) & LSR_THR_EMPTY))
        ;
    outb(uart_base + UART_DATA, (uint8_t)c);
}

int uart_getc_nonblock(void)
{
    if (!uart_base || !(inb(uart_base + UART_LSR) & LSR_DATA_READY))
        return -1;
    return inb(uart_base + UART_DATA);
}
