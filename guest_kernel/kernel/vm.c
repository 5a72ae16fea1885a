/*
 * Process memory: the memory areas (VMAs) of a process, the page-fault
 * handler that fills them on first touch, copy-on-write, and the checks the
 * kernel makes before it touches user memory.
 *
 * Page tables: the paging plugin creates tables and maps pages (map/unmap in
 * the current space). Both plugins build ordinary x86-64 tables, and all of
 * RAM is in the direct map, so this file reads and edits leaf entries of the
 * lower half through it (vm_pte), as kernel/page_tables.c does to free a
 * space: clearing the write bit for COW, or dropping a page, works the same
 * under every plugin and in spaces that are not current.
 *
 * Every user page but the vDSO is PTE_OWNED and counted in kernel/frame_ref.c;
 * pages are given back through frame_ref_put, so a frame shared by fork or by
 * the page cache is freed with its last mapping.
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

#define PTE_DIRTY 0x040ULL
#define PAGE_MASK (~(FRAME_SIZE - 1))

struct vm *vm_new(void)
{
    struct vm *vm = kmalloc(sizeof *vm);
    if (vm) {
        memset(vm, 0, sizeof *vm);
        vm->mmap_next = USER_MMAP_TOP;
    }
    return vm;
}

struct vma *vma_find(struct vm *vm, uint64_t addr)
{
    for (int i = 0; i < VMA_MAX; i++)
        if (vm->vmas[i].kind != VMA_FREE && addr >= vm->vmas[i].start && addr < vm->vmas[i].end)
            return &vm->vmas[i];
    return NULL;
}

/* Does [start, end) meet an area, or the vDSO page? */
int vma_overlaps(struct vm *vm, uint64_t start, uint64_t end)
{
    if (start < VDSO_ADDR + FRAME_SIZE && end > VDSO_ADDR)
        return 1;
    for (int i = 0; i < VMA_MAX; i++)
        if (vm->vmas[i].kind != VMA_FREE && start < vm->vmas[i].end && end > vm->vmas[i].start)
            return 1;
    return 0;
}

struct vma *vma_add(struct vm *vm, uint64_t start, uint64_t end, uint32_t prot, int kind)
{
    for (int i = 0; i < VMA_MAX; i++) {
        struct vma *v = &vm->vmas[i];
        if (v->kind == VMA_FREE) {
            memset(v, 0, sizeof *v);
            v->start = start;
            v->end = end;
            v->prot = prot;
            v->kind = (uint8_t)kind;
            return v;
        }
    }
    return NULL;
}

static struct vma *vma_of_kind(struct vm *vm, int kind)
{
    for (int i = 0; i < VMA_MAX; i++)
        if (vm->vmas[i].kind == kind)
            return &vm->vmas[i];
    return NULL;
}

/* --- page tables, through the direct map --------------------------------------------------- */

static unsigned level_index(uint64_t va, int level) { return (va >> (12 + 9 * (level - 1))) & 511; }

/* The page table (level 1) that maps va, or NULL if there is none yet. */
static uint64_t *leaf_table(uint64_t root, uint64_t va)
{
    uint64_t *table = phys_to_virt(root);
    for (int level = 4; level > 1; level--) {
        uint64_t e = table[level_index(va, level)];
        if (!(e & PTE_PRESENT) || (e & PTE_HUGE))
            return NULL;
        table = phys_to_virt(e & PTE_ADDR_MASK);
    }
    return table;
}

uint64_t *vm_pte(uint64_t root, uint64_t va)
{
    uint64_t *table = leaf_table(root, va);
    return table ? &table[level_index(va, 1)] : NULL;
}

static uint64_t pte_flags(const struct vma *v, int writable)
{
    return PTE_PRESENT | PTE_USER | PTE_OWNED | (writable ? PTE_WRITE : 0) | (v->prot & PROT_EXEC ? 0 : PTE_NX);
}

/* Page copies and clears a word at a time: kernel code is emulated here. */
static void copy_page(uint64_t dst, uint64_t src)
{
    void *d = phys_to_virt(dst);
    const void *s = phys_to_virt(src);
    uint64_t n = FRAME_SIZE / 8;
    __asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

static uint64_t zeroed_frame(void)
{
    uint64_t phys = frame_alloc(0);
    if (phys) {
        void *d = phys_to_virt(phys);
        uint64_t n = FRAME_SIZE / 8;
        __asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(0UL) : "memory");
    }
    return phys;
}

/* Calls fn for every present page of [start, end) in the space, skipping
 * missing page tables 2 MiB at a time. */
static void walk_range(uint64_t root, uint64_t start, uint64_t end,
                       void (*fn)(uint64_t va, uint64_t *pte, void *arg), void *arg)
{
    uint64_t va = start;
    while (va < end) {
        uint64_t next = (va | 0x1fffffUL) + 1;
        uint64_t *table = leaf_table(root, va);
        if (table) {
            for (; va < end && va < next; va += FRAME_SIZE) {
                uint64_t *e = &table[level_index(va, 1)];
                if (*e & PTE_PRESENT)
                    fn(va, e, arg);
            }
        }
        va = next;
    }
}

/* --- faults --------------------------------------------------------------------------------- */

/* The stack area grows down on a touch below it, to USER_STACK_LIMIT. */
static struct vma *stack_grow(struct vm *vm, uint64_t addr)
{
    struct vma *s = vma_of_kind(vm, VMA_STACK);
    if (!s || addr >= s->start || addr < USER_STACK_TOP - USER_STACK_LIMIT)
        return NULL;
    uint64_t start = addr & PAGE_MASK;
    if (vma_overlaps(vm, start - FRAME_SIZE, s->start))  /* keep a gap of a page at least */
        return NULL;
    s->start = start;
    return s;
}

/* The frame to map for a page of a file area that is not present. *writable
 * comes in as what the area allows, and goes out as what the mapping gets. */
static uint64_t file_page(struct vma *v, uint64_t va, int write, int *writable)
{
    uint64_t rel = va - v->start, off = v->offset + rel;
    uint64_t from_file = v->file_bytes > rel ? v->file_bytes - rel : 0;
    if (v->shared)                          /* the cache's page itself */
        return pagecache_get(v, off);
    if (from_file >= FRAME_SIZE) {
        uint64_t cached = pagecache_get(v, off);
        if (!cached || !write) {
            *writable = 0;                  /* shared with the cache until written: COW */
            return cached;
        }
        uint64_t copy = frame_alloc(0);
        if (copy)
            copy_page(copy, cached);
        frame_ref_put(cached);
        return copy;
    }
    uint64_t phys = zeroed_frame();         /* past the file's bytes: zeros (the .bss) */
    if (phys && from_file) {
        uint64_t cached = pagecache_get(v, off);
        if (!cached) {
            frame_free(phys, 0);
            return 0;
        }
        memcpy(phys_to_virt(phys), phys_to_virt(cached), from_file);
        frame_ref_put(cached);
    }
    return phys;
}

/* Make the page at va usable in the space (vm, root) for the access; it may
 * sleep reading a file. 0, or -1 if the access is not allowed or memory ran out. */
static int fault_in(struct vm *vm, uint64_t root, uint64_t va, int write, int exec)
{
    va &= PAGE_MASK;
    struct vma *v = vma_find(vm, va);
    if (!v)
        v = stack_grow(vm, va);
    if (!v || !v->prot || (write && !(v->prot & PROT_WRITE)) || (exec && !(v->prot & PROT_EXEC)))
        return -1;
    uint64_t *pte = vm_pte(root, va);
    if (pte && (*pte & PTE_PRESENT)) {
        if (!write || (*pte & PTE_WRITE))
            return -1;                      /* present and allowed: not ours to fix */
        uint64_t old = *pte & PTE_ADDR_MASK;
        if (v->shared || frame_ref_exclusive(old)) {
            *pte |= PTE_WRITE;              /* the last sharer, or a shared mapping: write in place */
        } else {
            uint64_t copy = frame_alloc(0);
            if (!copy)
                return -1;
            copy_page(copy, old);
            *pte = copy | pte_flags(v, 1);
            frame_ref_put(old);
        }
        if (root == paging_plugin.current_space())
            invlpg(va);
        pyos_counters.cow_faults++;
        return 0;
    }
    int writable = (v->prot & PROT_WRITE) != 0;
    uint64_t phys = v->kind == VMA_FILE ? file_page(v, va, write, &writable) : zeroed_frame();
    if (!phys)
        return -1;
    if (paging_plugin.current_space() != root)   /* reading the file may have slept */
        paging_plugin.switch_space(root);
    if (paging_plugin.map(va, phys, pte_flags(v, writable)) < 0) {
        frame_ref_put(phys);
        return -1;
    }
    pyos_counters.demand_faults++;
    return 0;
}

int vm_fault(uint64_t addr, int write, int exec)
{
    if (!current->vm || addr >= USER_TOP)
        return -1;
    return fault_in(current->vm, current->space, addr, write, exec);
}

/* A page fault in user mode (trap.c): 1 if it was demand paging or COW. */
int vm_user_fault(struct trap_frame *f)
{
    uint64_t err = f->error_code;
    if (err & 8)            /* a reserved bit: the tables are wrong, not lazy */
        return 0;
    return vm_fault(read_cr2(), (err & 2) != 0, (err & 16) != 0) == 0;
}

/* The kernel is about to read (write = 0) or write user memory [addr, addr+len):
 * every page must be in an area that allows it; missing pages are faulted in
 * and COW pages copied first (the kernel runs with CR0.WP clear, so it would
 * otherwise write straight into a shared frame). */
int vm_user_range(uint64_t addr, uint64_t len, int write)
{
    if (addr < FRAME_SIZE || addr >= USER_TOP || len > USER_TOP - addr)
        return -EFAULT;
    for (uint64_t page = addr & PAGE_MASK; page < addr + len; page += FRAME_SIZE) {
        if (page == VDSO_ADDR)
            return -EFAULT;
        uint64_t *pte = current->space ? vm_pte(current->space, page) : NULL;
        if (pte && (*pte & PTE_PRESENT) && (*pte & PTE_USER) && (!write || (*pte & PTE_WRITE)))
            continue;
        if (vm_fault(page, write, 0) < 0)
            return -EFAULT;
    }
    return 0;
}

/* A kernel pointer (through the direct map) to user address va of the space
 * (vm, root), faulted in for the access: how exec writes a space that is not
 * current. NULL if not allowed. */
void *vm_kaddr(struct vm *vm, uint64_t root, uint64_t va, int write)
{
    uint64_t *pte = vm_pte(root, va & PAGE_MASK);
    if (!pte || !(*pte & PTE_PRESENT) || (write && !(*pte & PTE_WRITE))) {
        if (fault_in(vm, root, va, write, 0) < 0)
            return NULL;
        pte = vm_pte(root, va & PAGE_MASK);
    }
    return (char *)phys_to_virt(*pte & PTE_ADDR_MASK) + (va & (FRAME_SIZE - 1));
}

/* --- fork ----------------------------------------------------------------------------------- */

struct fork_walk {
    struct vma *vma;
    int failed;
};

static void fork_page(uint64_t va, uint64_t *pte, void *arg)
{
    struct fork_walk *w = arg;
    if (w->failed || !(*pte & PTE_OWNED))
        return;
    if (!w->vma->shared)
        *pte &= ~PTE_WRITE;               /* both sides read-only: the first write copies */
    uint64_t phys = *pte & PTE_ADDR_MASK;
    if (paging_plugin.map(va, phys, *pte & ~PTE_ADDR_MASK & ~(PTE_DIRTY | 0x20ULL)) < 0) {
        w->failed = 1;
        return;
    }
    frame_ref_get(phys);
}

/* The parent's areas and pages into the child (child->space: a new empty
 * space). Interrupts are off and nothing here sleeps. 0 or -ENOMEM. */
int vm_fork(struct task *child, struct task *parent)
{
    struct vm *vm = vm_new();
    if (!vm)
        return -ENOMEM;
    *vm = *parent->vm;
    for (int i = 0; i < VMA_MAX; i++)
        if (vm->vmas[i].kind != VMA_FREE && vm->vmas[i].file)
            file_get(vm->vmas[i].file);
    child->vm = vm;
    uint64_t home = paging_plugin.current_space();
    paging_plugin.switch_space(child->space);
    struct fork_walk w = {0};
    for (int i = 0; i < VMA_MAX && !w.failed; i++) {
        w.vma = &parent->vm->vmas[i];
        if (w.vma->kind != VMA_FREE)
            walk_range(parent->space, w.vma->start, w.vma->end, fork_page, &w);
    }
    extern uint8_t vdso_page[];
    if (!w.failed && paging_plugin.map(VDSO_ADDR, virt_to_phys(vdso_page), PTE_PRESENT | PTE_USER) < 0)
        w.failed = 1;
    paging_plugin.switch_space(home);      /* reloads CR3: the parent's write bits are gone from the TLB */
    return w.failed ? -ENOMEM : 0;
}

/* --- unmapping and exit --------------------------------------------------------------------- */

struct writeback {
    struct vma *vma;
    uint64_t size;
};

static void writeback_page(uint64_t va, uint64_t *pte, void *arg)
{
    struct writeback *w = arg;
    if (!(*pte & PTE_DIRTY))
        return;
    uint64_t off = w->vma->offset + (va - w->vma->start);
    if (off < w->size) {
        uint64_t n = w->size - off < FRAME_SIZE ? w->size - off : FRAME_SIZE;
        vfs_pwrite(w->vma->file, off, phys_to_virt(*pte & PTE_ADDR_MASK), n);
    }
    *pte &= ~PTE_DIRTY;
}

/* MAP_SHARED pages written since the last time go back to the file (not past its end). */
void vm_writeback(struct vma *v, uint64_t start, uint64_t end)
{
    if (!v->shared || !v->file || !(v->prot & PROT_WRITE))
        return;
    struct fs_stat st;
    if (vfs_fstat(v->file, &st) < 0)
        return;
    struct writeback w = {v, st.size};
    walk_range(current->space, start, end, writeback_page, &w);
    if (current->space == paging_plugin.current_space())
        paging_plugin.switch_space(current->space);   /* the dirty bits were cleared: flush */
}

static void drop_page(uint64_t va, uint64_t *pte, void *arg)
{
    uint64_t e = *pte;
    *pte = 0;
    if (arg)
        invlpg(va);
    if (e & PTE_OWNED)
        frame_ref_put(e & PTE_ADDR_MASK);
}

static void drop_pages(uint64_t root, uint64_t start, uint64_t end)
{
    int current_space = root == paging_plugin.current_space();
    walk_range(root, start, end, drop_page, current_space ? (void *)1 : NULL);
}

/* Remove [start, end) (page-aligned) from the current process: pages given
 * back, areas trimmed or split. 0, or -ENOMEM if a split found no free slot. */
int vm_unmap_current(uint64_t start, uint64_t end)
{
    struct vm *vm = current->vm;
    for (int i = 0; i < VMA_MAX; i++) {
        struct vma *v = &vm->vmas[i];
        if (v->kind == VMA_FREE || start >= v->end || end <= v->start)
            continue;
        uint64_t s = start > v->start ? start : v->start, e = end < v->end ? end : v->end;
        if (s > v->start && e < v->end) {   /* a hole in the middle: split */
            struct vma *tail = vma_add(vm, e, v->end, v->prot, v->kind);
            if (!tail)
                return -ENOMEM;
            v = &vm->vmas[i];
            uint64_t head_start = v->start;
            *tail = *v;
            tail->start = e;
            tail->offset = v->offset + (e - head_start);
            tail->file_bytes = v->file_bytes > e - head_start ? v->file_bytes - (e - head_start) : 0;
            if (tail->file)
                file_get(tail->file);
            vm_writeback(v, s, e);
            drop_pages(current->space, s, e);
            v->end = s;
            continue;
        }
        vm_writeback(v, s, e);
        drop_pages(current->space, s, e);
        if (s == v->start && e == v->end) {
            struct file *f = v->file;
            v->kind = VMA_FREE;
            v->file = NULL;
            if (f)
                file_put(f);
        } else if (s == v->start) {
            v->offset += e - v->start;
            v->file_bytes = v->file_bytes > e - v->start ? v->file_bytes - (e - v->start) : 0;
            v->start = e;
        } else {
            v->end = s;
        }
    }
    return 0;
}

/* Every page of the areas given back; the areas stay (exec's failure path, exit). */
static void release_pages(struct vm *vm, uint64_t root)
{
    for (int i = 0; i < VMA_MAX; i++)
        if (vm->vmas[i].kind != VMA_FREE)
            drop_pages(root, vm->vmas[i].start, vm->vmas[i].end);
}

void vm_free(struct vm *vm)
{
    for (int i = 0; i < VMA_MAX; i++)
        if (vm->vmas[i].kind != VMA_FREE && vm->vmas[i].file)
            file_put(vm->vmas[i].file);
    kfree(vm);
}

/* A space that never ran (exec or fork failed, or exec replaced it): pages, areas, tables. */
void vm_destroy(struct vm *vm, uint64_t root)
{
    if (vm) {
        release_pages(vm, root);
        vm_free(vm);
    }
    if (root)
        paging_plugin.free_space(root);
}

/* The process is exiting (current): shared mappings reach their files, and
 * every page goes back now, before the file references the page cache is
 * keyed by. The tables go when the parent reaps it. */
void vm_exit(struct task *t)
{
    struct vm *vm = t->vm;
    if (!vm)
        return;
    for (int i = 0; i < VMA_MAX; i++)
        if (vm->vmas[i].kind != VMA_FREE)
            vm_writeback(&vm->vmas[i], vm->vmas[i].start, vm->vmas[i].end);
    release_pages(vm, t->space);
    t->vm = NULL;
    vm_free(vm);
}

static void count_page(uint64_t va, uint64_t *pte, void *arg)
{
    (void)va, (void)pte;
    (*(uint64_t *)arg)++;
}

uint64_t vm_resident_pages(struct task *t)
{
    uint64_t n = 0;
    if (t->vm)
        for (int i = 0; i < VMA_MAX; i++)
            if (t->vm->vmas[i].kind != VMA_FREE)
                walk_range(t->space, t->vm->vmas[i].start, t->vm->vmas[i].end, count_page, &n);
    return n;
}

/* --- the heap ------------------------------------------------------------------------------- */

#define BRK_MAX (64UL << 20)

/* brk(want): the heap area ends at want (pages appear on touch; shrinking gives them back). */
long vm_brk(uint64_t want)
{
    struct task *t = current;
    struct vma *heap = t->vm ? vma_of_kind(t->vm, VMA_HEAP) : NULL;
    if (!heap || !want || want < t->brk_start || want > t->brk_start + BRK_MAX)
        return (long)t->brk;
    uint64_t end = (want + FRAME_SIZE - 1) & PAGE_MASK;
    if (end > heap->end) {
        uint64_t old = heap->end;
        heap->end = heap->start;           /* not itself in the way */
        int clash = vma_overlaps(t->vm, old, end);
        heap->end = clash ? old : end;
        if (clash)
            return (long)t->brk;
    } else if (end < heap->end) {
        drop_pages(t->space, end, heap->end);
        heap->end = end;
    }
    t->brk = want;
    return (long)want;
}
