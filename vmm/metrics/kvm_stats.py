"""KVM's own statistics through KVM_GET_STATS_FD (binary stats), as metrics.

A stats fd (one per VM, one per vCPU) is a file: a struct kvm_stats_header,
then num_desc descriptors (struct kvm_stats_desc followed by name_size bytes
of name), then the data block of u64 values. The descriptors never change, so
they are read once; each scrape does one pread() of the data block. Layouts
and flag values come from <linux/kvm.h> through cffi (vmm/kvm/binding.py).

Conversion to Prometheus conventions:
- cumulative → counter (`_total`); instant and peak → gauge (peak gets `_peak`);
  linear and logarithmic histograms → Prometheus histograms (cumulative
  buckets; KVM keeps no sum, so there is no `_sum` series);
- unit seconds: values scaled by the descriptor's exponent (halt_wait_ns →
  pyos_kvm_vcpu_halt_wait_seconds_total); bytes and cycles get their suffix;
- names: pyos_kvm_vm_<name> and pyos_kvm_vcpu_<name>, labels vm (and vcpu).

Bucket bounds (Documentation/virt/kvm/api.rst, KVM_GET_STATS_FD): a log
histogram's bucket 0 holds [0, 1) and bucket i >= 1 holds [2^(i-1), 2^i), the
last one open-ended; a linear one's bucket i holds [i*b, (i+1)*b). Values are
integers, so the inclusive Prometheus bound `le` is the exclusive bound - 1.

A kernel without KVM_CAP_BINARY_STATS_FD (before 5.14) simply gives no
pyos_kvm_* series; pyos_kvm_stats_available says which case this is.
"""

from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from ..kvm import KvmError, ffi, lib

HEADER_SIZE = ffi.sizeof("struct kvm_stats_header")
DESC_SIZE = ffi.sizeof("struct kvm_stats_desc")  # the name follows at this offset
_TIME_SUFFIX = re.compile(r"_(ns|us|ms|seconds|secs)$")


@dataclass
class StatDesc:
    name: str
    kind: int       # KVM_STATS_TYPE_*
    unit: int       # KVM_STATS_UNIT_*
    base: int       # 10 or 2: a value in the unit is raw * base ** exponent
    exponent: int
    size: int       # number of u64 values
    offset: int     # in the data block, bytes
    bucket_size: int


class StatsFile:
    """One KVM binary-stats fd: descriptors parsed once, data read per scrape."""

    def __init__(self, fd: int):
        self.fd = fd
        raw = os.pread(fd, HEADER_SIZE, 0)
        header = ffi.new("struct kvm_stats_header *")
        ffi.memmove(header, raw, HEADER_SIZE)
        self.id = os.pread(fd, header.name_size, header.id_offset).split(b"\0")[0].decode(errors="replace")
        stride = DESC_SIZE + header.name_size
        block = os.pread(fd, stride * header.num_desc, header.desc_offset)
        desc = ffi.new("struct kvm_stats_desc *")
        self.descs: list[StatDesc] = []
        for i in range(header.num_desc):
            entry = block[i * stride:(i + 1) * stride]
            ffi.memmove(desc, entry, DESC_SIZE)
            name = entry[DESC_SIZE:].split(b"\0")[0].decode(errors="replace")
            base = 2 if desc.flags & lib.KVM_STATS_BASE_MASK == lib.KVM_STATS_BASE_POW2 else 10
            self.descs.append(StatDesc(name, desc.flags & lib.KVM_STATS_TYPE_MASK,
                                       desc.flags & lib.KVM_STATS_UNIT_MASK, base, desc.exponent,
                                       desc.size, desc.offset, desc.bucket_size))
        self.data_offset = header.data_offset
        self.data_size = max((d.offset + 8 * d.size for d in self.descs), default=0)

    def read(self) -> list[tuple[StatDesc, tuple[int, ...]]]:
        raw = os.pread(self.fd, self.data_size, self.data_offset)
        return [(d, struct.unpack_from(f"<{d.size}Q", raw, d.offset)) for d in self.descs]

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def metric_name(scope: str, desc: StatDesc) -> str:
    """pyos_kvm_<scope>_<name> with the unit suffix Prometheus expects."""
    name = re.sub(r"[^a-zA-Z0-9_]", "_", desc.name)
    if desc.unit == lib.KVM_STATS_UNIT_SECONDS:
        name = _TIME_SUFFIX.sub("", name) + "_seconds"
    elif desc.unit == lib.KVM_STATS_UNIT_BYTES and not name.endswith("_bytes"):
        name += "_bytes"
    elif desc.unit == lib.KVM_STATS_UNIT_CYCLES and not name.endswith("_cycles"):
        name += "_cycles"
    if desc.kind == lib.KVM_STATS_TYPE_PEAK and "max" not in name and "peak" not in name:
        name += "_peak"
    return f"pyos_kvm_{scope}_{name}"


def _scaled(value: int, desc: StatDesc):
    """raw * base ** exponent, dividing for negative exponents so 1 ns is exactly 1e-09."""
    if desc.exponent == 0:
        return value
    if desc.exponent > 0:
        return value * desc.base ** desc.exponent
    return value / desc.base ** -desc.exponent


def histogram_buckets(desc: StatDesc, values: tuple[int, ...]) -> list[tuple[str, float]]:
    """KVM's per-bucket counts → Prometheus cumulative (le, count) pairs."""
    buckets, running = [], 0
    last = len(values) - 1
    for i, count in enumerate(values):
        running += count
        if i == last:
            le = math.inf
        elif desc.kind == lib.KVM_STATS_TYPE_LOG_HIST:
            le = 0 if i == 0 else (1 << i) - 1
        else:
            le = desc.bucket_size * (i + 1) - 1
        bound = "+Inf" if le == math.inf else repr(float(_scaled(le, desc)))
        buckets.append((bound, running))
    return buckets


def families(sources: list[tuple[str, StatsFile, tuple[str, ...]]], label_names: tuple[str, ...]):
    """Metric families for every statistic of every source.

    sources: (scope "vm" or "vcpu", StatsFile, label values); label_names
    names the label values ("vm",) or ("vm", "vcpu").
    """
    out: dict[str, object] = {}
    for scope, stats, labels in sources:
        names = label_names if scope == "vm" else label_names + ("vcpu",)
        for desc, values in stats.read():
            name = metric_name(scope, desc)
            doc = f"KVM binary statistic {desc.name} ({scope}, KVM_GET_STATS_FD)"
            if desc.kind in (lib.KVM_STATS_TYPE_LOG_HIST, lib.KVM_STATS_TYPE_LINEAR_HIST):
                fam = out.get(name) or out.setdefault(name, HistogramMetricFamily(name, doc, labels=names))
                fam.add_metric(list(labels), histogram_buckets(desc, values), None)
                continue
            value = _scaled(values[0], desc) if values else 0
            if desc.kind == lib.KVM_STATS_TYPE_CUMULATIVE:
                fam = out.get(name) or out.setdefault(name, CounterMetricFamily(name, doc, labels=names))
            else:
                fam = out.get(name) or out.setdefault(name, GaugeMetricFamily(name, doc, labels=names))
            fam.add_metric(list(labels), value)
    return list(out.values())


def open_stats(vm, vcpus) -> tuple[list, str]:
    """[(scope, StatsFile, extra labels)] for the VM and its vCPUs, and why not if none.

    Absent (empty list) on kernels without KVM_CAP_BINARY_STATS_FD.
    """
    sources = []
    try:
        if not vm.kvm.check_extension("KVM_CAP_BINARY_STATS_FD"):
            return [], "KVM_CAP_BINARY_STATS_FD not supported by this kernel"
        sources.append(("vm", StatsFile(vm.stats_fd()), ()))
        for vcpu in vcpus:
            sources.append(("vcpu", StatsFile(vcpu.stats_fd()), (str(vcpu.index),)))
        return sources, ""
    except (KvmError, OSError) as e:
        for _, stats, _ in sources:
            stats.close()
        return [], f"KVM_GET_STATS_FD: {e}"
