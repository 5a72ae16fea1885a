/*
 * The boot-information structure: what the VMM (or the PVH entry, converting
 * from hvm_start_info) hands the kernel at entry.
 *
 * Shared with the VMM: vmm/kvm/binding.py feeds this very file to cffi, so it
 * must stay in the subset cffi parses: structs, fixed-width integer types,
 * plain integer #defines and comments; no expressions, no typedefs.
 */
#ifndef PYOS_BOOTINFO_H
#define PYOS_BOOTINFO_H

#include <stdint.h>

#define PYOS_BOOT_MAGIC 0x534f5950
#define PYOS_BOOT_VERSION 1

/* How the kernel was entered. */
#define PYOS_BOOT_DIRECT 1
#define PYOS_BOOT_PVH 2

/* Memory map entry types. */
#define PYOS_MEM_USABLE 1
#define PYOS_MEM_RESERVED 2
#define PYOS_MEM_BOOT_DATA 3
#define PYOS_MEM_KERNEL 4

/* flags */
#define PYOS_BOOT_RAM_ZEROED 1  /* every usable byte of RAM reads 0 at entry (fresh memory) */

#define PYOS_MEMMAP_MAX 32
#define PYOS_CMDLINE_MAX 256

struct pyos_memmap_entry {
    uint64_t base;
    uint64_t length;
    uint32_t type;
    uint32_t reserved;
};

struct pyos_boot_info {
    uint32_t magic;             /* PYOS_BOOT_MAGIC */
    uint32_t version;           /* PYOS_BOOT_VERSION */
    uint32_t boot_protocol;     /* PYOS_BOOT_DIRECT or PYOS_BOOT_PVH */
    uint32_t memmap_count;
    uint64_t ram_bytes;         /* guest RAM size as configured */
    uint32_t timer_hz;          /* PIT interrupt rate the config asks for */
    uint32_t exit_port;         /* I/O port of the exit device, 0 if none */
    uint32_t serial_port;       /* I/O base of the console UART */
    uint32_t flags;             /* PYOS_BOOT_* flags above */
    struct pyos_memmap_entry memmap[PYOS_MEMMAP_MAX];
    char cmdline[PYOS_CMDLINE_MAX];
};

#endif
