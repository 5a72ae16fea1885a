"""Guest timer accuracy and the VMM's CPU use while the guest idles.

For each rate, the guest counts S seconds of PIT ticks (timer_test=S) and the
host times the same span between the two lines the guest prints; then the
guest idles (idle=1) and the VMM process's CPU time over wall time is read
from /proc. Run:  python3 benchmarks/timer_accuracy.py [seconds]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _vmm(config: Path, *args):
    return subprocess.Popen([sys.executable, "-m", "vmm.cli", "--config", str(config), *args], cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def tick_accuracy(config: Path, seconds: int):
    proc = _vmm(config, "--cmdline", f"timer_test={seconds}", "--stats")
    start = end = None
    report = ""
    for line in proc.stdout:
        if "timer_test: start" in line:
            start = time.monotonic()
        elif "ticks at" in line:
            end, report = time.monotonic(), line
    stats = proc.stderr.read()
    proc.wait()
    tsc = float(re.search(r"in (\d+\.\d+) s by the TSC", report).group(1))
    pit = "PIT ticks: " + ", ".join(f"{k} {v}" for k, v in re.findall(r"^pyos_pit_ticks_(\w+)_total  (\d+)$", stats, re.M))
    return end - start, tsc, pit


def idle_cpu(config: Path, seconds: float) -> float:
    proc = _vmm(config, "--cmdline", "idle=1")
    for line in proc.stdout:
        if "idling" in line:
            break

    def cpu():
        fields = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    c0, t0 = cpu(), time.monotonic()
    time.sleep(seconds)
    share = (cpu() - c0) / (time.monotonic() - t0)
    proc.terminate()
    proc.wait()
    return share


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        for hz in (100, 1000):
            config = Path(tmp) / f"hz{hz}.toml"
            config.write_text(f'[machine]\ntimer_hz = {hz}\n[serial]\ninput = "none"\n')
            host, tsc, pit = tick_accuracy(config, seconds)
            share = idle_cpu(config, seconds)
            print(f"{hz:>5} Hz: {seconds * hz} ticks took {host:.3f} s host ({(host / seconds - 1) * 100:+.2f}%), "
                  f"{tsc:.3f} s TSC ({(tsc / seconds - 1) * 100:+.2f}%); idle VMM CPU {share:.1%}")
            print(f"        {pit}")


if __name__ == "__main__":
    main()
