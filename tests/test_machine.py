"""The run loop in-process: kicking a vCPU out of KVM_RUN from another thread."""

from __future__ import annotations

import threading
import time

from vmm import config as config_mod
from vmm.machine import Machine


def test_kick_from_another_thread(kernel_elf):
    assert threading.current_thread() is threading.main_thread()
    cfg = config_mod.from_dict({"kernel": {"cmdline": "spin=1"},
                                "serial": {"output": "none", "input": "none"}})
    printed = bytearray()
    spinning = threading.Event()

    def output(data):  # runs in the vCPU thread
        printed.extend(data)
        if b"spinning in kernel mode" in printed and printed.endswith(b"\n"):
            spinning.set()

    machine = Machine(cfg, kernel_elf, output=output)

    def stop_once_spinning():
        # Wait for the guest to be in its spin (no exits of its own from
        # then on), however long the boot takes on a loaded machine.
        if spinning.wait(120):
            machine.request_stop(77)

    try:
        stopper = threading.Thread(target=stop_once_spinning)
        stopper.start()
        start = time.monotonic()
        status = machine.run()
        elapsed = time.monotonic() - start
        stopper.join()
    finally:
        machine.close()
    assert status == 77
    assert spinning.is_set()
    # The guest spins at CPL0 with interrupts off and no exits of its own:
    # only a kick (a signal, counted as an intr exit) could end KVM_RUN.
    assert machine.exit_counts.get("intr", 0) >= 1
    assert elapsed < 120


def test_monitor_reads_registers_and_memory_of_a_running_guest(kernel_elf):
    """The Ctrl-A c monitor's `info registers` and `x`: the same state the gdb stub
    and the control socket read, taken with the vCPU paused for the moment."""
    from vmm.console.monitor import Monitor
    from vmm.boot.long_mode import KERNEL_VMA
    cfg = config_mod.from_dict({"kernel": {"cmdline": "idle=1"},
                                "serial": {"output": "none", "input": "none"}})
    printed = bytearray()
    idling = threading.Event()

    def output(data):
        printed.extend(data)
        if b"idling with interrupts enabled" in printed:
            idling.set()

    machine = Machine(cfg, kernel_elf, output=output)
    replies = {}

    def use_the_monitor():
        if idling.wait(300):
            monitor = Monitor(machine)
            replies["regs"] = monitor.execute("info registers")
            replies["x"] = monitor.execute(f"x {KERNEL_VMA + 0x100000:#x} 32")
            replies["bad"] = monitor.execute("x nowhere")
        machine.request_stop(77)

    try:
        user = threading.Thread(target=use_the_monitor)
        user.start()
        status = machine.run()
        user.join()
        image = bytes(machine.memory.read(0x100000, 32))
    finally:
        machine.close()
    assert status == 77
    assert "RIP" in replies["regs"] and "CR3" in replies["regs"]
    # The idle loop is where the guest is: RIP is named as a kernel function.
    assert " in " in replies["regs"] or "+0x" in replies["regs"], replies["regs"]
    assert replies["x"].startswith(f"{KERNEL_VMA + 0x100000:016x}: {image[:16].hex(' ')}"), replies["x"]
    assert replies["bad"].startswith("error:")
