/*
 * The console tty (kernel/tty.c): the line discipline between the drivers
 * and the file descriptors. Drivers only deliver received bytes
 * (tty_input, from their IRQ handlers: the UART and the PS/2 keyboard) and
 * take bytes to send (console_write: COM1 and the VGA screen). /dev/console
 * and fds 0-2 of every process are this tty.
 */
#ifndef PYOS_TTY_H
#define PYOS_TTY_H

#include <stddef.h>

void tty_open(void);                       /* /dev/console opened: start the discipline */
void tty_input(char c);                    /* a received byte (interrupts off) */
long tty_read(char *buf, size_t len);      /* blocks; 0 at end of file, -EINTR, -EIO (background) */
long tty_read_nonblock(char *buf, size_t len);  /* -EAGAIN when nothing is ready */
long tty_write(const char *buf, size_t len);
long tty_ioctl(unsigned long request, unsigned long arg);

#endif
