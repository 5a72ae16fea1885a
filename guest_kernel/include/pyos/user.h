/* The kernel's view of user memory and programs (kernel/process.c, syscall.c). */
#ifndef PYOS_USER_H_KERNEL
#define PYOS_USER_H_KERNEL

#include <stddef.h>
#include <stdint.h>
#include <pyos/x86.h>

#define USER_TOP 0x00007ffffffff000UL
#define USER_MAX_ARGS 32      /* argv entries a program may get, its name included */
#define USER_MAX_ARG_LEN 128  /* bytes in one argument, NUL included */

struct task;

/* 0 if [addr, addr+len) is user memory of the current process the kernel may
 * write (pages are faulted in and copy-on-write ones copied: kernel/vm.c). */
int user_range_ok(uint64_t addr, uint64_t len);
/* 0 if the kernel may read [addr, addr+len) of the current process. */
int user_range_readable(uint64_t addr, uint64_t len);
/* Copy a NUL-terminated user string; -EFAULT or -EINVAL (too long). */
long user_string(char *dst, uint64_t src, size_t size);
void process_list_programs(char *buf, size_t size);

struct task *task_alloc(const char *name, struct trap_frame **frame);
void task_free_unstarted(struct task *t);
void task_start_new(struct task *t);
void syscall_dispatch(struct trap_frame *f);
void syscall_exit_work(struct trap_frame *f);   /* on the way back to user mode from a system call */
void syscall_fast_init(void);                   /* kernel/syscall_fast.c */
void preempt_if_needed(struct trap_frame *frame);
void idle_loop(void) __attribute__((noreturn));
int tasks_alive(void);
void vdso_init(void);
void vdso_syscall_arrived(void);
int vdso_fault_is_syscall_probe(struct trap_frame *f);

#endif
