"""The VMM's fixed cost per exit, side by side with the C floor (issue 13).

The same guest (real mode: `mov $0x3ff,%dx; 1: out %al,(%dx); jmp 1b`, the
UART's scratch register) under three loops in one run:

  c-minimal       benchmarks/minimal_exit_loop.c: nothing but KVM_RUN
  python-minimal  the same loop in Python through vmm.kvm (cffi)
  run-loop        vmm.run_loop.RunLoop, the port bus, the PIC pair, the PIT
                  (its deadline kept by the loop, the vCPU alarm) and the
                  16550 model with its THR coalesced (so the ring is checked
                  after every exit): every write goes through the loop's
                  interrupt check, timer check, ring drain, exit dispatch,
                  metrics histogram, the bus and the UART's register decode,
                  as in a booted machine

so run-loop / c-minimal is the VMM's cost per exit with the guest's share
held equal. The run loop is stopped from another thread after a fixed time
(request_stop, a kick) and its exit count divided into the time.

Two clocks: wall time, and the CPU time of the looping thread (user +
system: KVM_RUN and the guest's emulation count as its system time; for the
C loop, its process's CPU time from getrusage). On a loaded host wall time
also counts the time other processes had the CPU; CPU time mostly does not,
so its ratios are the steadier figure. Stages alternate, medians are shown.

    python -m benchmarks.exit_loop [N]     (N exits for the fixed loops)
measure(n) returns the figures as a dict (µs per exit) for `python -m benchmarks`.
"""

from __future__ import annotations

import mmap
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from vmm.bus import Bus
from vmm.coalesced import CoalescedPio
from vmm.devices.pit8254 import Pit8254
from vmm.devices.pic8259 import PicPair
from vmm.devices.uart16550 import Uart16550
from vmm.irq import IrqLine
from vmm.kvm import Kvm, ffi, lib

HERE = Path(__file__).resolve().parent
GUEST = bytes([0xBA, 0xFF, 0x03, 0xEE, 0xEB, 0xFD])  # mov $0x3ff,%dx; 1: out %al,(%dx); jmp 1b


def _real_mode_vcpu(kvm):
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
    vcpu.set_regs(ffi.new("struct kvm_regs *", {"rip": 0, "rflags": 2}))
    return vm, vcpu, (mem, buf)


def run_loop(seconds: float = 1.0) -> tuple[float, float]:
    """(wall, CPU) µs per exit through vmm.run_loop.RunLoop to the 16550 model (a Python device)."""
    import signal
    from vmm.run_loop import KICK_SIGNAL, RunLoop
    kvm = Kvm()
    vm, vcpu, keep = _real_mode_vcpu(kvm)
    io_bus, mmio_bus = Bus("port"), Bus("MMIO address")
    lines = {n: IrqLine(n) for n in range(16)}
    loop = None
    pic = PicPair(on_int=lambda: loop.kick())
    for line in lines.values():
        line.connect(pic.set_irq)
    uart = Uart16550("com1", lambda data: None, lines[4])
    pit = Pit8254(lines[0])
    io_bus.register(0x20, 2, pic.master_port)
    io_bus.register(0xA0, 2, pic.slave_port)
    io_bus.register(0x40, 4, pit)
    io_bus.register(0x3F8, 8, uart)
    loop = RunLoop(vcpu, None, pic, io_bus, mmio_bus)
    coalesced = CoalescedPio(vm, vcpu, io_bus)
    if hasattr(uart, "attach_tx_zone"):  # (absent in a VMM from before issue 13: its "before" figure)
        uart.attach_tx_zone(coalesced.zone(0x3F8, 1))
        loop.drain_coalesced = coalesced.drain
        pit.attach_to_vcpu()
        loop.timer = pit
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(KICK_SIGNAL, lambda *a: None) if main else None
    stopper = threading.Timer(seconds, loop.request_stop, args=(0,))
    try:
        stopper.start()
        start, cpu = time.perf_counter(), time.thread_time()
        loop.run()
        elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    finally:
        stopper.cancel()
        if previous is not None:
            signal.signal(KICK_SIGNAL, previous)
        del coalesced
        vcpu.close()
        vm.close()
        kvm.close()
    exits = sum(loop.exit_counts.values())
    return elapsed / exits * 1e6, cpu / exits * 1e6


def python_minimal(n: int) -> tuple[float, float]:
    """(wall, CPU) µs per exit: the bare KVM_RUN loop in Python through vmm.kvm."""
    kvm = Kvm()
    vm, vcpu, keep = _real_mode_vcpu(kvm)
    run = vcpu.run_struct
    try:
        start, cpu = time.perf_counter(), time.thread_time()
        for _ in range(n):
            vcpu.run()
            if run.exit_reason != lib.KVM_EXIT_IO:
                raise RuntimeError(f"unexpected exit {run.exit_reason}")
        elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    finally:
        vcpu.close()
        vm.close()
        kvm.close()
    return elapsed / n * 1e6, cpu / n * 1e6


def c_minimal(exe: Path, n: int) -> tuple[float, float]:
    """(wall, CPU) µs per exit of benchmarks/minimal_exit_loop.c (CPU: the process's, from getrusage)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([str(exe), str(n)], check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return float(out), cpu / n * 1e6


def measure(n: int = 200_000, rounds: int = 5) -> dict:
    """Medians over `rounds` alternating runs: {stage: {"wall_us": .., "cpu_us": ..}}."""
    per = {"c-minimal": [], "python-minimal": [], "run-loop": []}
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "loop"
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(HERE / "minimal_exit_loop.c")], check=True)
        for _ in range(rounds):
            per["c-minimal"].append(c_minimal(exe, n))
            per["python-minimal"].append(python_minimal(n))
            per["run-loop"].append(run_loop(max(0.5, n * 5e-6)))
    return {name: {"wall_us": statistics.median(w for w, _ in v), "cpu_us": statistics.median(c for _, c in v)}
            for name, v in per.items()}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    n = int(args[0]) if args else 200_000
    figures = measure(n)
    floor = figures["c-minimal"]
    print("port-I/O exit round trip, same real-mode guest, medians of 5 alternating runs")
    print(f"  {'':<15} {'wall µs':>8} {'x C':>6}   {'CPU µs':>8} {'x C':>6}")
    for name, f in figures.items():
        print(f"  {name:<15} {f['wall_us']:8.2f} {f['wall_us'] / floor['wall_us']:6.2f}   "
              f"{f['cpu_us']:8.2f} {f['cpu_us'] / floor['cpu_us']:6.2f}")


if __name__ == "__main__":
    main()
