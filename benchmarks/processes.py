"""Processes: null system call, context switch, and user-mode speed vs native.

Boots the guest with `-- bench` (guest_kernel/user/programs/bench.c): it times
N getpid() calls and a yield ping-pong between two processes with the TSC in
user mode, then a CPU-bound loop; the same loop is compiled for the host and
run natively, for the ratio. On PVM-style hosts the kernel side of a system
call or switch is emulated; user code runs natively.
Run:  python3 benchmarks/processes.py [scheduler]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_C = REPO / "guest_kernel" / "user" / "programs" / "bench.c"


def main():
    scheduler = sys.argv[1] if len(sys.argv) > 1 else "rr"
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text(f'[kernel]\nscheduler = "{scheduler}"\n[serial]\ninput = "none"\n')
        guest = subprocess.run([sys.executable, "-m", "vmm.cli", "--config", str(config), "--cmdline", "-- bench"],
                               cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL).stdout
        exe = Path(tmp) / "bench_host"
        subprocess.run(["gcc", "-O2", "-DHOST", "-o", str(exe), str(BENCH_C)], check=True)
        host = subprocess.run([str(exe)], capture_output=True, text=True).stdout
    lines = [line for line in guest.replace("\r", "").splitlines() if line.startswith("bench")]
    print(f"in the guest (scheduler {scheduler}):")
    for line in lines:
        print("  " + line)
    guest_ms = float(re.search(r"bench cpu loop: ([\d.]+) ms", guest).group(1))
    host_ms = float(re.search(r"bench cpu loop: ([\d.]+) ms", host).group(1))
    print(f"natively on the host:\n  bench cpu loop: {host_ms:.1f} ms")
    print(f"CPU-bound user loop, guest / native: {guest_ms / host_ms:.2f}")


if __name__ == "__main__":
    main()
