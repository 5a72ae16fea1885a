/* The pyos C library for user programs (guest_kernel/user/lib). */
#ifndef PYOS_USER_H
#define PYOS_USER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pyos/syscall_nr.h>

long pyos_syscall(long nr, long a0, long a1, long a2, long a3, long a4);
long pyos_syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
extern char **environ;           /* crt0.S: the envp execve gave us */

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
long lseek(int fd, long offset, int whence);
int stat(const char *path, struct pyos_stat *st);
int fstat(int fd, struct pyos_stat *st);
int statfs(const char *path, struct pyos_statfs *st);
int mkdir(const char *path, int mode);
int rmdir(const char *path);
int unlink(const char *path);
int rename(const char *oldpath, const char *newpath);
long getdents(int fd, struct pyos_dirent *buf, size_t bytes);
int chdir(const char *path);
long getcwd(char *buf, size_t size);
int sync(void);
int truncate(const char *path, long length);
int ftruncate(int fd, long length);
int mount(const char *device, const char *path);
int sched_swap(const char *scheduler);   /* live scheduler swap: 0 or -EINVAL */
int fork(void);
int execve(const char *path, char *const argv[], char *const envp[]);
int waitpid(int pid, int *status, int options);
int kill(int pid, int sig);
int sigaction(int sig, const struct pyos_sigaction *act, struct pyos_sigaction *old);
int sigprocmask(int how, const unsigned long *set, unsigned long *old);
int setpgid(int pid, int pgid);
int getpgid(int pid);
int ioctl(int fd, unsigned long request, void *arg);
int getppid(void);
int dup2(int oldfd, int newfd);
int proclist(struct pyos_procinfo *buf, int count);
void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);  /* MAP_FAILED on error */
int munmap(void *addr, size_t length);
int msync(void *addr, size_t length, int flags);
#define S_ISDIR(m) (((m) & 0170000) == 0040000)
#define S_ISREG(m) (((m) & 0170000) == 0100000)

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
int strncmp(const char *a, const char *b, size_t n);
int memcmp(const void *a, const void *b, size_t n);
char *strncpy_z(char *dst, const char *src, size_t size);
long strtol(const char *s, const char **end, int base);

#endif
