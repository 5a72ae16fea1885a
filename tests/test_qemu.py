"""The same kernel ELF boots under QEMU through its PVH entry note."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.qemu


def qemu(kernel_elf, cmdline: str, memory_mib: int = 64):
    exe = shutil.which("qemu-system-x86_64")
    assert exe, "qemu-system-x86_64 is needed (apt-get install qemu-system-x86)"
    cmd = [exe, "-machine", "microvm", "-accel", "tcg", "-m", str(memory_mib), "-nographic", "-nodefaults",
           "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           "-kernel", str(kernel_elf), "-append", cmdline]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    return proc, proc.stdout.replace("\r\n", "\n")


def test_boots_under_qemu_microvm_via_pvh(kernel_elf):
    proc, console = qemu(kernel_elf, "exit=5 timer_test=1")
    assert "pyos 0.1.0 x86_64 kernel, booted via PVH entry" in console, proc.stderr
    assert 'command line: "exit=5 timer_test=1"' in console
    # QEMU's own PIC and PIT deliver the timer through the same kernel code.
    # (The tick count itself is no check: the guest counts until it has 100.)
    assert "timer_test: 100 ticks at 100 Hz" in console
    assert "] usable" in console
    # isa-debug-exit turns the guest's status 5 into (5 << 1) | 1.
    assert proc.returncode == (5 << 1) | 1


def test_qemu_ticks_take_host_time(kernel_elf):
    """timer_test=2 under QEMU, timed by the host from the guest's start line
    to its report: QEMU's PIT (TCG, no icount) follows the host clock, so 200
    ticks at 100 Hz cannot take less than 2 s; a kernel that counted each IRQ
    twice, or programmed the PIT for the wrong rate, finishes in 1 s or runs 4.
    Bounds: 0.9x below, because the host may read the start line late under
    load (never the report early); 1.9x above, loose because the box is
    shared: they catch a wrong rate, not a slow host."""
    exe = shutil.which("qemu-system-x86_64")
    assert exe, "qemu-system-x86_64 is needed (apt-get install qemu-system-x86)"
    cmd = [exe, "-machine", "microvm", "-accel", "tcg", "-m", "64", "-nographic", "-nodefaults", "-no-reboot",
           "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", str(kernel_elf),
           "-append", "timer_test=2"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    start = end = None
    report = ""
    for line in proc.stdout:
        if b"timer_test: start" in line:
            start = time.monotonic()
        elif b"ticks at" in line:
            end = time.monotonic()
            report = line.decode()
    proc.wait(timeout=300)
    assert start and end, proc.stderr.read().decode()
    assert "200 ticks at 100 Hz" in report
    host = end - start
    assert 2 * 0.9 <= host < 2 * 1.9, f"200 ticks took {host:.3f} s of host time: {report}"


def test_usertests_under_qemu_use_the_syscall_fast_path(kernel_elf):
    """QEMU delivers `syscall` from user mode, as a VT-x host does: the vDSO keeps it,
    and the kernel's syscall_entry path carries every system call of usertests."""
    proc, console = qemu(kernel_elf, "-- usertests", memory_mib=128)
    assert "syscall entry: the syscall instruction reaches the kernel; the vDSO keeps using it" in console
    header = re.search(r"usertests: (\d+) cases, scheduler 'rr', system calls via syscall", console)
    assert header, console
    assert f"usertests: {header.group(1)} passed, 0 failed" in console, console
    assert proc.returncode == 1  # init's status 0, through isa-debug-exit: (0 << 1) | 1
