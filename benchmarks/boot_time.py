"""Time from `pyos-vmm` start to the kernel's banner, and to power-off.

Runs the default config N times (the kernel is already built and cached, as
on any launch after the first) and prints the median, with QEMU's PVH boot of
the same ELF under TCG for reference when qemu-system-x86_64 is installed.
Run:  python3 benchmarks/boot_time.py [N]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from vmm.build.kernel import build_kernel

REPO = Path(__file__).resolve().parent.parent
BANNER = b"pyos 0.1.0 x86_64 kernel"


def time_to_banner(cmd: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            cwd=REPO)
    banner = None
    for line in proc.stdout:
        if banner is None and BANNER in line:
            banner = time.perf_counter() - start
    proc.wait()
    total = time.perf_counter() - start
    if banner is None:
        raise RuntimeError(f"no banner from {cmd}")
    return banner, total


def report(name: str, cmd: list[str], runs: int):
    samples = [time_to_banner(cmd) for _ in range(runs)]
    banner = statistics.median(s[0] for s in samples)
    total = statistics.median(s[1] for s in samples)
    print(f"  {name:<28} banner {banner * 1000:7.1f} ms   power-off {total * 1000:7.1f} ms   (median of {runs})")
    return banner


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    kernel = build_kernel()
    print("boot time, from process start")
    ours = report("pyos-vmm (direct boot)", [sys.executable, "-m", "vmm.cli", "--config", "configs/default.toml"], runs)
    qemu = shutil.which("qemu-system-x86_64")
    if qemu:
        theirs = report("qemu microvm TCG (PVH)", [
            qemu, "-machine", "microvm", "-accel", "tcg", "-m", "128", "-nographic", "-nodefaults",
            "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-kernel", str(kernel)], runs)
        print(f"  ratio pyos-vmm / qemu: {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
