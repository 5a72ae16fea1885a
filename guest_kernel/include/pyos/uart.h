/* 16550 UART driver (drivers/uart.c): the kernel console. */
#ifndef PYOS_UART_H
#define PYOS_UART_H

#include <stdint.h>

void uart_init(uint16_t base);
void uart_putc(char c);
int uart_getc_nonblock(void);  /* -1 when nothing was received */

#endif
