/*
 * System calls: dispatch through the table plugin (pyos/syscalls.h), and the
 * kernel's implementations. Every user pointer is checked against the
 * current address space first: a bad one gets -EFAULT, never a kernel fault.
 */
#include <pyos/counters.h>
#include <pyos/file.h>
#include <pyos/frame_alloc.h>
#include <pyos/kernel.h>
#include <pyos/mm.h>
#include <pyos/paging.h>
#include <pyos/sched.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/syscalls.h>
#include <pyos/task.h>
#include <pyos/timer.h>
#include <pyos/user.h>
#include <pyos/vfs.h>
#include <pyos/vm.h>

/* Writable user memory (faulted in, copy-on-write pages copied): kernel/vm.c. */
int user_range_ok(uint64_t addr, uint64_t len) { return vm_user_range(addr, len, 1); }
int user_range_readable(uint64_t addr, uint64_t len) { return vm_user_range(addr, len, 0); }

long user_string(char *dst, uint64_t src, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (((src + i) & (FRAME_SIZE - 1)) == 0 || i == 0)
            if (user_range_readable(src + i, 1))
                return -EFAULT;
        dst[i] = *(const char *)(src + i);
        if (!dst[i])
            return (long)i;
    }
    return -EINVAL;
}

void syscall_dispatch(struct trap_frame *f)
{
    uint64_t nr = f->rax;
    pyos_counters.syscalls[nr < PYOS_SYSCALL_SLOTS ? nr : PYOS_SYSCALL_SLOTS - 1]++;
    syscall_fn fn = nr < syscalls_plugin.count ? syscalls_plugin.table[nr] : NULL;
    f->rax = fn ? (uint64_t)fn((long)f->rdi, (long)f->rsi, (long)f->rdx, (long)f->r10, (long)f->r8, (long)f->r9)
                : (uint64_t)-ENOSYS;
}

struct file *fd_file(long fd)
{
    return fd >= 0 && fd < FD_MAX ? current->files[fd] : NULL;
}

long fd_install(struct file *f)
{
    for (int fd = 0; fd < FD_MAX; fd++) {
        if (!current->files[fd]) {
            current->files[fd] = f;
            return fd;
        }
    }
    file_put(f);
    return -EMFILE;
}

#define CHUNK 256  /* user data moves through a kernel buffer this big */

/* The checks read and write share: an open descriptor and a user buffer. */
static long io_file(long fd, long buf, long len, struct file **f, int into_user)
{
    *f = fd_file(fd);
    if (!*f)
        return -EBADF;
    if (len < 0 || vm_user_range((uint64_t)buf, (uint64_t)len, into_user))
        return -EFAULT;
    return 0;
}

long sys_write(long fd, long buf, long len, long a3, long a4, long a5)
{
    (void)a3, (void)a4, (void)a5;
    struct file *f;
    long err = io_file(fd, buf, len, &f, 0);
    if (err)
        return err;
    if (f->type == FILE_VNODE)   /* straight from the checked user buffer */
        return vfs_write(f, (const void *)buf, (size_t)len);
    char chunk[CHUNK];
    long done = 0;
    while (done < len) {
        long n = len - done < CHUNK ? len - done : CHUNK;
        memcpy(chunk, (const char *)buf + done, (size_t)n);
        long r = file_write(f, chunk, (size_t)n);
        if (r < 0)
            return done ? done : r;
        done += r;
    }
    return done;
}

long sys_read(long fd, long buf, long len, long a3, long a4, long a5)
{
    (void)a3, (void)a4, (void)a5;
    struct file *f;
    long err = io_file(fd, buf, len, &f, 1);
    if (err)
        return err;
    if (len == 0)
        return 0;  /* nothing to read: never block, never store */
    if (f->type == FILE_VNODE)   /* straight into the checked user buffer */
        return vfs_read(f, (void *)buf, (size_t)len);
    char chunk[CHUNK];
    long r = file_read(f, chunk, (size_t)(len < CHUNK ? len : CHUNK));
    if (r > 0)
        memcpy((char *)buf, chunk, (size_t)r);  /* still mapped: this process's space is current */
    return r;
}

long sys_exit(long status, long a1, long a2, long a3, long a4, long a5)
{
    (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    task_exit((int)status);
}

long sys_getpid(long a0, long a1, long a2, long a3, long a4, long a5)
{
    (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    return current->pid;
}

long sys_spawn(long path, long argv, long a2, long a3, long a4, long a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    char name[64];
    long n = user_string(name, (uint64_t)path, sizeof name);
    if (n < 0)
        return n == -EINVAL ? -ENAMETOOLONG : n;
    struct exec_args args;   /* in frames of their own: loading may sleep, and another spawn run */
    int err = exec_args_copy((uint64_t)argv, 0, &args);
    if (err)
        return err;
    if (!args.argv[0]) {
        args.argv[0] = name;
        args.argv[1] = NULL;
    }
    int r = process_spawn(name, args.argv, current);
    exec_args_free(&args);
    return r;
}

long sys_wait(long pid, long status, long a2, long a3, long a4, long a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    if (status && user_range_ok((uint64_t)status, sizeof(int)))
        return -EFAULT;
    int code;
    int r = task_wait((int)pid, &code);
    if (r > 0 && status)
        *(int *)status = code;
    return r;
}

long sys_sleep(long ms, long a1, long a2, long a3, long a4, long a5)
{
    (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    if (ms < 0)
        return -EINVAL;
    task_sleep_ms((uint64_t)ms);
    return signal_pending(current) ? -EINTR : 0;   /* a signal woke it early */
}

long sys_brk(long end, long a1, long a2, long a3, long a4, long a5)
{
    (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    return vm_brk((uint64_t)end);   /* kernel/vm.c: pages appear on first touch */
}

long sys_close(long fd, long a1, long a2, long a3, long a4, long a5)
{
    (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    current->files[fd] = NULL;
    file_put(f);
    return 0;
}

long sys_dup(long fd, long a1, long a2, long a3, long a4, long a5)
{
    (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    struct file *f = fd_file(fd);
    return f ? fd_install(file_get(f)) : -EBADF;
}

long sys_pipe(long fds, long a1, long a2, long a3, long a4, long a5)
{
    (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    if (user_range_ok((uint64_t)fds, 2 * sizeof(int)))
        return -EFAULT;
    struct file *r, *w;
    int err = pipe_create(&r, &w);
    if (err)
        return err;
    long rfd = fd_install(r);
    if (rfd < 0) {
        file_put(w);
        return rfd;
    }
    long wfd = fd_install(w);
    if (wfd < 0) {
        sys_close(rfd, 0, 0, 0, 0, 0);
        return wfd;
    }
    ((int *)fds)[0] = (int)rfd;
    ((int *)fds)[1] = (int)wfd;
    return 0;
}

long sys_setpriority(long pid, long priority, long a2, long a3, long a4, long a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    struct task *t = pid ? task_by_pid((int)pid) : current;
    if (!t)
        return -ESRCH;
    if (priority < 0 || priority > 39)
        return -EINVAL;
    uint64_t flags = irq_save();
    int queued = t->sched.on_queue;
    if (queued)
        sched->dequeue(t);
    t->sched.priority = (int)priority;
    if (queued)
        sched->enqueue(t);
    irq_restore(flags);
    return 0;
}

long sys_sysinfo(long info, long a1, long a2, long a3, long a4, long a5)
{
    (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    if (user_range_ok((uint64_t)info, sizeof(struct pyos_sysinfo)))
        return -EFAULT;
    mm_refresh_stats();
    struct pyos_sysinfo s = {
        .free_frames = pyos_counters.frames.free_frames,
        .total_frames = pyos_counters.frames.total_frames,
        .ticks = ticks,
        .timer_hz = timer_hz,
        .context_switches = pyos_counters.context_switches,
        .processes = (unsigned long)tasks_alive(),
        .tsc_khz = tsc_khz,
        .cpu_ticks = current->runtime_ticks,
        .heap_bytes_in_use = pyos_counters.heap.bytes_in_use,
        .heap_frames = pyos_counters.heap.frames_in_use,
        .heap_allocs = pyos_counters.heap.allocs,
        .heap_frees = pyos_counters.heap.frees,
        .page_tables = pyos_counters.paging.tables_allocated,
    };
    strncpy_z(s.frame_allocator, pyos_counters.frame_alloc_name, sizeof s.frame_allocator);
    strncpy_z(s.heap, pyos_counters.heap_name, sizeof s.heap);
    strncpy_z(s.scheduler, sched->name, sizeof s.scheduler);
    process_list_programs(s.programs, sizeof s.programs);
    strncpy_z(s.syscall_entry, pyos_counters.syscall_entry, sizeof s.syscall_entry);
    memcpy((void *)info, &s, sizeof s);
    return 0;
}

long sys_uptime(long a0, long a1, long a2, long a3, long a4, long a5)
{
    (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    return (long)ticks;
}

long sys_sched_swap(long name, long a1, long a2, long a3, long a4, long a5)
{
    (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    char buf[PYOS_PLUGIN_NAME_MAX];
    for (size_t i = 0;; i++) {   /* copy the name in, checking each byte is the caller's */
        if (i == sizeof buf || user_range_readable((uint64_t)name + i, 1))
            return i == sizeof buf ? -EINVAL : -EFAULT;
        if (!(buf[i] = ((const char *)name)[i]))
            break;
    }
    return sched_swap(buf);
}
