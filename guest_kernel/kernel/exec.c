/*
 * exec: a static ELF (ET_EXEC, or ET_DYN relocated with R_X86_64_RELATIVE)
 * into a new address space. Nothing is copied at load time: each PT_LOAD
 * becomes a file-backed area with the segment's permissions (text read and
 * execute, data read/write and NX) and its pages are faulted in from the page
 * cache (kernel/vm.c); only the pages holding the stack's arguments and the
 * PIE's relocations are touched here.
 *
 * Where a program comes from: a path with '/' names a file on the VFS; a bare
 * name is looked up as /bin/NAME and then in the table of programs embedded
 * in the kernel image (so machines without a disk still run init and the
 * tests); /bin/NAME missing from the disk also falls back to that table.
 *
 * The new stack, from its lowest address (what crt0.S reads, the SysV layout):
 *   rsp -> argc, argv[0..argc-1], NULL, envp[...], NULL, auxv (AT_PAGESZ, AT_NULL)
 * then the strings themselves near USER_STACK_TOP.
 */
#include <pyos/counters.h>
#include <pyos/file.h>
#include <pyos/frame_alloc.h>
#include <pyos/kernel.h>
#include <pyos/mm.h>
#include <pyos/mm_env.h>
#include <pyos/paging.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/task.h>
#include <pyos/user.h>
#include <pyos/vfs.h>
#include <pyos/vm.h>

#define EACCES 13
#define PT_LOAD 1
#define PT_DYNAMIC 2
#define PT_INTERP 3
#define PF_X 1
#define PF_W 2
#define PF_R 4
#define ET_EXEC 2
#define ET_DYN 3
#define EM_X86_64 62
#define DT_NULL 0
#define DT_RELA 7
#define DT_RELASZ 8
#define DT_RELAENT 9
#define R_X86_64_NONE 0
#define R_X86_64_RELATIVE 8
#define AT_NULL 0
#define AT_PAGESZ 6
#define PHDR_MAX 16
#define EXEC_ARGS_MAX 256          /* argv + envp entries */
#define EXEC_ARGS_ORDER 3          /* 32 KiB for their strings and pointers */
#define EXEC_ARGS_BYTES (FRAME_SIZE << EXEC_ARGS_ORDER)

struct elf64_header {
    uint8_t ident[16];
    uint16_t type, machine;
    uint32_t version;
    uint64_t entry, phoff, shoff;
    uint32_t flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct elf64_phdr {
    uint32_t type, flags;
    uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

struct elf64_rela {
    uint64_t offset, info;
    int64_t addend;
};

/* The program's bytes: a VFS file or an embedded image. */
struct source {
    struct file *file;
    const uint8_t *blob;
    uint64_t size;
};

int process_find_embedded(const char *name, const uint8_t **start, uint64_t *size);  /* process.c */

static const char *basename(const char *path)
{
    const char *name = path;
    for (const char *p = path; *p; p++)
        if (*p == '/')
            name = p + 1;
    return name;
}

static int open_vfs(const char *path, struct source *src)
{
    struct file *f;
    int r = vfs_open(path, O_RDONLY, &f);
    if (r < 0)
        return r;
    struct fs_stat st;
    if (f->type != FILE_VNODE || vfs_fstat(f, &st) < 0 || !S_ISREG(st.mode)) {
        file_put(f);
        return -EACCES;
    }
    src->file = f;
    src->size = st.size;
    return 0;
}

static int open_program(const char *path, struct source *src)
{
    memset(src, 0, sizeof *src);
    int has_slash = 0;
    for (const char *p = path; *p; p++)
        has_slash |= *p == '/';
    if (!*path)
        return -ENOENT;
    int r;
    if (has_slash) {
        r = open_vfs(path, src);
        if (r != -ENOENT || strncmp(path, "/bin/", 5))
            return r;
    } else {
        char full[VFS_PATH_MAX];
        if (strlen(path) + 6 > sizeof full)
            return -ENAMETOOLONG;
        memcpy(full, "/bin/", 5);
        strncpy_z(full + 5, path, sizeof full - 5);
        r = open_vfs(full, src);
        if (r == 0)
            return 0;
        /* A bare name also falls back to the embedded table when the disk's /bin
         * cannot be read (a damaged root directory gives EIO): init still starts. */
        if (process_find_embedded(path, &src->blob, &src->size))
            return 0;
        return r;
    }
    return process_find_embedded(basename(path), &src->blob, &src->size) ? 0 : -ENOENT;
}

static int source_read(struct source *src, uint64_t off, void *buf, uint64_t n)
{
    if (off > src->size || n > src->size - off)
        return -ENOEXEC;
    if (!src->file) {
        memcpy(buf, src->blob + off, n);
        return 0;
    }
    for (uint64_t got = 0; got < n;) {
        long r = vfs_pread(src->file, off + got, (char *)buf + got, n - got);
        if (r <= 0)
            return r < 0 ? (int)r : -ENOEXEC;
        got += (uint64_t)r;
    }
    return 0;
}

/* Copy n bytes from kernel memory to user address va of the new space. */
static int copy_out(struct exec_image *im, uint64_t va, const void *src, uint64_t n)
{
    while (n) {
        uint64_t chunk = FRAME_SIZE - (va & (FRAME_SIZE - 1));
        if (chunk > n)
            chunk = n;
        void *dst = vm_kaddr(im->vm, im->space, va, 1);
        if (!dst)
            return -ENOMEM;
        memcpy(dst, src, chunk);
        va += chunk;
        src = (const char *)src + chunk;
        n -= chunk;
    }
    return 0;
}

static int copy_in(struct exec_image *im, uint64_t va, void *dst, uint64_t n)
{
    while (n) {
        uint64_t chunk = FRAME_SIZE - (va & (FRAME_SIZE - 1));
        if (chunk > n)
            chunk = n;
        const void *from = vm_kaddr(im->vm, im->space, va, 0);
        if (!from)
            return -ENOEXEC;
        memcpy(dst, from, chunk);
        va += chunk;
        dst = (char *)dst + chunk;
        n -= chunk;
    }
    return 0;
}

/* The PT_LOAD segments become areas; 0 or -errno. */
static int map_segments(struct exec_image *im, struct source *src, const struct elf64_phdr *ph, int phnum,
                        uint64_t base, uint64_t *top)
{
    *top = 0;
    for (int i = 0; i < phnum; i++) {
        if (ph[i].type == PT_INTERP)
            return -ENOEXEC;                 /* static programs only */
        if (ph[i].type != PT_LOAD || !ph[i].memsz)
            continue;
        uint64_t vaddr = ph[i].vaddr + base, memsz = ph[i].memsz;
        if (ph[i].filesz > memsz || (vaddr & (FRAME_SIZE - 1)) != (ph[i].offset & (FRAME_SIZE - 1)) ||
            ph[i].offset > src->size || ph[i].filesz > src->size - ph[i].offset)
            return -ENOEXEC;
        if (vaddr < USER_LOAD_MIN || vaddr >= USER_TOP || memsz > USER_MMAP_TOP - vaddr)
            return -EINVAL;                  /* the kernel, the vDSO, the stack: not a program's */
        uint64_t start = vaddr & ~(FRAME_SIZE - 1), end = (vaddr + memsz + FRAME_SIZE - 1) & ~(FRAME_SIZE - 1);
        if (vma_overlaps(im->vm, start, end))
            return -EINVAL;
        uint32_t prot = (ph[i].flags & PF_R ? PROT_READ : 0) | (ph[i].flags & PF_W ? PROT_WRITE : 0) |
                        (ph[i].flags & PF_X ? PROT_EXEC : 0);
        struct vma *v = vma_add(im->vm, start, end, prot, VMA_FILE);
        if (!v)
            return -ENOMEM;
        v->file = src->file ? file_get(src->file) : NULL;
        v->blob = src->blob;
        v->blob_size = src->size;
        v->offset = ph[i].offset - (vaddr - start);
        v->file_bytes = (vaddr - start) + ph[i].filesz;
        if (end > *top)
            *top = end;
    }
    return *top ? 0 : -ENOEXEC;
}

/* ET_DYN: apply R_X86_64_RELATIVE relocations (*where = base + addend). */
static int relocate(struct exec_image *im, const struct elf64_phdr *ph, int phnum, uint64_t base)
{
    for (int i = 0; i < phnum; i++) {
        if (ph[i].type != PT_DYNAMIC)
            continue;
        uint64_t rela = 0, relasz = 0, relaent = sizeof(struct elf64_rela);
        for (uint64_t at = ph[i].vaddr + base; at < ph[i].vaddr + base + ph[i].memsz; at += 16) {
            uint64_t d[2];
            if (copy_in(im, at, d, sizeof d) < 0)
                return -ENOEXEC;
            if (d[0] == DT_NULL)
                break;
            if (d[0] == DT_RELA)
                rela = d[1] + base;
            else if (d[0] == DT_RELASZ)
                relasz = d[1];
            else if (d[0] == DT_RELAENT)
                relaent = d[1];
        }
        if (relaent != sizeof(struct elf64_rela))
            return -ENOEXEC;
        for (uint64_t at = rela; rela && at + relaent <= rela + relasz; at += relaent) {
            struct elf64_rela r;
            if (copy_in(im, at, &r, sizeof r) < 0)
                return -ENOEXEC;
            uint32_t type = (uint32_t)r.info;
            if (type == R_X86_64_NONE)
                continue;
            if (type != R_X86_64_RELATIVE || (r.offset & 7))
                return -ENOEXEC;
            uint64_t value = base + (uint64_t)r.addend;
            if (copy_out(im, r.offset + base, &value, sizeof value) < 0)
                return -ENOEXEC;
        }
    }
    return 0;
}

/* argv and envp onto the new stack (see the top of this file). */
static int push_args(struct exec_image *im, const char *const *argv, const char *const *envp)
{
    uint64_t argc = 0, envc = 0;
    while (argv && argv[argc])
        argc++;
    while (envp && envp[envc])
        envc++;
    uint64_t strings = 0;
    for (uint64_t i = 0; i < argc; i++)
        strings += strlen(argv[i]) + 1;
    for (uint64_t i = 0; i < envc; i++)
        strings += strlen(envp[i]) + 1;
    uint64_t words = 1 + argc + 1 + envc + 1 + 4;
    if (strings + words * 8 + 64 > USER_STACK_INITIAL)
        return -E2BIG;
    uint64_t str = USER_STACK_TOP - strings;
    uint64_t sp = ((str - words * 8) & ~15UL);
    uint64_t at = sp, w;
    int err = copy_out(im, at, &argc, 8);
    at += 8;
    im->argc = argc;
    im->argv = at;
    for (int pass = 0; pass < 2 && !err; pass++) {
        const char *const *list = pass ? envp : argv;
        uint64_t n = pass ? envc : argc;
        if (pass)
            im->envp = at;
        for (uint64_t i = 0; i < n && !err; i++) {
            uint64_t len = strlen(list[i]) + 1;
            err = copy_out(im, str, list[i], len) ?: copy_out(im, at, &str, 8);
            str += len;
            at += 8;
        }
        w = 0;
        err = err ?: copy_out(im, at, &w, 8);
        at += 8;
    }
    uint64_t auxv[4] = {AT_PAGESZ, FRAME_SIZE, AT_NULL, 0};
    err = err ?: copy_out(im, at, auxv, sizeof auxv);
    im->sp = sp;
    return err;
}

/* Build a new address space running `path`; the caller's space is not touched
 * (it may be current), so a failure leaves the caller as it was. */
int exec_load(const char *path, const char *const *argv, const char *const *envp, struct exec_image *im)
{
    struct source src;
    memset(im, 0, sizeof *im);
    int err = open_program(path, &src);
    if (err)
        return err;
    strncpy_z(im->name, basename(path), sizeof im->name);
    struct elf64_header h;
    struct elf64_phdr ph[PHDR_MAX];
    if (source_read(&src, 0, &h, sizeof h) < 0 || memcmp(h.ident, "\177ELF", 4))
        err = -ENOEXEC;                                   /* not an ELF */
    else if (h.ident[4] != 2 || h.ident[5] != 1 || h.machine != EM_X86_64 || (h.type != ET_EXEC && h.type != ET_DYN))
        err = -ENOEXEC;                                   /* not x86-64, or not a program */
    else if (h.phentsize != sizeof ph[0] || !h.phnum || h.phnum > PHDR_MAX ||
             source_read(&src, h.phoff, ph, h.phnum * sizeof ph[0]) < 0)
        err = -ENOEXEC;
    uint64_t base = h.type == ET_DYN ? USER_PIE_BASE : 0, top = 0;
    uint64_t home = paging_plugin.current_space();
    if (!err && (!(im->vm = vm_new()) || !(im->space = paging_plugin.new_space())))
        err = -ENOMEM;
    if (!err)
        err = map_segments(im, &src, ph, h.phnum, base, &top);
    struct vma *stack = NULL, *heap = NULL;
    if (!err) {
        stack = vma_add(im->vm, USER_STACK_TOP - USER_STACK_INITIAL, USER_STACK_TOP, PROT_READ | PROT_WRITE,
                        VMA_STACK);
        heap = vma_add(im->vm, top, top, PROT_READ | PROT_WRITE, VMA_HEAP);
        if (!stack || !heap)
            err = -ENOMEM;
    }
    extern uint8_t vdso_page[];
    if (!err) {
        paging_plugin.switch_space(im->space);
        if (paging_plugin.map(VDSO_ADDR, virt_to_phys(vdso_page), PTE_PRESENT | PTE_USER) < 0)
            err = -ENOMEM;
    }
    if (!err && base)
        err = relocate(im, ph, h.phnum, base);
    if (!err)
        err = push_args(im, argv, envp);
    if (paging_plugin.current_space() != home)
        paging_plugin.switch_space(home);
    if (src.file)
        file_put(src.file);                 /* the areas hold their own references */
    if (err) {
        vm_destroy(im->vm, im->space);
        im->vm = NULL;
        im->space = 0;
        return err;
    }
    im->entry = h.entry + base;
    im->brk = top;
    pyos_counters.execs++;
    return 0;
}

/* --- argument vectors from user memory ----------------------------------------------------- */

void exec_args_free(struct exec_args *a)
{
    if (a->block)
        frame_free(a->block, EXEC_ARGS_ORDER);
    a->block = 0;
}

/* One NULL-terminated user pointer array into *list, its strings at *buf. */
static int copy_vector(uint64_t uvec, const char **list, int *count, char **buf, char *end)
{
    for (int i = 0; uvec; i++) {
        uint64_t slot = uvec + (uint64_t)i * 8, ptr;
        if (vm_user_range(slot, 8, 0))
            return -EFAULT;
        ptr = *(const uint64_t *)slot;
        if (!ptr)
            break;
        if (*count == EXEC_ARGS_MAX)
            return -E2BIG;
        long n = user_string(*buf, ptr, (size_t)(end - *buf));
        if (n < 0)
            return n == -EINVAL ? -E2BIG : (int)n;
        list[(*count)++] = *buf;
        *buf += n + 1;
    }
    list[(*count)++] = NULL;
    return 0;
}

int exec_args_copy(uint64_t uargv, uint64_t uenvp, struct exec_args *a)
{
    memset(a, 0, sizeof *a);
    a->block = frame_alloc(EXEC_ARGS_ORDER);
    if (!a->block)
        return -ENOMEM;
    const char **list = phys_to_virt(a->block);
    char *buf = (char *)(list + 2 * EXEC_ARGS_MAX + 2), *end = (char *)list + EXEC_ARGS_BYTES;
    int count = 0;
    a->argv = list;
    int err = copy_vector(uargv, list, &count, &buf, end);
    if (!err) {
        a->envp = list + count;
        err = copy_vector(uenvp, list, &count, &buf, end);
    }
    if (err)
        exec_args_free(a);
    return err;
}

/* The user registers a loaded image starts with (spawn and execve): its entry,
 * the SysV stack, and main's (argc, argv, envp) in rdi, rsi, rdx. */
void exec_image_enter(struct trap_frame *f, const struct exec_image *im)
{
    f->rip = im->entry;
    f->cs = USER_CS;
    f->ss = USER_DS;
    f->rflags = RFLAGS_IF | 0x2;
    f->rsp = im->sp;
    f->rdi = im->argc;
    f->rsi = im->argv;
    f->rdx = im->envp;
}
