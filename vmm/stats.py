"""The --stats text: the VM's metrics as Prometheus names them, one line per series family.

It reads the same families the exporter serves (vmm/metrics/), so the
terminal and a dashboard never disagree about a name or a value:

    pyos_vm_exits_total  reason=hlt 812, reason=io 10412, reason=irq_window_open 99
    pyos_pit_ticks_lost_total  0
    pyos_guest_plugin_info  subsystem=heap,name=slab; subsystem=scheduler,name=rr; ...
    pyos_exit_handling_seconds  reason=io: 10412, mean 9.1 µs, p50 <= 8.19 µs, p99 <= 32.8 µs

The `vm` label is left out (one VM per run). A family with one series is
always shown; in others, zero series are left out ("none" if all are zero);
KVM's statistics (pyos_kvm_*) only when non-zero. stats_record() gives the
control socket's query-stats dict.
"""

from __future__ import annotations

from .devices.ata import stats_lines as ata_stats_lines
from .run_loop import EXIT_NAMES


def exit_counts_by_name(counts) -> dict[str, int]:
    return {EXIT_NAMES.get(r, str(r)): n for r, n in counts.items()}


def _fmt_value(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"


def _fmt_labels(labels: dict) -> str:
    parts = []
    for k, v in labels.items():
        if k == "vm":
            continue
        parts.append(f'{k}="{v}"' if (" " in v or "," in v or not v) else f"{k}={v}")
    return ",".join(parts)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.3g} µs"


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the bucket holding quantile q (buckets cumulative, by le)."""
    total = buckets[-1][1] if buckets else 0
    for le, count in buckets:
        if count >= q * total and total:
            return le
    return None


def _histogram_lines(family) -> list[str]:
    series: dict[tuple, dict] = {}
    for s in family.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        entry = series.setdefault(key, {"labels": {k: v for k, v in s.labels.items() if k != "le"},
                                        "buckets": [], "count": 0, "sum": None})
        if s.name.endswith("_bucket"):
            entry["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_count"):
            entry["count"] = s.value
        elif s.name.endswith("_sum"):
            entry["sum"] = s.value
    parts = []
    for entry in series.values():
        count = entry["count"] or (entry["buckets"][-1][1] if entry["buckets"] else 0)
        if not count:
            continue
        text = f"{_fmt_labels(entry['labels'])}: {_fmt_value(count)}"
        if entry["sum"] is not None:
            text += f", mean {_us(entry['sum'] / count)}"
        buckets = sorted(entry["buckets"])
        for q in (0.5, 0.99):
            le = _quantile(buckets, q)
            if le is not None and le != float("inf"):
                text += f", p{int(q * 100)} <= {_us(le)}"
        parts.append(text)
    return parts


def stats_text(families) -> str:
    lines = []
    for family in sorted(families, key=lambda f: (f.name.startswith("pyos_kvm_"), f.name)):
        if not family.name.startswith("pyos_"):
            continue
        if family.type == "histogram":
            parts = _histogram_lines(family)
            if parts:
                lines.append(f"{family.name}  " + "; ".join(parts))
            continue
        samples = [s for s in family.samples if not s.name.endswith("_created")]
        if not samples:
            continue
        name = samples[0].name
        if family.type == "info":
            lines.append(f"{name}  " + "; ".join(_fmt_labels(s.labels) for s in samples))
            continue
        if family.name.startswith("pyos_kvm_") and not any(s.value for s in samples):
            continue
        if len(samples) == 1 and not _fmt_labels(samples[0].labels):
            lines.append(f"{name}  {_fmt_value(samples[0].value)}")
            continue
        shown = [f"{_fmt_labels(s.labels)} {_fmt_value(s.value)}" for s in samples if s.value]
        lines.append(f"{name}  " + (", ".join(shown) or "none"))
    return "\n".join(lines)


def stats_record(machine) -> dict:
    """The VMM's counters as one JSON-able dict (the control socket's query-stats)."""
    record = {"exits": machine.exit_counts,
              "irqs_raised": {str(n): line.raised for n, line in machine.irq_lines.items() if line.raised},
              "vectors_injected": {f"{v:#04x}": c for v, c in sorted(machine.loop.injected.items())},
              "pit": dict(machine.pit.stats), "uart": dict(machine.uart.counters),
              "i8042": machine.i8042.counters, "reboots": machine.reboots}
    if machine.guest_counters:
        record["guest"] = machine.guest_counters.snapshot()  # read from guest RAM, no VM exit
    control = machine.control
    if control is not None:
        record["control"] = {"requests": control.requests, "errors": control.errors,
                             "clients_dropped": control.clients_dropped}
    return record
