"""The console's pieces without a VM: terminal bytes → keys, the monitor's
commands and line editing, the display's colour mapping, the PSF parser."""

from __future__ import annotations

import gzip

import pytest

from vmm.console import keys
from vmm.console.display import sgr
from vmm.console.font import FONT_PATH, FontError, cp437_map, parse_psf1
from vmm.console.monitor import Monitor


@pytest.mark.parametrize("data, expected", [
    (b"aZ!", [("a", ()), ("z", ("shift",)), ("1", ("shift",))]),
    (b"\r\t\x7f\x1b", [("ret", ()), ("tab", ()), ("backspace", ()), ("esc", ())]),
    (b"\x03\x04", [("c", ("ctrl",)), ("d", ("ctrl",))]),
    (b"\x1b[A\x1b[B\x1b[C\x1b[D\x1bOH\x1b[F", [("up", ()), ("down", ()), ("right", ()), ("left", ()),
                                           ("home", ()), ("end", ())]),
    (b"\x1b[2~\x1b[3~\x1b[5~\x1b[6~\x1b[24~\x1bOP", [("insert", ()), ("delete", ()), ("pgup", ()),
                                                    ("pgdn", ()), ("f12", ()), ("f1", ())]),
    (b"\x1b[1;5C\x1b[1;2A\x1b[3;3~", [("right", ("ctrl",)), ("up", ("shift",)), ("delete", ("alt",))]),
    (b"\x1bx\x1bX", [("x", ("alt",)), ("x", ("alt", "shift"))]),
    (b"\x1b[99~\x1b[Zq\xe9\x00", [("q", ())]),  # unknown sequences, non-ASCII and NUL have no key
])
def test_terminal_bytes_to_keys(data, expected):
    assert keys.decode(data) == expected


class FakeKeyboard:
    def __init__(self):
        self.taps = []

    def tap(self, key, modifiers=()):
        if key == "nope":
            raise KeyError(key)
        self.taps.append((key, tuple(modifiers)))


class FakeMachine:
    def __init__(self):
        self.keyboard = FakeKeyboard()
        self.stopped = None

    def stats(self):
        return "exits: io 1"

    def request_stop(self, status, reason=None):
        self.stopped = status
        self.stop_reason = reason


def test_monitor_commands():
    m = FakeMachine()
    mon = Monitor(m)
    assert "screendump FILE" in mon.execute("help")
    assert mon.execute("stats") == "exits: io 1\n"
    assert mon.execute("sendkey ctrl-alt-delete shift-a") == ""
    assert m.keyboard.taps == [("delete", ("ctrl", "alt")), ("a", ("shift",))]
    assert "unknown key 'nope'" in mon.execute("sendkey nope")
    assert "bad key combination" in mon.execute("sendkey ctrl-")
    assert "unknown command 'frob'" in mon.execute("frob")
    assert "usage" in mon.execute("screendump")
    assert mon.execute("   ") == ""
    assert "error" in mon.execute("screen")  # the fake has no VGA: an error line, not a crash
    mon.execute("quit")
    assert m.stopped == 130 and m.stop_reason == "quit (monitor)"


def test_monitor_line_editing():
    mon = Monitor(FakeMachine())
    out, ran = mon.feed(b"stax\x7fts")
    assert out == "stax\b \bts" and not ran
    out, ran = mon.feed(b"\r")
    assert ran and "exits: io 1\r\n" in out and out.endswith("(pyos) ")
    out, _ = mon.feed(b"abc\x15")
    assert out == "abc" + "\b \b" * 3 and not mon.line


def test_sgr_maps_vga_colours_to_ansi():
    assert sgr(0x07, True) == "\033[0;37;40m"
    assert sgr(0x1E, True) == "\033[0;93;44m"     # yellow on blue
    assert sgr(0xCF, True) == "\033[0;97;41;5m"   # blinking bright white on red
    assert sgr(0xCF, False) == "\033[0;97;101m"   # blink off: bright red background


def test_psf_parser_and_cp437_map():
    font = parse_psf1(gzip.decompress(FONT_PATH.read_bytes()))
    assert font.height == 16 and len(font.glyphs) == 256
    assert font.glyphs[ord("A")] != font.glyphs[ord("B")]
    table = cp437_map()
    assert table[0] == " " and table[1] == "\u263a" and table[0xC9] == "\u2554" and table[ord("A")] == "A"
    with pytest.raises(FontError):
        parse_psf1(b"\x00\x00\x00\x00")
    with pytest.raises(FontError):
        parse_psf1(b"\x36\x04\x00\x10" + b"\x00" * 100)
