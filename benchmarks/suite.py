"""The rows of `python -m benchmarks`: each measures pyos and its anchors in
the same run (issue 13's table), and returns a Row.

Every figure is a median over `runs` repetitions. Guest-side figures (exit
round trip, system calls, context switch) are timed by the guest's own TSC
in the same code under both VMMs; process figures (boot, serial, idle CPU)
are timed from outside, the same way for pyos and QEMU:

  pio_exit      port-I/O exit round trip: the C floor (benchmarks/minimal_exit_loop.c),
                QEMU microvm + KVM and pyos running the kernel's bench_pio=N loop
  boot          process start → power-off (`exit=0`) and → the kernel's banner;
                QEMU microvm TCG (PVH) on the same ELF; neither has a disk
  serial        N bytes printed on COM1 (bench_serial=N), minus that VMM's own
                start → power-off; QEMU TCG
  syscall       null system call (getpid) against the int3 floor (the vDSO's
                null trap: user → kernel → user and nothing else)
  switch        context switch: a yield ping-pong between two processes
  idle_100, idle_1000
                the VMM process's CPU while the guest idles (`idle=1`) at that
                tick rate, against QEMU + KVM on the same ELF
  machine       creating a Machine for a cached kernel, in-process
  cpu_loop      a CPU-bound user loop in the guest against the same loop natively
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
BANNER = b"pyos 0.1.0 x86_64 kernel"
IDLE_LINE = b"idling with interrupts enabled"


GROUPS = ("pio", "boot", "processes", "idle", "machine")  # --only: boot includes the serial row


@dataclass
class Settings:
    """Iteration counts: the full run (issue 13's figures) or --quick (a smoke test)."""
    runs: int = 5
    slow_runs: int = 3          # for the rows that take seconds per run (serial, idle)
    pio_exits: int = 100_000
    serial_bytes: int = 1 << 20
    syscalls: int = 2000
    yields: int = 1000
    cpu_work: int = 200_000_000
    idle_seconds: float = 3.0
    machines: int = 10
    only: tuple[str, ...] = ()  # groups to run (GROUPS); empty: all

    @classmethod
    def quick(cls) -> "Settings":
        return cls(runs=1, slow_runs=1, pio_exits=2000, serial_bytes=4096, syscalls=100, yields=50, cpu_work=2_000_000,
                   idle_seconds=0.5, machines=2)


@dataclass
class Row:
    key: str
    what: str
    unit: str
    pyos: float | None
    anchors: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, float | None] = field(default_factory=dict)  # more pyos figures of the same row

    def ratios(self) -> dict[str, float | None]:
        return {name: (self.pyos / value if self.pyos is not None and value else None)
                for name, value in self.anchors.items()}

    def as_dict(self) -> dict:
        return {"key": self.key, "what": self.what, "unit": self.unit, "pyos": self.pyos,
                "anchors": self.anchors, "ratios": self.ratios(), "extra": self.extra, "notes": self.notes}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# -- running a VMM as a process ------------------------------------------------------------------

class Toolbox:
    """What the rows share: the kernel ELF, temp configs, and how to start pyos and QEMU."""

    def __init__(self, settings: Settings, tmp: Path):
        from vmm.build.kernel import build_kernel
        self.settings = settings
        self.tmp = tmp
        self.kernel = build_kernel()
        self.qemu = shutil.which("qemu-system-x86_64")
        # The VMMs started here run as an installed pyos does: from compiled bytecode. An
        # environment that forbids writing it (PYTHONDONTWRITEBYTECODE, as in some CI images)
        # would add ~150 ms of compiling every module to each start; the .pyc files go to a
        # cache folder of their own, not into the checkout.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ.setdefault("PYTHONPYCACHEPREFIX", str(Path.home() / ".cache" / "pyos" / "pycache"))

    def config(self, timer_hz: int = 100) -> Path:
        path = self.tmp / f"bench-{timer_hz}.toml"
        if not path.exists():
            path.write_text(f'[machine]\ntimer_hz = {timer_hz}\n[serial]\ninput = "none"\n')
        return path

    def pyos_cmd(self, cmdline: str, timer_hz: int = 100) -> list[str]:
        # No --kernel: a cached build of guest_kernel/ (the same ELF as self.kernel), as any launch
        return [sys.executable, "-m", "vmm.cli", "--config", str(self.config(timer_hz)), "--cmdline", cmdline]

    def qemu_cmd(self, cmdline: str, accel: str = "tcg") -> list[str]:
        if not self.qemu:
            raise RuntimeError("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
        return [self.qemu, "-machine", "microvm", "-accel", accel, "-m", "128", "-nographic", "-nodefaults",
                "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-kernel", str(self.kernel), "-append", cmdline]


def run_timed(cmd: list[str], marker: bytes = BANNER, timeout: float = 600) -> tuple[float | None, float, bytes]:
    """(seconds to the line holding marker, seconds to exit, all output) of one run."""
    start = time.perf_counter()
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, cwd=REPO)
    seen = None
    chunks = []
    pending = b""
    deadline = start + timeout
    while True:
        chunk = proc.stdout.read1(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        if seen is None:
            pending = (pending + chunk)[-4096:]
            if marker in pending:
                seen = time.perf_counter() - start
        if time.perf_counter() > deadline:
            proc.kill()
            raise RuntimeError(f"{cmd[0]} ran over {timeout} s")
    proc.wait()
    took = time.perf_counter() - start
    errors.seek(0)
    stderr = errors.read()[-1000:]
    errors.close()
    # A guest status 0 is pyos-vmm's 0 and QEMU's 1 (isa-debug-exit: (status << 1) | 1)
    expected = 1 if Path(cmd[0]).name.startswith("qemu") else 0
    if proc.returncode != expected:
        raise RuntimeError(f"{Path(cmd[0]).name} {' '.join(cmd[-2:])} exited with {proc.returncode}: "
                           f"{stderr.decode(errors='replace').strip()}")
    return seen, took, b"".join(chunks)


def guest_value(pattern: str, output: bytes) -> float:
    m = re.search(pattern.encode(), output)
    if not m:
        tail = output[-300:].decode(errors="replace")
        raise RuntimeError(f"no {pattern!r} in the guest's output (it ended: {tail!r})")
    return float(m.group(1))


def tsc_us(output: bytes, cycles: float) -> float:
    return cycles / guest_value(r"tsc: (\d+) kHz", output) * 1000


# -- the rows --------------------------------------------------------------------------------------

def row_pio_exit(tb: Toolbox) -> Row:
    from benchmarks.pio_exit import c_minimal
    n, runs = tb.settings.pio_exits, tb.settings.runs
    row = Row("pio_exit", "port-I/O exit round trip", "µs", None)

    def guest_per_exit(cmd):
        out = run_timed(cmd)[2]
        return tsc_us(out, guest_value(r"bench_pio: \d+ exits, (\d+) TSC cycles each", out))
    row.anchors["C floor"] = median(c_minimal(n) for _ in range(runs))
    try:
        row.anchors["QEMU microvm+KVM"] = median(guest_per_exit(tb.qemu_cmd(f"bench_pio={n}", "kvm"))
                                                 for _ in range(runs))
    except RuntimeError as e:
        row.anchors["QEMU microvm+KVM"] = None
        row.notes.append(f"QEMU + KVM: {e}")
    row.pyos = median(guest_per_exit(tb.pyos_cmd(f"bench_pio={n}")) for _ in range(runs))
    row.notes.append(f"{n} exits; guest TSC per exit, the same kernel loop under QEMU and pyos")
    return row


def boot_times(tb: Toolbox) -> dict:
    runs = tb.settings.runs
    run_timed(tb.pyos_cmd("exit=0"))   # warm-up, not counted: bytecode written, files in the page cache
    run_timed(tb.qemu_cmd("exit=0"))
    pyos = [run_timed(tb.pyos_cmd("exit=0")) for _ in range(runs)]
    qemu = [run_timed(tb.qemu_cmd("exit=0")) for _ in range(runs)]
    # What the interpreter costs before any of pyos runs: its own start (with
    # site-packages, as pyos-vmm starts), then importing the command line.
    python = [run_timed([sys.executable, "-c", "pass"])[1] for _ in range(runs)]
    imports = [run_timed([sys.executable, "-c", "import vmm.cli"])[1] for _ in range(runs)]
    return {"pyos": (median(r[0] for r in pyos), median(r[1] for r in pyos)),
            "qemu": (median(r[0] for r in qemu), median(r[1] for r in qemu)),
            "python": median(python), "imports": median(imports)}


def row_boot(tb: Toolbox, times: dict) -> tuple[Row, Row]:
    off = Row("boot_poweroff", "process start → power-off (exit=0)", "ms", times["pyos"][1] * 1e3,
              {"QEMU microvm TCG": times["qemu"][1] * 1e3})
    banner = Row("boot_banner", "process start → kernel banner", "ms", times["pyos"][0] * 1e3,
                 {"QEMU microvm TCG": times["qemu"][0] * 1e3})
    for row in (off, banner):
        row.notes.append("same kernel ELF; no disk on either; wall time from process start; pyos tells the guest "
                         "the TSC rate (CPUID 0x40000010), QEMU's guest calibrates it (30 ms)")
    if "python" in times:
        banner.notes.append(f"of pyos's time, {times['python'] * 1e3:.1f} ms is the interpreter's own start "
                            f"(`python -c pass`) and {times['imports'] * 1e3:.1f} ms that plus importing vmm.cli")
    return off, banner


def row_serial(tb: Toolbox, times: dict) -> Row:
    n = tb.settings.serial_bytes

    def seconds(cmd, boot):
        _, total, out = run_timed(cmd)
        if len(out) < n:
            raise RuntimeError(f"{cmd[0]} printed {len(out)} bytes, fewer than the {n} asked for")
        return max(total - boot, 0.0)
    runs = tb.settings.slow_runs
    pyos = median(seconds(tb.pyos_cmd(f"bench_serial={n}"), times["pyos"][1]) for _ in range(runs))
    qemu = median(seconds(tb.qemu_cmd(f"bench_serial={n}"), times["qemu"][1]) for _ in range(runs))
    row = Row("serial", f"{n} bytes printed on COM1", "s", pyos, {"QEMU microvm TCG": qemu})
    row.notes.append("bench_serial=N run minus the same VMM's start → power-off; output read through a pipe")
    return row


def rows_processes(tb: Toolbox) -> tuple[Row, Row, Row]:
    s = tb.settings
    figures = {"trap": [], "getpid": [], "switch": [], "guest_ms": []}
    for _ in range(s.runs):
        out = run_timed(tb.pyos_cmd(f"-- bench {s.syscalls} {s.yields} {s.cpu_work}"))[2]
        figures["trap"].append(guest_value(r"bench null trap \(int3 round trip, the floor\): (\d+) ns", out) / 1e3)
        figures["getpid"].append(guest_value(r"bench null system call \(getpid\) round trip: (\d+) ns", out) / 1e3)
        figures["switch"].append(guest_value(r"context switches, (\d+) ns each\)", out) / 1e3)
        figures["guest_ms"].append(guest_value(r"bench cpu loop: ([\d.]+) ms", out))
    exe = tb.tmp / "bench_host"
    if not exe.exists():
        subprocess.run(["gcc", "-O2", "-DHOST", "-o", str(exe), str(REPO / "guest_kernel/user/programs/bench.c")],
                       check=True)
    native = median(guest_value(r"bench cpu loop: ([\d.]+) ms",
                                subprocess.run([str(exe), str(s.cpu_work)], capture_output=True, check=True).stdout)
                    for _ in range(s.runs))
    trap = median(figures["trap"])
    syscall = Row("syscall", "null system call (getpid)", "µs", median(figures["getpid"]), {"int3 round trip": trap})
    syscall.notes.append(f"{s.syscalls} calls, timed in the guest with the TSC")
    switch = Row("switch", "context switch (yield between two processes)", "µs", median(figures["switch"]))
    switch.notes.append(f"{s.yields} yields each way; per switch")
    try:  # the same paths as kernel instructions: independent of the host's load
        from benchmarks.kernel_paths import count
        paths = count(calls=10)
        syscall.extra = {"kernel instructions": paths["getpid"], "null trap kernel instructions": paths["null_trap"]}
        switch.extra = {"kernel instructions per yield": paths["yield"]}
    except Exception as e:  # single-stepping may be unavailable on another host
        syscall.notes.append(f"kernel instruction count unavailable: {e}")
    cpu = Row("cpu_loop", "CPU-bound user loop", "ms", median(figures["guest_ms"]), {"native on the host": native})
    return syscall, switch, cpu


def process_cpu_seconds(pid: int) -> float:
    """CPU time of every thread of a process so far (ns precision, from schedstat)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that just ended
    return total / 1e9


def idle_cpu(cmd: list[str], seconds: float, timeout: float = 120) -> float:
    """Percent of one CPU the VMM process uses while its guest idles."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            cwd=REPO)
    try:
        seen = b""
        deadline = time.monotonic() + timeout
        while IDLE_LINE not in seen:
            chunk = proc.stdout.read1(4096)
            if not chunk or time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[0]} never reached the idle loop (output: {seen[-300:]!r})")
            seen = (seen + chunk)[-8192:]
        time.sleep(min(0.5, seconds))  # past the idle line's own output
        c0, t0 = process_cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = process_cpu_seconds(proc.pid), time.monotonic()
        return (c1 - c0) / (t1 - t0) * 100
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def row_idle(tb: Toolbox, hz: int) -> Row:
    s = tb.settings
    pyos = median(idle_cpu(tb.pyos_cmd("idle=1", timer_hz=hz), s.idle_seconds) for _ in range(s.slow_runs))
    row = Row(f"idle_{hz}", f"idle VMM CPU at {hz} Hz", "% CPU", pyos)
    try:
        row.anchors["QEMU microvm+KVM"] = median(idle_cpu(tb.qemu_cmd(f"idle=1 timer_hz={hz}", "kvm"),
                                                          s.idle_seconds) for _ in range(s.slow_runs))
    except RuntimeError as e:
        row.anchors["QEMU microvm+KVM"] = None
        row.notes.append(f"QEMU + KVM: {e}")
    row.notes.append(f"all threads' CPU time over {s.idle_seconds} s of the guest's idle loop")
    return row


def machine_creation_ms(kernel: Path) -> float:
    """One Machine for a cached kernel, created and closed in this process: ms to create it."""
    from vmm import config as config_mod
    from vmm.machine import Machine
    cfg = config_mod.from_dict({"serial": {"output": "none", "input": "none"}})
    start = time.perf_counter()
    machine = Machine(cfg, kernel)
    took = time.perf_counter() - start
    machine.close()
    return took * 1e3


def row_machine(tb: Toolbox) -> Row:
    try:  # the VMM side's own measurement (benchmarks/startup.py), where it exists
        from benchmarks.startup import measure
    except ImportError:
        measure = None
    if measure:
        figures = measure(tb.settings.machines)
        row = Row("machine", "Machine creation (cached kernel, in-process)", "ms", figures["create_ms"])
        row.extra = {k: v for k, v in figures.items() if k != "create_ms"}
        row.notes.append("benchmarks/startup.py: Machine(config, kernel); extra: to the first guest "
                         "instruction, kernel resolution; the goal is 5 ms")
        return row
    machine_creation_ms(tb.kernel)  # the first one pays for imports and the cffi module
    ms = median(machine_creation_ms(tb.kernel) for _ in range(tb.settings.machines))
    row = Row("machine", "Machine creation (cached kernel, in-process)", "ms", ms)
    row.notes.append("Machine(config, kernel) until ready to run; the goal is 5 ms")
    return row


def run_all(settings: Settings, progress=print) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="pyos-bench-") as tmp:
        tb = Toolbox(settings, Path(tmp))

        def step(name, failed: list[Row], fn, *args):
            """One step; if it fails, its rows say why (pyos None) and the rest still run."""
            progress(f"  {name} ...")
            t = time.perf_counter()
            try:
                result = fn(*args)
            except Exception as e:  # a benchmark that breaks must not hide the others' figures
                progress(f"  {name}: FAILED: {e}")
                for row in failed:
                    row.notes.append(f"FAILED: {e}")
                return failed if len(failed) != 1 else failed[0]
            progress(f"  {name}: {time.perf_counter() - t:.1f} s")
            return result

        def failed(key, what, unit="µs"):
            return Row(key, what, unit, None)

        def wanted(group):
            return not settings.only or group in settings.only
        if wanted("pio"):
            rows.append(step("port-I/O exits", [failed("pio_exit", "port-I/O exit round trip")], row_pio_exit, tb))
        if wanted("boot"):
            times = step("boot", [], boot_times, tb)
            if times:
                rows.extend(row_boot(tb, times))
                rows.append(step("serial", [failed("serial", "bytes printed on COM1", "s")], row_serial, tb, times))
            else:
                rows += [failed("boot_poweroff", "process start → power-off (exit=0)", "ms"),
                         failed("boot_banner", "process start → kernel banner", "ms"),
                         failed("serial", "bytes printed on COM1", "s")]
                for row in rows[-3:]:
                    row.notes.append("FAILED: the boot runs failed")
        if wanted("processes"):
            rows.extend(step("system calls and switches",
                             [failed("syscall", "null system call (getpid)"),
                              failed("switch", "context switch (yield between two processes)"),
                              failed("cpu_loop", "CPU-bound user loop", "ms")], rows_processes, tb))
        if wanted("idle"):
            rows.append(step("idle at 100 Hz", [failed("idle_100", "idle VMM CPU at 100 Hz", "% CPU")],
                             row_idle, tb, 100))
            rows.append(step("idle at 1000 Hz", [failed("idle_1000", "idle VMM CPU at 1000 Hz", "% CPU")],
                             row_idle, tb, 1000))
        if wanted("machine"):
            rows.append(step("Machine creation",
                             [failed("machine", "Machine creation (cached kernel, in-process)", "ms")], row_machine, tb))
    order = ["pio_exit", "boot_poweroff", "boot_banner", "serial", "syscall", "switch", "idle_100", "idle_1000",
             "machine", "cpu_loop"]
    return sorted(rows, key=lambda r: order.index(r.key))
