"""`pyos-vmm top`: the main series of running VMs as rates per second, in the terminal.

For people without a Prometheus: it finds running VMs the way Prometheus
does (the file_sd target files, vmm/metrics/file_sd.py) or takes
--target HOST:PORT, scrapes each exporter every --interval seconds and
shows what changed per second: VM exits by reason, IRQ edges by line,
context switches, system calls by name, exit-handling time, the vCPU's
split between guest, VMM and halted, and the guest's memory.

Rates are computed from two scrapes, like PromQL's rate() over two samples:
(new - old) / elapsed; a counter that went down (a new VM at the same
address) shows its new value's rate from zero.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from ..errors import ConfigError, PyosError
from .file_sd import default_dir

CLEAR = "\x1b[H\x1b[2J"


def discover(directory: Path) -> list[str]:
    targets = []
    for path in sorted(Path(directory).glob("pyos-*.json")):
        try:
            for group in json.loads(path.read_text()):
                targets.extend(group.get("targets", []))
        except (OSError, ValueError, AttributeError, TypeError):
            continue  # a half-written or foreign file: skip it
    return targets


def scrape(target: str, timeout: float = 5.0) -> dict[tuple, float]:
    """{(sample name, sorted labels without vm): value} of one exporter, plus ('vm',) → name."""
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=timeout) as response:
        text = response.read().decode()
    samples: dict[tuple, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = dict(s.labels)
            vm = labels.pop("vm", None)
            if vm is not None:
                samples[("vm",)] = vm
            samples[(s.name, tuple(sorted(labels.items())))] = s.value
    return samples


def _series(samples, name):
    return {labels: v for (n, *rest), v in samples.items() if n == name for labels in rest}


def _rates(new, old, elapsed, name):
    out = {}
    for labels, value in _series(new, name).items():
        before = _series(old, name).get(labels, 0) if old else None
        if before is None:
            continue
        delta = value - before if value >= before else value
        out[labels] = delta / elapsed
    return out


def _label(labels, key):
    return dict(labels).get(key, "")


def _fmt_rates(rates, key, limit=10):
    top = sorted(((v, _label(k, key)) for k, v in rates.items() if v > 0), reverse=True)[:limit]
    return "  ".join(f"{name} {v:,.0f}" for v, name in top) or "-"


def render(target: str, new: dict, old: dict | None, elapsed: float) -> str:
    vm = new.get(("vm",), "?")
    running = _series(new, "pyos_vm_running").get((), 0)
    lines = [f"{target}  vm {vm}  ({'running' if running else 'stopped'})"]
    if old is None:
        lines.append("  (first scrape: rates from the next one)")
        return "\n".join(lines)
    exits = _rates(new, old, elapsed, "pyos_vm_exits_total")
    lines.append(f"  VM exits/s      {sum(exits.values()):>10,.0f}   " + _fmt_rates(exits, "reason"))
    irqs = _rates(new, old, elapsed, "pyos_irq_edges_total")
    lines.append(f"  IRQ edges/s     {sum(irqs.values()):>10,.0f}   " + _fmt_rates(irqs, "line"))
    handled_sum = _rates(new, old, elapsed, "pyos_exit_handling_seconds_sum")
    handled_n = _rates(new, old, elapsed, "pyos_exit_handling_seconds_count")
    busy = [k for k in handled_n if _label(k, "reason") != "hlt"]
    n = sum(handled_n[k] for k in busy)
    mean = sum(handled_sum.get(k, 0) for k in busy) / n * 1e6 if n else 0
    cpu = _rates(new, old, elapsed, "pyos_vcpu_seconds_total")
    split = "  ".join(f"{_label(k, 'state')} {v * 100:.0f}%" for k, v in sorted(cpu.items()))
    lines.append(f"  exit handling   {mean:>8.1f} µs mean (hlt excluded)   vCPU: {split or '-'}")
    if _series(new, "pyos_guest_counters_valid").get((), 0):
        ticks = sum(_rates(new, old, elapsed, "pyos_guest_timer_ticks_total").values())
        switches = sum(_rates(new, old, elapsed, "pyos_guest_context_switches_total").values())
        runnable = _series(new, "pyos_guest_tasks_runnable").get((), 0)
        calls = _rates(new, old, elapsed, "pyos_guest_syscalls_total")
        lines.append(f"  guest           ticks/s {ticks:,.0f}   context switches/s {switches:,.0f}   "
                     f"runnable {runnable:.0f}")
        lines.append(f"  syscalls/s      {sum(calls.values()):>10,.0f}   " + _fmt_rates(calls, "name"))
        free = sum(_series(new, "pyos_guest_frames_free").values())
        managed = sum(_series(new, "pyos_guest_frames_managed").values())
        heap = sum(_series(new, "pyos_guest_heap_in_use_bytes").values())
        lines.append(f"  memory          frames free {free:,.0f} of {managed:,.0f}   heap in use {heap:,.0f} bytes")
    else:
        lines.append("  guest           (counters page not valid yet)")
    return "\n".join(lines)


def run_top(targets: list[str], file_sd_dir: str | None, interval: float, iterations: int | None,
            out=sys.stdout) -> int:
    if interval <= 0:
        raise ConfigError(f"--interval {interval}: must be a positive number of seconds")
    directory = Path(file_sd_dir) if file_sd_dir else default_dir()
    clear = out.isatty()
    previous: dict[str, tuple[float, dict]] = {}
    shown = 0
    try:
        while iterations is None or shown < iterations:
            found = targets or discover(directory)
            if not found:
                raise PyosError(f"no running VM found in {directory}",
                                'start one with [metrics] listen = "127.0.0.1:0" in its config, '
                                "or pass --target HOST:PORT", status=1)
            blocks = []
            for target in found:
                now = time.monotonic()
                try:
                    samples = scrape(target)
                except (OSError, ValueError) as e:
                    blocks.append(f"{target}  not answering ({getattr(e, 'reason', e)})")
                    previous.pop(target, None)
                    continue
                before = previous.get(target)
                elapsed = now - before[0] if before else 0
                blocks.append(render(target, samples, before[1] if before and elapsed > 0 else None, elapsed))
                previous[target] = (now, samples)
            header = f"pyos-vmm top  every {interval:g} s  {time.strftime('%H:%M:%S')}"
            out.write((CLEAR if clear else "") + header + "\n" + "\n\n".join(blocks) + "\n\n")
            out.flush()
            shown += 1
            if iterations is None or shown < iterations:
                time.sleep(interval)
    except KeyboardInterrupt:
        return 0
    return 0
