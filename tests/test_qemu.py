"""The same kernel ELF boots under QEMU through its PVH entry note."""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.qemu


def test_boots_under_qemu_microvm_via_pvh(kernel_elf):
    qemu = shutil.which("qemu-system-x86_64")
    assert qemu, "qemu-system-x86_64 is needed (apt-get install qemu-system-x86)"
    cmd = [qemu, "-machine", "microvm", "-accel", "tcg", "-m", "64", "-nographic", "-nodefaults",
           "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           "-kernel", str(kernel_elf), "-append", "exit=5 from=qemu timer_test=1"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    console = proc.stdout.replace("\r\n", "\n")
    assert "pyos 0.1.0 x86_64 kernel, booted via PVH entry" in console, proc.stderr
    assert 'command line: "exit=5 from=qemu timer_test=1"' in console
    # QEMU's own PIC and PIT deliver the timer through the same kernel code.
    assert "timer_test: 100 ticks at 100 Hz" in console
    assert "] usable" in console
    # isa-debug-exit turns the guest's status 5 into (5 << 1) | 1.
    assert proc.returncode == (5 << 1) | 1
