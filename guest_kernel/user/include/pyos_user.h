/* The pyos C library for user programs (guest_kernel/user/lib). */
#ifndef PYOS_USER_H
#define PYOS_USER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pyos/syscall_nr.h>

long pyos_syscall(long nr, long a0, long a1, long a2, long a3, long a4);

long write(int fd, const void *buf, size_t len);
long read(int fd, void *buf, size_t len);
void exit(int status) __attribute__((noreturn));
int getpid(void);
int spawn(const char *path, const char *const argv[]);
int wait(int pid, int *status);
int sleep_ms(long ms);
int yield(void);
void *sbrk(long increment);
int open(const char *path, int flags);
int close(int fd);
int dup(int fd);
int pipe(int fds[2]);
int setpriority(int pid, int priority);
int sysinfo(struct pyos_sysinfo *info);
long uptime(void);

int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int dprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void *malloc(size_t size);
void free(void *ptr);

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
long strtol(const char *s, const char **end, int base);

#endif
