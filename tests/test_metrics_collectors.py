"""The collectors one by one: a hostile guest counters page, KVM stats conversion, the device hook."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from vmm.guest_counters import GuestCounters
from vmm.kvm import Kvm, ffi, lib
from vmm.metrics import kvm_stats
from vmm.metrics.devices import device_families
from vmm.metrics.guest import TASK_MAX, GuestFamilies
from vmm.metrics.machine import handling_histogram

RAM = 128 << 20
PAGE_SIZE = ffi.sizeof("struct pyos_counters")


class _Families:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


def exposition(families) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry).decode()


def samples(families) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def page(raw: bytes | None = None):
    buf = ffi.new("struct pyos_counters *")
    if raw is not None:
        ffi.memmove(buf, raw[:PAGE_SIZE].ljust(PAGE_SIZE, b"\0"), PAGE_SIZE)
    return buf


def guest_samples(buf) -> dict:
    families = GuestFamilies(GuestCounters(buf), RAM).collect("t")
    exposition(families)  # the client library accepts them
    return samples(families)


def test_wrong_magic_gives_no_guest_series():
    buf = page(os.urandom(PAGE_SIZE))
    buf.magic = lib.PYOS_COUNTERS_MAGIC ^ 1
    got = guest_samples(buf)
    assert got == {("pyos_guest_counters_valid", (("vm", "t"),)): 0}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(min_size=PAGE_SIZE, max_size=PAGE_SIZE))
def test_any_counters_page_is_read_safely(raw):
    """Whatever the guest writes, the collector returns valid, clamped series and never raises."""
    buf = page(raw)
    buf.magic = lib.PYOS_COUNTERS_MAGIC
    buf.version = 1
    got = guest_samples(buf)
    assert got[("pyos_guest_counters_valid", (("vm", "t"),))] == 1
    ram_frames = RAM // 4096
    for (name, labels), value in got.items():
        assert value >= 0
        if name in ("pyos_guest_frames_managed", "pyos_guest_frames_free", "pyos_guest_heap_frames"):
            assert value <= ram_frames
        if name == "pyos_guest_tasks_runnable":
            assert value <= TASK_MAX
        for _, label in labels:
            assert label.isprintable() and len(label) <= 64
    free = sum(v for (n, _), v in got.items() if n == "pyos_guest_frames_free")
    managed = sum(v for (n, _), v in got.items() if n == "pyos_guest_frames_managed")
    assert free <= managed


def test_guest_series_names_and_labels():
    buf = page()
    buf.magic, buf.version = lib.PYOS_COUNTERS_MAGIC, 1
    buf.heap_name = b"slab"
    buf.sched_name = b"stride\x01\xff"  # junk after the name: kept printable
    buf.frames.total_frames, buf.frames.free_frames = 1000, 5000  # free > managed: clamped
    buf.syscalls[1] = 7   # SYS_write
    buf.syscalls[len(buf.syscalls) - 1] = 2  # the overflow slot
    buf.syscalls[50] = 1  # a number with no name in the ABI
    buf.irqs[4] = 3
    buf.tasks_runnable = 1 << 60
    got = guest_samples(buf)
    vm = ("vm", "t")
    assert got[("pyos_guest_syscalls_total", (("name", "write"), vm))] == 7
    assert got[("pyos_guest_syscalls_total", (("name", "other"), vm))] == 2
    assert got[("pyos_guest_syscalls_total", (("name", "nr50"), vm))] == 1
    assert got[("pyos_guest_irqs_total", (("line", "4"), vm))] == 3
    assert got[("pyos_guest_frames_free", (("plugin", "none"), vm))] == 1000
    assert got[("pyos_guest_tasks_runnable", (vm,))] == TASK_MAX
    assert got[("pyos_guest_plugin_info", (("name", "stride??"), ("subsystem", "scheduler"), vm))] == 1
    assert got[("pyos_guest_heap_in_use_bytes", (("plugin", "slab"), vm))] == 0


def test_kvm_binary_stats_are_converted():
    kvm = Kvm()
    vm = kvm.create_vm()
    vcpu = vm.create_vcpu(0)
    try:
        sources, why = kvm_stats.open_stats(vm, [vcpu])
        assert sources, why  # this project's hosts have KVM_CAP_BINARY_STATS_FD
        families = kvm_stats.families([(s, f, ("t",) + extra) for s, f, extra in sources], ("vm",))
        text = exposition(families)
        assert 'pyos_kvm_vcpu_exits_total{vcpu="0",vm="t"} 0.0' in text
        assert "# TYPE pyos_kvm_vcpu_halt_wait_seconds_total counter" in text  # halt_wait_ns, in seconds
        assert "# TYPE pyos_kvm_vcpu_halt_wait_hist_seconds histogram" in text
        assert 'pyos_kvm_vcpu_halt_wait_hist_seconds_bucket{le="1e-09",vcpu="0",vm="t"}' in text
        assert 'pyos_kvm_vcpu_halt_wait_hist_seconds_bucket{le="3e-09",vcpu="0",vm="t"}' in text
        assert "# TYPE pyos_kvm_vm_pages_4k gauge" in text  # instant → gauge
        for _, stats, _ in sources:
            stats.close()
    finally:
        vcpu.close()
        vm.close()
        kvm.close()


def test_kvm_log_histogram_buckets():
    desc = kvm_stats.StatDesc("x_hist", lib.KVM_STATS_TYPE_LOG_HIST, lib.KVM_STATS_UNIT_SECONDS, 10, -9, 4, 0, 0)
    # bucket 0: [0,1) ns; 1: [1,2); 2: [2,4); 3: [4, inf)
    assert kvm_stats.histogram_buckets(desc, (1, 2, 3, 4)) == [("0.0", 1), ("1e-09", 3), ("3e-09", 6),
                                                               ("+Inf", 10)]
    linear = kvm_stats.StatDesc("y", lib.KVM_STATS_TYPE_LINEAR_HIST, lib.KVM_STATS_UNIT_NONE, 10, 0, 3, 0, 5)
    assert kvm_stats.histogram_buckets(linear, (1, 1, 1)) == [("4.0", 1), ("9.0", 2), ("+Inf", 3)]


def test_exit_handling_histogram_buckets():
    hist = [0] * 65
    hist[3] = 5        # under 8 ns: in the first bucket (256 ns)
    hist[13] = 2       # 4096..8191 ns
    hist[40] = 1       # beyond 17 s: only in +Inf
    hist[64] = 12345   # the sum, ns
    buckets, total = handling_histogram(hist)
    as_dict = dict(buckets)
    assert as_dict["2.56e-07"] == 5
    assert as_dict["4.096e-06"] == 5 and as_dict["8.192e-06"] == 7
    assert as_dict["+Inf"] == 8
    assert total == pytest.approx(12345e-9)
    counts = [c for _, c in buckets]
    assert counts == sorted(counts)


class _Slot:
    def __init__(self, name, device):
        self.name, self.device = name, device


class _Disk:
    name = "ata"

    def __init__(self):
        self.counters = {"commands": 3, "read_bytes": 1024, "errors": {"abrt": 1}, "irqs": [2, 0]}
        self.gauges = {"queue_depth": 1}


def test_device_hook_exports_any_devices_counters():
    disk = _Disk()
    families = device_families([_Slot("ata0", disk), _Slot("ata0-ctl", disk), _Slot("plain", object())], "t")
    got = samples(families)
    vm, dev = ("vm", "t"), ("device", "ata0")
    assert got[("pyos_device_commands_total", (dev, vm))] == 3
    assert got[("pyos_device_read_bytes_total", (dev, vm))] == 1024
    assert got[("pyos_device_errors_total", (dev, ("kind", "abrt"), vm))] == 1
    assert got[("pyos_device_irqs_total", (dev, ("index", "0"), vm))] == 2
    assert got[("pyos_device_queue_depth", (dev, vm))] == 1
    assert not [k for k in got if ("device", "ata0-ctl") in k[1]]  # one device, counted once
    exposition(families)


def test_kvm_stats_absent_without_the_capability(monkeypatch):
    """A kernel without KVM_CAP_BINARY_STATS_FD: no pyos_kvm_* series, and a reason."""
    kvm = Kvm()
    vm = kvm.create_vm()
    try:
        real = Kvm.check_extension
        monkeypatch.setattr(Kvm, "check_extension",
                            lambda self, cap: 0 if cap == "KVM_CAP_BINARY_STATS_FD" else real(self, cap))
        sources, why = kvm_stats.open_stats(vm, [])
        assert sources == [] and "KVM_CAP_BINARY_STATS_FD" in why
    finally:
        vm.close()
        kvm.close()


class _Odd:
    """Keys a device author might write, values that are not numbers, and metrics() of its own."""

    def metrics(self, vm, device):
        fam = GaugeMetricFamily("pyos_device_odd_temperature_celsius", "a device's own family",
                                labels=["vm", "device"])
        fam.add_metric([vm, device], 41.5)
        return [fam]

    def __init__(self):
        self.counters = {"Read-Bytes": 5, "ready": True, "state": "idle", "ratio": 0.5,
                         "errors": {"crc": False, "abrt": 2}}
        self.gauges = {"Fifo Depth": 3}


def test_device_hook_normalizes_keys_and_skips_what_is_not_a_number():
    families = device_families([_Slot("odd", _Odd())], "t")
    got = samples(families)
    vm, dev = ("vm", "t"), ("device", "odd")
    assert got[("pyos_device_read_bytes_total", (dev, vm))] == 5      # lower_snake_case
    assert got[("pyos_device_odd_temperature_celsius", (dev, vm))] == 41.5  # its metrics() families too
    assert got[("pyos_device_fifo_depth", (dev, vm))] == 3
    assert got[("pyos_device_ratio_total", (dev, vm))] == 0.5          # a float counts
    assert got[("pyos_device_errors_total", (dev, ("kind", "abrt"), vm))] == 2
    names = {name for name, _ in got}
    assert not {"pyos_device_ready_total", "pyos_device_state_total"} & names  # a bool is no count
    assert ("pyos_device_errors_total", (dev, ("kind", "crc"), vm)) not in got
    text = exposition(families)
    assert "# HELP pyos_device_read_bytes_total device counter read_bytes (counter), from the device's " \
           "counters dict" in text
    assert "# HELP pyos_device_fifo_depth device counter fifo_depth, from the device's gauges dict" in text
    assert "# TYPE pyos_device_fifo_depth gauge" in text


NEWER_LAYOUT = """
struct fsstats { unsigned long long opens, reads; };
struct newer_counters {
    unsigned int magic, version;
    unsigned long long irqs[16], spurious_irqs[16], syscalls[64];
    char syscall_entry[16];
    char heap_name[16];
    struct { unsigned long long allocs; } heap;
    struct fsstats fs;
    char fs_name[16];
    struct { unsigned long long flushes; } cache;
    unsigned long long queue_depths[3];
    unsigned long long widgets;
};
"""


def test_a_newer_kernels_fields_are_exported_by_the_generic_rules():
    """Fields are only ever appended to counters.h: a reader older than the kernel exports
    what it has no rule for by the generic ones (a section's plugin is its <section>_name,
    an array is labelled by index, a scalar is a counter), from the page's own layout."""
    import cffi
    newer = cffi.FFI()
    newer.cdef(NEWER_LAYOUT)
    c = newer.new("struct newer_counters *")
    c.magic, c.version = lib.PYOS_COUNTERS_MAGIC, 2
    c.heap_name, c.fs_name, c.syscall_entry = b"slab", b"ext2", b"int3"
    c.heap.allocs, c.fs.opens, c.cache.flushes, c.widgets = 5, 4, 6, 9
    c.queue_depths = [1, 2, 3]
    families = GuestFamilies(GuestCounters(c), RAM).collect("t")
    got = samples(families)
    vm = ("vm", "t")
    assert got[("pyos_guest_counters_valid", (vm,))] == 1
    assert got[("pyos_guest_plugin_info", (("name", "ext2"), ("subsystem", "fs"), vm))] == 1
    assert got[("pyos_guest_plugin_info", (("name", "slab"), ("subsystem", "heap"), vm))] == 1
    assert got[("pyos_guest_fs_opens_total", (("plugin", "ext2"), vm))] == 4
    assert got[("pyos_guest_heap_allocs_total", (("plugin", "slab"), vm))] == 5
    assert got[("pyos_guest_cache_flushes_total", (vm,))] == 6       # a section with no plugin name
    assert [got[("pyos_guest_queue_depths_total", (("index", str(i)), vm))] for i in range(3)] == [1, 2, 3]
    assert got[("pyos_guest_widgets_total", (vm,))] == 9
    text = exposition(families)
    assert "# HELP pyos_guest_queue_depths_total guest counter queue_depths, by index" in text
    assert "# HELP pyos_guest_fs_opens_total guest counter fs.opens (counters.h)" in text


class _GaugesOnly:
    """A device with levels but no counts."""

    def __init__(self):
        self.gauges = {"fifo_depth": 4}


class _Shape:
    def __init__(self, irqs):
        self.counters = {"irqs": irqs}


def test_device_hook_exports_gauges_of_a_device_without_counters():
    """`gauges` is read on its own: a device with no `counters` dict still exports its levels."""
    got = samples(device_families([_Slot("fifo", _GaugesOnly())], "t"))
    assert got == {("pyos_device_fifo_depth", (("device", "fifo"), ("vm", "t"))): 4}


def test_device_hook_keeps_the_first_shape_of_a_key():
    """Two devices with one key in different shapes: the first shape keeps the name,
    the other is pyos_device_K_by_<label>: _by_index for a list, _by_kind for a dict,
    _by_device for a plain number (its only label is the device)."""
    families = device_families([_Slot("a", _Shape([1, 2])), _Slot("b", _Shape(7)),
                                _Slot("c", _Shape({"x": 3})), _Slot("d", _Shape([5]))], "t")
    got = samples(families)
    vm = ("vm", "t")
    assert got == {
        ("pyos_device_irqs_total", (("device", "a"), ("index", "0"), vm)): 1,
        ("pyos_device_irqs_total", (("device", "a"), ("index", "1"), vm)): 2,
        ("pyos_device_irqs_total", (("device", "d"), ("index", "0"), vm)): 5,
        ("pyos_device_irqs_by_device_total", (("device", "b"), vm)): 7,
        ("pyos_device_irqs_by_kind_total", (("device", "c"), ("kind", "x"), vm)): 3,
    }
    exposition(families)


def test_guest_names_are_cut_to_64_characters():
    """A label value from the guest is at most 64 printable characters, whatever the
    size of the char array in the page's layout (a newer kernel may widen it)."""
    import cffi
    wide = cffi.FFI()
    wide.cdef("""struct wide_counters {
        unsigned int magic, version;
        unsigned long long irqs[16], spurious_irqs[16], syscalls[64];
        char syscall_entry[80];
        char heap_name[80];
    };""")
    c = wide.new("struct wide_counters *")
    c.magic, c.version = lib.PYOS_COUNTERS_MAGIC, 1
    c.heap_name = b"h" * 63 + b"XYZ" + b"z" * 14        # 80 characters, no NUL
    c.syscall_entry = b"e" * 64 + b"\x01"
    got = samples(GuestFamilies(GuestCounters(c), RAM).collect("t"))
    vm = ("vm", "t")
    assert got[("pyos_guest_plugin_info", (("name", "h" * 63 + "X"), ("subsystem", "heap"), vm))] == 1
    assert got[("pyos_guest_syscall_entry_info", (("method", "e" * 64), vm))] == 1


def test_block_device_slots_without_a_name_are_not_exported():
    """counters.h: blk_name[i] "" means no device in slot i. Only named slots give
    pyos_guest_blk_* series, labelled with their name; an unused slot gives no
    series (before: one device="none" series per unused slot, the same labels
    several times in one exposition), whatever its counters hold."""
    buf = page()
    buf.magic, buf.version = lib.PYOS_COUNTERS_MAGIC, lib.PYOS_COUNTERS_VERSION
    buf.blk_name[0] = b"hda"
    buf.blk_name[2] = b"hdc\x01"     # junk in a name: kept printable
    buf.blk[0].reads, buf.blk[0].sectors_read = 3, 24
    buf.blk[1].reads = 9             # an unused slot: not exported, whatever it holds
    buf.blk[2].writes = 5
    got = guest_samples(buf)
    vm = ("vm", "t")
    blk = {(name, labels): v for (name, labels), v in got.items() if name.startswith("pyos_guest_blk_")}
    devices = {dict(labels)["device"] for _, labels in blk}
    assert devices == {"hda", "hdc?"}
    assert got[("pyos_guest_blk_reads_total", (("device", "hda"), vm))] == 3
    assert got[("pyos_guest_blk_sectors_read_total", (("device", "hda"), vm))] == 24
    assert got[("pyos_guest_blk_writes_total", (("device", "hdc?"), vm))] == 5
    assert got[("pyos_guest_blk_reads_total", (("device", "hdc?"), vm))] == 0
    fields = {name for name, _ in blk}
    assert len(blk) == 2 * len(fields)  # each field: one series per named slot
    assert len(fields) == len(ffi.typeof("struct blk_stats").fields)


class _Port:
    name = "port"

    def read(self, offset, size):
        return 0

    def write(self, offset, size, value):
        pass


def test_bus_accesses_of_a_range_no_slot_names_are_labelled_by_base():
    """pyos_pio_accesses: a range on the bus with no board slot of that bus kind
    is labelled with its base in hex; a slot of the other bus at the same base
    does not name it; accesses nothing claims are device="unclaimed"."""
    from vmm.bus import Bus
    from vmm.metrics.machine import _bus_families

    class _BoardSlot:
        def __init__(self, name, bus, base):
            self.name, self.bus, self.base = name, bus, base
    bus = Bus("io")
    bus.register(0x80, 1, _Port())
    bus.register(0x3F8, 8, _Port())
    bus.read(0x80, 1)
    bus.write(0x3F8, 1, 0)
    bus.write(0x3F8, 1, 0)
    try:
        bus.read(0x10, 1)
    except Exception:
        pass
    fam = _bus_families("pyos_pio_accesses", "doc", bus, "io",
                        [_BoardSlot("com1", "io", 0x3F8), _BoardSlot("mmio-thing", "mmio", 0x80)], "t")
    got = samples([fam])
    assert got == {
        ("pyos_pio_accesses_total", (("device", "0x80"), ("direction", "read"), ("vm", "t"))): 1,
        ("pyos_pio_accesses_total", (("device", "com1"), ("direction", "write"), ("vm", "t"))): 2,
        ("pyos_pio_accesses_total", (("device", "unclaimed"), ("direction", "read"), ("vm", "t"))): 1,
    }


def test_no_counters_page_gives_valid_0_only():
    """A kernel without the counters symbol (GuestCounters.find gave None):
    pyos_guest_counters_valid 0 and no other guest series."""
    got = samples(GuestFamilies(None, RAM).collect("t"))
    assert got == {("pyos_guest_counters_valid", (("vm", "t"),)): 0}


class _Unreadable:
    """A page with the right magic and version whose layout cannot be read."""
    magic, version = lib.PYOS_COUNTERS_MAGIC, 1


def test_a_page_that_fails_while_read_gives_valid_0_only():
    """Any failure while reading the page gives no guest series and
    pyos_guest_counters_valid 0 (the module's promise), never an exception."""
    got = samples(GuestFamilies(GuestCounters(_Unreadable()), RAM).collect("t"))
    assert got == {("pyos_guest_counters_valid", (("vm", "t"),)): 0}


def test_frame_levels_are_clamped_to_whole_frames_of_ram():
    """Levels in frames are clamped to the RAM's whole 4 KiB frames (a partial
    frame at the end is no frame)."""
    ram = (64 << 20) + 2048
    buf = page()
    buf.magic, buf.version = lib.PYOS_COUNTERS_MAGIC, 1
    buf.frames.total_frames = buf.frames.free_frames = 1 << 40
    buf.heap.frames_in_use = 1 << 40
    got = samples(GuestFamilies(GuestCounters(buf), ram).collect("t"))
    whole = (64 << 20) // 4096
    for name in ("pyos_guest_frames_managed", "pyos_guest_frames_free", "pyos_guest_heap_frames"):
        (value,) = [v for (n, _), v in got.items() if n == name]
        assert value == whole and isinstance(value, int), name
