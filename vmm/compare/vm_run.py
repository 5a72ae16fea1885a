"""One comparison run: one VM in its own process (`python -m vmm.compare.vm_run`).

The parent (runner.py) writes a JSON spec on stdin and reads one JSON object
from stdout. A process per VM keeps runs independent: a VM that crashes the
VMM, or one the parent kills at its timeout, takes nothing else with it.

While the guest runs, a thread samples the guest's counters page
(struct pyos_counters, read from guest RAM with no VM exit: the same
counters the Prometheus exporter's guest collector serves) every
`sample_s` seconds, giving the context-switch and IRQ time series.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path


SERIES = ("pyos_guest_timer_ticks", "pyos_guest_context_switches", "pyos_guest_irqs")


def series_values(families) -> list[float] | None:
    """[ticks, context switches, IRQs] from the exporter's guest families (None until valid)."""
    sums = {name: 0.0 for name in SERIES}
    valid = False
    for family in families:
        if family.name == "pyos_guest_counters_valid":
            valid = any(s.value == 1 for s in family.samples)
        elif family.name in sums:
            sums[family.name] = sum(s.value for s in family.samples if s.name.endswith("_total"))
    return [sums[name] for name in SERIES] if valid else None


def _summary(snap: dict) -> dict:
    if not snap:
        return {}
    out = {"guest_ticks": snap["ticks"], "context_switches": snap["context_switches"],
           "irqs": sum(snap["irqs"]), "syscalls": sum(snap["syscalls"]),
           "processes_created": snap["processes_created"], "user_page_faults": snap["user_page_faults"]}
    for section in ("frames", "heap"):
        for key, value in snap.get(section, {}).items():
            out[f"{section}_{key}"] = value
    return out


def run(spec: dict) -> dict:
    from .. import config as config_mod
    from ..errors import PyosError
    from ..machine import Machine
    cfg = config_mod.from_dict(spec["config_data"], where="variant",
                               source=Path(spec["source"]) if spec.get("source") else None)
    cfg.kernel.path = spec["kernel"]
    cfg.kernel.cmdline = (cfg.kernel.cmdline + " -- " + spec["program"]).strip()
    cfg.serial.output = spec["console"]
    cfg.serial.input = "none"
    cfg.control.socket = ""
    series: list[list[float]] = []
    result = {"status": None, "series": series}
    started = time.monotonic()
    try:
        machine = Machine(cfg, Path(spec["kernel"]))
    except PyosError as e:
        return {"status": e.status, "error": e.message.strip().splitlines()[:8], "series": series}
    done = threading.Event()

    from ..metrics.guest import GuestFamilies
    families = GuestFamilies(machine.guest_counters, machine.memory.size)

    def sample():
        # Signals are for the vCPU thread (kicks, SIGINT, SIGTERM), never this one.
        from ..run_loop import KICK_SIGNAL
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, KICK_SIGNAL})
        while not done.wait(spec.get("sample_s", 0.25)):
            values = series_values(families.collect("compare"))
            if values is not None:
                series.append([round(time.monotonic() - started, 3), *values])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        status = machine.run()
        result["status"] = status
        result["guest_decided"] = machine.status is not None and status == machine.status
        if machine.stop_reason:
            result["stop_reason"] = machine.stop_reason
        snap = machine.guest_counters.snapshot() if machine.guest_counters else {}
        result["counters"] = _summary(snap)
    except PyosError as e:
        result["status"] = e.status
        result["error"] = e.message.strip().splitlines()[:8]
    finally:
        done.set()
        sampler.join()  # it reads guest RAM: stop it before close() unmaps that
        machine.close()
    result["wall_s"] = round(time.monotonic() - started, 3)
    return result


def main() -> int:
    spec = json.loads(sys.stdin.read())
    out = run(spec)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
