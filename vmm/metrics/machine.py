"""The VMM's own metrics, read from a Machine's plain-int counters at scrape time.

Nothing here runs on the hot path: the run loop, the buses, the IRQ lines,
the PIT and the devices count in Python ints and dicts (vmm/run_loop.py,
vmm/bus.py, vmm/irq.py, vmm/devices/); this module turns what they hold into
Prometheus families when asked. Every series carries the machine's `vm`
label; no label is unbounded (exit reasons, devices, IRQ lines 0-15,
vectors 0-255, directions).

Exit-handling time is the time from KVM_RUN returning to the next KVM_RUN
(the exit's dispatch, the device model, interrupt injection). The loop keeps
it as log2 histograms in nanoseconds, exposed as Prometheus histograms with
buckets at powers of two from 256 ns to 17 s (le = 2^k ns), per exit reason.
For reason "hlt" it is the time the vCPU slept waiting for an interrupt,
not a latency: dashboards and alerts leave it out.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily

from .. import __version__
from ..bus import UNCLAIMED
from ..kvm import lib
from ..run_loop import BEFORE_FIRST_EXIT, EXIT_NAMES, SUM
from .devices import device_families

BUCKET_BITS = range(8, 35)  # le = 2**k ns: 256 ns .. 17 s
NS = 1e-9


def _bus_families(name, doc, bus, kind, slots, vm):
    by_base = {slot.base: slot.name for slot in slots if slot.bus == kind}
    fam = CounterMetricFamily(name, doc, labels=["vm", "device", "direction"])
    totals: dict[tuple[str, str], int] = {}
    for base, counts in bus.accesses().items():
        device = "unclaimed" if base == UNCLAIMED else by_base.get(base, f"{base:#x}")
        for direction, count in zip(("read", "write"), counts):
            if count:
                totals[device, direction] = totals.get((device, direction), 0) + count
    for (device, direction), count in sorted(totals.items()):
        fam.add_metric([vm, device, direction], count)
    return fam


def handling_histogram(hist: list[int]) -> tuple[list[tuple[str, float]], float]:
    """A run-loop log2 histogram → Prometheus (le, cumulative count) buckets and the sum in seconds."""
    buckets, running = [], sum(hist[:BUCKET_BITS[0] + 1])
    for k in BUCKET_BITS:
        if k > BUCKET_BITS[0]:
            running += hist[k]
        buckets.append((repr((1 << k) * NS), running))
    running += sum(hist[BUCKET_BITS[-1] + 1:SUM])
    buckets.append(("+Inf", running))
    return buckets, hist[SUM] * NS


def machine_families(machine, vm: str) -> list:
    loop = machine.loop
    cfg = machine.config
    out = []

    info = InfoMetricFamily("pyos_vm", "the VM: pyos version and machine settings",
                            labels=["vm", "version", "timer_policy", "unclaimed_io"])
    info.add_metric([vm, __version__, cfg.machine.timer_policy, cfg.machine.unclaimed_io], {})
    out.append(info)
    memory = GaugeMetricFamily("pyos_vm_memory_bytes", "guest RAM", labels=["vm"])
    memory.add_metric([vm], machine.memory.size)
    out.append(memory)
    hz = GaugeMetricFamily("pyos_vm_timer_hz", "the PIT rate the kernel is told to program", labels=["vm"])
    hz.add_metric([vm], cfg.machine.timer_hz)
    out.append(hz)

    exits = CounterMetricFamily("pyos_vm_exits", "VM exits by reason (KVM_EXIT_*)", labels=["vm", "reason"])
    for reason, count in sorted(list(loop.exit_counts.items())):
        exits.add_metric([vm, EXIT_NAMES.get(reason, str(reason))], count)
    out.append(exits)

    out.append(_bus_families("pyos_pio_accesses", "port-I/O accesses by device and direction "
                             "(a rep ins/outs counts each element)", machine.io_bus, "io", machine.board, vm))
    out.append(_bus_families("pyos_mmio_accesses", "MMIO accesses by device and direction",
                             machine.mmio_bus, "mmio", machine.board, vm))

    edges = CounterMetricFamily("pyos_irq_edges", "IRQ line low-to-high transitions raised by devices",
                                labels=["vm", "line"])
    for number, line in sorted(machine.irq_lines.items()):
        edges.add_metric([vm, str(number)], line.raised)
    out.append(edges)
    injected = CounterMetricFamily("pyos_interrupts_injected", "interrupts injected with KVM_INTERRUPT, "
                                   "by vector", labels=["vm", "vector"])
    for vector, count in sorted(list(loop.injected.items())):
        injected.add_metric([vm, f"{vector:#04x}"], count)
    out.append(injected)

    pit = dict(machine.pit.stats)
    for key, name, doc in (("edges", "due", "IRQ 0 ticks due at the programmed rate"),
                           ("delivered", "delivered", "IRQ 0 ticks delivered to the PIC"),
                           ("caught_up", "caught_up", "ticks delivered late, owed and caught up"),
                           ("lost_ticks", "lost", "ticks lost (drop policy, masked, or over a second behind)")):
        fam = CounterMetricFamily(f"pyos_pit_ticks_{name}", doc, labels=["vm"])
        fam.add_metric([vm], pit.get(key, 0))
        out.append(fam)

    hist = HistogramMetricFamily("pyos_exit_handling_seconds",
                                 "time from KVM_RUN returning to the next KVM_RUN, by exit reason "
                                 "(for hlt: the time halted)", labels=["vm", "reason"])
    vmm_ns = halted_ns = 0
    for reason, counts in enumerate(loop.handling):
        counts = list(counts)
        if reason == BEFORE_FIRST_EXIT:
            vmm_ns += counts[SUM]
            continue
        if not any(counts[:SUM]):
            continue
        buckets, total = handling_histogram(counts)
        hist.add_metric([vm, EXIT_NAMES.get(reason, str(reason))], buckets, total)
        if reason == lib.KVM_EXIT_HLT:
            halted_ns += counts[SUM]
        else:
            vmm_ns += counts[SUM]
    out.append(hist)
    vcpu = CounterMetricFamily("pyos_vcpu_seconds", "vCPU time: inside KVM_RUN (guest), handling exits in "
                               "the VMM (vmm), halted waiting for an interrupt (halted)",
                               labels=["vm", "vcpu", "state"])
    vcpu.add_metric([vm, "0", "guest"], loop.guest_ns() * NS)
    vcpu.add_metric([vm, "0", "vmm"], vmm_ns * NS)
    vcpu.add_metric([vm, "0", "halted"], halted_ns * NS)
    out.append(vcpu)

    out.extend(device_families(machine.board, vm))
    return out
