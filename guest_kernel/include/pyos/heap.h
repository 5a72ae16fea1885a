/* Kernel heap interface (one plugin links in: heap_plugin): kmalloc/kfree. */
#ifndef PYOS_HEAP_H
#define PYOS_HEAP_H

#include <stddef.h>
#include <stdint.h>
#include <pyos/mm_stats.h>

#define HEAP_ALIGN 16   /* every pointer returned is 16-byte aligned */

struct heap_ops {
    uint32_t interface_version;    /* HEAP_INTERFACE */
    const char *name;
    void (*init)(struct heap_stats *stats);
    void *(*alloc)(size_t size);   /* NULL when out of memory; size 0 is allowed */
    /* NULL is ignored; a pointer alloc did not return (one inside a block, say)
     * panics. (freelist also panics on a double free; slab cannot tell one.) */
    void (*free)(void *ptr);
};

extern const struct heap_ops heap_plugin;

#endif
