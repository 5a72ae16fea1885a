"""pyos-vmm compare: variants × workloads × runs → table, CSV/JSON, plots.

Exit status: 0 when every run was ok, 1 when the comparison completed but
some rows failed (each reported), 110 for bad arguments (an unknown
--baseline, a malformed --vary, a bad base config).
"""

from __future__ import annotations

import os
import sys
import time
import tomllib
from pathlib import Path

from .. import errors
from ..errors import ConfigError

EXIT_SOME_FAILED = 1


def _base_config(path) -> tuple[dict, Path | None]:
    if not path:
        from ..cli import DEFAULT_CONFIG
        path = DEFAULT_CONFIG
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}", "check the --config path") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}", "fix the syntax at the position named") from None
    return data, path.resolve()


def compare(args) -> int:
    if args.runs < 1 or args.runs > 1000:
        raise ConfigError(f"--runs {args.runs}: must be from 1 to 1000", "e.g. --runs 5")
    if args.timeout <= 0:
        raise ConfigError(f"--timeout {args.timeout}: must be positive", "seconds per VM run, e.g. --timeout 300")
    # Imported here, not at the top: `pyos-vmm run` builds this subcommand's parser too, and
    # statistics, concurrent.futures and the report cost tens of ms at every start.
    from .report import table, write_outputs
    from .runner import host_info, make_tasks, run_cluster, run_local
    from .stats import summarize
    from .variants import build_variant, make_variants, parse_vary
    base, source = _base_config(args.config)
    vary = parse_vary(args.vary or [])
    variants = make_variants(base, vary)
    workloads = [w for spec in (args.workload or ["cpu"]) for w in spec.split(",") if w]
    baseline = args.baseline or variants[0].name
    names = [v.name for v in variants]
    if baseline not in names:
        raise ConfigError(f"--baseline {baseline!r} is not one of the variants",
                          "variants: " + ", ".join(names))
    from .. import config as config_mod
    config_mod.from_dict(base, where=str(source), source=source)  # the base itself must be valid
    jobs = args.jobs or os.cpu_count() or 1

    print(f"compare: {len(variants)} variants x {len(workloads)} workloads x {args.runs} runs, "
          f"{'cluster ' + args.cluster if args.cluster else f'{jobs} at a time'}", file=sys.stderr)
    t0 = time.monotonic()
    for v in variants:  # built once each, before any run (the build cache makes repeats free)
        build_variant(v, source)
        what = f"kernel {v.kernel_hash}" if not v.error else f"{v.error['status']}: {v.error['message'][0]}"
        print(f"  variant {v.name}: {what}", file=sys.stderr)
    console_dir = Path(args.out) / "console" if args.out else None

    def progress(row):
        print(f"  {row['variant']} {row['workload']} run {row['run']}: {row['status']}", file=sys.stderr)

    tasks = make_tasks(variants, workloads, args.runs, args.timeout, console_dir, ship_kernel=bool(args.cluster),
                       source=source)
    if args.cluster:
        rows = run_cluster(tasks, args.cluster, progress=progress)
    else:
        rows = run_local(tasks, jobs, progress=progress)
    summary = summarize(rows, baseline)
    print(table(summary, rows, baseline, args.all_metrics))
    meta = {"argv": sys.argv, "base_config": str(source), "baseline": baseline, "vary": vary,
            "workloads": workloads, "runs": args.runs, "host": host_info(), "seconds": round(time.monotonic() - t0, 1),
            "variants": [{"name": v.name, "settings": v.settings, "kernel_hash": v.kernel_hash,
                          "plugins": v.plugins, "error": v.error} for v in variants]}
    if args.out:
        write_outputs(Path(args.out), rows, summary, meta)
        print(f"compare: rows.csv, summary.csv, results.json in {args.out}", file=sys.stderr)
    if args.plot:
        from .plots import plot_all
        written = plot_all(rows, Path(args.plot))
        print(f"compare: {len(written)} plots in {args.plot}", file=sys.stderr)
    return 0 if all(r["status"] == "ok" for r in rows) else EXIT_SOME_FAILED


def add_parser(sub, add_config):
    p = sub.add_parser("compare", help="run workloads under several plugin variants and compare",
                       description="Build each variant once, run every (variant, workload, run) as its own "
                                   "VM in parallel, and print per-metric medians, IQRs, ratios to the "
                                   "baseline and a Mann-Whitney U test. Exit 0 if all runs were ok, 1 if "
                                   "some failed (each reported).")
    add_config(p)
    p.add_argument("--vary", action="append", metavar="KEY=A,B",
                   help="a [kernel] key (or SECTION.KEY) and its values; repeat for a cross product")
    p.add_argument("--workload", action="append", metavar="NAME",
                   help="cpu, io, fork, alloc (repeatable or comma-separated; default cpu)")
    p.add_argument("--runs", type=int, default=5, help="runs per variant and workload (default 5)")
    p.add_argument("--jobs", type=int, default=0, help="VMs at once (default: the CPUs)")
    p.add_argument("--baseline", metavar="VARIANT", help="the variant ratios are against (default: the first)")
    p.add_argument("--out", metavar="DIR", help="write rows.csv, summary.csv, results.json, console logs")
    p.add_argument("--plot", metavar="DIR", help="write box plots and counter-rate time series (PNG)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per VM run before it counts as "
                                                                "timed out (default 600)")
    p.add_argument("--all-metrics", action="store_true", help="show every guest counter in the table "
                                                              "(the CSV/JSON always have them)")
    p.add_argument("--cluster", metavar="ADDRESS", help="run on a Dask scheduler (workers with a 'kvm' resource)")
    return p
