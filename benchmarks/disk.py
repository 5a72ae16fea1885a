"""Sequential disk throughput in the guest: pyos-vmm's ATA model against QEMU's IDE.

The same kernel ELF, the same ext2 image (made by mke2fs -d, 1 KiB blocks)
holding one SIZE MiB file of random bytes, the same user program (fstest):

    read:  fstest bench-read /big.bin          (64 KiB read() calls to the end)
    write: fstest bench-write /new.bin SIZE    (64 KiB write() calls, then sync)

Two figures per run:
- the guest's own: fstest times the loop with the TSC and prints KB/s
  (wall time inside the guest, so it includes whatever the host's load took);
- per host CPU second: the VMM process's CPU time (user + system, every
  thread; on a PVM host the system part includes the host kernel emulating
  the guest's kernel mode) minus that of a baseline run (boot, mount,
  `fstest echo`, power-off), medians of three baselines.
Exits per KiB (pyos-vmm only; QEMU's TCG has no VM exits): the run's VM exits
minus the baseline's, per KiB moved, from --stats.
QEMU: -machine pc -accel tcg (or --accel kvm; SeaBIOS then runs emulated on
PVM hosts, which the baseline absorbs) -drive if=ide,format=raw.

Run:  python3 benchmarks/disk.py [--size-mib 16] [--accel tcg|kvm] [--no-qemu] [--repeat N]
Every run works on a fresh copy of the image.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
def vmm(*args) -> list[str]:
    return [sys.executable, "-m", "vmm.cli", *map(str, args)]


def timed(cmd, expect: str) -> tuple[float, str, str]:
    """Run cmd; its CPU time (user + system, all threads: the work, whatever the
    machine's load) and its output."""
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out_f, stderr=err_f, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        out = out_f.read().decode(errors="replace").replace("\r\n", "\n")
        err = err_f.read().decode(errors="replace")
    if expect not in out:
        raise SystemExit(f"benchmark run failed: {' '.join(map(str, cmd))}\n{out[-2000:]}\n{err[-2000:]}")
    return usage.ru_utime + usage.ru_stime, out, err


def exits(stats: str) -> int:
    """All VM exits of the run, from --stats (pyos_vm_exits_total, by reason)."""
    line = next(l for l in stats.splitlines() if l.startswith(("pyos_vm_exits_total", "exits:")))
    return sum(int(n) for n in re.findall(r" (\d+)(?:,|$)", line))


def pyos_run(workdir: Path, image: Path, words: str, expect: str):
    config = workdir / "disk.toml"
    config.write_text(f'[serial]\ninput = "none"\n[[disk]]\npath = "{image}"\n')
    elapsed, out, err = timed(vmm("--config", config, "--cmdline", f"-- {words}", "--stats"), expect)
    drive = next((l for l in err.splitlines() if l.startswith("pyos_device_commands_by_kind_total")), "")
    return elapsed, exits(err), drive, guest_rate(out)


def qemu_run(qemu: str, accel: str, kernel: str, image: Path, words: str, expect: str):
    elapsed, out, err = timed([qemu, "-machine", "pc", "-accel", accel, "-m", "128", "-nographic", "-nodefaults",
                               "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                               "-kernel", kernel, "-append", f"-- {words}",
                               "-drive", f"if=ide,file={image},format=raw"], expect)
    return elapsed, None, "", guest_rate(out)


def guest_rate(out: str) -> float | None:
    """fstest's own figure: 'bench: read N bytes in U us: R KB/s' → MB/s."""
    m = re.search(r"bench: \w+ (\d+) bytes in (\d+) us", out)
    return int(m.group(1)) / int(m.group(2)) if m and int(m.group(2)) else None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mib", type=int, default=16)
    p.add_argument("--accel", default="tcg", choices=["tcg", "kvm"], help="QEMU's accelerator")
    p.add_argument("--no-qemu", action="store_true")
    p.add_argument("--repeat", type=int, default=1, help="pyos-vmm runs per figure (median); QEMU always 3")
    args = p.parse_args()
    size = args.size_mib << 20
    kib = size >> 10
    kernel = subprocess.run(vmm("build", "--config", REPO / "configs" / "default.toml"), capture_output=True,
                            text=True, cwd=REPO, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="pyos-disk-bench-") as tmp:
        work = Path(tmp)
        (work / "tree").mkdir()
        (work / "tree" / "big.bin").write_bytes(os.urandom(size))
        source = work / "source.img"
        subprocess.run(["mke2fs", "-q", "-F", "-E", "root_owner=0:0", "-t", "ext2", "-b", "1024", "-d", work / "tree", source,
                        f"{3 * args.size_mib + 16}M"], check=True)
        runs = {
            "baseline": ("fstest echo benchmark", "fstest: ok"),
            "read": ("fstest bench-read /big.bin", f"bench: read {size} bytes"),
            "write": (f"fstest bench-write /new.bin {size}", f"bench: wrote {size} bytes"),
        }
        # (name, run, repeats): the median of the repeats; baselines always of three
        vmms = [("pyos-vmm ATA (PIO)", lambda image, w, e: pyos_run(work, image, w, e), args.repeat)]
        qemu = shutil.which("qemu-system-x86_64")
        if qemu and not args.no_qemu:
            vmms.append((f"qemu pc {args.accel} IDE",
                         lambda image, w, e: qemu_run(qemu, args.accel, kernel, image, w, e), 3))
        print(f"sequential {args.size_mib} MiB through ext2 (1 KiB blocks) in the guest, kernel {kernel}")
        results = {}
        for name, run, repeats in vmms:
            figures = {}
            for what, (words, expect) in runs.items():
                samples = []
                for _ in range(3 if what == "baseline" else repeats):
                    image = work / "run.img"
                    shutil.copyfile(source, image)
                    samples.append(run(image, words, expect))
                samples.sort(key=lambda s: s[0])
                figures[what] = samples[len(samples) // 2]
            base_t, base_exits, _, _ = figures["baseline"]
            print(f"  {name}: baseline (boot, mount, power-off) {base_t:.2f} CPU s")
            for what in ("read", "write"):
                t, n, drive, rate = figures[what]
                transfer = max(t - base_t, 1e-6)
                mbs = size / transfer / 1e6
                extra = f", {(n - base_exits) / kib:.1f} exits per KiB" if n is not None else ""
                print(f"    {what:<5} guest-timed {rate or 0:7.2f} MB/s;  {transfer:7.2f} CPU s = {mbs:7.2f} MB/s "
                      f"per CPU second{extra}")
                if drive:
                    print(f"          {' '.join(drive.split()[1:])}")
                results[(name, what)] = (rate or 0, mbs)
        if len(vmms) == 2:
            for what in ("read", "write"):
                ours, theirs = results[(vmms[0][0], what)], results[(vmms[1][0], what)]
                print(f"  {what}: pyos-vmm / qemu = {ours[0] / max(theirs[0], 1e-9):.3f} guest-timed, "
                      f"{ours[1] / theirs[1]:.3f} per CPU second")


if __name__ == "__main__":
    main()
