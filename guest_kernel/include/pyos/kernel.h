/* Kernel-wide basics: address-space layout, printk, panic, power-off. */
#ifndef PYOS_KERNEL_H
#define PYOS_KERNEL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define PYOS_VERSION "0.1.0"

#define KERNEL_VMA      0xFFFFFFFF80000000UL  /* kernel image: -2 GiB → phys 0 */
#define DIRECT_MAP_BASE 0xFFFF800000000000UL  /* all RAM mapped here */

static inline void *phys_to_virt(uint64_t phys) { return (void *)(phys + DIRECT_MAP_BASE); }

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

int printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void poweroff(int status) __attribute__((noreturn));      /* syncs filesystems first */
void halt_machine(int status) __attribute__((noreturn));  /* no sync: panics, kernel exceptions */

/* Hand the VMM a crash record (pyos/crash_report.h, kernel/crash_report.c). */
struct trap_frame;
void crash_report_exception(struct trap_frame *f);
void crash_report_panic(uint64_t caller_rip, uint64_t caller_rbp);

/* The boot information, valid for the whole life of the kernel. */
extern struct pyos_boot_info boot_info;

/* Value of "name=value" on the command line, copied into buf; 0 if absent. */
int cmdline_get(const char *name, char *buf, size_t size);
void cmdline_check(void);   /* unknown words and bad values stop the boot (status 2) */

#endif
