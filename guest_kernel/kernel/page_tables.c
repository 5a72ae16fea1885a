/*
 * Page-table helpers every paging plugin may use (declared in mm_env.h).
 * Compiled into the kernel and into the host harness alike.
 */
#include <pyos/frame_alloc.h>
#include <pyos/mm_env.h>
#include <pyos/paging.h>

/* Free the tables under `phys` (a table at `level`) and the owned frames they
 * map, then the table itself; returns how many tables were freed. */
static uint64_t free_table(uint64_t phys, int level)
{
    uint64_t freed = 1, *table = phys_to_virt(phys);
    for (int i = 0; i < 512; i++) {
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
    for (int slot = 0; slot < 256; slot++)  /* the lower half only: the kernel half is shared */
        if (top[slot] & PTE_PRESENT)
            freed += free_table(top[slot] & PTE_ADDR_MASK, 3);
    frame_free(root, 0);
    return freed;
}
