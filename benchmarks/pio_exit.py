"""Cost of one port-I/O exit round trip (guest `out` → VMM → KVM_RUN again).

Three loops over the same kind of exit:
  c-minimal       a C program doing nothing but KVM_RUN (real-mode guest)
  python-minimal  the same guest and loop in Python through vmm.kvm (cffi)
  python-bare     the pyos kernel's own bench_pio loop (64-bit, CPL0) under a
                  bare Python loop: no bus, no device model; reads return 0xff
  pyos            the full machine: the 64-bit kernel writes the UART scratch
                  register N times (bench_pio=N), each write dispatched through
                  the run loop, the port bus and the 16550 model

python-bare and pyos run the same guest code, so their difference is the cost
of the VMM's dispatch and device model. Their per-exit cost is (time(bench_pio=N) - time(bench_pio=0)) / N, so boot
and teardown cancel out. Run:  python3 benchmarks/pio_exit.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vmm import config as config_mod
from vmm.build.kernel import build_kernel
from vmm.kvm import Kvm, ffi, lib
from vmm.machine import Machine

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


def _bare_run(kernel, n: int) -> float:
    """Boot with Machine, but drive the vCPU with the least possible loop."""
    cfg = config_mod.from_dict({"kernel": {"cmdline": f"bench_pio={n}"},
                                "serial": {"output": "none", "input": "none"}})
    machine = Machine(cfg, kernel)
    vcpu, run = machine.vcpu, machine.vcpu.run_struct
    data = vcpu.io_data(0, vcpu.run_size)
    exit_port = cfg.machine.exit_port
    try:
        start = time.perf_counter()
        while True:
            vcpu.run()
            io = run.io
            if io.port == exit_port:
                break
            if io.direction == lib.KVM_EXIT_IO_IN:
                data[io.data_offset:io.data_offset + 1] = b"\xff"  # e.g. LSR: transmitter empty
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


def per_exit(run_once, n: int) -> float:
    kernel = build_kernel()
    base = statistics.median(run_once(kernel, 0) for _ in range(3))
    full = statistics.median(run_once(kernel, n) for _ in range(3))
    return (full - base) / n * 1e6


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
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
