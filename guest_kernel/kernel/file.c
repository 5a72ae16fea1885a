/*
 * Files: the console (the tty, kernel/tty.c: input from COM1 and the PS/2
 * keyboard through the line discipline, output to COM1 and VGA), /dev/null,
 * /dev/mouse (decoded PS/2 packets, drivers/mouse.c), and pipes (a 512-byte ring; readers block while it is empty and
 * writers remain, writers block while it is full and readers remain).
 */
#include <pyos/file.h>
#include <pyos/i8042.h>
#include <pyos/kernel.h>
#include <pyos/mm.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/signal.h>
#include <pyos/task.h>
#include <pyos/tty.h>
#include <pyos/vfs.h>

#define PIPE_SIZE 512

struct pipe {
    char buf[PIPE_SIZE];
    uint64_t head, tail;   /* head: next write, tail: next read */
    int readers, writers;
};

/* The ring's bytes in at most two memcpy()s each way (around the wrap), not
 * a byte at a time: kernel code is emulated instruction by instruction on
 * PVM hosts, and memcpy moves eight bytes per emulated store. */
static void pipe_copy_out(struct pipe *p, char *dst, size_t n)
{
    size_t at = p->tail % PIPE_SIZE, first = n < PIPE_SIZE - at ? n : PIPE_SIZE - at;
    memcpy(dst, p->buf + at, first);
    memcpy(dst + first, p->buf, n - first);
    p->tail += n;
}

static void pipe_copy_in(struct pipe *p, const char *src, size_t n)
{
    size_t at = p->head % PIPE_SIZE, first = n < PIPE_SIZE - at ? n : PIPE_SIZE - at;
    memcpy(p->buf + at, src, first);
    memcpy(p->buf, src + first, n - first);
    p->head += n;
}

struct file *file_get(struct file *f)
{
    f->refs++;
    return f;
}

struct file *file_new(enum file_type type, struct pipe *pipe)
{
    struct file *f = kmalloc(sizeof *f);
    if (f)
        *f = (struct file){.type = type, .refs = 1, .pipe = pipe};
    return f;
}

/* Device files of the PS/2 drivers, as one hook a VFS's /dev can call. */
struct file *input_device_open(const char *path)
{
    if (!strcmp(path, "/dev/mouse") && mouse_present)
        return file_new(FILE_MOUSE, NULL);
    return NULL;
}

struct file *file_open(const char *path)
{
    if (!strcmp(path, "/dev/console")) {
        tty_open();
        return file_new(FILE_CONSOLE, NULL);
    }
    if (!strcmp(path, "/dev/null"))
        return file_new(FILE_NULL, NULL);
    return input_device_open(path);
}

int pipe_create(struct file **read_end, struct file **write_end)
{
    struct pipe *p = kmalloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    memset(p, 0, sizeof *p);
    p->readers = p->writers = 1;
    *read_end = file_new(FILE_PIPE_READ, p);
    *write_end = file_new(FILE_PIPE_WRITE, p);
    if (!*read_end || !*write_end) {
        kfree(*read_end);
        kfree(*write_end);
        kfree(p);
        return -ENOMEM;
    }
    return 0;
}

void file_put(struct file *f)
{
    if (--f->refs > 0)
        return;
    if (f->type == FILE_VNODE)
        vfs_release(f);
    struct pipe *p = f->pipe;
    if (p) {
        if (f->type == FILE_PIPE_READ)
            p->readers--;
        else
            p->writers--;
        task_wakeup(p);
        if (!p->readers && !p->writers)
            kfree(p);
    }
    kfree(f);
}

void files_close_all(struct task *t)
{
    for (int fd = 0; fd < FD_MAX; fd++) {
        if (t->files[fd]) {
            file_put(t->files[fd]);
            t->files[fd] = NULL;
        }
    }
}

long file_read(struct file *f, char *buf, size_t len)
{
    switch (f->type) {
    case FILE_NULL:
        return 0;
    case FILE_VNODE:
        return vfs_read(f, buf, len);
    case FILE_DIR_DEV:
    case FILE_DIR_ROOT:
        return -EISDIR;
    case FILE_CONSOLE:
        return tty_read(buf, len);
    case FILE_MOUSE:
        return mouse_read(buf, len);
    case FILE_PIPE_READ: {
        struct pipe *p = f->pipe;
        while (p->head == p->tail && p->writers) {
            if (signal_pending(current))
                return -EINTR;
            task_block(p);
        }
        size_t n = p->head - p->tail;
        if (n > len)
            n = len;
        pipe_copy_out(p, buf, n);
        task_wakeup(p);
        return (long)n;
    }
    default:
        return -EBADF;
    }
}

long file_write(struct file *f, const char *buf, size_t len)
{
    switch (f->type) {
    case FILE_NULL:
        return (long)len;
    case FILE_VNODE:
        return vfs_write(f, buf, len);
    case FILE_CONSOLE:
        return tty_write(buf, len);
    case FILE_PIPE_WRITE: {
        struct pipe *p = f->pipe;
        size_t n = 0;
        while (n < len) {
            if (!p->readers) {
                if (n)
                    return (long)n;
                signal_send(current, SIGPIPE);   /* and EPIPE if it is caught or ignored */
                return -EPIPE;
            }
            if (p->head - p->tail == PIPE_SIZE) {
                if (signal_pending(current))
                    return n ? (long)n : -EINTR;
                task_wakeup(p);
                task_block(p);
                continue;
            }
            size_t chunk = PIPE_SIZE - (size_t)(p->head - p->tail);
            if (chunk > len - n)
                chunk = len - n;
            pipe_copy_in(p, buf + n, chunk);
            n += chunk;
        }
        task_wakeup(p);
        return (long)n;
    }
    default:
        return -EBADF;
    }
}
