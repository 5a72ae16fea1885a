/*
 * What the kernel offers filesystem plugins: the whole environment a plugin
 * may use. The host harness (vmm/harness/) provides the same functions over
 * an image file, so plugin code runs unchanged on the host.
 */
#ifndef PYOS_FS_ENV_H
#define PYOS_FS_ENV_H

#include <stddef.h>
#include <stdint.h>
#include <pyos/blk.h>
#include <pyos/fs.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>

int printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *kmalloc(size_t size);
void kfree(void *p);

/* The vnode cache (kernel/vfs.c): the vnode for (m, ino), referenced; calls
 * m->ops->read_vnode on a miss. NULL with *err set on failure. */
struct vnode *vnode_get(struct fs_mount *m, uint64_t ino, int *err);
void vnode_ref(struct vnode *v);
void vnode_put(struct vnode *v);
/* A file's identity changed (e.g. a FAT rename moved its directory entry). */
void vnode_rekey(struct vnode *v, uint64_t new_ino);

/* Seconds since the epoch, for timestamps (0 if the kernel has no clock). */
uint64_t fs_time_now(void);

#endif
