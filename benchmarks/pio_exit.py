"""Cost of one port-I/O exit round trip (guest `out` → VMM → KVM_RUN again).

Three loops over the same kind of exit:
  c-minimal       a C program doing nothing but KVM_RUN (real-mode guest)
  python-minimal  the same guest and loop in Python through vmm.kvm (cffi)
  python-bare     the pyos kernel's own bench_pio loop (64-bit, CPL0) under a
                  bare Python loop: no bus, no device model; reads return 0xff
                  except PIT counter 2's, which counts down so boot's TSC
                  calibration ends
  pyos            the full machine: the 64-bit kernel writes the UART scratch
                  register N times (bench_pio=N), each write dispatched through
                  the run loop, the port bus and the 16550 model

python-bare and pyos run the same guest code, so their difference is the cost
of the VMM's dispatch and device model. Their per-exit cost is (time(bench_pio=N) - time(bench_pio=0)) / N, so boot
and teardown cancel out. Run:  python3 benchmarks/pio_exit.py [N]

The metrics' cost (python3 benchmarks/pio_exit.py N --metrics):
  metrics off     the full machine with the run loop and buses as they were
                  before the metrics: no clock reads, no access counts
  metrics on      the real run loop (two clock reads and a histogram bucket
                  per exit, bus access counts) with the HTTP exporter serving
                  and a thread scraping it every second during the run
runs alternate off/on so drift on a loaded host hits both, and each is timed
in the vCPU thread's CPU time (time.thread_time: KVM_RUN counts as its system
time), which a loaded host inflates far less than wall time. The scrape time
is the median wall time of an HTTP scrape while the guest runs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from vmm import config as config_mod
from vmm.build.kernel import build_kernel
from vmm.kvm import Kvm, ffi, lib
from vmm.bus import Bus, UnclaimedAccess
from vmm.machine import Machine
from vmm.metrics.exporter import MetricsSession
from vmm.run_loop import RunLoop

HERE = Path(__file__).resolve().parent
GUEST = bytes([0xBA, 0xFF, 0x03, 0xEE, 0xEB, 0xFD])  # mov $0x3ff,%dx; 1: out %al,(%dx); jmp 1b


def c_minimal(n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "loop"
        subprocess.run(["gcc", "-O2", "-o", exe, HERE / "minimal_exit_loop.c"], check=True)
        return float(subprocess.run([exe, str(n)], check=True, capture_output=True, text=True).stdout)


def python_minimal(n: int) -> float:
    import mmap
    kvm = Kvm()
    vm = kvm.create_vm()
    vm.set_tss_addr(0xFFFBD000)
    mem = mmap.mmap(-1, 0x1000)
    mem[:len(GUEST)] = GUEST
    buf = ffi.from_buffer(mem)
    vm.set_user_memory_region(0, 0, int(ffi.cast("uintptr_t", buf)), 0x1000)
    vcpu = vm.create_vcpu(0)
    sregs = vcpu.get_sregs()
    sregs.cs.base = sregs.cs.selector = 0
    vcpu.set_sregs(sregs)
    regs = ffi.new("struct kvm_regs *", {"rip": 0, "rflags": 2})
    vcpu.set_regs(regs)
    run = vcpu.run_struct
    start = time.perf_counter()
    for _ in range(n):
        vcpu.run()
        if run.exit_reason != lib.KVM_EXIT_IO:
            raise RuntimeError(f"unexpected exit {run.exit_reason}")
    elapsed = time.perf_counter() - start
    vcpu.close()
    return elapsed / n * 1e6


PIT_CMD, PIT_CH2 = 0x43, 0x42
PIT_LATCH_CH2 = 0x80
PIT_STEP = 600  # PIT counts per latch: the kernel's 10 ms TSC calibration then takes ~20 reads


def _bare_run(kernel, n: int) -> float:
    """Boot with Machine, but drive the vCPU with the least possible loop.

    No device model, except the little the kernel's boot needs to get to the
    bench loop: PIT counter 2 counts down (by PIT_STEP per latch command) so
    the TSC calibration ends; every other read answers 0xff (an empty bus:
    no i8042, no ATA drive; the UART's LSR says "transmitter empty")."""
    cfg = config_mod.from_dict({"kernel": {"cmdline": f"bench_pio={n}"},
                                "serial": {"output": "none", "input": "none"}})
    machine = Machine(cfg, kernel)
    vcpu, run = machine.vcpu, machine.vcpu.run_struct
    data = vcpu.io_data(0, vcpu.run_size)
    exit_port = cfg.machine.exit_port
    counter, latched, high = 0xFFFF, 0xFFFF, False
    try:
        start = time.perf_counter()
        while True:
            vcpu.run()
            io = run.io
            port = io.port
            if port == exit_port:
                break
            if io.direction == lib.KVM_EXIT_IO_IN:
                value = 0xFF
                if port == PIT_CH2:
                    value = (latched >> 8 if high else latched) & 0xFF
                    high = not high
                data[io.data_offset:io.data_offset + 1] = bytes([value])
            elif port == PIT_CMD:
                if data[io.data_offset:io.data_offset + 1][0] == PIT_LATCH_CH2:
                    counter = (counter - PIT_STEP) & 0xFFFF
                    latched, high = counter, False
                else:  # reprogramming counter 2 (or another): it starts again from the top
                    counter, high = 0xFFFF, False
        return time.perf_counter() - start
    finally:
        machine.close()


def _pyos_run(kernel, n: int) -> float:
    cfg = config_mod.from_dict({"kernel": {"cmdline": f"bench_pio={n}"},
                                "serial": {"output": "none", "input": "none"}})
    machine = Machine(cfg, kernel)
    try:
        start = time.perf_counter()
        status = machine.run()
        elapsed = time.perf_counter() - start
    finally:
        machine.close()
    assert status == 0
    return elapsed


class _LoopWithoutMetrics(RunLoop):
    """The run loop before the metrics (no clock reads), for the 'metrics off' figure."""

    def _loop(self) -> int:
        vcpu = self.vcpu
        run = vcpu.run_struct
        handlers = self.handlers
        counts = self.exit_counts
        pic = self.pic
        while self.status is None:
            if self.stop_status is not None:
                return self.stop_status
            if pic.has_interrupt():
                if run.ready_for_interrupt_injection and run.if_flag:
                    vector = pic.acknowledge()
                    vcpu.interrupt(vector)
                    self.injected[vector] += 1
                run.request_interrupt_window = 1
            else:
                run.request_interrupt_window = 0
            if vcpu.run() < 0:
                run.immediate_exit = 0
                counts[lib.KVM_EXIT_INTR] += 1
                continue
            reason = run.exit_reason
            counts[reason] += 1
            handler = handlers.get(reason)
            if handler is None:
                raise RuntimeError(f"unexpected exit {reason}")
            handler(run)
        return self.status


class _BusWithoutMetrics(Bus):
    """The bus before the metrics (no access counts)."""

    def read(self, address: int, size: int) -> int:
        hit = self._find(address)
        if hit is None:
            raise UnclaimedAccess(self, address, size, False, None)
        return hit[1].read(address - hit[0], size)

    def write(self, address: int, size: int, value: int):
        hit = self._find(address)
        if hit is None:
            raise UnclaimedAccess(self, address, size, True, value)
        hit[1].write(address - hit[0], size, value)


def _metrics_run(kernel, n: int, on: bool, scrape_times: list) -> float:
    cfg = config_mod.from_dict({"kernel": {"cmdline": f"bench_pio={n}"},
                                "serial": {"output": "none", "input": "none"},
                                "metrics": {"listen": "127.0.0.1:0", "linger": 0, "vm": "bench"}})
    with tempfile.TemporaryDirectory() as sd:
        cfg.metrics.file_sd_dir = sd
        machine = Machine(cfg, kernel)
        session = None
        if on:
            session = MetricsSession(cfg, machine)
        else:
            machine.loop.__class__ = _LoopWithoutMetrics
            machine.io_bus.__class__ = machine.mmio_bus.__class__ = _BusWithoutMetrics
        stop = threading.Event()

        def scrape():
            url = f"http://{session.address}/metrics"
            while not stop.wait(1.0):
                t = time.perf_counter()
                urllib.request.urlopen(url, timeout=10).read()
                scrape_times.append(time.perf_counter() - t)
        scraper = threading.Thread(target=scrape, daemon=True) if on else None
        try:
            if scraper:
                scraper.start()
            start = time.thread_time()  # the vCPU thread's CPU time: robust to a loaded host
            status = machine.run()
            elapsed = time.thread_time() - start
        finally:
            stop.set()
            if scraper:
                scraper.join()
            if session:
                session.vm_stopped()
            machine.close()
            if session:
                session.close()
    assert status == 0
    return elapsed


def metrics_cost(n: int, rounds: int = 5):
    """Per-exit round trip with metrics off and on (µs: min and median), and the median scrape time (s)."""
    kernel = build_kernel()
    scrapes: list[float] = []
    per = {False: [], True: []}
    for i in range(rounds):
        for on in ((False, True) if i % 2 == 0 else (True, False)):  # neither always goes first
            base = _metrics_run(kernel, 0, on, [])
            full = _metrics_run(kernel, n, on, scrapes)
            per[on].append((full - base) / n * 1e6)
    return ({on: (min(v), statistics.median(v)) for on, v in per.items()},
            statistics.median(scrapes or [0.0]))


def instrumentation_ns(number: int = 200_000) -> float:
    """What the metrics add to one port-I/O exit, timed alone: the run loop's two
    clock reads, histogram bucket and sum, and the bus's access count.
    Min of 7 repeats, so a loaded host's interruptions drop out."""
    import timeit
    setup = ("import time\n"
             "clock = time.perf_counter_ns; handling = [[0] * 65 for _ in range(65)]; reason = 2\n"
             "hit = (0x3f8, None, [0, 0]); exited = clock()")
    stmt = ("entered = clock(); took = entered - exited; hist = handling[reason]\n"
            "hist[took.bit_length()] += 1; hist[-1] += took\n"
            "exited = clock()\n"
            "hit[2][1] += 1")
    best = min(timeit.repeat(stmt, setup, timer=time.thread_time, number=number, repeat=7))
    empty = min(timeit.repeat("pass", setup, timer=time.thread_time, number=number, repeat=7))
    return (best - empty) / number * 1e9


def per_exit(run_once, n: int) -> float:
    kernel = build_kernel()
    base = statistics.median(run_once(kernel, 0) for _ in range(3))
    full = statistics.median(run_once(kernel, n) for _ in range(3))
    return (full - base) / n * 1e6


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 100_000
    if "--metrics" in sys.argv:
        rounds = int(os.environ.get("PIO_ROUNDS", "5"))
        cost, scrape = metrics_cost(n, rounds)
        added = instrumentation_ns()
        (off_min, off_med), (on_min, on_med) = cost[False], cost[True]
        print(f"port-I/O exit round trip through the full machine (vCPU thread CPU time), {n} exits, "
              f"{rounds} alternating runs each")
        print(f"  metrics off     min {off_min:7.2f}  median {off_med:7.2f} µs/exit")
        print(f"  metrics on      min {on_min:7.2f}  median {on_med:7.2f} µs/exit   "
              f"(min {(on_min / off_min - 1) * 100:+.1f}%, scraped every second)")
        print(f"  instrumentation {added:7.0f} ns/exit timed alone = {added / 1e3 / off_min * 100:.1f}% "
              f"of the fastest exit round trip")
        print(f"  scrape time     {scrape * 1e3:7.1f} ms (median, HTTP GET /metrics while the guest runs)")
        return
    results = {"c-minimal": c_minimal(n), "python-minimal": python_minimal(n),
               "python-bare": per_exit(_bare_run, n), "pyos": per_exit(_pyos_run, n)}
    floor = results["c-minimal"]
    print(f"port-I/O exit round trip, {n} exits each")
    for name, us in results.items():
        print(f"  {name:<15} {us:7.2f} µs/exit   {us / floor:5.2f}x the C floor")
    overhead = results["pyos"] - results["python-bare"]
    print(f"  pyos dispatch + device model: {overhead:.2f} µs/exit "
          f"({results['pyos'] / results['python-bare']:.2f}x the bare loop on the same guest code)")


if __name__ == "__main__":
    main()
