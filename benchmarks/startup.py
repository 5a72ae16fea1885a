"""In-process start-up: a Machine for a cached kernel, up to its first guest instruction.

    python -m benchmarks.startup [RUNS]

measure(runs) returns medians in ms (for `python -m benchmarks`):
  create_ms             Machine(config, kernel) for an already built kernel
  first_instruction_ms  from before Machine() to the first KVM_RUN entering the
                        guest (create + run()'s set-up: signals, PIT, alarm)
  resolve_ms            build_kernel() for a cached kernel (the plugin
                        discovery, file-metadata check of every source)
The first Machine of a process also pays for imports and the cffi module;
it is reported separately (first_process_ms) and left out of the medians.
"""

from __future__ import annotations

import statistics
import sys
import time


def _one(kernel, cfg) -> tuple[float, float]:
    from vmm.machine import Machine
    from vmm.run_loop import BEFORE_FIRST_EXIT, SUM
    t0 = time.monotonic_ns()
    machine = Machine(cfg, kernel)
    created = time.monotonic_ns()
    try:
        status = machine.run()
    finally:
        machine.close()
    assert status == 0, status
    loop = machine.loop
    first_run = loop.started_ns + loop.handling[BEFORE_FIRST_EXIT][SUM]  # when KVM_RUN was first entered
    return (created - t0) / 1e6, (first_run - t0) / 1e6


def measure(runs: int = 10) -> dict:
    t_start = time.monotonic_ns()
    from vmm import config as config_mod
    from vmm.build.kernel import build_kernel
    from vmm.plugins.manager import select
    cfg = config_mod.from_dict({"kernel": {"cmdline": "exit=0"}, "serial": {"output": "none", "input": "none"}})
    kernel = build_kernel(select(cfg.kernel.plugin_choices()))
    first_create, _ = _one(kernel, cfg)
    first_process_ms = (time.monotonic_ns() - t_start) / 1e6
    resolve = []
    for _ in range(runs):
        t = time.monotonic_ns()
        build_kernel(select(cfg.kernel.plugin_choices()))
        resolve.append((time.monotonic_ns() - t) / 1e6)
    creates, firsts = zip(*(_one(kernel, cfg) for _ in range(runs)))
    return {"create_ms": statistics.median(creates), "first_instruction_ms": statistics.median(firsts),
            "resolve_ms": statistics.median(resolve), "first_process_ms": first_process_ms}


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    figures = measure(runs)
    print(f"in-process start-up, medians of {runs} (cached kernel)")
    for name, ms in figures.items():
        print(f"  {name:<22} {ms:8.2f} ms")


if __name__ == "__main__":
    main()
