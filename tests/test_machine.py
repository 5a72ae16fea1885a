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
    machine = Machine(cfg, kernel_elf)
    try:
        stopper = threading.Timer(1.0, machine.request_stop, args=(77,))
        stopper.start()
        start = time.monotonic()
        status = machine.run()
        elapsed = time.monotonic() - start
        stopper.join()
    finally:
        machine.close()
    assert status == 77
    # The guest spins at CPL0 without exits; only the kick could end KVM_RUN.
    assert machine.exit_counts["intr"] >= 1
    assert elapsed < 10
