"""The comparison's outputs: a text table per metric, rows.csv, results.json.

results.json holds everything needed to repeat a row: the variant's full
config, its plugins and versions, the kernel build's hash, the workload's
command line, the seed (the run index: the guest has no other randomness)
and the host.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .stats import ALPHA


def _fmt(x) -> str:
    if x is None:
        return "-"
    if abs(x) >= 100 or float(x).is_integer():
        return f"{x:.0f}"
    return f"{x:.3g}"


# Counters shown in the table beside the workload's own metrics (all are in the CSV/JSON).
TABLE_COUNTERS = ("counter_context_switches", "counter_irqs", "counter_guest_ticks")


def table(summary: list[dict], rows: list[dict], baseline: str, all_metrics: bool = False) -> str:
    lines = []
    by_metric: dict[tuple, list[dict]] = {}
    for e in summary:
        by_metric.setdefault((e["workload"], e["metric"]), []).append(e)
    constant = []
    for (workload, metric), entries in by_metric.items():
        if not all_metrics and metric.startswith("counter_") and metric not in TABLE_COUNTERS:
            continue
        if all(e["iqr"] == 0 and e["median"] == entries[0]["median"] for e in entries):
            constant.append(f"{metric}={_fmt(entries[0]['median'])}")
            continue
        lines.append(f"{workload} / {metric}")
        lines.append(f"  {'variant':<28} {'n':>2} {'median':>12} {'IQR':>10} {'vs ' + baseline:>14}  note")
        for e in entries:
            ratio = "baseline" if e["variant"] == baseline else (f"x{e['ratio']:.3f}" if e["ratio"] else "-")
            note = ""
            if e["variant"] != baseline and e["noise"] is not None:
                note = ("within noise" if e["noise"] else "differs") + (
                    f" (p={e['p']:.3f})" if e["p"] is not None else " (too few runs)")
            lines.append(f"  {e['variant']:<28} {e['n']:>2} {_fmt(e['median']):>12} {_fmt(e['iqr']):>10} "
                         f"{ratio:>14}  {note}")
        lines.append("")
    if constant:
        lines.append("the same in every run: " + ", ".join(constant))
    failed = [r for r in rows if r["status"] != "ok"]
    ok = len(rows) - len(failed)
    lines.append(f"{ok} of {len(rows)} runs ok; p: two-sided Mann-Whitney U against {baseline}, "
                 f"'within noise' when p >= {ALPHA}")
    for r in failed:
        first = r["failure"][0] if r["failure"] else ""
        lines.append(f"  FAILED {r['variant']} {r['workload']} run {r['run']}: {r['status']}: {first}")
        for more in r["failure"][1:4]:
            lines.append(f"      {more}")
    return "\n".join(lines)


def write_outputs(out_dir: Path, rows: list[dict], summary: list[dict], meta: dict):
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = sorted({m for r in rows for m in r["metrics"]})
    with open(out_dir / "rows.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "workload", "run", "seed", "status", "exit_status", "kernel_hash", *metrics,
                    "failure"])
        for r in rows:
            w.writerow([r["variant"], r["workload"], r["run"], r["seed"], r["status"], r["exit_status"],
                        r["kernel_hash"], *[r["metrics"].get(m, "") for m in metrics], " | ".join(r["failure"])])
    with open(out_dir / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        keys = ["workload", "metric", "variant", "n", "median", "q1", "q3", "iqr", "ratio", "p", "noise"]
        w.writerow(keys)
        for e in summary:
            w.writerow([e[k] for k in keys])
    (out_dir / "results.json").write_text(json.dumps({"meta": meta, "rows": rows, "summary": summary},
                                                     indent=1, default=str) + "\n")
