/* Open files: the console, /dev/null, /dev/mouse and pipes (kernel/file.c);
 * files and directories of mounted filesystems (kernel/vfs.c). */
#ifndef PYOS_FILE_H
#define PYOS_FILE_H

#include <stddef.h>
#include <stdint.h>

struct task;

enum file_type { FILE_CONSOLE, FILE_NULL, FILE_PIPE_READ, FILE_PIPE_WRITE, FILE_MOUSE,
                 FILE_VNODE,      /* a file or directory on a mounted filesystem */
                 FILE_DIR_DEV,    /* the /dev directory (served by the VFS) */
                 FILE_DIR_ROOT }; /* "/" when no root filesystem is mounted */

struct pipe;
struct vnode;

struct file {
    enum file_type type;
    int refs;
    struct pipe *pipe;
    struct vnode *vnode;     /* FILE_VNODE */
    uint64_t offset;         /* byte offset; for directories, the readdir cookie */
    int flags;               /* the O_* flags it was opened with */
};

struct file *file_open(const char *path);   /* "/dev/console" or "/dev/null" */
struct file *input_device_open(const char *path);  /* /dev/mouse: the hook the VFS's /dev calls */
struct file *file_new(enum file_type type, struct pipe *pipe);
struct file *file_get(struct file *f);   /* one more reference */
void file_put(struct file *f);           /* one less; closes at zero */
int pipe_create(struct file **read_end, struct file **write_end);
long file_read(struct file *f, char *buf, size_t len);   /* kernel buffer */
long file_write(struct file *f, const char *buf, size_t len);
void files_close_all(struct task *t);

#endif
