"""Register dumps for guest failures: what a person needs to find the bug.

Given a Symbolizer (vmm/symbols.py), a dump also names the function and
source line of RIP and walks the frame-pointer chain, reading the stack
through the guest's page tables (vmm/inspector.py); for a RIP in user mode
the program is the one the kernel's `current` task runs.
"""

from __future__ import annotations

FLAG_NAMES = [(0, "CF"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"),
              (10, "DF"), (11, "OF")]


def _flags(rflags: int) -> str:
    names = [name for bit, name in FLAG_NAMES if rflags >> bit & 1]
    return " ".join(names) or "-"


def bytes_at_rip(vcpu, memory, rip: int, length: int = 16) -> bytes | None:
    try:
        phys = vcpu.translate(rip)
    except Exception:
        return None
    if phys is None or not memory.contains(phys, 1):
        return None
    length = min(length, memory.size - phys)
    return memory.read(phys, length)


def symbolized(symbols, memory, cr3: int, rip: int, rbp: int, rsp: int = 0) -> list[str]:
    """Function, file:line and backtrace lines for RIP (never raises: a report must print)."""
    from .inspector import read_virtual

    def read(vaddr, length):
        return read_virtual(memory, cr3, vaddr, length)
    try:
        program = symbols.current_task_name(read) if rip < 0xFFFF_8000_0000_0000 else None
        return symbols.report(rip, rbp, read, program, rsp=rsp)
    except Exception as e:  # noqa: BLE001 - a broken ELF must not hide the dump itself
        return [f"  (symbols unavailable: {e})"]


def register_dump(vcpu, memory, insn_bytes: bytes | None = None, symbols=None) -> str:
    r = vcpu.get_regs()
    s = vcpu.get_sregs()
    rows = [
        f"  RIP {r.rip:016x}  RSP {r.rsp:016x}  RFLAGS {r.rflags:08x} [{_flags(r.rflags)}]",
        f"  RAX {r.rax:016x}  RBX {r.rbx:016x}  RCX {r.rcx:016x}  RDX {r.rdx:016x}",
        f"  RSI {r.rsi:016x}  RDI {r.rdi:016x}  RBP {r.rbp:016x}",
        f"  R8  {r.r8:016x}  R9  {r.r9:016x}  R10 {r.r10:016x}  R11 {r.r11:016x}",
        f"  R12 {r.r12:016x}  R13 {r.r13:016x}  R14 {r.r14:016x}  R15 {r.r15:016x}",
        f"  CR0 {s.cr0:016x}  CR2 {s.cr2:016x}  CR3 {s.cr3:016x}  CR4 {s.cr4:016x}",
        f"  EFER {s.efer:x}  CS {s.cs.selector:04x} (CPL {s.cs.selector & 3}, {'64-bit' if s.cs.l else '32/16-bit'})"
        f"  DS {s.ds.selector:04x}  ES {s.es.selector:04x}  SS {s.ss.selector:04x}"
        f"  FS {s.fs.selector:04x}  GS {s.gs.selector:04x}  TR {s.tr.selector:04x}",
        f"  GDT {s.gdt.base:016x}/{s.gdt.limit:04x}  IDT {s.idt.base:016x}/{s.idt.limit:04x}",
    ]
    code = insn_bytes if insn_bytes is not None else bytes_at_rip(vcpu, memory, r.rip)
    if code is None:
        rows.append("  bytes at RIP: (RIP is not mapped to guest RAM)")
    else:
        rows.append("  bytes at RIP: " + " ".join(f"{b:02x}" for b in code))
    if symbols is not None:
        rows += symbolized(symbols, memory, s.cr3, r.rip, r.rbp, r.rsp)
    return "\n".join(rows)
