"""PS/2 (MF2) keyboard behind the 8042's first port.

References: IBM "Keyboards (101- and 102-Key)" technical reference (the
commands, their acknowledgements and the three scan-code sets), and the
scan-code tables of Microsoft's "Keyboard Scan Code Specification" (rev 1.3a).
QEMU's hw/input/ps2.c was read for behaviour, not copied.

The keyboard talks to the controller one byte at a time: bytes the host sends
arrive through write(); the bytes it answers and the scan codes of key
events queue in `queue`, which the controller drains into its output buffer
when it is free (see i8042.py). Commands (host → keyboard):

    ED  set LEDs (next byte: bit 0 scroll, 1 num, 2 caps lock)   → FA, FA
    EE  echo                                                     → EE
    F0  scan-code set (next byte: 0 = report, 1/2/3 = select)    → FA, FA [set]
    F2  identify                                                 → FA AB 83
    F3  typematic rate/delay (next byte)                         → FA, FA
    F4  enable scanning   F5 disable (and defaults)   F6 defaults → FA
    F7-FD  set-3 key attributes (accepted, stored nowhere)       → FA
    FE  resend the last byte sent   FF reset                     → FA AA
    anything else (and a bad parameter)                          → FE (resend)

Scan codes: set 2 is the power-on set; the 8042 translates it to set 1 when
its config byte asks (the PC default). Sets 1 and 3 are produced natively
when selected with F0. Each key in KEYS has its codes in the three sets;
a make code is the code (E0-prefixed keys: E0 code), a break code is
code | 0x80 in set 1, F0 code in sets 2 and 3 (E0 F0 code for E0 keys).
Print Screen and Pause have their own multi-byte sequences.

Simplifications:
- Typematic repeat is not generated: press() makes one make code and the key
  stays down until release(); the rate byte is stored and reported nowhere.
- Set 3's per-key attributes (F7-FD) are accepted and ignored: every key
  makes and breaks, as set 3's default "make/break for all keys" says.
- The output queue holds 16 bytes like the keyboard's own buffer. Keys the
  host sends faster than the guest reads wait whole in a host-side type-ahead
  queue (as in QEMU's input queue) and enter the buffer as it drains, so a
  long type_text() is never cut; there is no overrun code. The type-ahead
  keeps at most TYPEAHEAD_MAX events; beyond that keys are dropped and
  counted (`dropped`), as happens to a guest that never reads its keyboard.
  Replies to commands that do not fit the 16 bytes (a host that sends
  commands without reading the answers) are dropped and counted likewise.
- While the host is sending a command the keyboard stops scanning on real
  hardware; here a key event between a command and its parameter is queued
  after the acknowledgement, which is what a driver sees anyway.
"""

from __future__ import annotations

import threading
from collections import deque

ACK, RESEND, ECHO, SELF_TEST_OK, ID = 0xFA, 0xFE, 0xEE, 0xAA, (0xAB, 0x83)
QUEUE_SIZE = 16
TYPEAHEAD_MAX = 4096
E0 = 0x100  # flag in a code: the key sends an E0 prefix

# name (QEMU's sendkey/qcode names) → (set 1, set 2, set 3)
KEYS: dict[str, tuple[int, int, int]] = {
    "esc": (0x01, 0x76, 0x08),
    "1": (0x02, 0x16, 0x16), "2": (0x03, 0x1E, 0x1E), "3": (0x04, 0x26, 0x26),
    "4": (0x05, 0x25, 0x25), "5": (0x06, 0x2E, 0x2E), "6": (0x07, 0x36, 0x36),
    "7": (0x08, 0x3D, 0x3D), "8": (0x09, 0x3E, 0x3E), "9": (0x0A, 0x46, 0x46),
    "0": (0x0B, 0x45, 0x45), "minus": (0x0C, 0x4E, 0x4E), "equal": (0x0D, 0x55, 0x55),
    "backspace": (0x0E, 0x66, 0x66), "tab": (0x0F, 0x0D, 0x0D),
    "q": (0x10, 0x15, 0x15), "w": (0x11, 0x1D, 0x1D), "e": (0x12, 0x24, 0x24),
    "r": (0x13, 0x2D, 0x2D), "t": (0x14, 0x2C, 0x2C), "y": (0x15, 0x35, 0x35),
    "u": (0x16, 0x3C, 0x3C), "i": (0x17, 0x43, 0x43), "o": (0x18, 0x44, 0x44),
    "p": (0x19, 0x4D, 0x4D), "bracket_left": (0x1A, 0x54, 0x54),
    "bracket_right": (0x1B, 0x5B, 0x5B), "ret": (0x1C, 0x5A, 0x5A),
    "ctrl": (0x1D, 0x14, 0x11),
    "a": (0x1E, 0x1C, 0x1C), "s": (0x1F, 0x1B, 0x1B), "d": (0x20, 0x23, 0x23),
    "f": (0x21, 0x2B, 0x2B), "g": (0x22, 0x34, 0x34), "h": (0x23, 0x33, 0x33),
    "j": (0x24, 0x3B, 0x3B), "k": (0x25, 0x42, 0x42), "l": (0x26, 0x4B, 0x4B),
    "semicolon": (0x27, 0x4C, 0x4C), "apostrophe": (0x28, 0x52, 0x52),
    "grave_accent": (0x29, 0x0E, 0x0E), "shift": (0x2A, 0x12, 0x12),
    "backslash": (0x2B, 0x5D, 0x5C),
    "z": (0x2C, 0x1A, 0x1A), "x": (0x2D, 0x22, 0x22), "c": (0x2E, 0x21, 0x21),
    "v": (0x2F, 0x2A, 0x2A), "b": (0x30, 0x32, 0x32), "n": (0x31, 0x31, 0x31),
    "m": (0x32, 0x3A, 0x3A), "comma": (0x33, 0x41, 0x41), "dot": (0x34, 0x49, 0x49),
    "slash": (0x35, 0x4A, 0x4A), "shift_r": (0x36, 0x59, 0x59),
    "kp_multiply": (0x37, 0x7C, 0x7E), "alt": (0x38, 0x11, 0x19), "spc": (0x39, 0x29, 0x29),
    "caps_lock": (0x3A, 0x58, 0x14),
    "f1": (0x3B, 0x05, 0x07), "f2": (0x3C, 0x06, 0x0F), "f3": (0x3D, 0x04, 0x17),
    "f4": (0x3E, 0x0C, 0x1F), "f5": (0x3F, 0x03, 0x27), "f6": (0x40, 0x0B, 0x2F),
    "f7": (0x41, 0x83, 0x37), "f8": (0x42, 0x0A, 0x3F), "f9": (0x43, 0x01, 0x47),
    "f10": (0x44, 0x09, 0x4F), "num_lock": (0x45, 0x77, 0x76), "scroll_lock": (0x46, 0x7E, 0x5F),
    "kp_7": (0x47, 0x6C, 0x6C), "kp_8": (0x48, 0x75, 0x75), "kp_9": (0x49, 0x7D, 0x7D),
    "kp_subtract": (0x4A, 0x7B, 0x84),
    "kp_4": (0x4B, 0x6B, 0x6B), "kp_5": (0x4C, 0x73, 0x73), "kp_6": (0x4D, 0x74, 0x74),
    "kp_add": (0x4E, 0x79, 0x7C),
    "kp_1": (0x4F, 0x69, 0x69), "kp_2": (0x50, 0x72, 0x72), "kp_3": (0x51, 0x7A, 0x7A),
    "kp_0": (0x52, 0x70, 0x70), "kp_decimal": (0x53, 0x71, 0x71),
    "less": (0x56, 0x61, 0x13), "f11": (0x57, 0x78, 0x56), "f12": (0x58, 0x07, 0x5E),
    "kp_enter": (E0 | 0x1C, E0 | 0x5A, 0x79), "ctrl_r": (E0 | 0x1D, E0 | 0x14, 0x58),
    "kp_divide": (E0 | 0x35, E0 | 0x4A, 0x77), "alt_r": (E0 | 0x38, E0 | 0x11, 0x39),
    "home": (E0 | 0x47, E0 | 0x6C, 0x6E), "up": (E0 | 0x48, E0 | 0x75, 0x63),
    "pgup": (E0 | 0x49, E0 | 0x7D, 0x6F), "left": (E0 | 0x4B, E0 | 0x6B, 0x61),
    "right": (E0 | 0x4D, E0 | 0x74, 0x6A), "end": (E0 | 0x4F, E0 | 0x69, 0x65),
    "down": (E0 | 0x50, E0 | 0x72, 0x60), "pgdn": (E0 | 0x51, E0 | 0x7A, 0x6D),
    "insert": (E0 | 0x52, E0 | 0x70, 0x67), "delete": (E0 | 0x53, E0 | 0x71, 0x64),
    "meta_l": (E0 | 0x5B, E0 | 0x1F, 0x8B), "meta_r": (E0 | 0x5C, E0 | 0x27, 0x8C),
    "menu": (E0 | 0x5D, E0 | 0x2F, 0x8D),
}
# Other names QEMU's sendkey accepts for the same keys.
ALIASES = {"control": "ctrl", "control_r": "ctrl_r", "altgr": "alt_r", "alt_gr": "alt_r",
           "enter": "ret", "return": "ret", "space": "spc", "escape": "esc", "del": "delete",
           "ins": "insert", "pageup": "pgup", "pagedown": "pgdn", "page_up": "pgup",
           "page_down": "pgdn", "caps": "caps_lock", "capslock": "caps_lock", "numlock": "num_lock",
           "scrolllock": "scroll_lock", "win": "meta_l", "super": "meta_l", "asterisk": "kp_multiply",
           "compose": "menu", "period": "dot", "lshift": "shift", "rshift": "shift_r"}
# Keys with sequences of their own: (set 1 make, set 1 break, set 2 make, set 2 break, set 3).
SPECIAL = {
    "print": ((0xE0, 0x2A, 0xE0, 0x37), (0xE0, 0xB7, 0xE0, 0xAA),
              (0xE0, 0x12, 0xE0, 0x7C), (0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12), 0x57),
    # Pause sends its whole sequence on press and nothing on release.
    "pause": ((0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5), (),
              (0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77), (), 0x62),
}
ALIASES.update({"sysrq": "print", "prtsc": "print", "break": "pause"})

# The 8042's set 2 → set 1 translation for every key above (i8042.py uses it).
SET2_TO_SET1 = {s2 & 0xFF: s1 & 0xFF for s1, s2, _ in KEYS.values()}


def key_name(name: str) -> str:
    """The canonical key name for `name`, or KeyError naming the bad key."""
    n = name.strip().lower()
    n = ALIASES.get(n, n)
    if n in KEYS or n in SPECIAL:
        return n
    raise KeyError(name)


def all_key_names() -> list[str]:
    return sorted([*KEYS, *SPECIAL])


class Ps2Keyboard:
    def __init__(self, name: str = "ps2-keyboard"):
        self.name = name
        self.queue: deque[int] = deque()
        self.on_data = None  # called after bytes are queued (the controller pulls them)
        self.lock = threading.RLock()  # the controller shares its own lock (i8042.attach)
        self.counters = {"commands": 0, "bytes_sent": 0, "keys": 0, "resends": 0, "dropped": 0}
        self.pressed: set[str] = set()
        self.typeahead: deque[tuple[int, ...]] = deque()
        self._power_on()
        self.queue.clear()

    def _power_on(self):
        self.scanning = True
        self.scancode_set = 2
        self.leds = 0
        self.typematic = 0x2B  # 10.9 characters/s after 500 ms, the default
        self.pending_command: int | None = None  # a command waiting for its parameter
        self.last_sent = 0

    # -- bytes to the host ---------------------------------------------------
    def _send(self, *data: int):
        if len(self.queue) + len(data) > QUEUE_SIZE:
            self.counters["dropped"] += 1  # the host sends commands without reading the replies
            return
        self.queue.extend(data)
        if self.on_data:
            self.on_data()

    def _refill(self):
        """Move waiting key events into the 16-byte buffer while they fit whole."""
        while self.scanning and self.typeahead and len(self.queue) + len(self.typeahead[0]) <= QUEUE_SIZE:
            self.queue.extend(self.typeahead.popleft())

    def pull(self) -> int | None:
        """The next byte for the controller, or None."""
        if not self.queue:
            self._refill()
            if not self.queue:
                return None
        byte = self.queue.popleft()
        self.last_sent = byte
        self.counters["bytes_sent"] += 1
        return byte

    # -- the host's commands -------------------------------------------------
    def write(self, byte: int):
        """A byte from the host (the controller's data port or port-1 write)."""
        self.counters["commands"] += 1
        cmd = self.pending_command
        if cmd is not None:
            self.pending_command = None
            if self._parameter(cmd, byte):
                return
            # Not a valid parameter: a command byte takes its place (keyboards do this).
        self._command(byte)

    def _parameter(self, cmd: int, byte: int) -> bool:
        if cmd == 0xED:
            if byte & 0xF8:
                return False
            self.leds = byte
            self._send(ACK)
        elif cmd == 0xF3:
            if byte & 0x80:
                return False
            self.typematic = byte
            self._send(ACK)
        elif cmd == 0xF0:
            if byte == 0:
                self._send(ACK, self.scancode_set)
            elif byte in (1, 2, 3):
                self.scancode_set = byte
                self._send(ACK)
            else:
                return False
        return True

    def _command(self, byte: int):
        if byte in (0xED, 0xF3, 0xF0):
            self.pending_command = byte
            self._send(ACK)
        elif byte == 0xEE:
            self._send(ECHO)
        elif byte == 0xF2:
            self._send(ACK, *ID)
        elif byte == 0xF4:
            self.queue.clear()
            self.scanning = True
            self._send(ACK)
        elif byte in (0xF5, 0xF6):
            self.queue.clear()
            self.scancode_set, self.typematic = 2, 0x2B
            self.scanning = byte == 0xF6
            self._send(ACK)
        elif 0xF7 <= byte <= 0xFD:
            self._send(ACK)
        elif byte == 0xFE:
            self.counters["resends"] += 1
            self._send(self.last_sent)
        elif byte == 0xFF:
            self.queue.clear()
            self.typeahead.clear()
            self._power_on()
            self._send(ACK, SELF_TEST_OK)
        else:
            self._send(RESEND)

    # -- the user's keys -----------------------------------------------------
    def codes(self, name: str, down: bool) -> tuple[int, ...]:
        """The bytes key `name` sends when pressed (down) or released, in the current set."""
        name = key_name(name)
        if name in SPECIAL:
            s1_make, s1_break, s2_make, s2_break, s3 = SPECIAL[name]
            if self.scancode_set == 1:
                return s1_make if down else s1_break
            if self.scancode_set == 2:
                return s2_make if down else s2_break
            return (s3,) if down else (0xF0, s3)
        s1, s2, s3 = KEYS[name]
        if self.scancode_set == 1:
            code = s1 & 0xFF if down else (s1 & 0xFF) | 0x80
            return (0xE0, code) if s1 & E0 else (code,)
        if self.scancode_set == 2:
            body = (s2 & 0xFF,) if down else (0xF0, s2 & 0xFF)
            return (0xE0, *body) if s2 & E0 else body
        return (s3,) if down else (0xF0, s3)

    def key_event(self, name: str, down: bool):
        codes = self.codes(name, down)  # KeyError for an unknown key, even while not scanning
        canonical = key_name(name)
        (self.pressed.add if down else self.pressed.discard)(canonical)
        if not self.scanning or not codes:
            return
        if len(self.typeahead) >= TYPEAHEAD_MAX:
            self.counters["dropped"] += 1
            return
        self.counters["keys"] += 1
        self.typeahead.append(codes)
        self._refill()
        if self.on_data:
            self.on_data()

    # -- the user's side: what a console, the monitor or the control socket calls --
    def press(self, key: str):
        with self.lock:
            self.key_event(key, True)

    def release(self, key: str):
        with self.lock:
            self.key_event(key, False)

    def tap(self, key: str, modifiers=()):
        """Press the modifiers in order, press and release key, release the modifiers."""
        names = [key_name(m) for m in modifiers] + [key_name(key)]  # check all before sending any
        with self.lock:
            for name in names:
                self.key_event(name, True)
            for name in reversed(names):
                self.key_event(name, False)

    def type_text(self, text: str):
        """Type ASCII text: each character becomes a tap (with shift or ctrl when needed)."""
        taps = [char_to_tap(c) for c in text]  # ValueError before any key is sent
        with self.lock:
            events = sum(2 + 2 * len(mods) for _, mods in taps)
            room = TYPEAHEAD_MAX - len(self.typeahead)
            if events > room:
                raise ValueError(f"too much text at once: {len(text)} characters need {events} key events, "
                                 f"the type-ahead has room for {room}; send it in parts")
            for key, mods in taps:
                self.tap(key, mods)


# ASCII → (key, modifiers) on a US layout.
_SHIFTED = {"!": "1", "@": "2", "#": "3", "$": "4", "%": "5", "^": "6", "&": "7", "*": "8",
            "(": "9", ")": "0", "_": "minus", "+": "equal", "{": "bracket_left",
            "}": "bracket_right", "|": "backslash", ":": "semicolon", '"': "apostrophe",
            "~": "grave_accent", "<": "comma", ">": "dot", "?": "slash"}
_PLAIN = {"-": "minus", "=": "equal", "[": "bracket_left", "]": "bracket_right", "\\": "backslash",
          ";": "semicolon", "'": "apostrophe", "`": "grave_accent", ",": "comma", ".": "dot",
          "/": "slash", " ": "spc", "\n": "ret", "\r": "ret", "\t": "tab", "\b": "backspace",
          "\x7f": "backspace", "\x1b": "esc"}


def char_to_tap(c: str) -> tuple[str, tuple[str, ...]]:
    if c in _PLAIN:
        return _PLAIN[c], ()
    if c in _SHIFTED:
        return _SHIFTED[c], ("shift",)
    if c.isascii() and (c.isdigit() or c.islower()):
        return c, ()
    if c.isascii() and c.isupper():
        return c.lower(), ("shift",)
    if "\x01" <= c <= "\x1a":
        return chr(ord(c) + 0x60), ("ctrl",)
    raise ValueError(f"cannot type {c!r}: only printable ASCII, newline, tab, backspace, escape "
                     "and control characters have keys")
