"""One Prometheus registry per process, one collector per machine in it.

REGISTRY holds a MachineCollector for every Machine of this process (each
series labelled with its `vm`) and the process collector (process_cpu_...:
the exporter's own cost). The HTTP exporter, the textfile writer, --stats
and `pyos-vmm top` all read this one registry: one source of truth.

A MachineCollector reads the machine live until freeze() (called when the
guest has stopped, before the machine is closed): it then keeps the final
families and never touches the machine again, so a scrape during linger or
after close cannot read unmapped guest RAM or a closed stats fd. A lock
keeps freeze() from running in the middle of a live scrape.
"""

from __future__ import annotations

import os
import threading
import time

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import GaugeMetricFamily

from .guest import GuestFamilies
from .kvm_stats import families as kvm_families
from .kvm_stats import open_stats
from .machine import machine_families

REGISTRY = CollectorRegistry(auto_describe=False)
ProcessCollector(registry=REGISTRY)


def default_vm_name(config) -> str:
    stem = config.source.stem if config.source is not None else "pyos"
    return f"{stem}-{os.getpid()}"


class MachineCollector:
    def __init__(self, machine, vm: str):
        self.machine = machine
        self.vm = vm
        self._lock = threading.Lock()
        self._frozen: list | None = None
        self.kvm_sources, self.kvm_absent_reason = open_stats(machine.vm, [machine.vcpu])
        self.guest = GuestFamilies(machine.guest_counters, machine.memory.size)
        self.last_collect_seconds = 0.0

    def collect(self):
        with self._lock:
            if self._frozen is not None:
                return list(self._frozen)
            return self._collect_live(running=True)

    def _collect_live(self, running: bool) -> list:
        start = time.perf_counter()
        vm = self.vm
        out = machine_families(self.machine, vm)
        up = GaugeMetricFamily("pyos_vm_running", "1 while the guest runs, 0 once it has stopped "
                               "(the exporter lingers with the final values)", labels=["vm"])
        up.add_metric([vm], 1 if running else 0)
        out.append(up)
        available = GaugeMetricFamily("pyos_kvm_stats_available", "1 if KVM's binary statistics "
                                      "(KVM_GET_STATS_FD) are exported for this VM", labels=["vm"])
        available.add_metric([vm], 1 if self.kvm_sources else 0)
        out.append(available)
        if self.kvm_sources:
            try:
                out.extend(kvm_families([(s, f, (vm,) + extra) for s, f, extra in self.kvm_sources], ("vm",)))
            except OSError:
                pass  # a stats fd gone bad: those series are simply absent this time
        out.extend(self.guest.collect(vm))
        cost = GaugeMetricFamily("pyos_exporter_collect_seconds", "how long the previous collection of "
                                 "this VM's metrics took", labels=["vm"])
        cost.add_metric([vm], self.last_collect_seconds)
        out.append(cost)
        self.last_collect_seconds = time.perf_counter() - start
        return out

    def freeze(self):
        """Keep the final values; release the machine (call before Machine.close)."""
        with self._lock:
            if self._frozen is None:
                self._frozen = self._collect_live(running=False)
                for _, stats, _ in self.kvm_sources:
                    stats.close()
                self.kvm_sources = []
                self.machine = None


def register(machine, vm: str) -> MachineCollector:
    collector = MachineCollector(machine, vm)
    REGISTRY.register(collector)
    return collector


def unregister(collector: MachineCollector):
    try:
        REGISTRY.unregister(collector)
    except KeyError:
        pass
