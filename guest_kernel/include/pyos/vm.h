/*
 * Process memory (kernel/vm.c, frame_ref.c, pagecache.c, exec.c, fork.c, mmap.c).
 *
 * A process's address space is described by its memory areas (VMAs); pages
 * are mapped lazily by vm_fault() on first touch:
 *   anonymous/heap/stack   a zeroed frame
 *   file-backed            a page of the file's page cache (shared, mapped
 *                          read-only), or a private copy of it
 * fork shares every private page read-only between parent and child (a
 * per-frame reference count says how many mappings a frame has) and the
 * first write fault copies it.
 */
#ifndef PYOS_VM_H
#define PYOS_VM_H

#include <stddef.h>
#include <stdint.h>

#define VMA_MAX 32
#define USER_STACK_TOP 0x00007ffffff00000UL
#define USER_STACK_INITIAL 0x10000UL        /* the stack area at exec; it grows on touch */
#define USER_STACK_LIMIT (8UL << 20)        /* ... down to this size */
#define USER_STACK_GUARD (1UL << 20)        /* no mapping may come this close below the limit */
#define USER_MMAP_TOP (USER_STACK_TOP - USER_STACK_LIMIT - USER_STACK_GUARD)
#define USER_LOAD_MIN 0x400000UL            /* no segment below 4 MiB (NULL pointers must fault) */
#define USER_PIE_BASE 0x0000555555554000UL  /* where an ET_DYN program is loaded */

enum vma_kind { VMA_FREE, VMA_ANON, VMA_HEAP, VMA_STACK, VMA_FILE };

struct file;

struct vma {
    uint64_t start, end;          /* page-aligned, [start, end) */
    uint32_t prot;                /* PROT_READ | PROT_WRITE | PROT_EXEC */
    uint8_t kind;                 /* enum vma_kind */
    uint8_t shared;               /* MAP_SHARED: writes reach the file, fork keeps the pages shared */
    struct file *file;            /* VMA_FILE on the VFS: a reference */
    const uint8_t *blob;          /* VMA_FILE of a program embedded in the kernel image */
    uint64_t blob_size;
    uint64_t offset;              /* file offset of start (page-aligned) */
    uint64_t file_bytes;          /* bytes from start that come from the file; the rest reads as zeros */
};

struct vm {
    struct vma vmas[VMA_MAX];
    uint64_t mmap_next;           /* mmap places areas downwards from here */
};

struct task;
struct trap_frame;

/* frame_ref.c: how many mappings beyond the first a frame has, and whether
 * the page cache holds it. Frames nobody counted have one owner. */
void frame_ref_init(uint64_t first_frame, uint64_t frames);   /* from mm_init (early_alloc) */
void frame_ref_get(uint64_t phys);
void frame_ref_put(uint64_t phys);          /* drop a mapping: frees the frame with the last one */
int frame_ref_exclusive(uint64_t phys);     /* one mapping, not in the page cache: writable in place */
void frame_ref_set_cached(uint64_t phys, int cached);
int frame_ref_cached(uint64_t phys);

/* pagecache.c: pages of files (key: vnode or embedded blob), shared by every mapping. */
uint64_t pagecache_get(const struct vma *v, uint64_t file_offset);  /* frame with one more ref, or 0 */
void pagecache_evict(uint64_t phys);        /* from frame_ref_put: the cache held the last reference */
uint64_t pagecache_pages(void);

/* vm.c */
struct vm *vm_new(void);
struct vma *vma_find(struct vm *vm, uint64_t addr);
struct vma *vma_add(struct vm *vm, uint64_t start, uint64_t end, uint32_t prot, int kind);
int vma_overlaps(struct vm *vm, uint64_t start, uint64_t end);
int vm_fault(uint64_t addr, int write, int exec);          /* 0: handled; -1: a real fault */
int vm_user_fault(struct trap_frame *f);                   /* trap.c: 1 if handled */
int vm_user_range(uint64_t addr, uint64_t len, int write);  /* 0 or -EFAULT; faults pages in */
void *vm_kaddr(struct vm *vm, uint64_t root, uint64_t va, int write);  /* kernel pointer, or NULL */
int vm_fork(struct task *child, struct task *parent);      /* COW copy of parent's space into child->space */
int vm_unmap_current(uint64_t start, uint64_t end);        /* pages and areas of [start,end) go */
void vm_destroy(struct vm *vm, uint64_t root);  /* a space that is not current: pages, areas, tables */
void vm_exit(struct task *t);               /* shared mappings written back, pages and VMAs dropped */
void vm_free(struct vm *vm);                /* VMA file references dropped, vm freed */
void vm_writeback(struct vma *v, uint64_t start, uint64_t end);
uint64_t vm_resident_pages(struct task *t);
uint64_t *vm_pte(uint64_t root, uint64_t va);  /* the leaf entry of va, or NULL */
long vm_brk(uint64_t want);                 /* move the current heap's end */

/* exec.c */
struct exec_image {
    struct vm *vm;
    uint64_t space;               /* the new address space's root */
    uint64_t entry, sp, brk;
    uint64_t argc, argv, envp;    /* user addresses on the new stack */
    char name[32];
};
int exec_load(const char *path, const char *const *argv, const char *const *envp, struct exec_image *out);
struct trap_frame;
void exec_image_enter(struct trap_frame *f, const struct exec_image *im);  /* user registers to start it */
/* User argv/envp (NULL-terminated pointer arrays) into one kernel block; free with exec_args_free. */
struct exec_args {
    const char **argv, **envp;
    uint64_t block;               /* the frames holding it all */
};
int exec_args_copy(uint64_t uargv, uint64_t uenvp, struct exec_args *out);
void exec_args_free(struct exec_args *a);

/* fork.c: where per-process state is copied (fork) or reset (exec). */
void task_fork_hook(struct task *child, struct task *parent);
void task_exec_hook(struct task *t);

#endif
