/*
 * Processes: loading a program (a static ELF embedded in the kernel image)
 * into a fresh address space, and spawning it.
 *
 * User layout: the program's segments from 0x400000, its heap (brk) right
 * after them, a 64 KiB stack ending at USER_STACK_TOP, the vDSO at VDSO_ADDR.
 * Segments are mapped writable whatever their flags (so the kernel's user
 * copies cannot fault on them); non-executable ones get NX.
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

struct program {
    const char *name;
    const uint8_t *start, *end;
};
extern const struct program user_programs[];  /* vmm/build/user.py */
extern uint8_t vdso_page[];

#define USER_STACK_TOP 0x00007ffffff00000UL
#define USER_STACK_SIZE 0x10000UL

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

#define PT_LOAD 1
#define PF_X 1

static const struct program *find_program(const char *path)
{
    const char *name = path;
    for (const char *p = path; *p; p++)  /* "/bin/hello" and "hello" both name hello */
        if (*p == '/')
            name = p + 1;
    for (const struct program *p = user_programs; p->name; p++)
        if (!strcmp(p->name, name))
            return p;
    return NULL;
}

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

/* Map [start, end) in the current space with fresh zeroed owned frames. */
int user_map_zeroed(uint64_t start, uint64_t end, uint64_t flags)
{
    for (uint64_t va = start & ~(FRAME_SIZE - 1); va < end; va += FRAME_SIZE) {
        if (paging_plugin.translate(va) != PAGING_NOT_MAPPED)
            continue;
        uint64_t frame = frame_alloc(0);
        if (!frame)
            return -ENOMEM;
        memset(phys_to_virt(frame), 0, FRAME_SIZE);
        if (paging_plugin.map(va, frame, flags | PTE_PRESENT | PTE_USER | PTE_OWNED) < 0) {
            frame_free(frame, 0);
            return -ENOMEM;
        }
    }
    return 0;
}

/* Load the ELF into the current (new) address space; returns 0 or -errno. */
static int load_elf(const struct program *prog, uint64_t *entry, uint64_t *brk)
{
    const struct elf64_header *h = (const void *)prog->start;
    uint64_t size = (uint64_t)(prog->end - prog->start);
    if (size < sizeof *h || memcmp(h->ident, "\177ELF", 4) || h->ident[4] != 2 || h->machine != 62 ||
        h->phoff + (uint64_t)h->phnum * sizeof(struct elf64_phdr) > size)
        return -EINVAL;
    uint64_t top = 0;
    for (int i = 0; i < h->phnum; i++) {
        const struct elf64_phdr *ph = (const void *)(prog->start + h->phoff + i * sizeof *ph);
        if (ph->type != PT_LOAD || !ph->memsz)
            continue;
        if (ph->vaddr < 0x400000 || ph->vaddr + ph->memsz > USER_STACK_TOP - USER_STACK_SIZE ||
            ph->offset + ph->filesz > size || ph->filesz > ph->memsz)
            return -EINVAL;
        uint64_t flags = PTE_WRITE | (ph->flags & PF_X ? 0 : PTE_NX);
        if (user_map_zeroed(ph->vaddr, ph->vaddr + ph->memsz, flags) < 0)
            return -ENOMEM;
        memcpy((void *)ph->vaddr, prog->start + ph->offset, ph->filesz);  /* this space is current */
        if (ph->vaddr + ph->memsz > top)
            top = ph->vaddr + ph->memsz;
    }
    *entry = h->entry;
    *brk = (top + FRAME_SIZE - 1) & ~(FRAME_SIZE - 1);
    return 0;
}

/* argv onto the new stack: the strings, then the pointer array. */
static uint64_t push_args(const char *const *argv, int argc, uint64_t *argv_user)
{
    uint64_t sp = USER_STACK_TOP;
    uint64_t ptrs[USER_MAX_ARGS + 1];
    for (int i = argc - 1; i >= 0; i--) {
        size_t n = strlen(argv[i]) + 1;
        sp -= n;
        memcpy((void *)sp, argv[i], n);
        ptrs[i] = sp;
    }
    ptrs[argc] = 0;
    sp &= ~15UL;
    sp -= (argc + 1) * sizeof(uint64_t);
    sp &= ~15UL;
    memcpy((void *)sp, ptrs, (argc + 1) * sizeof(uint64_t));
    *argv_user = sp;
    return sp;  /* 16-byte aligned, as _start expects */
}

int process_spawn(const char *path, const char *const *argv, struct task *parent)
{
    const struct program *prog = find_program(path);
    if (!prog)
        return -ENOENT;
    int argc = 0;
    while (argv && argv[argc] && argc < USER_MAX_ARGS)
        argc++;

    uint64_t flags = irq_save();
    struct trap_frame *f;
    struct task *t = task_alloc(prog->name, &f);
    uint64_t space = t ? paging_plugin.new_space() : 0;
    if (!space) {
        if (t)
            task_free_unstarted(t);
        irq_restore(flags);
        return -ENOMEM;
    }
    /* Build the new space while it is current (interrupts stay off). */
    uint64_t home = paging_plugin.current_space();
    paging_plugin.switch_space(space);
    uint64_t entry = 0, brk = 0, argv_user = 0, sp = 0;
    int err = load_elf(prog, &entry, &brk);
    if (!err)
        err = user_map_zeroed(USER_STACK_TOP - USER_STACK_SIZE, USER_STACK_TOP, PTE_WRITE | PTE_NX);
    if (!err)
        err = paging_plugin.map(VDSO_ADDR, virt_to_phys(vdso_page), PTE_PRESENT | PTE_USER) < 0 ? -ENOMEM : 0;
    if (!err)
        sp = push_args(argv, argc, &argv_user);
    paging_plugin.switch_space(home);
    if (err) {
        paging_plugin.free_space(space);
        task_free_unstarted(t);
        irq_restore(flags);
        return err;
    }
    t->space = space;
    t->brk_start = t->brk = brk;
    f->rip = entry;
    f->cs = USER_CS;
    f->ss = USER_DS;
    f->rflags = RFLAGS_IF | 0x2;
    f->rsp = sp;
    f->rdi = (uint64_t)argc;
    f->rsi = argv_user;
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
        signal_fork(t, parent);   /* handlers, mask, process group... */
    }
    signal_exec(t);               /* ...then caught handlers back to the default */
    int pid = t->pid;
    task_start_new(t);
    irq_restore(flags);
    return pid;
}
