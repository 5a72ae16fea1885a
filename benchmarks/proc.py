"""The process model: fork+exit+wait, fork+exec+wait of a small program,
spawn+wait, a copy-on-write fault and a demand-zero fault, in the guest and
natively on the host (Linux), side by side with the ratio.

The guest side is guest_kernel/user/programs/wl_proc.c (TSC in user mode,
medians); the host side is the same measurements in C, compiled with gcc at
run time (posix_spawn stands in for spawn). On PVM-style hosts the guest
kernel is emulated instruction by instruction, so large ratios are expected
there: report them, compare runs on the same machine.
Run:  python3 benchmarks/proc.py [ROUNDS]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

HOST_C = r"""
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
#define PAGES 64
static long now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000L + t.tv_nsec; }
static int cmp(const void *a, const void *b) { long x = *(long *)a, y = *(long *)b; return x < y ? -1 : x > y; }
static long med(long *v, int n) { qsort(v, n, sizeof *v, cmp); return v[(n + 1) / 2 - 1]; }
int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "exit")) return 0;
    int n = argc > 1 ? atoi(argv[1]) : 20, st;
    long fe[200], fx[200], sp[200], cow[PAGES], zero[PAGES];
    char *av[] = {argv[0], "exit", 0};
    for (int i = 0; i < n; i++) { long t = now(); pid_t p = fork(); if (!p) _exit(0); waitpid(p, &st, 0); fe[i] = now() - t; }
    for (int i = 0; i < n; i++) { long t = now(); pid_t p = fork(); if (!p) { execve(argv[0], av, environ); _exit(99); } waitpid(p, &st, 0); fx[i] = now() - t; }
    for (int i = 0; i < n; i++) { long t = now(); pid_t p; posix_spawn(&p, argv[0], 0, 0, av, environ); waitpid(p, &st, 0); sp[i] = now() - t; }
    char *z = mmap(0, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < PAGES; i++) { long t = now(); z[i * 4096] = 1; zero[i] = now() - t; }
    int fds[2]; pipe(fds);
    pid_t p = fork();
    if (!p) { char c; close(fds[1]); read(fds[0], &c, 1); _exit(0); }
    close(fds[0]);
    for (int i = 0; i < PAGES; i++) { long t = now(); z[i * 4096] = 2; cow[i] = now() - t; }
    close(fds[1]); waitpid(p, &st, 0);
    printf("result workload=proc ok=1 rounds=%d fork_exit_ns=%ld fork_exec_ns=%ld spawn_ns=%ld cow_fault_ns=%ld zero_fault_ns=%ld\n",
           n, med(fe, n), med(fx, n), med(sp, n), med(cow, PAGES), med(zero, PAGES));
    return 0;
}
"""

KEYS = ["fork_exit_ns", "fork_exec_ns", "spawn_ns", "cow_fault_ns", "zero_fault_ns"]


def parse(text: str) -> dict[str, int]:
    m = re.search(r"result workload=proc ok=1 .*", text)
    if not m:
        raise SystemExit(f"no result line in:\n{text[-2000:]}")
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(0)) if k in KEYS}


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "proc.toml"
        config.write_text('[serial]\ninput = "none"\n')
        guest = subprocess.run([sys.executable, "-m", "vmm.cli", "run", "--config", str(config), "--cmdline",
                                f"-- wl_proc {rounds}"], cwd=REPO, capture_output=True, text=True,
                               stdin=subprocess.DEVNULL).stdout
        src, exe = Path(tmp) / "proc_host.c", Path(tmp) / "proc_host"
        src.write_text(HOST_C)
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True)
        host = subprocess.run([str(exe), str(rounds)], capture_output=True, text=True).stdout
    g, h = parse(guest), parse(host)
    print(f"process model, medians of {rounds} rounds (64 pages for the faults)")
    print(f"  {'operation':<16} {'guest':>12} {'host (Linux)':>14} {'guest/host':>11}")
    for k in KEYS:
        print(f"  {k[:-3]:<16} {g[k] / 1000:10.1f}us {h[k] / 1000:12.1f}us {g[k] / max(h[k], 1):11.1f}")


if __name__ == "__main__":
    main()
