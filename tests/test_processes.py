"""Processes in ring 3: init, usertests under each scheduler, system-call entry, counters."""

from __future__ import annotations

import re

import pytest

from vmm import errors
from vmm.probe import host_kind

from .conftest import boot, write_config


def test_default_boot_runs_init_and_a_demo():
    result = boot()
    console = result.console
    assert result.status == 0, result.stderr
    assert re.search(r"init: pid 1, scheduler 'rr', system calls via (int3 trampoline|syscall)", console)
    assert re.search(r"hello from pid \d+: hello world", console)
    assert re.search(r"tasks: kernel thread 'kmemstat' is pid 2", console)
    assert "init: hello exited with status 0" in console
    assert "pyos: init exited with status 0; powering off" in console


def test_system_call_entry_is_detected_and_reported():
    result = boot("--stats")
    if host_kind()[0] == "pvm":
        assert "syscall entry: syscall from user mode is not delivered on this host" in result.console
        assert 'pyos_guest_syscall_entry_info  method="int3 trampoline"' in result.stderr
    else:
        assert "syscall entry: the syscall instruction reaches the kernel" in result.console
        assert "pyos_guest_syscall_entry_info  method=syscall" in result.stderr


def test_init_status_is_the_machine_status(tmp_path):
    result = boot("--cmdline", "-- usertests exitwith 9")
    assert result.status == 9
    assert "init: usertests exited with status 9" in result.console


def _ratio(a: int, b: int) -> float:
    return max(a, b) / max(min(a, b), 1)


@pytest.fixture(scope="module", params=["rr", "priority", "stride"])
def usertests(request, tmp_path_factory):
    cfg = write_config(tmp_path_factory.mktemp(request.param),
                       f'[kernel]\nscheduler = "{request.param}"\n[serial]\ninput = "none"\n')
    return request.param, boot("--cmdline", "-- usertests", "--stats", config=cfg)


def test_usertests_pass(usertests):
    scheduler, result = usertests
    console = result.console
    header = re.search(rf"usertests: (\d+) cases, scheduler '{scheduler}'", console)
    assert header and int(header.group(1)) >= 20, console
    ncases = int(header.group(1))
    assert f"usertests: {ncases} passed, 0 failed" in console, console
    assert result.status == 0
    # Each case ran in its own process, with no frames lost: read from the
    # figures of every case (OK or not), not from the guest's own verdict.
    cases = re.findall(r"usertests: (\w+): (?:OK|FAILED) \(exit status (-?\d+), free frames (\d+) -> (\d+)\)", console)
    assert len(cases) == ncases, console
    for name, status, before, after in cases:
        assert status == "0" and before == after, f"case {name}: status {status}, free frames {before} -> {after}"


def test_faulting_programs_are_killed_and_reported(usertests):
    _, result = usertests
    console = result.console
    assert re.search(r"pid \d+ \(usertests\): killed by #PF page fault at RIP 0x4\w+, address 0x0 "
                     r"\(exit status 142\)", console)
    assert "killed by #UD invalid opcode" in console and "killed by #DE divide error" in console
    assert "address 0xffffffff80100000" in console  # user code may not touch the kernel
    # A raw `syscall` outside the vDSO on this host: killed once, not a loop of "now uses int3".
    assert re.search(r"pid \d+ \(usertests\): killed by #(GP general protection|PF page fault) at RIP 0xffffffff8\w+"
                     r".* \(exit status 14[12]\)",
                     console)
    assert console.count("the vDSO now uses int3") == 1
    # Every kill is reported once (the fixed crash cases, the stack and mmap
    # cases' children, and whatever the grind's children did to themselves).
    killed = len(re.findall(r"^pid \d+ \(\w+\): killed by #", console, re.M))
    assert killed >= 7
    assert re.search(rf"^pyos_guest_tasks_killed_total  {killed}$", result.stderr, re.M)


def test_cpu_shares_follow_the_scheduler(usertests):
    # Shares are guest CPU time (timer ticks charged to each process in a
    # 100-tick window), so host load does not move them: only the
    # scheduler's decisions do. Each count is tied to its priority, so a
    # scheduler that favours the wrong process fails.
    scheduler, result = usertests
    console = result.console
    equal = list(map(int, re.search(r"share equal: (\d+) (\d+)", console).groups()))
    p10, p30 = map(int, re.search(r"share weighted: priority 10 got (\d+) ticks, priority 30 got (\d+)",
                                  console).groups())
    starving = list(map(int, re.search(r"starvation: (\d+) (\d+) (\d+)", console).groups()))
    assert sum(equal) >= 80, f"the two spinners should fill most of the 100-tick window: {equal}"
    assert _ratio(*equal) < 1.6, f"equal priorities, unequal shares: {equal}"
    if scheduler == "rr":  # priorities do not matter to round-robin
        assert _ratio(p10, p30) < 1.6, (p10, p30)
    elif scheduler == "priority":  # priority 10 beats 30; aging still lets 30 run
        assert p10 > 3 * p30 and p30 > 0, (p10, p30)
    else:  # stride: 30 tickets against 10
        assert 2.0 < p10 / max(p30, 1) < 4.5, (p10, p30)
    assert min(starving) > 0, f"a task starved: {starving}"


def test_guest_counts_syscalls_and_switches(usertests):
    _, result = usertests
    line = re.search(r"^pyos_guest_syscalls_total  (.*)", result.stderr, re.M).group(1)
    calls = dict(re.findall(r"name=(\w+) (\d+)", line))
    assert int(calls["write"]) > 10
    assert int(calls["spawn"]) > 20
    assert int(calls["wait"]) > 20
    switches = int(re.search(r"^pyos_guest_context_switches_total  (\d+)$", result.stderr, re.M).group(1))
    assert switches > 100
