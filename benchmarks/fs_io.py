"""Sequential file I/O in the guest: pyos-vmm's ATA model against QEMU's IDE.

One ext2 image holds a file of SIZE MiB (default 2; the issue's figure is 16,
which takes minutes on a PVM host). The guest's `fstest bench-read` reads it
in 64 KiB calls and `fstest bench-write` writes a new one (then syncs), each
timed in the guest with the TSC. pyos-vmm runs with --stats, so the VM exits
per KiB moved come from its own counters. The same kernel then reads the same
file under QEMU (`-machine pc -drive if=ide`, TCG).

    python3 benchmarks/fs_io.py [SIZE_MIB]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from vmm.build.kernel import build_kernel
from vmm.mkimage import make_image

REPO = Path(__file__).resolve().parent.parent


def rate(console: str, what: str) -> tuple[int, int]:
    m = re.search(rf"bench: {what} (\d+) bytes in (\d+) us: (\d+) KB/s", console)
    if not m:
        raise SystemExit(f"no '{what}' figure in the guest's output:\n{console[-2000:]}")
    return int(m[1]), int(m[3])


def exits(stats: str) -> int:
    line = next(line for line in stats.splitlines() if line.startswith("exits:"))
    return sum(int(n) for n in re.findall(r" (\d+)", line))


def pyos(config: Path, words: str) -> tuple[str, int]:
    proc = subprocess.run([sys.executable, "-m", "vmm.cli", "--config", str(config), "--stats", "--cmdline", words],
                          capture_output=True, text=True, cwd=REPO, timeout=3600)
    return proc.stdout.replace("\r\n", "\n"), exits(proc.stderr)


def main():
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    kernel = build_kernel()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "src").mkdir()
        (tmp / "src" / "f").write_bytes(os.urandom(size_mib << 20))
        image = make_image(tmp / "disk.img", "ext2", 2 * size_mib + 16, tmp / "src", block_size=4096)
        config = tmp / "c.toml"
        config.write_text(f'[serial]\ninput = "none"\n[[disk]]\npath = "{image}"\n')
        base_console, base_exits = pyos(config, "-- fstest stat /f")
        read_console, read_exits = pyos(config, "-- fstest bench-read /f")
        write_console, write_exits = pyos(config, f"-- fstest bench-write /w {size_mib << 20}")
        nbytes, read_kbs = rate(read_console, "read")
        wbytes, write_kbs = rate(write_console, "wrote")
        print(f"file: {size_mib} MiB on ext2 (4 KiB blocks), 64 KiB calls")
        print(f"pyos-vmm read:  {read_kbs / 1000:.2f} MB/s, {(read_exits - base_exits) / (nbytes / 1024):.2f} exits/KiB")
        print(f"pyos-vmm write: {write_kbs / 1000:.2f} MB/s, {(write_exits - base_exits) / (wbytes / 1024):.2f} "
              f"exits/KiB (sync included)")
        qemu = shutil.which("qemu-system-x86_64")
        if qemu:
            proc = subprocess.run([qemu, "-machine", "pc", "-accel", "tcg", "-m", "128", "-nographic", "-nodefaults",
                                   "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                                   "-kernel", str(kernel), "-append", "-- fstest bench-read /f",
                                   "-drive", f"file={image},format=raw,if=ide"],
                                  capture_output=True, text=True, timeout=3600)
            _, qemu_kbs = rate(proc.stdout, "read")
            print(f"QEMU (pc, TCG, IDE) read: {qemu_kbs / 1000:.2f} MB/s "
                  f"(guest kernel code runs translated, not emulated per instruction)")


if __name__ == "__main__":
    main()
