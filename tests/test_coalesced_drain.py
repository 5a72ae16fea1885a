"""Draining KVM's coalesced-write ring (vmm/coalesced.py), on a ring filled by hand.

KVM appends struct kvm_coalesced_mmio entries (phys_addr, len, pio, data[8])
at ring.last and the VMM consumes them from ring.first; the used slots may
wrap around the end of the page. Whatever the entries, the devices must see
every write once, in order, with its width, and the ring must be empty after.
The common case (1-byte writes to one port: serial output) takes a strided
fast path; mixed entries take the per-entry path. Both are checked here
against the same expectation.
"""

from __future__ import annotations

import mmap
import random

import pytest

from vmm.coalesced import ENTRY, HEADER, CoalescedPio
from vmm.kvm import ffi


class RecordingBus:
    """Flattens write() and write_block() into the single writes they stand for."""

    def __init__(self):
        self.writes: list[tuple[int, int, int]] = []
        self.calls = 0

    def write(self, port, size, value):
        self.calls += 1
        self.writes.append((port, size, value))

    def write_block(self, port, size, data):
        self.calls += 1
        data = bytes(data)
        for i in range(0, len(data), size):
            self.writes.append((port, size, int.from_bytes(data[i:i + size], "little")))


class FakeVcpu:
    def __init__(self):
        self.page = ffi.new("char[]", mmap.PAGESIZE)

    def coalesced_ring(self):
        return self.page


def _ring(first: int):
    bus, vcpu = RecordingBus(), FakeVcpu()
    pio = CoalescedPio(vm=None, vcpu=vcpu, bus=bus)
    pio._ring.first = pio._ring.last = first
    return pio, bus


def _append(pio: CoalescedPio, port: int, size: int, value: int):
    """What KVM does for one coalesced write: fill slot `last`, advance it (mod the ring)."""
    last = pio._ring.last
    data = value.to_bytes(size, "little").ljust(8, b"\0")
    pio._view[HEADER + last * ENTRY.size:HEADER + (last + 1) * ENTRY.size] = ENTRY.pack(port, size, 1, data)
    pio._ring.last = (last + 1) % pio._slots


@pytest.mark.parametrize("first", [0, 5, "wrap", "end"])
def test_one_port_byte_writes_arrive_whole_and_in_order(first):
    pio, bus = _ring(0)
    n = 40
    start = {"wrap": pio._slots - 7, "end": pio._slots - n}.get(first, first)
    pio._ring.first = pio._ring.last = start
    text = bytes(random.Random(1).randrange(256) for _ in range(n))
    for b in text:
        _append(pio, 0x3F8, 1, b)
    pio.drain()
    assert bus.writes == [(0x3F8, 1, b) for b in text]
    assert bus.calls == 1, "a drain of serial output is one write_block (one write() of the output)"
    assert pio._ring.first == pio._ring.last and pio.drained == n and pio.batches == 1
    pio.drain()  # an empty ring: nothing
    assert len(bus.writes) == n and pio.batches == 1


def test_a_single_byte_is_a_plain_write():
    pio, bus = _ring(3)
    _append(pio, 0x3F8, 1, 0x41)
    pio.drain()
    assert bus.writes == [(0x3F8, 1, 0x41)] and pio.drained == 1


@pytest.mark.parametrize("seed", range(6))
def test_mixed_ports_and_widths_keep_their_order_and_width(seed):
    """ATA data words, command parameters and serial bytes interleaved, across the wrap."""
    rng = random.Random(seed)
    pio, bus = _ring(0)
    pio._ring.first = pio._ring.last = pio._slots - rng.randrange(1, 30)
    expected = []
    for _ in range(rng.randrange(2, 120)):
        port, size = rng.choice([(0x3F8, 1), (0x1F0, 2), (0x1F2, 1), (0x1F0, 4), (0x3F8, 1)])
        value = rng.randrange(1 << (8 * size))
        _append(pio, port, size, value)
        expected.append((port, size, value))
    pio.drain()
    assert bus.writes == expected
    assert pio._ring.first == pio._ring.last and pio.drained == len(expected)


def test_same_port_but_another_width_is_not_taken_for_bytes():
    pio, bus = _ring(0)
    _append(pio, 0x1F0, 1, 0x12)
    _append(pio, 0x1F0, 2, 0x3456)
    _append(pio, 0x1F0, 1, 0x78)
    pio.drain()
    assert bus.writes == [(0x1F0, 1, 0x12), (0x1F0, 2, 0x3456), (0x1F0, 1, 0x78)]
