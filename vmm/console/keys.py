"""Bytes from the user's terminal → key presses for the PS/2 keyboard.

A terminal in raw mode sends characters, control characters and escape
sequences, not keys; this turns them back into key names (QEMU's sendkey
names, as vmm/devices/ps2_keyboard.py knows them) with modifiers, on a US
layout:

    printable ASCII        the key, with shift for upper case and symbols
    Enter (CR), Tab, BS/DEL, Esc
    Ctrl-A .. Ctrl-Z       ctrl + letter (except Tab, Enter, Backspace)
    ESC [ A/B/C/D, H/F     arrows, home, end  (ESC O ... too)
    ESC [ n ~              insert, delete, home, end, page up/down, F5-F12
    ESC O P/Q/R/S          F1-F4
    ESC [ 1;m X            xterm modifiers: m-1 = shift 1 | alt 2 | ctrl 4
    ESC c (c printable)    alt + c

Simplification: an escape sequence split across two reads is taken as Esc
followed by characters (terminals write a sequence in one piece).
"""

from __future__ import annotations

from ..devices.ps2_keyboard import char_to_tap

CSI_LETTERS = {"A": "up", "B": "down", "C": "right", "D": "left", "H": "home", "F": "end",
               "P": "f1", "Q": "f2", "R": "f3", "S": "f4"}
CSI_TILDE = {1: "home", 2: "insert", 3: "delete", 4: "end", 5: "pgup", 6: "pgdn", 7: "home", 8: "end",
             11: "f1", 12: "f2", 13: "f3", 14: "f4", 15: "f5", 17: "f6", 18: "f7", 19: "f8",
             20: "f9", 21: "f10", 23: "f11", 24: "f12"}


def char_key(c: str) -> tuple[str, tuple[str, ...]] | None:
    """The key (and modifiers) that types c, or None if no key makes it (non-ASCII,
    NUL, other controls): the keyboard's own US-layout map (ps2_keyboard.char_to_tap)."""
    try:
        return char_to_tap(c)
    except ValueError:
        return None


def _modifiers(param: int) -> tuple[str, ...]:
    bits = max(param - 1, 0)
    return tuple(name for bit, name in ((4, "ctrl"), (2, "alt"), (1, "shift")) if bits & bit)


def decode(data: bytes) -> list[tuple[str, tuple[str, ...]]]:
    """The key taps a chunk of terminal input stands for."""
    text = data.decode("latin-1")
    keys = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\x1b" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in "[O":
                j = i + 2
                while j < len(text) and (text[j].isdigit() or text[j] == ";"):
                    j += 1
                if j < len(text):
                    params = [int(p) if p else 0 for p in text[i + 2:j].split(";")] if j > i + 2 else []
                    final = text[j]
                    mods = _modifiers(params[1]) if len(params) > 1 else ()
                    if final == "~" and params and params[0] in CSI_TILDE:
                        keys.append((CSI_TILDE[params[0]], mods))
                    elif final in CSI_LETTERS:
                        keys.append((CSI_LETTERS[final], mods))
                    i = j + 1  # unknown sequences are dropped whole
                    continue
            key = char_key(nxt)
            if key and nxt != "\x1b":
                keys.append((key[0], ("alt", *key[1])))
                i += 2
                continue
        key = char_key(c)
        if key:
            keys.append(key)
        i += 1
    return keys
