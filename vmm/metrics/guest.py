"""The guest kernel's counters page as metrics, read at scrape time (no VM exit).

struct pyos_counters (guest_kernel/include/pyos/counters.h) lives in guest
RAM, so the guest can write anything into it. Nothing read here is trusted:
- the page counts only while its magic is right and its version known;
- names (plugins, the system-call entry) are bounded by their char arrays,
  decoded with replacement and reduced to printable ASCII;
- levels are clamped to what the machine can hold (free frames to the
  managed frames, frames to guest RAM, runnable tasks to TASK_MAX);
- counters are exported as read: a guest that moves one backwards looks to
  Prometheus like a counter reset, which rate() already handles;
- any failure while reading gives no guest series and
  pyos_guest_counters_valid 0, never an exception out of the collector.

Naming (one rule, so counters added to the page appear without editing this
file): a nested struct member SECTION of the page exports each field F as the
counter pyos_guest_SECTION_F_total, labelled with the section's plugin when
the page has a SECTION_name (or, for frames, frame_alloc_name); a
top-level integer F exports pyos_guest_F_total; an array exports one series
per index (label `index`). Fields that are levels rather than counts are
listed in GAUGES with their metric name; add a row there for a new gauge.
"""

from __future__ import annotations

import re

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

from ..kvm import ffi, lib
from ..paths import GUEST_INCLUDE

PAGE_SIZE = 4096
KNOWN_VERSIONS = range(1, 16)  # versions this reader understands: fields only ever appended

# (section or None for top level, field) → (metric name without pyos_guest_, help, unit kind)
GAUGES = {
    ("frames", "total_frames"): ("frames_managed", "4 KiB frames handed to the frame allocator", "frames"),
    ("frames", "free_frames"): ("frames_free", "4 KiB frames free in the frame allocator", "frames"),
    ("frames", "largest_free_frames"): ("frames_largest_free_block",
                                        "frames in the largest block the allocator could hand out now",
                                        "frames"),
    ("heap", "bytes_in_use"): ("heap_in_use_bytes", "heap bytes in use, as requested by callers", "bytes"),
    ("heap", "frames_in_use"): ("heap_frames", "4 KiB frames the heap holds", "frames"),
    ("paging", "tables_allocated"): ("paging_tables", "page-table pages taken from the frame allocator",
                                     "frames"),
    ("paging", "direct_map_bytes"): ("paging_direct_map_bytes", "physical memory in the direct map", "bytes"),
    (None, "tasks_runnable"): ("tasks_runnable", "runnable or running tasks (run-queue length, idle "
                                                 "excluded)", "tasks"),
}

# Top-level fields with a name of their own (the rest follow the rule above).
RENAMED = {
    "ticks": ("timer_ticks", "timer interrupts the guest kernel handled"),
    "context_switches": ("context_switches", "switches from one task to another"),
    "processes_created": ("tasks_created", "tasks created (processes and kernel threads)"),
    "processes_exited": ("tasks_exited", "tasks that ended (exit, return or killed)"),
    "processes_killed": ("tasks_killed", "tasks killed for a CPU exception"),
    "user_page_faults": ("user_page_faults", "page faults taken in user mode"),
}
# A section whose plugin name is not <section>_name (heap_name, paging_name follow the rule).
SECTION_PLUGIN = {"frames": "frame_alloc_name"}
PLUGIN_NAMES = {"sched_name": "scheduler"}  # the subsystem label; otherwise the field without _name
HANDLED = {"magic", "version", "irqs", "spurious_irqs", "syscalls", "syscall_entry",
           "sched_swap_request", "sched_failed"}


def _defines(header: str, prefix: str) -> dict[int, str]:
    try:
        text = (GUEST_INCLUDE / "pyos" / header).read_text()
    except OSError:
        return {}
    return {int(v, 0): n.lower() for n, v in re.findall(rf"#define {prefix}(\w+)\s+(0x[0-9a-fA-F]+|\d+)", text)
            if n != "COUNT"}


SYSCALL_NAMES = _defines("syscall_nr.h", "SYS_")  # the ABI: number → name
TASK_MAX = int((re.search(r"#define TASK_MAX\s+(\d+)", (GUEST_INCLUDE / "pyos" / "task.h").read_text())
                or [0, 4096])[1])


def clean_name(raw) -> str:
    """A guest string as a safe, bounded label value."""
    text = ffi.string(raw).decode("utf-8", errors="replace") if not isinstance(raw, str) else raw
    text = re.sub(r"[^\x20-\x7e]", "?", text)[:64]
    return text or "none"  # empty: the subsystem is not set up (yet, or in this boot mode)


def _int_fields(ctype):
    for name, field in ctype.fields:
        yield name, field.type


class GuestFamilies:
    """Builds the guest's metric families from one GuestCounters (vmm/guest_counters.py)."""

    def __init__(self, counters, ram_bytes: int):
        self.c = counters._c if counters is not None else None
        self.ram_frames = ram_bytes // PAGE_SIZE
        self.ram_bytes = ram_bytes

    def _clamp(self, key, value: int, section_values: dict) -> int:
        kind = GAUGES[key][2]
        if kind == "frames":
            value = min(value, self.ram_frames)
        elif kind == "bytes":
            value = min(value, self.ram_bytes)
        elif kind == "tasks":
            value = min(value, TASK_MAX)
        if key == ("frames", "free_frames"):
            value = min(value, section_values.get("total_frames", value), self.ram_frames)
        return value

    def collect(self, vm: str):
        valid = GaugeMetricFamily("pyos_guest_counters_valid",
                                  "1 if the guest's counters page was found with a known magic and version",
                                  labels=["vm"])
        if self.c is None:
            valid.add_metric([vm], 0)
            return [valid]
        try:
            families = self._read(vm)
        except Exception:  # a hostile page must never break the scrape
            families = None
        valid.add_metric([vm], 1 if families is not None else 0)
        return [valid, *(families or [])]

    def _read(self, vm: str):
        c = self.c
        if c.magic != lib.PYOS_COUNTERS_MAGIC or c.version not in KNOWN_VERSIONS:
            return None
        out: dict[str, object] = {}

        def family(cls, name, doc, labels):
            return out.get(name) or out.setdefault(name, cls(name, doc, labels=["vm", *labels]))

        plugins = {}
        # The layout is the page's own (struct pyos_counters from the header; a test may hand
        # in a newer one): fields with no rule above are exported by the generic ones below.
        ctype = ffi.typeof(c)
        ctype = ctype.item if ctype.kind == "pointer" else ctype
        for name, ftype in _int_fields(ctype):
            if ftype.kind == "array" and ftype.item.cname == "char":
                if name.endswith("_name"):
                    plugins[name] = clean_name(getattr(c, name))
        info = family(InfoMetricFamily, "pyos_guest_plugin", "the subsystem plugins the guest kernel runs",
                      ["subsystem", "name"]) if plugins else None
        for field, value in plugins.items():
            info.add_metric([vm, PLUGIN_NAMES.get(field, field[:-len("_name")]), value], {})
        entry = family(InfoMetricFamily, "pyos_guest_syscall_entry", "how user programs enter the kernel",
                       ["method"])
        entry.add_metric([vm, clean_name(c.syscall_entry)], {})
        if hasattr(c, "sched_failed") and c.sched_failed[0] != b"\0":
            failed = family(InfoMetricFamily, "pyos_guest_sched_failed",
                            "the scheduler plugin the kernel's watchdog last removed", ["name"])
            failed.add_metric([vm, clean_name(c.sched_failed)], {})

        for line_kind, doc in (("irqs", "interrupts the guest handled, by IRQ line"),
                               ("spurious_irqs", "spurious interrupts the guest saw, by IRQ line")):
            fam = family(CounterMetricFamily, f"pyos_guest_{line_kind}", doc, ["line"])
            for line, count in enumerate(getattr(c, line_kind)):
                fam.add_metric([vm, str(line)], count)
        calls = family(CounterMetricFamily, "pyos_guest_syscalls", "system calls by name", ["name"])
        last = len(c.syscalls) - 1
        for nr, count in enumerate(c.syscalls):
            label = SYSCALL_NAMES.get(nr) or ("other" if nr == last else f"nr{nr}")
            calls.add_metric([vm, label], count)

        for name, ftype in _int_fields(ctype):
            if name in HANDLED or name in plugins:
                continue
            value = getattr(c, name)
            if ftype.kind == "struct":
                self._section(name, ftype, value, plugins, vm, family)
            elif ftype.kind == "primitive":
                self._scalar(None, name, value, vm, family, [], [], {})
            elif ftype.kind == "array" and ftype.item.kind == "struct":
                self._devices(name, ftype.item, value, vm, family)
            elif ftype.kind == "array" and ftype.item.kind == "primitive":
                fam = family(CounterMetricFamily, f"pyos_guest_{name}", f"guest counter {name}, by index",
                             ["index"])
                for i, v in enumerate(value):
                    fam.add_metric([vm, str(i)], v)
        return list(out.values())

    def _devices(self, section, stype, structs, vm, family):
        """An array of per-device structs (e.g. blk[] with its names in blk_name[]):
        pyos_guest_<section>_<field>_total{device=<name>}; unnamed slots are unused."""
        names = getattr(self.c, f"{section}_name", None)
        for i, struct in enumerate(structs):
            if names is not None and not ffi.string(names[i]):
                continue  # name "" (counters.h): no device in this slot
            device = clean_name(names[i]) if names is not None else str(i)
            for field, ftype in _int_fields(stype):
                if ftype.kind == "primitive":
                    fam = family(CounterMetricFamily, f"pyos_guest_{section}_{field}",
                                 f"guest counter {section}[].{field} (counters.h), by device", ["device"])
                    fam.add_metric([vm, device], getattr(struct, field))

    def _section(self, section, stype, struct, plugins, vm, family):
        values = {f: getattr(struct, f) for f, t in _int_fields(stype) if t.kind == "primitive"}
        plugin_field = SECTION_PLUGIN.get(section, f"{section}_name")
        plugin = plugins.get(plugin_field)
        labels, label_values = (["plugin"], [plugin]) if plugin else ([], [])
        for field, value in values.items():
            self._scalar(section, field, value, vm, family, labels, label_values, values)

    def _scalar(self, section, field, value, vm, family, labels, label_values, section_values):
        key = (section, field)
        if key in GAUGES:
            name, doc, _ = GAUGES[key]
            fam = family(GaugeMetricFamily, f"pyos_guest_{name}", doc, labels)
            fam.add_metric([vm, *label_values], self._clamp(key, value, section_values))
            return
        if section is None and field in RENAMED:
            name, doc = RENAMED[field]
        else:
            name = f"{section}_{field}" if section else field
            doc = f"guest counter {section + '.' if section else ''}{field} (counters.h)"
        fam = family(CounterMetricFamily, f"pyos_guest_{name}", doc, labels)
        fam.add_metric([vm, *label_values], value)
