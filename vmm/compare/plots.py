"""--plot DIR: one box plot per (workload, metric) across variants, and the
context-switch and IRQ rates over each run's time, from the guest counters
sampled during the runs. PNG, made with matplotlib's Agg backend (no display).
"""

from __future__ import annotations

import re
from pathlib import Path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def plot_all(rows: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    ok = [r for r in rows if r["status"] == "ok"]
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    for workload in dict.fromkeys(r["workload"] for r in ok):
        metrics = sorted({m for r in ok if r["workload"] == workload for m in r["metrics"]
                          if not m.startswith("counter_")})
        for metric in metrics:
            data = [[r["metrics"][metric] for r in ok if r["workload"] == workload and r["variant"] == v
                     and metric in r["metrics"]] for v in variants]
            shown = [(v, d) for v, d in zip(variants, data) if d]
            if not shown:
                continue
            fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(shown), 3.2))
            ax.boxplot([d for _, d in shown], showmeans=False)
            ax.set_xticks(range(1, len(shown) + 1), [v for v, _ in shown], rotation=15, fontsize=8)
            ax.set_title(f"{workload}: {metric}", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            fig.tight_layout()
            path = out_dir / f"box_{_safe(workload)}_{_safe(metric)}.png"
            fig.savefig(path, dpi=80)
            plt.close(fig)
            written.append(path)
        # Rates over time: per run, the derivative of the sampled counters.
        fig, axes = plt.subplots(2, 1, figsize=(6, 4.5), sharex=True)
        colors = {v: f"C{i}" for i, v in enumerate(variants)}
        labelled = set()
        for r in ok:
            if r["workload"] != workload or len(r.get("series", [])) < 2:
                continue
            s = r["series"]
            t = [b[0] for b in s[1:]]
            for ax, col, what in ((axes[0], 2, "context switches/s"), (axes[1], 3, "IRQs/s")):
                rate = [(b[col] - a[col]) / max(b[0] - a[0], 1e-6) for a, b in zip(s, s[1:])]
                label = r["variant"] if r["variant"] not in labelled and ax is axes[0] else None
                ax.plot(t, rate, color=colors[r["variant"]], alpha=0.6, lw=1, label=label)
                ax.set_ylabel(what, fontsize=8)
            labelled.add(r["variant"])
        axes[1].set_xlabel("seconds since VM start", fontsize=8)
        axes[0].set_title(f"{workload}: guest counters sampled during the runs", fontsize=10)
        if labelled:
            axes[0].legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"rates_{_safe(workload)}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written
