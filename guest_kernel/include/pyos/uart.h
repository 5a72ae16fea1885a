/* 16550 UART driver (drivers/uart.c): the kernel console. */
#ifndef PYOS_UART_H
#define PYOS_UART_H

#include <stddef.h>
#include <stdint.h>

void uart_init(uint16_t base);
void uart_putc(char c);
void uart_write(const char *s, size_t n);  /* bytes as they are (no CR before LF) */
void uart_enable_rx_irq(void);  /* received bytes go to the tty by IRQ 4 */
void uart_enable_thre_irq(void);  /* one THR-empty interrupt (for tests) */
extern volatile uint64_t uart_thre_irqs;

#endif
