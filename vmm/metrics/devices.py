"""The device hook: how any device's own counters become metrics.

A device on the board (a Slot in vmm/machine.py) exposes counters by having
an attribute `counters` that is a dict, and optionally `gauges` (levels, not
counts). The device increments plain ints in them on its own path; the
collector reads them at scrape time, so nothing here touches the hot path and
no collector needs editing when a device lands:

    self.counters = {"commands": 0, "read_bytes": 0, "written_bytes": 0,
                     "errors": {"abrt": 0, "idnf": 0},   # a dict: label `kind`
                     "irqs": [0, 0]}                     # a list: label `index`
    self.gauges = {"fifo_depth": 0}

Naming: key K of `counters` → pyos_device_K_total{vm, device}, key K of
`gauges` → pyos_device_K{vm, device}; `device` is the board slot's name
(com1, pic-master, ata0, ...). Keys are lower_snake_case and end in a base
unit where there is one (`_bytes`, `_seconds`), as Prometheus conventions
ask; counts of events need no unit (`commands`). A device with other kinds
of metrics may instead define metrics(vm, device) returning metric families.
A bus adapter of a device with several port ranges (the 8042's 0x60 and
0x64) names the device holding the counters in `metrics_source`; it is read
once, labelled with the first slot's name.
Two devices using one key with different shapes (int vs list) keep the
first shape; the other is exported as pyos_device_K_by_<label>.
"""

from __future__ import annotations

import re

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

_KEY = re.compile(r"[^a-z0-9_]")


def device_families(slots, vm: str) -> list:
    """Metric families for every slot whose device has `counters`/`gauges` dicts (or metrics())."""
    out: dict[str, tuple[object, list[str]]] = {}  # name → (family, its label names)
    extra = []
    seen = set()
    for slot in slots:
        device = getattr(slot.device, "metrics_source", None) or slot.device
        if id(device) in seen:
            continue
        seen.add(id(device))
        hook = getattr(device, "metrics", None)
        if callable(hook):
            extra.extend(hook(vm, slot.name))
        for attr, cls, suffix in (("counters", CounterMetricFamily, " (counter)"), ("gauges", GaugeMetricFamily, "")):
            values = getattr(device, attr, None)
            if not isinstance(values, dict):
                continue
            for key, value in list(values.items()):
                key = _KEY.sub("_", str(key).lower())
                _add(out, cls, f"pyos_device_{key}", f"device counter {key}{suffix}, from the device's "
                     f"{attr} dict", vm, slot.name, value)
    return [family for family, _ in out.values()] + extra


def _add(out, cls, name, doc, vm, device, value):
    if isinstance(value, dict):
        label, items = "kind", [(str(k), v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        label, items = "index", [(str(i), v) for i, v in enumerate(value)]
    else:
        label, items = None, [(None, value)]
    labels = ["vm", "device"] + ([label] if label else [])
    if name in out and out[name][1] != labels:
        name = f"{name}_by_{label or 'device'}"
    if name not in out:
        out[name] = (cls(name, doc, labels=labels), labels)
    fam = out[name][0]
    for key, v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        fam.add_metric([vm, device] + ([key] if label else []), v)
