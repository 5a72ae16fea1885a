"""Guest RAM: one anonymous mapping registered with KVM as memory slot 0.

RAM starts at guest physical 0 and is contiguous; the configured size is
capped below the 3 GiB mark so the 32-bit MMIO hole (0xC0000000-0xFFFFFFFF)
stays free for devices.
"""

from __future__ import annotations

import mmap

from .kvm import ffi

MMIO_HOLE_START = 0xC000_0000


class GuestMemory:
    def __init__(self, size: int):
        if size % 0x20_0000:
            raise ValueError("guest RAM must be a multiple of 2 MiB")
        self.size = size
        self._map = mmap.mmap(-1, size, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                              mmap.PROT_READ | mmap.PROT_WRITE)
        self.view = memoryview(self._map)
        self._cbuf = ffi.from_buffer(self._map)
        self.host_addr = int(ffi.cast("uintptr_t", self._cbuf))

    def attach(self, vm, slot: int = 0):
        vm.set_user_memory_region(slot, 0, self.host_addr, self.size)

    def contains(self, gpa: int, length: int = 1) -> bool:
        return 0 <= gpa and gpa + length <= self.size

    def read(self, gpa: int, length: int) -> bytes:
        if not self.contains(gpa, length):
            raise IndexError(f"guest physical {gpa:#x}+{length:#x} is outside RAM")
        return bytes(self.view[gpa:gpa + length])

    def write(self, gpa: int, data: bytes):
        if not self.contains(gpa, len(data)):
            raise IndexError(f"guest physical {gpa:#x}+{len(data):#x} is outside RAM")
        self.view[gpa:gpa + len(data)] = data

    def cast(self, ctype: str, gpa: int):
        """A cffi pointer of type `ctype` onto guest RAM at `gpa` (no copy)."""
        return ffi.cast(ctype, self._cbuf + gpa)

    def clear(self):
        """All of RAM back to zeros (a reboot): the kernel drops the pages."""
        self._map.madvise(mmap.MADV_DONTNEED)

    def close(self):
        self.view.release()
        ffi.release(self._cbuf)
        self._map.close()
