"""Memory plugins: cost per operation natively (host harness) and in the guest.

Natively, the plugin C runs in vmm/harness at host speed (clock_gettime).
In the guest, the kernel runs the same loops (bench=memory) and times them
with the TSC it calibrated against the PIT; on PVM-style hosts that is
emulated kernel mode (a few million instructions per second), so expect several
thousand times the native figures there; on a VT-x host the two are close.
Published reference points: Linux SLUB kmalloc+kfree about 42 cycles;
order-0 page alloc+free about 115-185 cycles.
Run:  python3 benchmarks/memory_plugins.py [iterations]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from vmm.harness import run_harness
from vmm.plugins.manager import select

REPO = Path(__file__).resolve().parent.parent
COMBINATIONS = [("buddy", "slab", "direct"), ("bitmap", "freelist", "recursive")]
LINE = re.compile(r"bench (.+?): ([\d.]+) ns/op")
# Which plugin each benchmark line measures, by its first word.
OWNER = {"frame": 0, "kmalloc+kfree": 1, "page": 2}


def native(combo, iterations):
    choice = dict(zip(("frame_allocator", "heap", "paging"), combo))
    result = run_harness(select(choice), "bench", 64, iterations)
    return dict(LINE.findall(result.stdout))


def guest(combo):
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text('[kernel]\nframe_allocator = "%s"\nheap = "%s"\npaging = "%s"\n'
                          '[serial]\ninput = "none"\n' % combo)
        out = subprocess.run([sys.executable, "-m", "vmm.cli", "--config", str(config), "--cmdline", "bench=memory"],
                             cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL).stdout
    return dict(LINE.findall(out))


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(f"{'plugin':<10} {'operation':<36} {'native ns/op':>12} {'guest ns/op':>12} {'guest/native':>12}")
    for combo in COMBINATIONS:
        host, vm = native(combo, iterations), guest(combo)
        for op, ns in host.items():
            plugin = combo[OWNER[op.split()[0]]]
            g = float(vm[op]) if op in vm else float("nan")
            print(f"{plugin:<10} {op:<36} {float(ns):>12.1f} {g:>12.0f} {g / float(ns):>11.0f}x")
    print("(recursive paging natively goes through the harness's software MMU, so its native figure is an upper bound)")


if __name__ == "__main__":
    main()
