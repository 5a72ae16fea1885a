"""`pyos-vmm compare`: the same workloads under several plugin variants.

    variants.py   --vary KEY=A,B → one config per combination, each kernel built once
    workloads.py  short names (cpu, io, fork, alloc) → guest programs; the result line
    vm_run.py     one VM in its own process: console to a file, guest counters sampled
    runner.py     every (variant, workload, run) as its own VM: a local pool or Dask
    stats.py      median, IQR, ratio to the baseline, Mann-Whitney U (scipy)
    report.py     the table, CSV and JSON
    plots.py      box plots per variant, context-switch and IRQ rate time series
"""
