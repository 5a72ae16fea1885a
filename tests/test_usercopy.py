"""The system-call boundary, in the guest (issue 16): strings and buffers
against the first unmapped page after the heap, lengths that wrap past
2^64, bad pointers. Each case must get its error code back; a kernel that
skipped a check takes a page fault itself (CPU exception in the kernel,
status 3), which fails this test too. This one boot is also what
`python -m mutation syscall` runs per kernel mutant."""

from __future__ import annotations

import re

from .conftest import boot

CASES = ["badptr", "boundaries", "edge_strings", "edge_buffers"]


def test_user_pointer_checks():
    # The default machine: its root disk (a snapshot) gives the path calls a filesystem.
    result = boot("--cmdline", "-- usertests only " + " ".join(CASES))
    console = result.console
    assert f"usertests: {len(CASES)} cases" in console, console + result.stderr
    ran = re.findall(r"usertests: (\w+): (OK|FAILED) \(exit status (-?\d+), free frames (\d+) -> (\d+)\)", console)
    assert [name for name, *_ in ran] == CASES, console
    for name, verdict, status, before, after in ran:
        assert verdict == "OK" and status == "0" and before == after, f"{name}: {verdict}, status {status}\n{console}"
    assert f"usertests: {len(CASES)} passed, 0 failed" in console
    assert result.status == 0, result.stderr
