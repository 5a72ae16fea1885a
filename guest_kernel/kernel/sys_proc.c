/*
 * The process system calls of issue 10: fork (copy-on-write, kernel/vm.c),
 * execve (kernel/exec.c), waitpid, mmap/munmap/msync; and the two places
 * where per-process state is copied at fork and reset at exec
 * (task_fork_hook, task_exec_hook), which signals and process groups join.
 */
#include <pyos/counters.h>
#include <pyos/file.h>
#include <pyos/frame_alloc.h>
#include <pyos/kernel.h>
#include <pyos/mm.h>
#include <pyos/paging.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/signal.h>
#include <pyos/syscalls.h>
#include <pyos/task.h>
#include <pyos/user.h>
#include <pyos/vfs.h>
#include <pyos/vm.h>

#define EACCES 13

struct file *fd_file(long fd);   /* syscall.c */

/* What a child gets besides memory: open files, cwd, priority, heap bounds. */
void task_fork_hook(struct task *child, struct task *parent)
{
    for (int fd = 0; fd < FD_MAX; fd++)
        if (parent->files[fd])
            child->files[fd] = file_get(parent->files[fd]);
    strncpy_z(child->cwd, parent->cwd, sizeof child->cwd);
    child->sched.priority = parent->sched.priority;
    child->brk_start = parent->brk_start;
    child->brk = parent->brk;
    signal_fork(child, parent);
}

/* What exec resets: the FPU state (a new program starts clean). Open files,
 * cwd and priority stay, as on Unix. */
void task_exec_hook(struct task *t)
{
    __asm__ volatile("fninit");
    signal_exec(t);
}

static struct trap_frame *user_frame(struct task *t)
{
    return (struct trap_frame *)((char *)t->kstack_top - sizeof(struct trap_frame));
}

long sys_fork(long a0, long a1, long a2, long a3, long a4, long a5)
{
    (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    if (!current->vm)
        return -EINVAL;
    uint64_t flags = irq_save();
    struct trap_frame *f;
    struct task *t = task_alloc(current->name, &f);
    if (!t) {
        irq_restore(flags);
        return -EAGAIN;
    }
    int err = (t->space = paging_plugin.new_space()) ? vm_fork(t, current) : -ENOMEM;
    if (err) {
        vm_destroy(t->vm, t->space);
        t->vm = NULL;
        t->space = 0;
        task_free_unstarted(t);
        irq_restore(flags);
        return err;
    }
    *f = *user_frame(current);       /* the child returns from the same call, with 0 */
    f->rax = 0;
    __asm__ volatile("fxsave64 (%0)" : : "r"(t->fpu) : "memory");
    t->parent = current;
    task_fork_hook(t, current);
    pyos_counters.forks++;
    int pid = t->pid;
    task_start_new(t);
    irq_restore(flags);
    return pid;
}

long sys_execve(long path, long argv, long envp, long a3, long a4, long a5)
{
    (void)a3, (void)a4, (void)a5;
    if (!current->vm)
        return -EINVAL;
    char name[VFS_PATH_MAX];
    long n = user_string(name, (uint64_t)path, sizeof name);
    if (n < 0)
        return n == -EINVAL ? -ENAMETOOLONG : n;
    struct exec_args args;
    int err = exec_args_copy((uint64_t)argv, (uint64_t)envp, &args);
    if (err)
        return err;
    struct exec_image im;
    err = exec_load(name, args.argv, args.envp, &im);
    exec_args_free(&args);
    if (err)
        return err;                  /* the old program goes on */
    struct vm *old = current->vm;
    uint64_t old_space = current->space;
    for (int i = 0; i < VMA_MAX; i++)      /* MAP_SHARED changes reach their files */
        if (old->vmas[i].kind != VMA_FREE)
            vm_writeback(&old->vmas[i], old->vmas[i].start, old->vmas[i].end);
    uint64_t flags = irq_save();
    current->vm = im.vm;
    current->space = im.space;
    paging_plugin.switch_space(im.space);
    strncpy_z(current->name, im.name, TASK_NAME_MAX);
    current->brk_start = current->brk = im.brk;
    struct trap_frame *f = user_frame(current);
    uint64_t vector = f->vector, error = f->error_code;
    memset(f, 0, sizeof *f);
    f->vector = vector;
    f->error_code = error;
    exec_image_enter(f, &im);
    task_exec_hook(current);
    irq_restore(flags);
    vm_destroy(old, old_space);      /* not current any more */
    return 0;
}

long sys_waitpid(long pid, long status, long options, long a3, long a4, long a5)
{
    (void)a3, (void)a4, (void)a5;
    if (options & ~(long)WNOHANG)
        return -EINVAL;
    if (status && user_range_ok((uint64_t)status, sizeof(int)))
        return -EFAULT;
    int code = 0;
    int r = task_waitpid((int)pid, &code, (int)options);
    if (r > 0 && status)
        *(int *)status = code;
    return r;
}

#define MMAP_MAX_LEN (1UL << 36)
#define SHARED_ANON_MAX (16UL << 20)
#define PAGE_UP(x) (((x) + FRAME_SIZE - 1) & ~(FRAME_SIZE - 1))

/* A free range of len bytes below vm->mmap_next, or 0. */
static uint64_t mmap_place(struct vm *vm, uint64_t len)
{
    uint64_t at = vm->mmap_next - len;
    for (int tries = 0; tries < VMA_MAX + 2; tries++) {
        if (at < USER_LOAD_MIN || at > vm->mmap_next)
            return 0;
        struct vma *clash = NULL;
        for (int i = 0; i < VMA_MAX && !clash; i++)
            if (vm->vmas[i].kind != VMA_FREE && at < vm->vmas[i].end && at + len > vm->vmas[i].start)
                clash = &vm->vmas[i];
        if (!clash && !(at < VDSO_ADDR + FRAME_SIZE && at + len > VDSO_ADDR))
            return at;
        uint64_t below = clash ? clash->start : VDSO_ADDR;
        if (below < len)
            return 0;
        at = below - len;
    }
    return 0;
}

long sys_mmap(long addr, long length, long prot, long flags, long fd, long offset)
{
    struct vm *vm = current->vm;
    uint64_t len = PAGE_UP((uint64_t)length), off = (uint64_t)offset, at = (uint64_t)addr;
    int type = (int)(flags & (MAP_SHARED | MAP_PRIVATE));
    if (!vm || !length || (uint64_t)length > MMAP_MAX_LEN || (off & (FRAME_SIZE - 1)) ||
        (type != MAP_SHARED && type != MAP_PRIVATE) || (prot & ~(long)(PROT_READ | PROT_WRITE | PROT_EXEC)) ||
        (flags & ~(long)(MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS)))
        return -EINVAL;
    struct file *file = NULL;
    uint64_t size = 0;
    if (!(flags & MAP_ANONYMOUS)) {
        file = fd_file(fd);
        if (!file)
            return -EBADF;
        struct fs_stat st;
        if (file->type != FILE_VNODE || vfs_fstat(file, &st) < 0 || !S_ISREG(st.mode))
            return -EACCES;
        if ((file->flags & O_ACCMODE) == O_WRONLY ||
            (type == MAP_SHARED && (prot & PROT_WRITE) && (file->flags & O_ACCMODE) != O_RDWR))
            return -EACCES;
        size = st.size;
    }
    if (type == MAP_SHARED && !file && len > SHARED_ANON_MAX)
        return -ENOMEM;   /* populated at once (below): keep it bounded */
    if (flags & MAP_FIXED) {
        if ((at & (FRAME_SIZE - 1)) || at < USER_LOAD_MIN || at > USER_MMAP_TOP || len > USER_MMAP_TOP - at ||
            (at < VDSO_ADDR + FRAME_SIZE && at + len > VDSO_ADDR))
            return -EINVAL;
        int err = vm_unmap_current(at, at + len);
        if (err)
            return err;
    } else if (!(at = mmap_place(vm, len))) {
        return -ENOMEM;
    }
    struct vma *v = vma_add(vm, at, at + len, (uint32_t)prot, file ? VMA_FILE : VMA_ANON);
    if (!v)
        return -ENOMEM;
    v->shared = type == MAP_SHARED;
    if (file) {
        v->file = file_get(file);
        v->offset = off;
        v->file_bytes = size > off ? (size - off < len ? size - off : len) : 0;
    }
    if (!(flags & MAP_FIXED))
        vm->mmap_next = at;
    if (v->shared && !file) {
        /* Shared anonymous memory has no file to meet in, so its pages exist
         * from the start: fork then shares them instead of each side faulting
         * in a zeroed page of its own. */
        for (uint64_t page = at; page < at + len; page += FRAME_SIZE) {
            if (vm_fault(page, 1, 0) < 0) {
                vm_unmap_current(at, at + len);
                return -ENOMEM;
            }
        }
    }
    return (long)at;
}

static int range_args(long addr, long length, uint64_t *start, uint64_t *end)
{
    uint64_t a = (uint64_t)addr, len = PAGE_UP((uint64_t)length);
    if ((a & (FRAME_SIZE - 1)) || !length || (uint64_t)length > MMAP_MAX_LEN || a >= USER_TOP || len > USER_TOP - a)
        return -EINVAL;
    *start = a;
    *end = a + len;
    return 0;
}

long sys_munmap(long addr, long length, long a2, long a3, long a4, long a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    uint64_t start, end;
    int err = range_args(addr, length, &start, &end);
    if (err || !current->vm)
        return err ? err : -EINVAL;
    return vm_unmap_current(start, end);
}

long sys_msync(long addr, long length, long flags, long a3, long a4, long a5)
{
    (void)flags, (void)a3, (void)a4, (void)a5;
    uint64_t start, end;
    int err = range_args(addr, length, &start, &end);
    if (err || !current->vm)
        return err ? err : -EINVAL;
    int found = 0;
    for (int i = 0; i < VMA_MAX; i++) {
        struct vma *v = &current->vm->vmas[i];
        if (v->kind == VMA_FREE || start >= v->end || end <= v->start)
            continue;
        found = 1;
        vm_writeback(v, start > v->start ? start : v->start, end < v->end ? end : v->end);
    }
    return found ? 0 : -ENOMEM;
}
