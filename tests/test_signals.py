"""Signals, booted: ^C typed on the serial console interrupts the
foreground process group and not its parent; the usertests signal cases
(handlers and sigreturn, SIGKILL, SIGPIPE, SIGCHLD, kill to a group, a
SIGSEGV handler) pass and leak no frames."""

from __future__ import annotations

import re

from .conftest import boot, write_config
from .serial_session import SerialSession


def test_ctrl_c_interrupts_the_foreground_group_not_its_parent():
    s = SerialSession("-- ttytest intr")
    try:
        m = s.expect(r"ttytest: child (\d+) sleeping in group (\d+), foreground group (\d+); type \^C\n")
        child, group, fg = map(int, m.groups())
        assert child == group == fg
        s.send(b"\x03")
        m = s.expect(r"\^C\nttytest: child (\d+) ended with status 130 \(killed by SIGINT\)\n", m.end())
        assert int(m.group(1)) == child
        m = s.expect(r"ttytest: pid \d+ still here, foreground again; type \^C\n", m.end())
        s.send(b"\x03")  # now ttytest's own group: its handler catches it, its read is interrupted
        s.expect(r"\^C\nttytest: (read returned -4|\^C came before the read), handler saw signal 2\n"
                 r".*init: ttytest exited with status 0", m.end())
        assert s.finish() == 0
    finally:
        s.close()


def test_usertests_signal_cases(tmp_path):
    cfg = write_config(tmp_path, '[serial]\ninput = "none"\n')
    cases = ["signal", "sigkill", "sigpipe", "sigchld", "killpg", "sigsegv"]
    for case in cases:
        result = boot("--cmdline", f"-- usertests case {case}", config=cfg)
        assert result.status == 0, f"usertests case {case}:\n{result.console}"
    # The figures the cases print, checked once more here by their meaning.
    console = boot("--cmdline", "-- usertests case sigkill", config=cfg).console
    assert re.search(r"SIGKILL to a process catching everything: status 137; caught SIGTERM: 5; "
                     r"caught SIGUSR1: 5", console), console
