"""Workloads: short names → the guest programs that run them (guest_kernel/user/programs/wl_*.c).

Each program prints one line `result workload=NAME key=value ...` with integer
values; parse_result() turns it into a dict. `ok=1` means the program checked
its own results (children's exit statuses, echoed bytes, pages read back).
"""

from __future__ import annotations

WORKLOADS = {
    "cpu": ("wl_cpu", "CPU-bound mix: 3 processes hashing, wall time (TSC) and context switches"),
    "io": ("wl_io", "sleep/wake under a CPU hog (wake-up latency p50/p90/p99) and pipe ping-pong round trips"),
    "fork": ("wl_fork", "spawn-heavy (pyos has no fork/exec yet): 6 children spawned and reaped, 3 at a time"),
    "alloc": ("wl_alloc", "kernel heap (pipe create/close) and frames (children growing brk by 64 pages)"),
    "fs": ("wl_fs", "filesystem and buffer cache: 20 files of 4 KiB created, synced, read back, deleted "
                    "on the root disk"),
}
RESULT_PREFIX = "result "


def program(name: str) -> str:
    return WORKLOADS[name][0]


def parse_result(console: str) -> dict[str, int] | None:
    """The last result line in the console output, as {key: int} (None if there is none)."""
    found = None
    for line in console.splitlines():
        line = line.strip()
        if not line.startswith(RESULT_PREFIX):
            continue
        fields = {}
        for word in line[len(RESULT_PREFIX):].split():
            key, sep, value = word.partition("=")
            if not sep:
                continue
            try:
                fields[key] = int(value)
            except ValueError:
                fields[key] = value
        found = fields
    return found
