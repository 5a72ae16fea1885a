"""python -m benchmarks: every row of issue 13's table, pyos beside its anchors, in one run.

    python -m benchmarks [--quick] [--runs N] [--serial-bytes N] [--json FILE] [--baseline FILE]

Prints a table of figures and ratios (pyos / anchor: lower is better for
every row) and writes the same as JSON (default: bench-results.json in the
current directory); the exit status is 1 if a row failed (its notes say
why; the other rows still run). --quick runs tiny iteration counts once each: a smoke
test that every row produces numbers, not a measurement. --baseline adds a
column from an earlier run's JSON (before/after). The rows and how each is
measured: benchmarks/suite.py.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from benchmarks.suite import GROUPS, Settings, run_all


def fmt(value, unit="") -> str:
    if value is None:
        return "—"
    text = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return f"{text} {unit}".strip()


def table(rows: list[dict], baseline: dict | None) -> str:
    head = ["what", "anchor", "pyos", "ratio"] + (["before", "before ratio"] if baseline else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        anchors = "; ".join(f"{name} {fmt(v, row['unit'])}" for name, v in row["anchors"].items()) or "—"
        ratios = "; ".join(f"{fmt(r)}× {name}" for name, r in row["ratios"].items() if r is not None) or "—"
        cells = [row["what"], anchors, fmt(row["pyos"], row["unit"]), ratios]
        if baseline:
            old = baseline.get(row["key"])
            cells += [fmt(old["pyos"], row["unit"]) if old else "—",
                      "; ".join(f"{fmt(r)}× {n}" for n, r in old["ratios"].items() if r is not None) if old else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny iteration counts, one run each (smoke test)")
    parser.add_argument("--runs", type=int, help="repetitions per figure (default 5; 3 for serial and idle)")
    parser.add_argument("--serial-bytes", type=int, help="bytes for the serial row (default 1 MiB)")
    parser.add_argument("--only", action="append", choices=GROUPS, metavar="GROUP",
                        help=f"run only these rows (repeatable): {', '.join(GROUPS)} (boot includes serial)")
    parser.add_argument("--json", default="bench-results.json", help="where to write the results (JSON)")
    parser.add_argument("--baseline", help="an earlier run's JSON: shown beside this run's figures")
    args = parser.parse_args(argv)
    baseline = None
    if args.baseline:
        try:
            baseline = {r["key"]: r for r in json.loads(Path(args.baseline).read_text())["rows"]}
        except (OSError, ValueError, KeyError) as e:
            print(f"python -m benchmarks: cannot read --baseline {args.baseline}: {e}", file=sys.stderr)
            return 2
    settings = Settings.quick() if args.quick else Settings()
    if args.runs is not None:
        if args.runs < 1:
            parser.error("--runs must be at least 1")
        settings.runs = settings.slow_runs = args.runs
    if args.serial_bytes is not None:
        if args.serial_bytes < 1:
            parser.error("--serial-bytes must be at least 1")
        settings.serial_bytes = args.serial_bytes
    settings.only = tuple(args.only or ())
    start = time.perf_counter()
    print(f"benchmarks ({'quick smoke run' if args.quick else 'full run'}; medians of {settings.runs})", flush=True)
    rows = [r.as_dict() for r in run_all(settings, progress=lambda text: print(text, file=sys.stderr, flush=True))]
    elapsed = time.perf_counter() - start
    print(table(rows, baseline))
    for row in rows:
        for name, value in row["extra"].items():
            print(f"  {row['key']}: {name} {fmt(value)}")
        for note in row["notes"]:
            print(f"  {row['key']}: {note}")
    result = {"rows": rows, "settings": vars(settings), "seconds": elapsed, "quick": args.quick,
              "host": {"python": platform.python_version(), "machine": platform.machine(),
                       "kernel": platform.release()}}
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    failed = [row["key"] for row in rows if row["pyos"] is None]
    print(f"{len(rows)} rows in {elapsed:.0f} s; JSON in {args.json}"
          + (f"; FAILED: {', '.join(failed)} (see the notes)" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
