"""The benchmark command and the kernel words it relies on. These check that
every row produces numbers and that the guest really does the work measured;
they never assert speed (the host's load decides that)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.conftest import REPO, boot, write_config

pytestmark = pytest.mark.qemu  # the anchors boot the same ELF under qemu-system-x86_64

ROWS = ["pio_exit", "boot_poweroff", "boot_banner", "serial", "syscall", "switch", "idle_100", "idle_1000",
        "machine", "cpu_loop"]


def number(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


def test_quick_run_gives_every_row_with_numbers_and_anchors(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    rows = {row["key"]: row for row in result["rows"]}
    assert list(rows) == ROWS
    for key, row in rows.items():
        assert number(row["pyos"]), (key, row)
        for name, value in row["anchors"].items():
            assert number(value), (key, name, row["notes"])
    assert set(rows["pio_exit"]["anchors"]) == {"C floor", "QEMU microvm+KVM"}
    assert set(rows["syscall"]["anchors"]) == {"int3 round trip"}
    assert set(rows["idle_1000"]["anchors"]) == {"QEMU microvm+KVM"}
    counted = rows["syscall"]["extra"]  # single-stepped kernel instructions: a count, not a timing
    assert counted["null trap kernel instructions"] < counted["kernel instructions"], counted
    assert rows["switch"]["extra"]["kernel instructions per yield"] > counted["kernel instructions"]
    for key in ROWS:  # the printed table has a line per row
        assert rows[key]["what"] in proc.stdout


def test_baseline_column_and_bad_baseline(tmp_path):
    bad = tmp_path / "nope.json"
    bad.write_text("{")
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--baseline", str(bad)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "cannot read --baseline" in proc.stderr and "Traceback" not in proc.stderr


def test_bench_serial_prints_exactly_n_bytes_then_powers_off(tmp_path):
    config = write_config(tmp_path, '[serial]\ninput = "none"\n')
    result = boot("--cmdline", "bench_serial=1000", config=config)
    assert result.status == 0, result.stderr
    lines = [line for line in result.stdout.split("\n") if line.startswith('!"#$%')]
    printed = sum(len(line) + 1 for line in lines[:-1]) + len(lines[-1])
    assert printed == 1000, result.stdout[-500:]
    assert "bench_serial: 1000 bytes in " in result.stdout


@pytest.mark.parametrize("word", ["timer_hz=5", "timer_hz=20000", "timer_hz=abc", "bench_serial=-1"])
def test_bad_benchmark_words_are_refused(tmp_path, word):
    config = write_config(tmp_path, '[serial]\ninput = "none"\n')
    result = boot("--cmdline", word, config=config)
    assert result.status == 2
    assert f"command line: {word.split('=')[0]}= needs" in result.console


def test_timer_hz_word_sets_the_tick_rate(tmp_path):
    config = write_config(tmp_path, '[serial]\ninput = "none"\n')
    result = boot("--cmdline", "timer_hz=250 exit=0", config=config)
    assert result.status == 0
    assert "timer: PIT counter 0 at 250 Hz on IRQ 0" in result.console


def test_pio_exit_python_bare_stage_finishes():
    """It used to hang: reads answered 0xff, so the TSC calibration polled PIT counter 2 forever."""
    code = ("from benchmarks.pio_exit import _bare_run\nfrom vmm.build.kernel import build_kernel\n"
            "print(_bare_run(build_kernel(), 100) > 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr[-2000:]
