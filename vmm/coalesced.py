"""Coalesced port writes: a device's busiest output port without a VM exit per write.

With KVM_CAP_COALESCED_PIO, KVM appends guest writes to a registered port
range to a ring in the vCPU's mmap (the page after kvm_run) and lets the
guest run on; it exits normally only when the ring is full (170 entries).
The run loop calls drain() after every KVM_RUN, before it handles the exit,
so the device sees every write, in order, before any read or other access
that follows it, and before an interrupt it raises could matter: a guest
that halts to wait for the interrupt exits, and the drain comes first.

The ATA channel's data to device registers are registered this way (not its
command register: a command must start at once): `rep outsw` at CPL0 on a
PVM host is one exit per word otherwise, 256 per sector, and a command's
parameters are five more byte writes.
The UART's transmit register is registered while its state makes that
invisible to the guest (devices/uart16550.py says when) and unregistered
otherwise: a CoalescedZone is a zone a device switches on and off.
Consecutive ring entries for the same port and width go to the device as
one write_block() call, so a drain of serial output is one write().

Besides every exit, the run loop drains at least every FLUSH_NS while the
guest runs (its alarm, vmm/vcpu_timer.py), so a guest that writes and then
computes without exiting does not hold its output back.
"""

from __future__ import annotations

import mmap
import struct

from .kvm import ffi

FLUSH_NS = 10_000_000  # the longest coalesced writes wait while the guest runs without exits

ENTRY = struct.Struct("<QII8s")   # struct kvm_coalesced_mmio: phys_addr, len, pio, data[8]
assert ENTRY.size == ffi.sizeof("struct kvm_coalesced_mmio")
HEADER = ffi.offsetof("struct kvm_coalesced_mmio_ring", "coalesced_mmio")


class CoalescedPio:
    def __init__(self, vm, vcpu, bus):
        self.vm = vm
        self.bus = bus
        self._slots = (mmap.PAGESIZE - HEADER) // ENTRY.size
        ring = vcpu.coalesced_ring()
        self.available = ring is not None
        if ring is not None:
            self._ring = ffi.cast("struct kvm_coalesced_mmio_ring *", ring)
            self._view = ffi.buffer(ring, mmap.PAGESIZE)
            # ring.first and ring.last as two ints the run loop reads after every
            # exit: pending() is `words[0] != words[1]` without a call or a cffi lookup
            self.words = memoryview(self._view).cast("I")
            # The ring as bytes and as u64s, three per entry: phys_addr, len | pio << 32, data
            self._bytes = memoryview(self._view)
            self._quads = self._bytes[HEADER:HEADER + self._slots * ENTRY.size].cast("Q")
        self.zones: list[tuple[int, int]] = []
        self.drained = 0   # writes taken from the ring, for --stats
        self.batches = 0   # drains that found any

    def add(self, port: int, length: int) -> bool:
        """Coalesce writes to ports port..port+length-1; False if this KVM cannot."""
        if not self.available:
            return False
        self.vm.register_coalesced_pio(port, length)
        self.zones.append((port, length))
        return True

    def remove(self, port: int, length: int):
        self.vm.unregister_coalesced_pio(port, length)
        self.zones.remove((port, length))

    def zone(self, port: int, length: int) -> "CoalescedZone | None":
        """A zone a device can switch on and off; None if this KVM cannot coalesce."""
        return CoalescedZone(self, port, length) if self.available else None

    def drain(self):
        ring = self._ring
        first, last = ring.first, ring.last
        if first == last:
            return
        view, slots, size = self._view, self._slots, ENTRY.size
        # The used slots, oldest first: one run, or two when they wrap around the ring.
        spans = [(first, last)] if first < last else [(first, slots), (0, last)]
        same_port = self._same_port_bytes(spans)
        if same_port is not None:
            ring.first = last  # the slots are free again for KVM
            port, data = same_port
            if len(data) > 1:
                self.bus.write_block(port, 1, data)
            else:
                self.bus.write(port, 1, data[0])
            self.drained += len(data)
            self.batches += 1
            return
        entries = [e for lo, hi in spans for e in ENTRY.iter_unpack(view[HEADER + lo * size:HEADER + hi * size])]
        ring.first = last  # the slots are free again for KVM
        run_port, run_size, chunks = entries[0][0], entries[0][1], []
        for port, width, _, data in entries:
            if port != run_port or width != run_size:
                self._write(run_port, run_size, chunks)
                run_port, run_size, chunks = port, width, []
            chunks.append(data[:width])
        self._write(run_port, run_size, chunks)
        self.drained += len(entries)
        self.batches += 1

    def _same_port_bytes(self, spans) -> tuple[int, bytes] | None:
        """(port, data) when every entry is a 1-byte write to one port (serial output), else None.

        The common case in one go: the entries' addresses and len words are read
        as strided u64 slices and their data bytes as one strided byte slice,
        with no Python work per entry.
        """
        quads, size, out = self._quads, ENTRY.size, []
        port = quads[spans[0][0] * 3]
        for lo, hi in spans:
            n = hi - lo
            if not n:
                continue
            widths = quads[lo * 3 + 1:hi * 3:3].tolist()
            if (quads[lo * 3:hi * 3:3].tolist().count(port) != n or widths.count(widths[0]) != n
                    or widths[0] & 0xFFFFFFFF != 1):
                return None
            out.append(self._bytes[HEADER + lo * size + 16:HEADER + hi * size:size].tobytes())
        return port, b"".join(out)

    def _write(self, port, size, chunks):
        if len(chunks) == 1:
            self.bus.write(port, size, int.from_bytes(chunks[0], "little"))
        else:
            self.bus.write_block(port, size, b"".join(chunks))


class CoalescedZone:
    """Ports a device coalesces only while its state allows: set(True/False)."""

    def __init__(self, coalesced: CoalescedPio, port: int, length: int):
        self.coalesced = coalesced
        self.port = port
        self.length = length
        self.enabled = False
        self.switches = 0  # how often it changed, for tests and --stats

    def set(self, enabled: bool):
        if enabled == self.enabled:
            return
        if enabled:
            self.coalesced.add(self.port, self.length)
        else:
            self.coalesced.remove(self.port, self.length)
        self.enabled = enabled
        self.switches += 1
