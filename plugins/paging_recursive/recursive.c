/*
 * Paging through a recursive PML4 slot (as in rust-os and myOS).
 *
 * PML4 entry 510 points at the PML4 itself. Walking an address whose top
 * index is 510 therefore stops one level early, and the "page" reached is a
 * page table: with indices (510, a, b, c) the MMU lands on the page table
 * that maps (a, b, c, *). Every table of the current address space is thus
 * at a fixed virtual address computed from the address it maps, and no
 * direct map is needed to edit them. Tables are touched only through
 * mmu_access(), which in the kernel is the address itself and in the host
 * harness is a software MMU.
 *
 * Tables of an address space that is not the current one (building the
 * first tables, a new space, freeing an old one) are reached through the
 * direct map: the recursive view exists only for the space CR3 points at.
 */
#include <pyos/frame_alloc.h>
#include <pyos/mm_env.h>
#include <pyos/paging.h>

#define SLOT 510UL
#define HUGE_2M 0x200000UL
#define HUGE_1G 0x40000000UL
#define MMIO_WINDOW_START 0xC0000000UL
#define MMIO_WINDOW_END 0x100000000UL

static struct paging_stats *stats;
static uint64_t current_root;
/* Spaces made by new_space() and not yet freed: each holds a copy of the
 * kernel half's PML4 entries, which therefore may not change meanwhile. */
static uint64_t kernel_half_copies;

static unsigned idx(uint64_t virt, int level) { return (virt >> (12 + 9 * (level - 1))) & 511; }

static uint64_t canonical(uint64_t v) { return v & (1UL << 47) ? v | 0xFFFF000000000000UL : v; }

/* The virtual address of the table at `level` (4 = PML4 .. 1 = page table)
 * that maps virt, through the recursive slot. */
static uint64_t *table_va(uint64_t virt, int level)
{
    uint64_t i4 = idx(virt, 4), i3 = idx(virt, 3), i2 = idx(virt, 2);
    uint64_t v;
    switch (level) {
    case 4: v = SLOT << 39 | SLOT << 30 | SLOT << 21 | SLOT << 12; break;
    case 3: v = SLOT << 39 | SLOT << 30 | SLOT << 21 | i4 << 12; break;
    case 2: v = SLOT << 39 | SLOT << 30 | i4 << 21 | i3 << 12; break;
    default: v = SLOT << 39 | i4 << 30 | i3 << 21 | i2 << 12; break;
    }
    return mmu_access(canonical(v));
}

/* -- building the first tables, before the recursive view exists ---------- */
static uint64_t build_table(void)
{
    uint64_t phys = frame_alloc(0);
    if (!phys)
        panic("paging: out of memory building the kernel page tables");
    stats->tables_allocated++;
    memset(phys_to_virt(phys), 0, FRAME_SIZE);
    return phys;
}

/* 2 MiB pages over [virt, virt + bytes): one walk per 1 GiB (a page
 * directory's worth), then a store per entry. */
static void build_huge(uint64_t pml4, uint64_t virt, uint64_t phys, uint64_t bytes, uint64_t flags)
{
    uint64_t *pd = NULL;
    for (uint64_t off = 0; off < bytes; off += HUGE_2M) {
        if (!pd || !((virt + off) & (HUGE_1G - 1))) {
            uint64_t *table = phys_to_virt(pml4);
            for (int level = 4; level > 2; level--) {
                uint64_t *e = &table[idx(virt + off, level)];
                if (!(*e & PTE_PRESENT))
                    *e = build_table() | PTE_PRESENT | PTE_WRITE;
                table = phys_to_virt(*e & PTE_ADDR_MASK);
            }
            pd = table;
        }
        pd[idx(virt + off, 2)] = (phys + off) | flags | PTE_PRESENT | PTE_HUGE;
    }
}

static void recursive_init(uint64_t ram_bytes, struct paging_stats *st)
{
    stats = st;
    uint64_t pml4 = build_table();
    uint64_t ram = (ram_bytes + HUGE_2M - 1) & ~(HUGE_2M - 1);
    uint64_t kernel = (kernel_image_end_phys() + HUGE_2M - 1) & ~(HUGE_2M - 1);
    build_huge(pml4, DIRECT_MAP_BASE, 0, ram, PTE_WRITE | PTE_GLOBAL | PTE_NX);
    build_huge(pml4, DIRECT_MAP_BASE + MMIO_WINDOW_START, MMIO_WINDOW_START, MMIO_WINDOW_END - MMIO_WINDOW_START,
               PTE_WRITE | PTE_PCD | PTE_PWT | PTE_NX);
    build_huge(pml4, KERNEL_VMA, 0, kernel, PTE_WRITE | PTE_GLOBAL);
    uint64_t *top = phys_to_virt(pml4);
    /* The kernel half's other PML4 slots get their tables when first mapped:
     * zeroing all of them up front cost most of the boot where kernel mode is
     * emulated. Spaces copy the kernel half's entries at creation, so while
     * one exists a kernel-half map needing a new slot fails. */
    top[SLOT] = pml4 | PTE_PRESENT | PTE_WRITE | PTE_NX;
    stats->direct_map_bytes = ram;
    current_root = pml4;
    load_cr3(pml4);
}

/* -- run time: everything through the recursive slot ------------------------ */
static int recursive_map(uint64_t virt, uint64_t phys, uint64_t flags)
{
    if (idx(virt, 4) == SLOT)
        return -1;  /* the recursive window itself */
    for (int level = 4; level > 1; level--) {
        uint64_t *e = &table_va(virt, level)[idx(virt, level)];
        if (*e & PTE_HUGE)
            return -1;
        if (!(*e & PTE_PRESENT)) {
            if (level == 4 && virt >> 63 && kernel_half_copies)
                return -1;  /* a new kernel-half slot would not be shared (recursive_init) */
            uint64_t table = frame_alloc(0);
            if (!table)
                return -1;
            stats->tables_allocated++;
            *e = table | PTE_PRESENT | PTE_WRITE | (virt >> 63 ? 0 : PTE_USER);
            uint64_t *fresh = table_va(virt, level - 1);  /* the new table, seen recursively */
            invlpg((uint64_t)fresh);
            memset(fresh, 0, FRAME_SIZE);
        }
    }
    uint64_t *pte = &table_va(virt, 1)[idx(virt, 1)];
    if (*pte & PTE_PRESENT)
        return -1;
    *pte = (phys & PTE_ADDR_MASK) | flags | PTE_PRESENT;
    invlpg(virt);
    stats->maps++;
    return 0;
}

/* The entry mapping virt and its level, or NULL; stops at huge pages. */
static uint64_t *leaf(uint64_t virt, int *level_out)
{
    for (int level = 4; level >= 1; level--) {
        uint64_t *e = &table_va(virt, level)[idx(virt, level)];
        if (!(*e & PTE_PRESENT))
            return NULL;
        if (level == 1 || (level <= 3 && (*e & PTE_HUGE))) {
            *level_out = level;
            return e;
        }
    }
    return NULL;
}

static int recursive_unmap(uint64_t virt)
{
    if (idx(virt, 4) == SLOT)
        return -1;  /* the recursive window: its "pages" are the tables themselves */
    int level;
    uint64_t *e = leaf(virt, &level);
    if (!e || level != 1)
        return -1;
    *e = 0;
    invlpg(virt);
    stats->unmaps++;
    return 0;
}

static uint64_t recursive_translate(uint64_t virt)
{
    stats->translations++;
    int level;
    uint64_t *e = leaf(virt, &level);
    if (!e)
        return PAGING_NOT_MAPPED;
    uint64_t page = 1UL << (12 + 9 * (level - 1));
    return (*e & PTE_ADDR_MASK & ~(page - 1)) | (virt & (page - 1));
}

static uint64_t recursive_new_space(void)
{
    uint64_t root = frame_alloc(0);
    if (!root)
        return 0;
    stats->tables_allocated++;
    kernel_half_copies++;
    uint64_t *fresh = phys_to_virt(root), *now = table_va(0, 4);  /* the current PML4, recursively */
    memset(fresh, 0, 256 * sizeof(uint64_t));
    memcpy(fresh + 256, now + 256, 256 * sizeof(uint64_t));
    fresh[SLOT] = root | PTE_PRESENT | PTE_WRITE | PTE_NX;  /* its own recursive slot */
    return root;
}

static void recursive_switch_space(uint64_t root)
{
    current_root = root;
    load_cr3(root);
}

static uint64_t recursive_current_space(void) { return current_root; }

static void recursive_free_space(uint64_t root)
{
    kernel_half_copies--;
    stats->tables_allocated -= page_tables_free_space(root);
}

const struct paging_ops paging_plugin = {
    .interface_version = PAGING_INTERFACE,
    .name = "recursive",
    .init = recursive_init,
    .map = recursive_map,
    .unmap = recursive_unmap,
    .translate = recursive_translate,
    .new_space = recursive_new_space,
    .switch_space = recursive_switch_space,
    .current_space = recursive_current_space,
    .free_space = recursive_free_space,
};
