"""Statistics per (workload, metric, variant): median, IQR, ratio to the baseline,
and a two-sided Mann-Whitney U test (scipy.stats.mannwhitneyu) against the
baseline's runs. Mann-Whitney because run times are skewed and few (3-10
runs): it compares ranks, assumes no distribution, and with scipy gives
exact p-values for small samples without ties. A difference is "within
noise" when p >= ALPHA (or when there are too few runs to tell).
"""

from __future__ import annotations

import statistics

ALPHA = 0.05


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def mann_whitney(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value, or None when either side has fewer than 2 values."""
    if len(a) < 2 or len(b) < 2:
        return None
    if len(set(a) | set(b)) == 1:
        return 1.0
    from scipy.stats import mannwhitneyu
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def summarize(rows: list[dict], baseline: str) -> list[dict]:
    """One entry per (workload, metric, variant) over the rows with status ok."""
    groups: dict[tuple, dict[str, list[float]]] = {}
    variants_order: list[str] = []
    for row in rows:
        if row["variant"] not in variants_order:
            variants_order.append(row["variant"])
        if row["status"] != "ok":
            continue
        for metric, value in row["metrics"].items():
            groups.setdefault((row["workload"], metric), {}).setdefault(row["variant"], []).append(float(value))
    out = []
    for (workload, metric), by_variant in groups.items():
        base = by_variant.get(baseline)
        base_median = statistics.median(base) if base else None
        for variant in variants_order:
            values = by_variant.get(variant)
            if not values:
                continue
            q1, med, q3 = quartiles(sorted(values))
            entry = {"workload": workload, "metric": metric, "variant": variant, "n": len(values),
                     "median": med, "q1": q1, "q3": q3, "iqr": q3 - q1, "ratio": None, "p": None,
                     "noise": None}
            if base and variant != baseline:
                entry["ratio"] = med / base_median if base_median else None
                entry["p"] = mann_whitney(values, base)
                entry["noise"] = entry["p"] is None or entry["p"] >= ALPHA
            out.append(entry)
    return out
