"""Hostile input: a guest, random device accesses, random configs, random
guest memory. None of it may crash or hang the VMM.

Every random test prints its seed; set PYOS_FUZZ_SEED to repeat a run and
PYOS_FUZZ_SCALE (e.g. 1000) for the long, nightly form.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmm import config as config_mod
from vmm import errors
from vmm.bus import Bus, UnclaimedAccess
from vmm.devices.acpi_pm import AcpiPowerOff
from vmm.devices.exit_port import ExitPort
from vmm.devices.i8042 import I8042
from vmm.devices.pic8259 import PicPair
from vmm.devices.pit8254 import Pit8254
from vmm.devices.system_port61 import SystemPort61
from vmm.devices.uart16550 import Uart16550
from vmm.errors import ConfigError
from vmm.irq import IrqLine

from .conftest import REPO, vmm_command, write_config

GUESTS = REPO / "tests" / "guests"
SCALE = int(os.environ.get("PYOS_FUZZ_SCALE", "1"))


def fuzz_seed() -> int:
    seed = int(os.environ.get("PYOS_FUZZ_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"fuzz seed {seed} (repeat with PYOS_FUZZ_SEED={seed})")
    return seed


# -- a hostile guest -----------------------------------------------------------------

def build_hostile_guest(tmp_path, seed: int, count: int):
    elf = tmp_path / "hostile.elf"
    gcc = shutil.which("gcc")
    assert gcc, "gcc builds the hostile guest"
    subprocess.run([gcc, "-ffreestanding", "-nostdlib", "-static", "-O2", "-mgeneral-regs-only", "-mno-red-zone",
                    "-fno-pic", "-no-pie", "-Wl,--no-warn-rwx-segments", f"-DSEED={seed}", f"-DCOUNT={count}",
                    "-T", str(GUESTS / "hostile.ld"), "-o", str(elf),
                    str(GUESTS / "hostile_start.S"), str(GUESTS / "hostile.c")],
                   check=True, capture_output=True, text=True)
    return elf


def test_hostile_guest_cannot_break_the_vmm(tmp_path):
    seed = fuzz_seed()
    count = 200_000 * SCALE
    elf = build_hostile_guest(tmp_path, seed, count)
    cfg = write_config(tmp_path, '[machine]\nunclaimed_io = "ignore"\n[serial]\noutput = "none"\ninput = "none"\n')
    proc = subprocess.run(vmm_command("--config", cfg, "--kernel", elf, "--stats"), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=1200 * SCALE, cwd=REPO)
    assert "Traceback" not in proc.stderr, proc.stderr
    # The guest reached its end and chose the status itself.
    assert proc.returncode == 42, proc.stderr[-3000:]
    io_exits = int(re.search(r"^pyos_vm_exits_total .*reason=io (\d+)", proc.stderr, re.M).group(1))
    assert io_exits >= count * 0.9  # it really made its accesses (a few writes are skipped)


def test_hostile_guest_can_be_stopped(tmp_path):
    """A guest busy with random port I/O (the PIT at any period) still stops at Ctrl-C."""
    elf = build_hostile_guest(tmp_path, fuzz_seed(), 10**9)
    cfg = write_config(tmp_path, '[machine]\nunclaimed_io = "ignore"\n[serial]\noutput = "none"\ninput = "none"\n'
                       f'\n[kernel]\npath = "{elf}"\n')
    proc = subprocess.Popen(vmm_command("--config", cfg, "--stats"), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        # Wait until the guest is under way (it has used CPU time), not a fixed time.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and _cpu_seconds(proc.pid) < 1.0:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        proc.send_signal(2)
        stderr = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == errors.EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- device models at Python level ---------------------------------------------------------

def make_board():
    lines = {n: IrqLine(n) for n in range(16)}
    pic = PicPair(on_int=lambda: None)
    for line in lines.values():
        line.connect(pic.set_irq)
    pit = Pit8254(lines[0], irq0_masked=lambda: False, irq0_pending=lambda: False)
    uart = Uart16550("com1", lambda data: None, lines[4])
    exits = []
    bus = Bus("port")
    bus.register(0x20, 2, pic.master_port)
    bus.register(0xA0, 2, pic.slave_port)
    bus.register(0x40, 4, pit)
    bus.register(0x61, 1, SystemPort61(pit))
    bus.register(0x3F8, 8, uart)
    bus.register(0xF4, 4, ExitPort(exits.append))
    bus.register(0x604, 2, AcpiPowerOff(lambda: exits.append("acpi")))
    kbc = I8042(lines[1], lines[12], on_reset=lambda: exits.append("reset"))
    bus.register(0x60, 1, kbc.data_port)
    bus.register(0x64, 1, kbc.command_port)
    return bus, pic, pit, uart


def test_device_models_survive_random_accesses():
    seed = fuzz_seed()
    rng = random.Random(seed)
    bus, pic, pit, uart = make_board()
    ports = [0x20, 0x21, 0xA0, 0xA1, 0x40, 0x41, 0x42, 0x43, 0x60, 0x61, 0x64, *range(0x3F8, 0x400), 0xF4, 0x604]
    pit.start()  # the timer thread runs too, whatever the counters are programmed to
    try:
        for _ in range(20_000 * SCALE):
            port = rng.choice(ports) if rng.random() < 0.9 else rng.randrange(0x10000)
            size = rng.choice((1, 2, 4))
            try:
                if rng.random() < 0.5:
                    bus.write(port, size, rng.randrange(1 << (8 * size)))
                else:
                    value = bus.read(port, size)
                    assert 0 <= value < 1 << (8 * size)
            except UnclaimedAccess:
                pass
            if rng.random() < 0.05 and pic.has_interrupt():
                assert 0 <= pic.acknowledge() <= 0xFF
            if rng.random() < 0.01:
                uart.receive(bytes([rng.randrange(256)]))
    finally:
        stopper = threading.Thread(target=pit.stop)
        stopper.start()
        stopper.join(10)
    assert not stopper.is_alive(), "the PIT's timer thread did not stop"


def test_tiny_pit_period_does_not_hang_the_device():
    """Mode 2 with count 2 and mode 3 with count 2: the timer thread counts edges
    arithmetically, so port accesses and stop() still get the lock at once."""
    for mode in (2, 3):
        bus, pic, pit, _ = make_board()
        pit.start()
        try:
            bus.write(0x43, 1, 0x30 | mode << 1)  # counter 0, LSB then MSB
            bus.write(0x40, 1, 2)
            bus.write(0x40, 1, 0)
            # Keep reading until the timer thread has delivered edges (however
            # slowly a loaded host runs it): no access may wait on it long.
            reads, deadline = 0, time.monotonic() + 120
            while (reads < 200 or not pit.stats["edges"]) and time.monotonic() < deadline:
                start = time.monotonic()
                bus.read(0x40, 1)
                reads += 1
                assert time.monotonic() - start < 1.0
                if pic.has_interrupt():
                    pic.acknowledge()
        finally:
            stopper = threading.Thread(target=pit.stop)
            stopper.start()
            stopper.join(10)
        assert not stopper.is_alive()
        assert pit.stats["edges"] > 0


# -- configs -----------------------------------------------------------------------------

toml_scalars = st.one_of(st.integers(min_value=-2**63, max_value=2**63 - 1), st.booleans(), st.text(max_size=20),
                         st.floats(allow_nan=False), st.sampled_from(["stdout", "none", "stdin", "catch-up", "drop",
                                                                      "stop", "ignore", "buddy", "rr", ""]))
toml_values = st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
section_names = st.sampled_from([*config_mod.SCHEMA, "nope", "Machine"])
key_names = st.sampled_from(sorted({k for _, keys in config_mod.SCHEMA.values() for k in keys} | {"x", ""}))
documents = st.dictionaries(section_names, st.one_of(st.dictionaries(key_names, toml_values, max_size=6),
                                                     toml_scalars), max_size=4)


@settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_config_document_is_valid_or_a_config_error(document):
    try:
        cfg = config_mod.from_dict(document)
    except ConfigError as e:
        assert str(e)
        return
    assert isinstance(cfg, config_mod.Config)


@settings(max_examples=200 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_config_text_is_valid_or_a_config_error(tmp_path, text):
    path = tmp_path / "fuzz.toml"
    path.write_text(text)
    try:
        config_mod.load(path)
    except ConfigError:
        pass


# -- guest memory the VMM reads -------------------------------------------------------------

def test_random_counters_page_never_crashes_the_vmm(kernel_elf):
    from vmm.machine import Machine
    from vmm.kvm import ffi
    seed = fuzz_seed()
    rng = random.Random(seed)
    cfg = config_mod.from_dict({"serial": {"output": "none", "input": "none"}})
    machine = Machine(cfg, kernel_elf)
    try:
        counters = machine.guest_counters
        assert counters is not None
        raw = ffi.buffer(counters._c)
        for _ in range(200 * SCALE):
            raw[:] = rng.randbytes(len(raw))
            if rng.random() < 0.5:  # past the "not yet set up" check
                counters._c.magic = counters_magic()
            snapshot = counters.snapshot()
            assert isinstance(snapshot, dict)
            assert isinstance(machine.stats(), str)
    finally:
        machine.close()


def counters_magic() -> int:
    from vmm.kvm import lib
    return lib.PYOS_COUNTERS_MAGIC
