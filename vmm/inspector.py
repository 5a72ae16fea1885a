"""Looking at a machine's state from outside: registers, guest virtual memory.

Plain functions, shared by the gdb stub (vmm/gdbstub.py), crash reports and
the control socket / monitor (`info registers`, memory dumps), so they all
read the same state the same way.

Guest virtual addresses are translated by walking the guest's own 4-level
page tables from a CR3 in Python (translate), not with KVM_TRANSLATE: the
walk can use any address space (a crashed process's CR3, not only the one
loaded), runs on any thread, and never needs the vCPU. Reads stop at the
first unmapped page; writes honour nothing but presence (a debugger may
write to read-only code, as gdb's does).

info_registers and the register accessors use KVM_GET_REGS/SREGS, so they
must be called while the vCPU is not inside KVM_RUN (the stub calls them
with the vCPU stopped); read_memory may be called at any time.
"""

from __future__ import annotations

import struct

from .report import register_dump

PAGE = 0x1000
PTE_PRESENT, PTE_WRITE, PTE_USER, PTE_HUGE = 0x1, 0x2, 0x4, 0x80
ADDR_MASK = 0x000F_FFFF_FFFF_F000


def _canonical(vaddr: int) -> bool:
    top = vaddr >> 47
    return top == 0 or top == 0x1FFFF


def translate(memory, cr3: int, vaddr: int) -> tuple[int, bool, bool] | None:
    """Guest virtual → (physical, writable, user) through the 4-level tables at cr3, or None."""
    vaddr &= (1 << 64) - 1
    if not _canonical(vaddr):
        return None
    table = cr3 & ADDR_MASK
    writable = user = True
    for level, shift in enumerate((39, 30, 21, 12)):
        index = (vaddr >> shift) & 511
        slot = table + index * 8
        if not memory.contains(slot, 8):
            return None
        entry = struct.unpack_from("<Q", memory.view, slot)[0]
        if not entry & PTE_PRESENT:
            return None
        writable &= bool(entry & PTE_WRITE)
        user &= bool(entry & PTE_USER)
        if level in (1, 2) and entry & PTE_HUGE:  # 1 GiB or 2 MiB page
            size = 1 << shift
            base = entry & ADDR_MASK & ~(size - 1)
            return base + (vaddr & (size - 1)), writable, user
        table = entry & ADDR_MASK
    return table + (vaddr & (PAGE - 1)), writable, user


def current_cr3(machine) -> int:
    return machine.vcpu.get_sregs().cr3


def read_virtual(memory, cr3: int, vaddr: int, length: int) -> bytes:
    """Bytes at guest virtual vaddr in the address space at cr3; short if a page is unmapped."""
    out = bytearray()
    while length > 0:
        hit = translate(memory, cr3, vaddr)
        chunk = min(length, PAGE - (vaddr & (PAGE - 1)))
        if hit is None or not memory.contains(hit[0], chunk):
            break
        out += memory.read(hit[0], chunk)
        vaddr += chunk
        length -= chunk
    return bytes(out)


def write_virtual(memory, cr3: int, vaddr: int, data: bytes) -> int:
    """Write data at guest virtual vaddr; returns how many bytes were written (stops at a hole)."""
    done = 0
    while done < len(data):
        hit = translate(memory, cr3, vaddr + done)
        chunk = min(len(data) - done, PAGE - ((vaddr + done) & (PAGE - 1)))
        if hit is None or not memory.contains(hit[0], chunk):
            break
        memory.write(hit[0], data[done:done + chunk])
        done += chunk
    return done


def read_memory(machine, vaddr: int, length: int, cr3: int | None = None) -> bytes:
    """Guest virtual memory as the vCPU sees it now (or through `cr3`); short at a hole."""
    if cr3 is None:
        cr3 = current_cr3(machine)
    return read_virtual(machine.memory, cr3, vaddr, length)


def write_memory(machine, vaddr: int, data: bytes, cr3: int | None = None) -> int:
    if cr3 is None:
        cr3 = current_cr3(machine)
    return write_virtual(machine.memory, cr3, vaddr, data)


def info_registers(machine) -> str:
    """Every register, as a crash report shows them, with RIP symbolized and a backtrace."""
    return register_dump(machine.vcpu, machine.memory, symbols=getattr(machine, "symbolizer", None))


def hexdump(data: bytes, address: int) -> str:
    """`xxd`-style lines: address, 16 bytes in hex, printable ASCII."""
    lines = []
    for i in range(0, len(data), 16):
        row = data[i:i + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{address + i:016x}: {row.hex(' '):<47}  {text}")
    return "\n".join(lines)
