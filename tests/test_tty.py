"""The console tty's line discipline, booted: bytes typed on the serial port
are edited, echoed and handed to a program (ttytest) a line at a time;
raw mode via TCSETS hands them over as they come."""

from __future__ import annotations

import pytest

from .serial_session import SerialSession


@pytest.fixture
def session():
    sessions = []

    def start(cmdline):
        s = SerialSession(cmdline)
        sessions.append(s)
        return s

    yield start
    for s in sessions:
        s.close()


def test_canonical_editing_echo_and_end_of_file(session):
    s = session("-- ttytest lines")
    start = s.expect(r"ttytest: reading lines\n").end()
    # DEL and ^H erase one character each, ^U the whole line; CR ends a line like LF.
    s.send(b"abc\x7fd\n")
    m = s.expect(r"line: \[abd\\x0a\]\n", start)
    assert s.text[start:m.start()] == "abc\b \bd\n"  # the echo, erasure drawn as back-blank-back
    s.send(b"hi\x08\x08yo\r")
    m = s.expect(r"line: \[yo\\x0a\]\n", m.end())
    s.send(b"wrong words\x15right\n")
    m = s.expect(r"line: \[right\\x0a\]\n", m.end())
    assert "wrong words" + "\b \b" * len("wrong words") + "right\n" in s.text
    # Control characters echo as ^X and erase as two columns.
    s.send(b"a\x01\x7fb\n")
    m = s.expect(r"line: \[ab\\x0a\]\n", m.end())
    # ^D on a partial line hands it over without a newline; on an empty line it is end of file.
    s.send(b"part\x04")
    m = s.expect(r"line: \[part\]\n", m.end())
    s.send(b"\x04")
    m = s.expect(r"ttytest: eof\n", m.end())
    s.send(b"\x04")
    s.expect(r"ttytest: eof\n.*init: ttytest exited with status 0", m.end())
    assert s.finish() == 0


def test_raw_mode_passes_every_byte_without_echo(session):
    s = session("-- ttytest raw")
    start = s.expect(r"ttytest: raw mode \(lflag 0x0\), type; 'q' ends\n").end()
    s.send(b"x\x7f\x03\x15\r")  # no editing, no SIGINT, no echo, no CR translation
    m = s.expect(r"(raw: \[[^\]]*\]\n)+", start)
    s.send(b"q")
    m = s.expect(r"ttytest: canonical again \(lflag 0xb\)\n", m.end())
    reads = s.text[start:m.start()].splitlines()
    assert all(line.startswith("raw: [") and line.endswith("]") for line in reads), reads  # nothing echoed
    assert "".join(line[len("raw: ["):-1] for line in reads) == "x\\x7f\\x03\\x15\\x0dq"
    s.send(b"back\n")
    s.expect(r"back\nline: \[back\\x0a\]\n.*init: ttytest exited with status 0", m.end())  # echo is back
    assert s.finish() == 0


def test_kernel_echo_console_uses_the_line_discipline(session):
    """echo=1: the tty serves the kernel's own console before any process."""
    s = session("echo=1")
    start = s.expect(r"echo: type.*\(Ctrl-D powers off\)\n").end()
    s.send(b"one\x7fe\ntwo\x15three\n\x04")
    m = s.expect(r"echo: Ctrl-D, \d+ COM1 interrupts", start)
    assert s.text[start:m.start()] == "one\b \be\ntwo" + "\b \b" * 3 + "three\n\n"
    assert s.finish() == 0
