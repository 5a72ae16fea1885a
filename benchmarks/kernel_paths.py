"""Kernel instructions per null trap, getpid and yield, counted, not timed.

On PVM-style hosts every kernel instruction is emulated, so a system call's
or a switch's cost is its count of kernel instructions times the emulator's
cost per instruction; the count does not depend on the host's load, which
makes it the figure to compare kernels by. The guest runs `bench` (the
null trap, getpid and the yield ping-pong); a hardware breakpoint on
int3_entry (where every int3 from user mode lands) starts single-stepping
(KVM_GUESTDBG_SINGLESTEP, one exit per kernel instruction; user mode is not
stepped) until the `iretq` back to user mode, with interrupts held meanwhile.

    python -m benchmarks.kernel_paths [CALLS]

count(kernel_path, calls) -> {"null_trap": n, "getpid": n, "yield": n}: medians.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

KERNEL_VMA = 0xFFFF_FFFF_8000_0000
IRETQ = b"\x48\xcf"
SYS_GETPID, SYS_YIELD = 4, 8
NULL_TRAP_MAX = 12  # instructions: a few compares and iretq
DR7_G0_EXEC = 0x2 | 0x400  # DR0 enabled globally, execute, 1 byte; bit 10 reads as one


def symbol(kernel, name: str) -> int:
    out = subprocess.run(["nm", str(kernel)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    raise RuntimeError(f"{kernel} has no symbol {name}")


def count(kernel=None, calls: int = 20) -> dict:
    from vmm import config as config_mod
    from vmm.build.kernel import build_kernel
    from vmm.kvm import lib
    from vmm.machine import Machine
    kernel = kernel or build_kernel()
    entry = symbol(kernel, "int3_entry")
    cfg = config_mod.from_dict({"kernel": {"cmdline": f"-- bench {calls} {calls} 1000"},
                                "serial": {"output": "none", "input": "none"}})
    machine = Machine(cfg, kernel)
    vcpu, loop, memory = machine.vcpu, machine.loop, machine.memory
    armed = lib.KVM_GUESTDBG_ENABLE | lib.KVM_GUESTDBG_USE_HW_BP
    stepping = lib.KVM_GUESTDBG_ENABLE | lib.KVM_GUESTDBG_SINGLESTEP
    breakpoint = [entry, 0, 0, 0, 0, 0, 0, DR7_G0_EXEC]
    events: list[tuple[int, int]] = []  # (rax at entry, kernel instructions to the iretq, included)
    state = {"n": None, "rax": 0}

    def on_debug(run):
        pc = run.debug.arch.pc
        if state["n"] is None:  # the breakpoint, before int3_entry's first instruction
            state["n"], state["rax"] = 0, vcpu.get_regs().rax
            loop.hold_interrupts = True
            vcpu.set_guest_debug(stepping)
            return
        state["n"] += 1
        if pc >= KERNEL_VMA and memory.read(pc - KERNEL_VMA, 2) == IRETQ:
            events.append((state["rax"], state["n"] + 1))
            state["n"] = None
            loop.hold_interrupts = False
            vcpu.set_guest_debug(armed, breakpoint)  # iretq runs unstepped: user mode is never stepped

    loop.handlers[lib.KVM_EXIT_DEBUG] = on_debug
    vcpu.set_guest_debug(armed, breakpoint)
    try:
        status = machine.run()
    finally:
        machine.close()
    if status != 0:
        raise RuntimeError(f"bench exited with status {status}")
    # The null trap is the only path this short; nothing marks it otherwise (rax is whatever it was).
    null = [n for _, n in events if n <= NULL_TRAP_MAX]
    getpid = [n for rax, n in events if rax == SYS_GETPID and n > NULL_TRAP_MAX]
    yields = [n for rax, n in events if rax == SYS_YIELD]
    if not (null and getpid and yields):
        raise RuntimeError(f"too few trapped calls: {len(events)}")
    return {"null_trap": statistics.median(null), "getpid": statistics.median(getpid),
            "yield": statistics.median(yields)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kernel_paths", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("calls", nargs="?", type=int, default=20,
                        help="calls of each kind the guest makes (default 20)")
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("CALLS must be at least 1")
    try:
        figures = count(calls=args.calls)
    except RuntimeError as e:
        print(f"kernel_paths: {e}", file=sys.stderr)
        return 1
    print("kernel instructions, user → kernel → user (medians, single-stepped):")
    for name, n in figures.items():
        print(f"  {name:<10} {n:6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
