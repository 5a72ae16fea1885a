/*
 * The VFS's own interface to the rest of the kernel (kernel/vfs.c,
 * kernel/vnode.c). Filesystem plugins use <pyos/fs_env.h> instead.
 */
#ifndef PYOS_VFS_H
#define PYOS_VFS_H

#include <stdint.h>
#include <pyos/fs.h>

/* Vnodes held on mount m (all mounts if NULL): a leak check at unmount. */
uint64_t vnodes_in_use(const struct fs_mount *m);

#endif
