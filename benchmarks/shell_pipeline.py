"""A shell pipeline, `cat big | wc`, in the guest and natively on the host.

The guest boots the default machine with a second disk holding BIG (a text
file of KIB KiB, default 256) mounted on /mnt, and its shell runs

    time wc /mnt/big            (cold: the first read fills the buffer cache)
    time wc /mnt/big            (warm: the file alone, no pipe)
    time cat /mnt/big | wc      (the pipeline, REPEAT times)

`time` is the shell's keyword: wall-clock time by the TSC, read in user mode.
The host runs the same with its own cat and wc, timed by bash's `time`
(best of REPEAT). The figure to read is the ratio
guest / host for the pipeline; the wc-alone line separates reading the file
from moving it through a pipe (a pipe carries the data in 512-byte rounds
through the kernel, which is emulated on PVM-style hosts).

Kernel work is emulated on PVM-style hosts, and the machine's load shows in
every guest figure: read them beside benchmarks/processes.py's null system
call and context switch measured at the same time.

Run:  python3 benchmarks/shell_pipeline.py [KIB] [REPEAT]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vmm.mkimage import make_image  # noqa: E402

DEFAULT_CONFIG = REPO / "configs" / "default.toml"


def big_text(kib: int) -> bytes:
    line = b"the quick brown fox jumps over the lazy dog 0123456789\n"
    return (line * (kib * 1024 // len(line) + 1))[:kib * 1024]


def guest_times(tmp: Path, big: Path, repeat: int) -> tuple[list[float], list[float], str]:
    data = tmp / "data"
    data.mkdir()
    (data / "big").write_bytes(big.read_bytes())
    image = make_image(tmp / "data.img", "ext2", big.stat().st_size // (1 << 20) + 8, data)
    text = DEFAULT_CONFIG.read_text().replace('from = "rootfs"', f'from = "{DEFAULT_CONFIG.parent / "rootfs"}"')
    config = tmp / "bench.toml"
    config.write_text(f'{text}\n[[disk]]\npath = "{image}"\n')
    script = "time wc /mnt/big\ntime wc /mnt/big\n" + "time cat /mnt/big | wc\n" * repeat + "exit\n"
    out = subprocess.run([sys.executable, "-m", "vmm.cli", "--config", str(config), "--cmdline",
                          "mount=hdb:/mnt -- sh"], cwd=REPO, input=script, capture_output=True, text=True,
                         timeout=3600).stdout.replace("\r\n", "\n")
    times = [float(t) for t in re.findall(r"real (\d+\.\d+) s", out)]
    counts = re.findall(r"^\D*(\d+) +(\d+) +(\d+)", out, re.M)
    if len(times) != 2 + repeat:
        raise SystemExit(f"the guest did not print {2 + repeat} timings:\n{out[-3000:]}")
    return times[:2], times[2:], counts[-1] if counts else ""


def host_time(command: str, repeat: int) -> float:
    """Best of `repeat`, timed by bash's own `time` (its start-up not included)."""
    best = float("inf")
    for _ in range(repeat):
        r = subprocess.run(["bash", "-c", f"TIMEFORMAT=%6R; time ({command} >/dev/null)"], check=True,
                           capture_output=True, text=True)
        best = min(best, float(r.stderr.strip().splitlines()[-1]))
    return best


def main():
    kib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = tmp / "big"
        big.write_bytes(big_text(kib))
        (cold, warm), pipeline, counts = guest_times(tmp, big, repeat)
        host_wc = host_time(f"wc {big}", repeat)
        host_pipe = host_time(f"cat {big} | wc", repeat)
        host_counts = subprocess.run(["bash", "-c", f"cat {big} | wc"], capture_output=True, text=True).stdout.split()
    best = min(pipeline)
    print(f"cat big | wc, big = {kib} KiB of text (guest counts {' '.join(counts)}, host {' '.join(host_counts)})")
    print(f"  guest: wc big {cold * 1000:.1f} ms cold, {warm * 1000:.1f} ms warm; "
          f"cat big | wc {', '.join(f'{t * 1000:.1f}' for t in pipeline)} ms (best {best * 1000:.1f})")
    print(f"  host:  wc big {host_wc * 1000:.1f} ms; cat big | wc {host_pipe * 1000:.1f} ms (best of {repeat})")
    print(f"  guest / host: pipeline {best / host_pipe:.1f}x, wc alone {warm / host_wc:.1f}x; "
          f"guest pipeline throughput {kib / best:.1f} KiB/s")


if __name__ == "__main__":
    main()
