/*
 * Processes: spawning one, and the table of programs embedded in the kernel
 * image (the loader itself is kernel/exec.c, the memory model kernel/vm.c).
 *
 * User layout: the program's segments from 0x400000, its heap (brk) right
 * after them, the stack ending at USER_STACK_TOP (growing down on touch to
 * USER_STACK_LIMIT), mmap areas below that, the vDSO at VDSO_ADDR.
 */
#include <pyos/counters.h>
#include <pyos/file.h>
#include <pyos/frame_alloc.h>
#include <pyos/kernel.h>
#include <pyos/mm.h>
#include <pyos/mm_env.h>
#include <pyos/paging.h>
#include <pyos/sched.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/task.h>
#include <pyos/user.h>
#include <pyos/vm.h>

struct program {
    const char *name;
    const uint8_t *start, *end;
};
extern const struct program user_programs[];  /* vmm/build/user.py */


/* The names of the programs spawn knows, space-separated, into buf. */
void process_list_programs(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (const struct program *p = user_programs; p->name; p++) {
        size_t n = strlen(p->name);
        if (used + n + 2 > size)
            break;
        if (used)
            buf[used++] = ' ';
        memcpy(buf + used, p->name, n);
        used += n;
        buf[used] = 0;
    }
}

/* A program embedded in the kernel image, by name: exec.c's last resort. */
int process_find_embedded(const char *name, const uint8_t **start, uint64_t *size)
{
    for (const struct program *p = user_programs; p->name; p++) {
        if (!strcmp(p->name, name)) {
            *start = p->start;
            *size = (uint64_t)(p->end - p->start);
            return 1;
        }
    }
    return 0;
}

/* spawn: a new process running path, without copying the caller (the fast
 * path beside fork + exec); the same loader and stack layout as execve. */
int process_spawn(const char *path, const char *const *argv, struct task *parent)
{
    static const char *const no_env[] = {NULL};
    struct exec_image im;
    int err = exec_load(path, argv, no_env, &im);   /* may sleep reading the file */
    if (err)
        return err;
    uint64_t flags = irq_save();
    struct trap_frame *f;
    struct task *t = task_alloc(im.name, &f);
    if (!t) {
        vm_destroy(im.vm, im.space);
        irq_restore(flags);
        return -ENOMEM;
    }
    t->space = im.space;
    t->vm = im.vm;
    t->brk_start = t->brk = im.brk;
    exec_image_enter(f, &im);
    t->parent = parent;
    strncpy_z(t->cwd, parent ? parent->cwd : "", sizeof t->cwd);
    for (int fd = 0; fd < FD_MAX; fd++)  /* the parent's open files are inherited */
        if (parent && parent->files[fd])
            t->files[fd] = file_get(parent->files[fd]);
    if (!parent || !parent->files[0]) {
        for (int fd = 0; fd < 3; fd++)
            if (!t->files[fd])
                t->files[fd] = file_open("/dev/console");
    }
    if (parent) {
        t->sched.priority = parent->sched.priority;
        signal_fork(t, parent);      /* handlers, mask, process group... */
    }
    signal_exec(t);                  /* ...then caught handlers back to the default */
    int pid = t->pid;
    task_start_new(t);
    irq_restore(flags);
    return pid;
}
