/* The kernel console: every byte goes to COM1 (CR added before LF) and to
 * the VGA text screen (kernel/printk.c). */
#ifndef PYOS_CONSOLE_H
#define PYOS_CONSOLE_H

#include <stddef.h>

void console_write(const char *s, size_t n);

#endif
