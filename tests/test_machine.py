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
