"""Every (variant, workload, run) as its own VM, locally or on a Dask cluster.

A task is a plain dict (picklable, JSON-able); run_task() turns it into one
row. Locally a thread pool of `jobs` threads each drives one VM process
(vm_run.py), so `jobs` VMs run at once. With --cluster the same run_task()
runs on Dask workers that have a `kvm` resource; the kernel ELF travels with
the task (workers need no shared filesystem) and a lost worker's task is
retried. Rows have the same form either way.

A failing row never stops the others: its status says what happened
(unknown-workload, unknown-plugin, build-failed, crash, timeout, no-result,
failed) and `failure` holds the first lines of the report.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import VMM_STATUSES
from .workloads import WORKLOADS, parse_result

KVM_RESOURCE = "kvm"
CONNECT_TIMEOUT_S = 20


def host_info() -> dict:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"node": platform.node(), "kernel": platform.release(), "cpu": model,
            "cpus": os.cpu_count(), "python": platform.python_version()}


def make_tasks(variants, workloads, runs, timeout_s, console_dir=None, ship_kernel=False,
               source=None) -> list[dict]:
    """`source`: the base config's path, against which its relative paths (disks, files) resolve."""
    tasks = []
    for v in variants:
        blob = open(v.kernel, "rb").read() if ship_kernel and v.kernel else None
        for w in workloads:
            for r in range(runs):
                tasks.append({"variant": v.name, "settings": v.settings, "config_data": v.config_data,
                              "kernel": v.kernel, "kernel_hash": v.kernel_hash, "kernel_blob": blob,
                              "plugins": v.plugins, "variant_error": v.error, "workload": w, "run": r,
                              "seed": r, "timeout_s": timeout_s, "source": str(source) if source else None,
                              "console_dir": str(console_dir) if console_dir else None})
    return tasks


def _tail(text: str, n: int = 8) -> list[str]:
    return [line for line in text.splitlines() if line.strip()][-n:]


def _kernel_file(task, scratch: Path) -> str:
    """The task's kernel on this host: its path, or the shipped bytes written out."""
    path = task["kernel"]
    blob = task.get("kernel_blob")
    if blob is not None:
        if not (path and os.path.exists(path)
                and hashlib.sha256(open(path, "rb").read()).hexdigest()[:16] == task["kernel_hash"]):
            path = str(scratch / "kernel.elf")
            Path(path).write_bytes(blob)
    return path


def run_task(task: dict) -> dict:
    row = {k: task[k] for k in ("variant", "workload", "run", "seed", "settings", "plugins", "kernel_hash")}
    row.update(status="ok", exit_status=None, metrics={}, failure=[], host=host_info(),
               config=task["config_data"])
    if task.get("variant_error"):
        row.update(status=task["variant_error"]["status"], failure=task["variant_error"]["message"])
        return row
    if task["workload"] not in WORKLOADS:
        row.update(status="unknown-workload",
                   failure=[f"no workload named {task['workload']!r}; known: {', '.join(WORKLOADS)}"])
        return row
    program = WORKLOADS[task["workload"]][0]
    row["cmdline"] = f"-- {program}"
    with tempfile.TemporaryDirectory(prefix="pyos-compare-") as scratch:
        scratch = Path(scratch)
        if task.get("console_dir"):
            Path(task["console_dir"]).mkdir(parents=True, exist_ok=True)
            console = Path(task["console_dir"]) / f"{task['variant']}.{task['workload']}.{task['run']}.txt"
        else:
            console = scratch / "console.txt"
        spec = {"config_data": task["config_data"], "source": task.get("source"),
                "kernel": _kernel_file(task, scratch), "program": program,
                "console": str(console), "sample_s": 0.25}
        try:
            proc = subprocess.run([sys.executable, "-m", "vmm.compare.vm_run"], input=json.dumps(spec),
                                  capture_output=True, text=True, timeout=task["timeout_s"])
        except subprocess.TimeoutExpired:
            text = console.read_text(errors="replace") if console.exists() else ""
            row.update(status="timeout", failure=[f"no result within {task['timeout_s']} s; console ends:",
                                                  *_tail(text)])
            return row
        text = console.read_text(errors="replace") if console.exists() else ""
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        row.update(status="crash", exit_status=proc.returncode,
                   failure=[f"the VM process died (status {proc.returncode})", *_tail(proc.stderr), *_tail(text)])
        return row
    row["exit_status"] = out["status"]
    row["series"] = out.get("series", [])
    row["wall_s"] = out.get("wall_s")
    result = parse_result(text)
    metrics = {f"guest_{k}" if k in ("context_switches",) else k: v
               for k, v in (result or {}).items() if isinstance(v, int) and k != "ok"}
    metrics.update({f"counter_{k}": v for k, v in (out.get("counters") or {}).items()})
    row["metrics"] = metrics
    if out.get("error"):
        row.update(status="crash", failure=out["error"] + _tail(text, 4))
    elif not out.get("guest_decided", False):
        reason = VMM_STATUSES.get(out["status"], "stopped by the VMM")
        row.update(status="crash", failure=[f"status {out['status']}: {reason}", *_tail(text)])
    elif result is None:
        row.update(status="no-result", failure=[f"the guest exited with status {out['status']} without a "
                                                f"result line; console ends:", *_tail(text)])
    elif result.get("ok") != 1 or out["status"] != 0:
        row.update(status="failed", failure=[f"the workload reported ok={result.get('ok')} and exited with "
                                             f"status {out['status']}", *_tail(text, 4)])
    return row


def run_local(tasks: list[dict], jobs: int, progress=None) -> list[dict]:
    rows = [None] * len(tasks)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(run_task, t): i for i, t in enumerate(tasks)}
        for future in futures:
            i = futures[future]
            rows[i] = future.result()
            if progress:
                progress(rows[i])
    return rows


def run_cluster(tasks: list[dict], address, retries: int = 2, progress=None) -> list[dict]:
    """The same tasks on a Dask cluster: one `kvm` resource per VM, retried on a lost worker.

    `address` is a scheduler address ("tcp://host:8786") or a distributed
    Client/LocalCluster-like object with .scheduler_address.
    """
    from dask.distributed import Client
    from ..errors import ConfigError
    address = getattr(address, "scheduler_address", address)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        raise ConfigError(f"--cluster {address}: cannot reach a Dask scheduler there ({type(e).__name__}: {e})",
                          "start one with `dask scheduler` and workers with `dask worker ADDRESS --nthreads 1 "
                          "--resources kvm=1`, or leave out --cluster to run locally") from None
    with client:
        workers = client.scheduler_info().get("workers", {}).values()
        if not any(w.get("resources", {}).get(KVM_RESOURCE) for w in workers):
            raise ConfigError(f"--cluster {address}: no worker offers the '{KVM_RESOURCE}' resource "
                              f"({len(workers)} workers), so no run could be placed",
                              "start workers on hosts with /dev/kvm: `dask worker ADDRESS --nthreads 1 "
                              "--resources kvm=1`")
        futures = client.map(run_task, tasks, resources={KVM_RESOURCE: 1}, retries=retries, pure=False)
        rows = client.gather(futures)
    if progress:
        for row in rows:
            progress(row)
    return rows
