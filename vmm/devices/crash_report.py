"""The crash-report port (pyos-specific, not a PC device): port 0x404.

After the guest kernel prints its report of a CPU exception (in the kernel,
or in a user program it then kills) or a panic, it writes the physical
address of a struct pyos_crash_report (guest_kernel/include/pyos/
crash_report.h) here with one 32-bit `out`. The VMM reads the record, names
the function and file:line of the faulting RIP and walks the frame-pointer
chain in the record's address space, using the kernel ELF's symbols and
DWARF, or the user program's (vmm/symbols.py), and appends that to the
console, right under the guest's own report:

    pyos-vmm: crash in kernel: at crash_if_asked+0x52 at guest_kernel/kernel/crash.c:32
      #0  0xffffffff80107842 in crash_if_asked+0x52 at guest_kernel/kernel/crash.c:32
      #1  0xffffffff8010331e in kernel_main+0x1be at guest_kernel/kernel/main.c:71

A write of anything that is not a valid record (wrong size, address outside
RAM, bad magic or version) is ignored and counted: a hostile guest cannot
make the VMM fail here. Reads return all ones (nothing to read).
"""

from __future__ import annotations

from ..inspector import read_virtual
from ..kvm import ffi, lib
from ..symbols import KERNEL_HALF

KINDS = {lib.PYOS_CRASH_KERNEL_EXCEPTION: "kernel exception", lib.PYOS_CRASH_USER_EXCEPTION: "user exception",
         lib.PYOS_CRASH_PANIC: "kernel panic"}


class CrashReportPort:
    PORT = lib.PYOS_CRASH_REPORT_PORT

    def __init__(self, memory, symbolizer, output):
        """output(bytes): where the report goes (the console, beside the guest's own)."""
        self.memory = memory
        self.symbolizer = symbolizer
        self.output = output
        self.reports: list[str] = []  # every report made, for a monitor or tests
        self.ignored = 0

    def read(self, offset: int, size: int) -> int:
        return (1 << (8 * size)) - 1

    def write(self, offset: int, size: int, value: int):
        size_needed = ffi.sizeof("struct pyos_crash_report")
        if offset or size != 4 or not self.memory.contains(value, size_needed):
            self.ignored += 1
            return
        record = self.memory.cast("struct pyos_crash_report *", value)
        if record.magic != lib.PYOS_CRASH_MAGIC or record.version != lib.PYOS_CRASH_VERSION:
            self.ignored += 1
            return
        text = self.describe(record)
        self.reports.append(text)
        self.output(text.encode().replace(b"\n", b"\r\n") + b"\r\n")

    def describe(self, record) -> str:
        kind = KINDS.get(record.kind, f"crash kind {record.kind}")
        task = ffi.string(record.task).decode(errors="replace")
        cr3, rip, rbp = record.cr3, record.rip, record.rbp
        if record.kind == lib.PYOS_CRASH_PANIC and rip:
            rip -= 1  # a return address: show the call to panic()

        def read(vaddr, length):
            return read_virtual(self.memory, cr3, vaddr, length)
        program = task if rip < KERNEL_HALF else None
        head = f"pyos-vmm: {kind}" + (f" in pid {record.pid} ({task})" if record.pid else "")
        if self.symbolizer is None:
            return head + ": no kernel ELF to take symbols from"
        try:
            lines = self.symbolizer.report(rip, rbp, read, program,
                                           rsp=record.rsp if record.kind != lib.PYOS_CRASH_PANIC else 0)
        except Exception as e:  # noqa: BLE001 - a report must never take the VMM down
            lines = [f"  (symbols unavailable: {e})"]
        return "\n".join([head + ":", *lines])
