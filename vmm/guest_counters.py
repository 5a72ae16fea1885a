"""The guest kernel's counters, read straight from guest RAM (no VM exit).

The kernel keeps struct pyos_counters (guest_kernel/include/pyos/counters.h)
at the symbol pyos_counters; its layout comes to Python through cffi from
that same header. The kernel image is mapped at KERNEL_VMA -> physical 0, so
the symbol's physical address is its virtual address minus KERNEL_VMA.
Values are read while the guest runs: each field is consistent, the set is
a snapshot taken field by field.
"""

from __future__ import annotations

from pathlib import Path

from .boot.long_mode import KERNEL_VMA
from .errors import KernelError
from .kvm import ffi, lib

SYMBOL = "pyos_counters"
SECTIONS = ("frames", "heap", "paging")


class GuestCounters:
    def __init__(self, counters_ptr):
        self._c = counters_ptr

    @classmethod
    def find(cls, kernel_elf: Path, memory):
        """The counters of the kernel in `memory`, or None if it has none."""
        from .build.kernel import read_symbol
        try:
            address, _ = read_symbol(kernel_elf, SYMBOL, 0)
        except (KernelError, AttributeError):
            return None
        phys = address - KERNEL_VMA
        if not memory.contains(phys, ffi.sizeof("struct pyos_counters")):
            return None
        return cls(memory.cast("struct pyos_counters *", phys))

    @property
    def ready(self) -> bool:
        return self._c.magic == lib.PYOS_COUNTERS_MAGIC

    def plugin_names(self) -> dict[str, str]:
        names = {key: ffi.string(getattr(self._c, f"{key}_name")).decode(errors="replace")
                 for key in ("frame_alloc", "heap", "paging", "sched")}
        names["syscall_entry"] = ffi.string(self._c.syscall_entry).decode(errors="replace")
        return names

    def section(self, name: str) -> dict[str, int]:
        struct = getattr(self._c, name)
        return {field: getattr(struct, field) for field, _ in ffi.typeof(struct).fields}

    def snapshot(self) -> dict:
        """All counters as plain Python values ({} before the kernel set them up)."""
        if not self.ready:
            return {}
        return {
            "plugins": self.plugin_names(),
            **{name: self.section(name) for name in SECTIONS},
            "ticks": self._c.ticks,
            "irqs": list(self._c.irqs),
            "spurious_irqs": list(self._c.spurious_irqs),
            "context_switches": self._c.context_switches,
            "processes_created": self._c.processes_created,
            "processes_killed": self._c.processes_killed,
            "user_page_faults": self._c.user_page_faults,
            "syscalls": list(self._c.syscalls),
            "block": self.block_devices(),
            "buffer_cache": {"evictions": self._c.buf_evictions, "writebacks": self._c.buf_writebacks},
            "scheduler": {"swaps": self._c.sched_swaps, "fallbacks": self._c.sched_fallbacks,
                          "failed": ffi.string(self._c.sched_failed).decode(errors="replace")},
        }

    def request_sched_swap(self, name: str):
        """Leave `name` in the kernel's mailbox; the next timer tick swaps to it
        (the kernel reads and clears the first byte; the name is written first)."""
        data = name.encode()
        if not self.ready:
            raise ValueError("the guest kernel has not set up its counters yet")
        size = ffi.sizeof(self._c.sched_swap_request)
        if not data or len(data) >= size or b"\0" in data:
            raise ValueError(f"a scheduler name is 1..{size - 1} bytes")
        data += b"\0"
        for i in range(len(data) - 1, -1, -1):   # back to front: byte 0 last, the kernel's signal
            self._c.sched_swap_request[i] = data[i:i + 1]


    def block_devices(self) -> dict[str, dict[str, int]]:
        """Per block device (hda, ...): reads, writes, sectors, cache hits and misses, flushes, errors."""
        devices = {}
        for i in range(lib.BLK_MAX_DEVICES):
            name = ffi.string(self._c.blk_name[i]).decode(errors="replace")
            if name:
                stats = self._c.blk[i]
                devices[name] = {field: getattr(stats, field) for field, _ in ffi.typeof(stats).fields}
        return devices
