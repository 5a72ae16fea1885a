"""The exporter's series as a contract: names, types, help texts, labels and values.

Dashboards (monitoring/grafana), alert rules (monitoring/rules) and users'
queries depend on what the exporter prints, so its exposition is compared
whole against a reviewed copy (tests/golden/metrics_exposition.txt):

- the guest families for counters pages filled from a seeded generator, for
  the versions around the ones the reader accepts (KNOWN_VERSIONS), so every
  field's name, help, label and clamping shows;
- the VMM's own families (machine, devices, buses, exits) of a Machine that
  has not run, after a few port accesses made by hand and with the run
  loop's counters (exits, injected vectors, handling times, wall time) and
  an IRQ line's edges filled in by hand.

KVM's statistics (they depend on the host's kernel) and the exporter's own
timing are left out. A change to the exposition is deliberate when this
test fails: regenerate the file with PYOS_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from vmm import config as config_mod
from vmm.guest_counters import GuestCounters
from vmm.kvm import ffi, lib
from vmm.machine import Machine
from vmm.metrics.guest import KNOWN_VERSIONS, GuestFamilies
from vmm.metrics.machine import machine_families
from vmm.run_loop import BEFORE_FIRST_EXIT, SUM

from .test_metrics_collectors import exposition

GOLDEN = Path(__file__).parent / "golden" / "metrics_exposition.txt"
PAGE_SIZE = ffi.sizeof("struct pyos_counters")
RAM = 128 << 20


def _page(seed: int, version: int):
    rng = random.Random(seed)
    buf = ffi.new("struct pyos_counters *")
    raw = bytes(rng.randrange(256) if rng.random() < 0.3 else 0 for _ in range(PAGE_SIZE))
    ffi.memmove(buf, raw, PAGE_SIZE)
    buf.magic, buf.version = lib.PYOS_COUNTERS_MAGIC, version
    for field, name in (("frame_alloc_name", b"buddy"), ("heap_name", b"slab"), ("paging_name", b"direct"),
                        ("sched_name", b"stride\x01")):
        setattr(buf, field, name)
    # the watchdog's last removed scheduler: none, one letter, a longer name, junk after a NUL
    buf.sched_failed = [b"", b"p", b"priority", b"\0x", b"stride"][seed % 5]
    return buf


def _guest_section() -> str:
    parts = []
    versions = [KNOWN_VERSIONS.start - 1, KNOWN_VERSIONS.start, lib.PYOS_COUNTERS_VERSION,
                KNOWN_VERSIONS.stop - 1, KNOWN_VERSIONS.stop]
    for seed, version in enumerate(versions):
        families = GuestFamilies(GuestCounters(_page(seed, version)), RAM).collect(f"v{version}")
        parts.append(f"## guest page, seed {seed}, version {version}\n{exposition(families)}")
    return "".join(parts)


def _machine_section(kernel_elf) -> str:
    cfg = config_mod.from_dict({"serial": {"output": "none", "input": "none"}})
    machine = Machine(cfg, kernel_elf)
    try:
        machine.io_bus.read(0x3F8 + 5, 1)        # two UART reads, one write, one unclaimed port
        machine.io_bus.read(0x3F8 + 5, 1)
        machine.io_bus.write(0x3F8 + 7, 1, 0x55)
        try:
            machine.io_bus.read(0x2F8, 1)
        except Exception:
            pass
        for key, value in (("edges", 7), ("delivered", 5), ("caught_up", 1), ("lost_ticks", 2)):
            machine.pit.stats[key] = value
        io = machine.loop.handling[lib.KVM_EXIT_IO]   # log2 ns buckets, the sum last
        for bit, count in ((0, 1), (8, 2), (9, 3), (20, 4), (34, 5), (35, 6), (60, 7)):
            io[bit] += count
        io[SUM] += 123_456_789
        mmio = machine.loop.handling[lib.KVM_EXIT_MMIO]
        mmio[12] += 1
        mmio[SUM] += 3_000
        machine.loop.handling[BEFORE_FIRST_EXIT][SUM] += 1_000_000   # set-up before the first KVM_RUN
        hlt = machine.loop.handling[lib.KVM_EXIT_HLT]
        hlt[24] += 2
        hlt[SUM] += 20_000_000
        loop = machine.loop
        for reason, count in ((lib.KVM_EXIT_IO, 9), (lib.KVM_EXIT_HLT, 2), (lib.KVM_EXIT_MMIO, 1), (63, 1)):
            loop._counts[reason] += count      # exits by reason; 63 has no KVM_EXIT_ name
        loop._injected[0x20] += 4                # vectors delivered
        loop._injected[0x2E] += 1
        loop.started_ns, loop.ended_ns = 1, 1 + 900_000_000   # 0.9 s of wall time in the loop
        machine.irq_lines[4].raised += 3
        families = [f for f in machine_families(machine, "m") if not f.name.startswith(("pyos_kvm_",))]
    finally:
        machine.close()
    return "## machine (not run)\n" + exposition(families)


def test_exposition_matches_the_reviewed_copy(kernel_elf):
    text = _guest_section() + _machine_section(kernel_elf)
    if os.environ.get("PYOS_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    expected = GOLDEN.read_text()
    if text != expected:
        import difflib
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            "reviewed", "now", n=1))
        raise AssertionError("the exporter's exposition changed (PYOS_UPDATE_GOLDEN=1 to accept):\n"
                             + diff[:6000])
