/* VGA text console (drivers/vga.c): printk and the console tty draw here as
 * well as on COM1. */
#ifndef PYOS_VGA_H
#define PYOS_VGA_H

#include <stddef.h>

void vga_init(void);
void vga_write(const char *s, size_t n);  /* text with a few ANSI escapes */

#endif
