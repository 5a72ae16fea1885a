/*
 * Page-table helpers every paging plugin may use (declared in mm_env.h).
 * Compiled into the kernel and into the host harness alike.
 */
#include <pyos/frame_alloc.h>
#include <pyos/mm_env.h>
#include <pyos/paging.h>

/* The index of the first non-zero entry of table[from..511], or 512. One
 * `repe scasq` rather than a loop: kernel code is emulated instruction by
 * instruction on some hosts, and a string instruction is one instruction.
 * (An entry that is not present is always zero here: tables start zeroed and
 * unmapping clears the whole entry.) */
static int next_used(const uint64_t *table, int from)
{
    if (from >= 512)
        return 512;
    const uint64_t *p = table + from;
    uint64_t n = 512 - (uint64_t)from;
    int found;
    __asm__ volatile("repe scasq" : "+D"(p), "+c"(n), "=@ccnz"(found) : "a"(0UL) : "memory");
    return found ? (int)(p - table) - 1 : 512;
}

/* Free the tables under `phys` (a table at `level`) and the owned frames they
 * map, then the table itself; returns how many tables were freed. */
static uint64_t free_table(uint64_t phys, int level)
{
    uint64_t freed = 1, *table = phys_to_virt(phys);
    for (int i = next_used(table, 0); i < 512; i = next_used(table, i + 1)) {
        uint64_t e = table[i];
        if (!(e & PTE_PRESENT))
            continue;
        if (level > 1 && !(e & PTE_HUGE))
            freed += free_table(e & PTE_ADDR_MASK, level - 1);
        else if (level == 1 && (e & PTE_OWNED))
            frame_free(e & PTE_ADDR_MASK, 0);
    }
    frame_free(phys, 0);
    return freed;
}

uint64_t page_tables_free_space(uint64_t root)
{
    uint64_t freed = 1, *top = phys_to_virt(root);
    for (int slot = next_used(top, 0); slot < 256; slot = next_used(top, slot + 1))  /* the lower half only */
        if (top[slot] & PTE_PRESENT)
            freed += free_table(top[slot] & PTE_ADDR_MASK, 3);
    frame_free(root, 0);
    return freed;
}
