"""Port-I/O and MMIO buses: devices claim address ranges, accesses find them.

A device is any object with

    name: str
    read(offset: int, size: int) -> int
    write(offset: int, size: int, value: int) -> None

where `offset` is relative to the base it was registered at. The same Bus
class serves the 64 KiB port space and the physical MMIO space.

An 8-bit ISA device (the PIC, PIT, UART, ...) says `bus_width = 1`: the bus
then splits a wider access into byte accesses at consecutive addresses,
lowest byte first, as the ISA bus does (a 16-bit `out` to 0x40 writes the low
byte to 0x40 and the high byte to 0x41), so such a device only ever sees
size 1. Other devices get the access whole, with its size.

A device may also have

    read_block(offset, size, count) -> bytes      # count reads, in order
    write_block(offset, size, data) -> None       # len(data) // size writes

to take a whole `rep ins/outs` (one KVM exit with count > 1) in one call;
without them the bus makes the single accesses.
"""

from __future__ import annotations

import bisect
from typing import Protocol

UNCLAIMED = -1  # the base under which accesses nothing claims are counted


class Device(Protocol):
    name: str
    # optional: bus_width = 1 for an 8-bit device (wider accesses are split)

    def read(self, offset: int, size: int) -> int: ...

    def write(self, offset: int, size: int, value: int) -> None: ...


class UnclaimedAccess(Exception):
    """No device claims this address."""

    def __init__(self, bus: "Bus", address: int, size: int, is_write: bool, value: int | None):
        self.bus_name = bus.name
        self.address = address
        self.size = size
        self.is_write = is_write
        self.value = value
        what = f"write of {value:#x}" if is_write else "read"
        super().__init__(f"{size}-byte {what} at {bus.name} {address:#x}, which no device claims")


class Bus:
    def __init__(self, name: str):
        self.name = name
        self._bases: list[int] = []
        self._ranges: list[tuple[int, int, Device]] = []  # (base, end, device), sorted
        self._cache: dict[int, tuple[int, Device, bool, list[int]]] = {}  # (base, device, narrow, counts)
        # Accesses for the metrics, plain ints: [reads, writes] per registered
        # range (bounded by the devices, not by the addresses a guest may try),
        # carried in the cache entry so counting is one list index per access.
        self._counts: dict[int, list[int]] = {}  # by base
        self.unclaimed = [0, 0]

    def accesses(self) -> dict[int, tuple[int, int]]:
        """{base: (reads, writes)} for every registered range; UNCLAIMED for the rest."""
        out = {base: (c[0], c[1]) for base, c in list(self._counts.items())}
        out[UNCLAIMED] = (self.unclaimed[0], self.unclaimed[1])
        return out

    def register(self, base: int, length: int, device: Device):
        end = base + length
        for other_base, other_end, other in self._ranges:
            if base < other_end and other_base < end:
                raise ValueError(f"{device.name} at {self.name} {base:#x}-{end - 1:#x} overlaps "
                                 f"{other.name} at {other_base:#x}-{other_end - 1:#x}")
        i = bisect.bisect(self._bases, base)
        self._bases.insert(i, base)
        self._ranges.insert(i, (base, end, device))
        self._counts[base] = [0, 0]
        self._cache.clear()

    def devices(self):
        return [(base, end - base, dev) for base, end, dev in self._ranges]

    def _find(self, address: int):
        hit = self._cache.get(address)
        if hit is None:
            i = bisect.bisect(self._bases, address) - 1
            if i < 0:
                return None
            base, end, device = self._ranges[i]
            if address >= end:
                return None
            hit = self._cache[address] = (base, device, getattr(device, "bus_width", 0) == 1,
                                          self._counts[base])
        return hit

    def read(self, address: int, size: int) -> int:
        hit = self._cache.get(address)  # the hot path: one dict lookup, no call
        if hit is None:
            hit = self._find(address)
        if hit is None:
            self.unclaimed[0] += 1
            raise UnclaimedAccess(self, address, size, False, None)
        base, device, narrow, counts = hit
        if narrow and size > 1:  # each byte counts as one access
            return sum(self.read(address + i, 1) << (8 * i) for i in range(size))
        counts[0] += 1
        return device.read(address - base, size)

    def write(self, address: int, size: int, value: int):
        hit = self._cache.get(address)  # the hot path: one dict lookup, no call
        if hit is None:
            hit = self._find(address)
        if hit is None:
            self.unclaimed[1] += 1
            raise UnclaimedAccess(self, address, size, True, value)
        base, device, narrow, counts = hit
        if narrow and size > 1:  # each byte counts as one access
            for i in range(size):
                self.write(address + i, 1, (value >> (8 * i)) & 0xFF)
            return
        counts[1] += 1
        device.write(address - base, size, value)

    def read_block(self, address: int, size: int, count: int) -> bytes:
        """`count` reads of `size` bytes at one address (rep ins), as bytes."""
        hit = self._find(address)
        if hit is None:
            self.unclaimed[0] += count
            raise UnclaimedAccess(self, address, size, False, None)
        base, device, _, counts = hit
        block = getattr(device, "read_block", None)
        if block is not None:
            counts[0] += count
            return block(address - base, size, count)
        return b"".join(self.read(address, size).to_bytes(size, "little") for _ in range(count))

    def write_block(self, address: int, size: int, data) -> None:
        """len(data) // size writes of `size` bytes at one address (rep outs)."""
        hit = self._find(address)
        if hit is None:
            self.unclaimed[1] += len(data) // size
            raise UnclaimedAccess(self, address, size, True, int.from_bytes(data[:size], "little"))
        base, device, _, counts = hit
        block = getattr(device, "write_block", None)
        if block is not None:
            counts[1] += len(data) // size
            return block(address - base, size, data)
        for i in range(0, len(data), size):
            self.write(address, size, int.from_bytes(data[i:i + size], "little"))
