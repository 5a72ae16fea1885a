/*
 * 16550A UART: the kernel console on COM1.
 * 115200 baud (divisor 1), 8 data bits, no parity, 1 stop bit, FIFOs on.
 * Output is polled: one LSR read per transmit-FIFO fill (THRE in FIFO mode
 * means the whole 16-byte FIFO is empty), then up to 16 bytes with one
 * `rep outsb`; that halves the port accesses per byte. Input is
 * interrupt-driven once uart_enable_rx_irq() is called: IRQ 4 hands each
 * received byte to the console tty (kernel/tty.c), which does the rest.
 */
#include <pyos/io.h>
#include <pyos/irq.h>
#include <pyos/tty.h>
#include <pyos/uart.h>
#include <pyos/x86.h>

enum {
    UART_DATA = 0,  /* THR (write) / RBR (read); DLL when LCR.DLAB=1 */
    UART_IER = 1,   /* interrupt enable; DLM when LCR.DLAB=1 */
    UART_FCR = 2,   /* FIFO control (write) / IIR (read) */
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
};

#define IER_RX 0x01
#define IER_THRE 0x02
#define IIR_NONE 0x01
#define IIR_ID_MASK 0x0e
#define IIR_THRE 0x02
#define LCR_DLAB 0x80
#define LCR_8N1 0x03
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define MCR_DTR_RTS_OUT2 0x0b
#define IIR_FIFOS_ON 0xc0     /* both bits set: a 16550A with its FIFOs enabled */
#define TX_FIFO_DEPTH 16

static uint16_t uart_base;
static size_t tx_burst = 1;   /* bytes per THRE: the FIFO's depth, or 1 without FIFOs */

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
    tx_burst = (inb(base + UART_FCR) & IIR_FIFOS_ON) == IIR_FIFOS_ON ? TX_FIFO_DEPTH : 1;
}

void uart_putc(char c)
{
    if (!uart_base)
        return;
    while (!(inb(uart_base + UART_LSR) & LSR_THR_EMPTY))
        ;
    outb(uart_base + UART_DATA, (uint8_t)c);
}

void uart_write(const char *s, size_t n)
{
    if (!uart_base)
        return;
    uint16_t lsr = uart_base + UART_LSR, thr = uart_base + UART_DATA;
    while (n) {
        while (!(inb(lsr) & LSR_THR_EMPTY))
            ;
        size_t k = n < tx_burst ? n : tx_burst;
        n -= k;
        __asm__ volatile("rep outsb" : "+S"(s), "+c"(k) : "d"(thr) : "memory");
    }
}

volatile uint64_t uart_thre_irqs;

static void uart_irq(int irq, struct trap_frame *frame)
{
    (void)irq;
    (void)frame;
    uint8_t iir;
    while (!((iir = inb(uart_base + UART_FCR)) & IIR_NONE)) {
        if ((iir & IIR_ID_MASK) == IIR_THRE) {
            /* Output is polled: a THR-empty interrupt was asked for by a test. */
            uart_thre_irqs++;
            outb(uart_base + UART_IER, inb(uart_base + UART_IER) & ~IER_THRE);
            continue;
        }
        while (inb(uart_base + UART_LSR) & LSR_DATA_READY)
            tty_input((char)inb(uart_base + UART_DATA));
    }
}

void uart_enable_rx_irq(void)
{
    irq_register(IRQ_COM1, uart_irq);
    outb(uart_base + UART_IER, IER_RX);
}

void uart_enable_thre_irq(void)
{
    outb(uart_base + UART_IER, inb(uart_base + UART_IER) | IER_THRE);
}
