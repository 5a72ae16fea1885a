"""pyos-vmm compare: workloads as guest programs, variants, statistics, failures per row,
plots, and the Dask cluster path giving the same rows as the local pool.

The VM-booting tests keep to short workloads and few runs: kernel mode is
emulated on these hosts, so each VM takes seconds. Nothing here compares
wall-clock figures between variants; the checks are on what the guest
reported (ok=1, counts it made) and on the guest's counters.
"""

from __future__ import annotations

import csv
import json
import subprocess

import pytest

from tests.conftest import DEFAULT_CONFIG, REPO, vmm_command
from vmm.compare.report import table
from vmm.compare.stats import mann_whitney, summarize
from vmm.compare.variants import make_variants, parse_vary
from vmm.compare.workloads import parse_result
from vmm.errors import ConfigError


def compare(*args, timeout=900):
    proc = subprocess.run(vmm_command("compare", "--config", DEFAULT_CONFIG, *args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)
    return proc


# --- pure parts -----------------------------------------------------------------------------

def test_vary_gives_the_cross_product_with_kernel_keys_by_default():
    vary = parse_vary(["scheduler=rr,stride", "heap=slab,freelist", "machine.timer_hz=100"])
    assert vary[0] == ("kernel.scheduler", ["rr", "stride"])
    variants = make_variants({"kernel": {"scheduler": "rr"}}, vary)
    assert [v.name for v in variants] == [
        "scheduler=rr,heap=slab,machine.timer_hz=100", "scheduler=rr,heap=freelist,machine.timer_hz=100",
        "scheduler=stride,heap=slab,machine.timer_hz=100", "scheduler=stride,heap=freelist,machine.timer_hz=100"]
    assert variants[3].config_data == {"kernel": {"scheduler": "stride", "heap": "freelist"},
                                       "machine": {"timer_hz": 100}}


@pytest.mark.parametrize("spec", ["scheduler", "scheduler=", "=rr", "scheduler=,"])
def test_malformed_vary_is_a_config_error(spec):
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_vary([spec])


def test_result_line_parses_to_integers_and_the_last_line_wins():
    text = "boot...\nresult workload=cpu ok=0 x=1\nnoise\nresult workload=cpu ok=1 elapsed_us=42 \n"
    assert parse_result(text) == {"workload": "cpu", "ok": 1, "elapsed_us": 42}
    assert parse_result("no result here\n") is None


def _row(variant, run, value, status="ok"):
    return {"variant": variant, "workload": "cpu", "run": run, "status": status, "metrics": {"m": value},
            "failure": [] if status == "ok" else ["why"]}


def test_mann_whitney_separates_shifted_samples_and_not_overlapping_ones():
    a = [10, 11, 12, 13, 14, 15]
    assert mann_whitney(a, [x + 100 for x in a]) < 0.05
    assert mann_whitney(a, [11, 12, 10, 15, 13, 14]) > 0.5
    assert mann_whitney([1], [2, 3]) is None


def test_summary_medians_iqr_ratio_and_noise_note():
    rows = ([_row("A", i, v) for i, v in enumerate([10, 11, 12, 13, 14])]
            + [_row("B", i, v) for i, v in enumerate([20, 22, 24, 26, 28])]
            + [_row("C", i, v) for i, v in enumerate([10, 12, 11, 14, 13])]
            + [_row("B", 9, 0, status="timeout")])
    summary = {e["variant"]: e for e in summarize(rows, "A")}
    assert summary["A"]["median"] == 12 and summary["A"]["iqr"] == 2 and summary["A"]["ratio"] is None
    assert summary["B"]["median"] == 24 and summary["B"]["ratio"] == 2 and summary["B"]["noise"] is False
    assert summary["B"]["n"] == 5  # the timed-out run is not a measurement
    assert summary["C"]["noise"] is True
    text = table(summarize(rows, "A"), rows, "A")
    assert "differs (p=" in text and "within noise (p=" in text
    assert "FAILED B cpu run 9: timeout: why" in text


# --- VMs ------------------------------------------------------------------------------------

def test_compare_two_schedulers_rows_table_csv_json_plots_and_failed_rows(tmp_path):
    out, plots = tmp_path / "out", tmp_path / "plots"
    proc = compare("--vary", "scheduler=rr,stride,nosuch", "--workload", "cpu,bogus", "--runs", "2",
                   "--jobs", "2", "--out", out, "--plot", plots)
    assert proc.returncode == 1, proc.stderr  # some rows failed, the comparison completed
    assert "Traceback" not in proc.stderr
    rows = list(csv.DictReader(open(out / "rows.csv")))
    assert len(rows) == 3 * 2 * 2
    by = {(r["variant"], r["workload"], r["run"]): r for r in rows}
    for sched in ("rr", "stride"):
        for run in ("0", "1"):
            r = by[(f"scheduler={sched}", "cpu", run)]
            assert r["status"] == "ok" and r["exit_status"] == "0", r
            assert r["nproc"] == "3" and int(r["elapsed_us"]) > 0
            assert int(r["counter_processes_created"]) >= 5  # init, wl_cpu, 3 workers (+kthread)
            assert int(r["counter_context_switches"]) > 0
            assert by[(f"scheduler={sched}", "bogus", run)]["status"] == "unknown-workload"
    assert {by[("scheduler=nosuch", w, run)]["status"] for w in ("cpu", "bogus") for run in "01"} == {
        "unknown-plugin"}
    assert "no such scheduler plugin" in by[("scheduler=nosuch", "cpu", "0")]["failure"]
    # The table: a block per metric, ratios against the first variant, a Mann-Whitney note.
    assert "cpu / elapsed_us" in proc.stdout and "baseline" in proc.stdout
    assert "two-sided Mann-Whitney U against scheduler=rr" in proc.stdout
    assert "4 of 12 runs ok" in proc.stdout
    # Everything needed to repeat a row.
    results = json.loads((out / "results.json").read_text())
    ok = [r for r in results["rows"] if r["status"] == "ok"]
    assert len(ok) == 4
    for r in ok:
        assert r["config"]["kernel"]["scheduler"] == r["settings"]["kernel.scheduler"]
        assert len(r["kernel_hash"]) == 16 and r["plugins"]["scheduler"].startswith(r["settings"]["kernel.scheduler"])
        assert r["cmdline"] == "-- wl_cpu" and r["seed"] == r["run"] and r["host"]["node"]
        assert len(r["series"]) >= 2  # guest counters sampled while it ran
        assert r["series"][-1][1] >= r["series"][0][1]  # guest ticks never go back
    hashes = {r["variant"]: r["kernel_hash"] for r in ok}
    assert hashes["scheduler=rr"] != hashes["scheduler=stride"]
    pngs = sorted(p.name for p in plots.iterdir())
    assert "box_cpu_elapsed_us.png" in pngs and "rates_cpu.png" in pngs
    assert all((plots / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert (out / "console" / "scheduler=rr.cpu.0.txt").read_text().count("result workload=cpu ok=1") == 1


def test_a_crashing_and_a_hanging_variant_are_rows_not_an_abort(tmp_path):
    out = tmp_path / "out"
    proc = compare("--vary", "kernel.cmdline=crash=triple-fault,spin=1", "--workload", "fork", "--runs", "1",
                   "--timeout", "30", "--out", out, timeout=300)
    assert proc.returncode == 1, proc.stderr
    rows = {r["variant"]: r for r in csv.DictReader(open(out / "rows.csv"))}
    crash = rows["cmdline=crash=triple-fault"]
    assert crash["status"] == "crash" and crash["exit_status"] == "113", crash
    assert "triple fault" in crash["failure"]
    assert rows["cmdline=spin=1"]["status"] == "timeout"
    assert "no result within 30" in rows["cmdline=spin=1"]["failure"]
    assert "FAILED cmdline=spin=1 fork run 0: timeout" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["--baseline", "scheduler=priority", "--vary", "scheduler=rr,stride"], "--baseline"),
    (["--vary", "scheduler"], "KEY=VALUE"),
    (["--runs", "0"], "--runs 0"),
])
def test_bad_compare_arguments_exit_110_with_a_hint(args, message):
    proc = compare(*args, timeout=120)
    assert proc.returncode == 110, proc.stderr
    assert message in proc.stderr and "hint:" in proc.stderr and "Traceback" not in proc.stderr


def test_workloads_each_print_one_ok_result_line(tmp_path):
    """io, fork, alloc and fs (cpu is covered above) under one scheduler, one run each."""
    out = tmp_path / "out"
    proc = compare("--workload", "io,fork,alloc,fs", "--runs", "1", "--jobs", "2", "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["workload"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    io = rows["io"]["metrics"]
    assert io["wakeups"] == 40 and io["wake_p50_us"] <= io["wake_p99_us"] <= io["wake_max_us"]
    assert 0 < io["pingpong_p50_us"] <= io["pingpong_p99_us"]
    assert rows["fork"]["metrics"]["spawns"] == 6
    assert rows["fork"]["metrics"]["counter_processes_created"] >= 6 + 2
    alloc = rows["alloc"]["metrics"]
    assert alloc["pipe_pairs"] == 50 and alloc["children"] == 2
    assert alloc["counter_heap_allocs"] >= 3 * 50  # two files and a pipe per pair, from the kernel heap
    fs = rows["fs"]["metrics"]
    assert rows["fs"]["status"] == "ok" and fs["files"] == 20 and fs["file_bytes"] == 4096 and fs["read_kib_per_s"] > 0


def test_dask_local_cluster_gives_the_same_rows_as_the_local_pool():
    from dask.distributed import LocalCluster
    from vmm.compare.runner import make_tasks, run_cluster, run_local
    from vmm.compare.variants import build_variant
    variants = [build_variant(v) for v in make_variants({}, parse_vary(["scheduler=rr,nosuch"]))]
    tasks = make_tasks(variants, ["fork"], 1, 600, source=DEFAULT_CONFIG)
    local = run_local(tasks, 2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, resources={"kvm": 1},
                      dashboard_address=None) as cluster:
        remote = run_cluster(make_tasks(variants, ["fork"], 1, 600, ship_kernel=True, source=DEFAULT_CONFIG),
                             cluster)

    def same(rows):
        keep = ("spawns", "counter_processes_created", "counter_syscalls")
        return sorted((r["variant"], r["workload"], r["run"], r["status"], r["kernel_hash"],
                       tuple(r["metrics"].get(k) for k in keep)) for r in rows)

    assert same(local) == same(remote)
    assert [r["status"] for r in local] == ["ok", "unknown-plugin"]
    assert set(local[0]) == set(remote[0])


def test_cluster_without_kvm_workers_is_a_clear_error_not_a_hang():
    from dask.distributed import LocalCluster
    from vmm.compare.runner import run_cluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with pytest.raises(ConfigError, match="no worker offers the 'kvm' resource"):
            run_cluster([{"variant": "x"}], cluster)
