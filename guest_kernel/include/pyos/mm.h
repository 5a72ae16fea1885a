/* Memory management core (kernel/mm.c): the kernel's side of the plugins. */
#ifndef PYOS_MM_H
#define PYOS_MM_H

#include <stddef.h>
#include <stdint.h>

/* Kernel stacks live here, one 32 KiB slot each: 16 KiB of stack on top of
 * 16 KiB that stays unmapped, so running off the bottom faults. */
#define KSTACK_REGION 0xFFFFC00000000000UL
#define KSTACK_SLOT 0x8000UL
#define KSTACK_SIZE 0x4000UL
#define KSTACK_MAX 1024

void mm_init(void);
void *early_alloc(size_t size);         /* zeroed, 16-byte aligned, never freed */
uint64_t frame_alloc(unsigned order);  /* physical address or 0 */
void frame_free(uint64_t phys, unsigned order);
void *kmalloc(size_t size);
void kfree(void *ptr);
void *kstack_alloc(void);               /* the top of a fresh kernel stack, or NULL */
void kstack_free(void *top);
int kstack_guard_hit(uint64_t addr);    /* addr lies in a stack's guard area */
void mm_refresh_stats(void);

#endif
