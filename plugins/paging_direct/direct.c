/*
 * Paging through the direct map: every page table is reached at
 * DIRECT_MAP_BASE + its physical address, so a walk is four loads. Simple,
 * and what Linux does; it needs all of RAM mapped, which the direct map is.
 */
#include <pyos/frame_alloc.h>
#include <pyos/mm_env.h>
#include <pyos/paging.h>

#define HUGE_2M 0x200000UL
#define HUGE_1G 0x40000000UL
#define MMIO_WINDOW_START 0xC0000000UL
#define MMIO_WINDOW_END 0x100000000UL

static uint64_t *pml4;          /* the current address space's root */
static uint64_t pml4_phys;      /* the same, as CR3 holds it: current_space() is on every switch */
static uint64_t *kernel_pml4;   /* the kernel's own: its upper half is everyone's */
static struct paging_stats *stats;
/* Spaces made by new_space() and not yet freed: each holds a copy of the
 * kernel half's PML4 entries, so while there are any, the kernel half may
 * not gain an entry. */
static uint64_t kernel_half_copies;

static unsigned index_at(uint64_t virt, int level) { return (virt >> (12 + 9 * (level - 1))) & 511; }

static uint64_t *new_table(void)
{
    uint64_t phys = frame_alloc(0);
    if (!phys)
        return NULL;
    stats->tables_allocated++;
    return memset(phys_to_virt(phys), 0, FRAME_SIZE);
}

/* The entry for virt at `level` (1 = page table, 2 = page directory), creating
 * the tables above it when `create`; NULL if missing or under a huge page. */
static uint64_t *entry_for(uint64_t virt, int level, int create)
{
    uint64_t *table = pml4;
    for (int l = 4; l > level; l--) {
        uint64_t *e = &table[index_at(virt, l)];
        if (!(*e & PTE_PRESENT)) {
            if (l == 4 && virt >> 63 && kernel_half_copies)
                return NULL;  /* a new kernel-half slot now would not be shared: see direct_init */
            uint64_t *t = create ? new_table() : NULL;
            if (!t)
                return NULL;
            /* Upper levels allow everything; the leaf entry decides. */
            *e = virt_to_phys(t) | PTE_PRESENT | PTE_WRITE | (virt >> 63 ? 0 : PTE_USER);
        } else if (*e & PTE_HUGE) {
            return NULL;
        }
        table = phys_to_virt(*e & PTE_ADDR_MASK);
    }
    return &table[index_at(virt, level)];
}

/* Large pages over [virt, virt + bytes): a whole aligned GiB as one 1 GiB
 * page where the CPU has them, else 2 MiB pages with one table walk per GiB
 * (a page directory's worth) and a store per entry. Kernel mode is emulated
 * instruction by instruction on PVM-style hosts: the 1 GiB MMIO window as
 * 512 walks was most of the paging set-up. */
static void map_huge_range(uint64_t virt, uint64_t phys, uint64_t bytes, uint64_t flags, int gb_pages)
{
    for (uint64_t off = 0; off < bytes;) {
        if (gb_pages && !((virt + off) & (HUGE_1G - 1)) && !((phys + off) & (HUGE_1G - 1)) &&
            bytes - off >= HUGE_1G) {
            uint64_t *pdpte = entry_for(virt + off, 3, 1);
            if (!pdpte)
                panic("paging: out of memory building the kernel page tables");
            *pdpte = (phys + off) | flags | PTE_PRESENT | PTE_HUGE;
            off += HUGE_1G;
            continue;
        }
        uint64_t *e = entry_for(virt + off, 2, 1);
        if (!e)
            panic("paging: out of memory building the kernel page tables");
        /* The rest of this page directory in one tight loop (boot code runs
         * emulated on PVM hosts: a 1 GiB window is 512 entries). */
        uint64_t n = (HUGE_1G - ((virt + off) & (HUGE_1G - 1))) / HUGE_2M;
        uint64_t left = (bytes - off + HUGE_2M - 1) / HUGE_2M;
        if (n > left)
            n = left;
        uint64_t pte = (phys + off) | flags | PTE_PRESENT | PTE_HUGE;
        uint64_t i = 0;
        for (; i + 4 <= n; i += 4, pte += 4 * HUGE_2M) {  /* four a step: ~3 instructions an entry, not 5 */
            e[i] = pte;
            e[i + 1] = pte + HUGE_2M;
            e[i + 2] = pte + 2 * HUGE_2M;
            e[i + 3] = pte + 3 * HUGE_2M;
        }
        for (; i < n; i++, pte += HUGE_2M)
            e[i] = pte;
        off += n * HUGE_2M;
    }
}

static void direct_init(uint64_t ram_bytes, struct paging_stats *st)
{
    stats = st;
    pml4 = new_table();
    pml4_phys = virt_to_phys(pml4);
    uint64_t ram = (ram_bytes + HUGE_2M - 1) & ~(HUGE_2M - 1);
    uint64_t kernel = (kernel_image_end_phys() + HUGE_2M - 1) & ~(HUGE_2M - 1);
    int gb = cpu_has_1g_pages();
    map_huge_range(DIRECT_MAP_BASE, 0, ram, PTE_WRITE | PTE_GLOBAL | PTE_NX, gb);
    map_huge_range(DIRECT_MAP_BASE + MMIO_WINDOW_START, MMIO_WINDOW_START, MMIO_WINDOW_END - MMIO_WINDOW_START,
                   PTE_WRITE | PTE_PCD | PTE_PWT | PTE_NX, gb);
    map_huge_range(KERNEL_VMA, 0, kernel, PTE_WRITE | PTE_GLOBAL, 0);
    /* The kernel half's other PML4 slots get their tables when first mapped
     * (kernel stacks, the self-test's scratch window): zeroing all 256 up front
     * cost most of the boot on hosts that emulate kernel mode. Every space
     * shares the kernel half by copying its 256 entries at creation, so those
     * entries must not change while a copy exists: a kernel-half map that
     * needs a new slot then fails (entry_for). The kernel maps its first
     * kernel stack, the last new slot, before it creates a process. */
    stats->direct_map_bytes = ram;
    kernel_pml4 = pml4;
    load_cr3(pml4_phys);
}

static int direct_map(uint64_t virt, uint64_t phys, uint64_t flags)
{
    uint64_t *e = entry_for(virt, 1, 1);
    if (!e || (*e & PTE_PRESENT))
        return -1;
    *e = (phys & PTE_ADDR_MASK) | flags | PTE_PRESENT;
    invlpg(virt);
    stats->maps++;
    return 0;
}

static int direct_unmap(uint64_t virt)
{
    uint64_t *e = entry_for(virt, 1, 0);
    if (!e || !(*e & PTE_PRESENT))
        return -1;
    *e = 0;
    invlpg(virt);
    stats->unmaps++;
    return 0;
}

static uint64_t direct_translate(uint64_t virt)
{
    stats->translations++;
    uint64_t *table = pml4;
    for (int level = 4; level >= 1; level--) {
        uint64_t e = table[index_at(virt, level)];
        if (!(e & PTE_PRESENT))
            return PAGING_NOT_MAPPED;
        if (level == 1 || (level <= 3 && (e & PTE_HUGE))) {
            uint64_t page = 1UL << (12 + 9 * (level - 1));
            return (e & PTE_ADDR_MASK & ~(page - 1)) | (virt & (page - 1));
        }
        table = phys_to_virt(e & PTE_ADDR_MASK);
    }
    return PAGING_NOT_MAPPED;
}

static uint64_t direct_new_space(void)
{
    uint64_t *root = new_table();
    if (!root)
        return 0;
    kernel_half_copies++;
    memcpy(root + 256, kernel_pml4 + 256, 256 * sizeof(uint64_t));
    return virt_to_phys(root);
}

static void direct_switch_space(uint64_t root)
{
    pml4 = phys_to_virt(root);
    pml4_phys = root;
    load_cr3(root);
}

static uint64_t direct_current_space(void) { return pml4_phys; }

static void direct_free_space(uint64_t root)
{
    kernel_half_copies--;
    stats->tables_allocated -= page_tables_free_space(root);
}

const struct paging_ops paging_plugin = {
    .interface_version = PAGING_INTERFACE,
    .name = "direct",
    .init = direct_init,
    .map = direct_map,
    .unmap = direct_unmap,
    .translate = direct_translate,
    .new_space = direct_new_space,
    .switch_space = direct_switch_space,
    .current_space = direct_current_space,
    .free_space = direct_free_space,
};
