"""Put the vCPU straight into 64-bit mode at the kernel's entry point.

Guest physical layout the VMM builds before the first instruction:

    0x0000_0000  reserved: the null page stays unused
    0x0000_1000  GDT (Linux selector layout, see GDT_ENTRIES)
    0x0000_2000  struct pyos_boot_info (guest_kernel/include/pyos/bootinfo.h)
    0x0001_0000  page tables: PML4, two PDPTs, four PDs of 2 MiB pages
    0x0002_0000  free (usable) up to the legacy VGA/ROM hole
    0x000A_0000  reserved: VGA memory and ROM hole
    0x0010_0000  the kernel image, then free RAM

Page tables map physical 0..4 GiB three times: identity (so early code may
use physical pointers), at DIRECT_MAP_BASE (all RAM and the MMIO hole), and
0..2 GiB at KERNEL_VMA (the -2 GiB kernel image, -mcmodel=kernel).
"""

from __future__ import annotations

import functools
import struct

from ..errors import KernelError
from ..kvm import ffi, lib

GDT_ADDR = 0x1000
BOOT_INFO_ADDR = 0x2000
PAGE_TABLES_ADDR = 0x10000
BOOT_DATA_END = 0x20000
LEGACY_HOLE = (0xA0000, 0x100000)

KERNEL_VMA = 0xFFFF_FFFF_8000_0000
DIRECT_MAP_BASE = 0xFFFF_8000_0000_0000
MAPPED_GIB = 4

# Segment selectors: the Linux layout, which PVM-style hosts require.
KERNEL_CS32, KERNEL_CS, KERNEL_DS = 0x08, 0x10, 0x18
USER_CS32, USER_DS, USER_CS = 0x23, 0x2B, 0x33

GDT_ENTRIES = [
    0,
    0x00CF9A000000FFFF,  # 0x08 kernel code, 32-bit
    0x00AF9A000000FFFF,  # 0x10 kernel code, 64-bit
    0x00CF92000000FFFF,  # 0x18 kernel data
    0x00CFFA000000FFFF,  # 0x20 user code, 32-bit (selector 0x23)
    0x00CFF2000000FFFF,  # 0x28 user data (0x2b)
    0x00AFFA000000FFFF,  # 0x30 user code, 64-bit (0x33)
]

PTE_PRESENT, PTE_WRITE, PTE_HUGE = 0x1, 0x2, 0x80

CR0_PE, CR0_MP, CR0_ET, CR0_NE, CR0_WP, CR0_PG = 1, 2, 0x10, 0x20, 0x10000, 0x80000000
CR4_PAE, CR4_OSFXSR, CR4_OSXMMEXCPT = 0x20, 0x200, 0x400
EFER_LME, EFER_LMA = 0x100, 0x400


def entry_is_mapped(entry: int) -> bool:
    return entry < MAPPED_GIB << 30 or KERNEL_VMA <= entry < KERNEL_VMA + (2 << 30)


@functools.lru_cache(maxsize=1)
def _page_table_pages() -> tuple:
    pml4 = PAGE_TABLES_ADDR
    pdpt_low = pml4 + 0x1000     # identity and direct map: 4 GiB
    pdpt_kernel = pml4 + 0x2000  # -2 GiB: PDPT slots 510, 511
    pds = [pml4 + 0x3000 + i * 0x1000 for i in range(MAPPED_GIB)]
    table = PTE_PRESENT | PTE_WRITE
    pages = []

    for gib, pd in enumerate(pds):
        entries = [((gib << 30) + (i << 21)) | table | PTE_HUGE for i in range(512)]
        pages.append((pd, struct.pack("<512Q", *entries)))
    pages.append((pdpt_low, struct.pack("<512Q", *[pds[i] | table for i in range(MAPPED_GIB)],
                                        *[0] * (512 - MAPPED_GIB))))
    kernel_slots = [0] * 510 + [pds[0] | table, pds[1] | table]
    pages.append((pdpt_kernel, struct.pack("<512Q", *kernel_slots)))
    top = [0] * 512
    top[0] = pdpt_low | table
    top[(DIRECT_MAP_BASE >> 39) & 511] = pdpt_low | table
    top[511] = pdpt_kernel | table
    pages.append((pml4, struct.pack("<512Q", *top)))
    return tuple(pages)


def write_page_tables(memory):
    """The boot page tables (the same bytes for every machine: built once per process)."""
    for address, page in _page_table_pages():
        memory.write(address, page)
    return PAGE_TABLES_ADDR


def write_gdt(memory):
    memory.write(GDT_ADDR, struct.pack(f"<{len(GDT_ENTRIES)}Q", *GDT_ENTRIES))
    return GDT_ADDR, len(GDT_ENTRIES) * 8 - 1


def memory_map(ram_size: int, kernel_start: int, kernel_end: int):
    """(base, length, type) entries, sorted, covering all of RAM."""
    page = 0x1000
    kernel_end = (kernel_end + page - 1) & ~(page - 1)
    entries = [
        (0, 0x1000, lib.PYOS_MEM_RESERVED),
        (0x1000, BOOT_DATA_END - 0x1000, lib.PYOS_MEM_BOOT_DATA),
        (BOOT_DATA_END, LEGACY_HOLE[0] - BOOT_DATA_END, lib.PYOS_MEM_USABLE),
        (LEGACY_HOLE[0], LEGACY_HOLE[1] - LEGACY_HOLE[0], lib.PYOS_MEM_RESERVED),
    ]
    if kernel_start > LEGACY_HOLE[1]:
        entries.append((LEGACY_HOLE[1], kernel_start - LEGACY_HOLE[1], lib.PYOS_MEM_USABLE))
    entries.append((kernel_start, kernel_end - kernel_start, lib.PYOS_MEM_KERNEL))
    if ram_size > kernel_end:
        entries.append((kernel_end, ram_size - kernel_end, lib.PYOS_MEM_USABLE))
    return entries


def write_boot_info(memory, *, ram_size, kernel, cmdline: str, timer_hz: int,
                    exit_port: int, serial_port: int):
    info = memory.cast("struct pyos_boot_info *", BOOT_INFO_ADDR)
    ffi.memmove(info, bytes(ffi.sizeof("struct pyos_boot_info")), ffi.sizeof("struct pyos_boot_info"))
    info.magic = lib.PYOS_BOOT_MAGIC
    info.version = lib.PYOS_BOOT_VERSION
    info.boot_protocol = lib.PYOS_BOOT_DIRECT
    info.ram_bytes = ram_size
    info.timer_hz = timer_hz
    info.exit_port = exit_port
    info.serial_port = serial_port
    # Guest RAM is fresh anonymous memory (and cleared again on a reboot): the
    # kernel need not zero what it takes from it first (early_alloc).
    info.flags = lib.PYOS_BOOT_RAM_ZEROED
    entries = memory_map(ram_size, kernel.phys_start, kernel.phys_end)
    for i, (base, length, kind) in enumerate(entries):
        info.memmap[i].base = base
        info.memmap[i].length = length
        info.memmap[i].type = kind
    info.memmap_count = len(entries)
    encoded = cmdline.encode()
    if len(encoded) >= lib.PYOS_CMDLINE_MAX:
        raise KernelError(f"kernel command line is {len(encoded)} bytes; the limit is "
                          f"{lib.PYOS_CMDLINE_MAX - 1}", "shorten [kernel] cmdline")
    info.cmdline = encoded
    return BOOT_INFO_ADDR


def _segment(seg, selector: int, code: bool):
    seg.base = 0
    seg.limit = 0xFFFFFFFF
    seg.selector = selector
    seg.type = 0xB if code else 0x3  # execute/read accessed, read/write accessed
    seg.present = 1
    seg.dpl = 0
    seg.db = 0 if code else 1
    seg.s = 1
    seg.l = 1 if code else 0
    seg.g = 1
    seg.avl = 0
    seg.unusable = 0


def enter_long_mode(vcpu, memory, kernel, boot_info_addr: int):
    if not entry_is_mapped(kernel.entry):
        raise KernelError(
            f"kernel entry point {kernel.entry:#x} is outside what direct boot maps "
            f"(physical 0-{MAPPED_GIB} GiB identity, or {KERNEL_VMA:#x} + 2 GiB)",
            "link the kernel at its physical address or in the top 2 GiB")
    pml4 = write_page_tables(memory)
    gdt_base, gdt_limit = write_gdt(memory)

    sregs = vcpu.get_sregs()
    _segment(sregs.cs, KERNEL_CS, code=True)
    for seg in (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss):
        _segment(seg, KERNEL_DS, code=False)
    sregs.gdt.base, sregs.gdt.limit = gdt_base, gdt_limit
    sregs.idt.base, sregs.idt.limit = 0, 0  # the kernel installs its own IDT
    sregs.cr3 = pml4
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG
    sregs.efer = EFER_LME | EFER_LMA
    vcpu.set_sregs(sregs)

    regs = ffi.new("struct kvm_regs *")
    regs.rip = kernel.entry
    regs.rsp = BOOT_INFO_ADDR  # a scratch stack below the boot info; the kernel switches at once
    regs.rdi = boot_info_addr
    regs.rsi = lib.PYOS_BOOT_DIRECT
    regs.rflags = 0x2
    vcpu.set_regs(regs)
