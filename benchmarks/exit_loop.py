"""The VMM's fixed cost per exit, side by side with the C floor (issue 13).

The same guest (real mode: `mov $0x3ff,%dx; 1: out %al,(%dx); jmp 1b`, the
UART's scratch register) under three loops in one run:

  c-minimal       benchmarks/minimal_exit_loop.c: nothing but KVM_RUN
  python-minimal  the same loop in Python through vmm.kvm (cffi)
  run-loop        vmm.run_loop.RunLoop, the port bus, the PIC pair and the
                  16550 model: every write goes through the loop's interrupt
                  check, exit dispatch, metrics histogram, the bus and the
                  UART's register decode, exactly as in a booted machine

so run-loop / c-minimal is the VMM's cost per exit with the guest's share
held equal. The run loop is stopped from another thread after a fixed time
(request_stop, a kick) and its exit count divided into the time.

    python -m benchmarks.exit_loop [N]     (N exits for the fixed loops)
measure(n) returns the figures as a dict (µs per exit) for `python -m benchmarks`.
"""

from __future__ import annotations

import mmap
import statistics
import sys
import threading
import time

from vmm.bus import Bus
from vmm.devices.pic8259 import PicPair
from vmm.devices.uart16550 import Uart16550
from vmm.irq import IrqLine
from vmm.kvm import Kvm, ffi, lib

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


def run_loop(seconds: float = 1.0) -> float:
    """µs per exit through vmm.run_loop.RunLoop to the 16550 model (a Python device)."""
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
    io_bus.register(0x20, 2, pic.master_port)
    io_bus.register(0xA0, 2, pic.slave_port)
    io_bus.register(0x3F8, 8, uart)
    loop = RunLoop(vcpu, None, pic, io_bus, mmio_bus)
    previous = signal.signal(KICK_SIGNAL, lambda *a: None) if threading.current_thread() is threading.main_thread() else None
    stopper = threading.Timer(seconds, loop.request_stop, args=(0,))
    try:
        stopper.start()
        start = time.perf_counter()
        loop.run()
        elapsed = time.perf_counter() - start
    finally:
        stopper.cancel()
        if previous is not None:
            signal.signal(KICK_SIGNAL, previous)
        vcpu.close()
        vm.close()
        kvm.close()
    exits = sum(loop.exit_counts.values()) if hasattr(loop.exit_counts, "values") else loop.total_exits()
    return elapsed / exits * 1e6


def measure(n: int = 200_000, rounds: int = 5) -> dict:
    """Medians over `rounds` alternating runs: {stage: µs per exit}."""
    from benchmarks.pio_exit import c_minimal, python_minimal
    per = {"c-minimal": [], "python-minimal": [], "run-loop": []}
    for _ in range(rounds):
        per["c-minimal"].append(c_minimal(n))
        per["python-minimal"].append(python_minimal(n))
        per["run-loop"].append(run_loop(max(0.5, n * 5e-6)))
    return {name: statistics.median(v) for name, v in per.items()}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    n = int(args[0]) if args else 200_000
    figures = measure(n)
    floor = figures["c-minimal"]
    print(f"port-I/O exit round trip, same real-mode guest, medians of 5 runs")
    for name, us in figures.items():
        print(f"  {name:<15} {us:7.2f} µs/exit   {us / floor:5.2f}x the C floor")


if __name__ == "__main__":
    main()
