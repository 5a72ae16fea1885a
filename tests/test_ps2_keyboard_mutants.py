"""The keyboard's scan codes, every key in every set, against a reference
written out here independently of the model's KEYS table: Microsoft's
"Keyboard Scan Code Specification" (rev 1.3a), whose set 1 is the XT
numbering (keys numbered along the rows from Esc = 01 to keypad . = 53), and
the IBM 101/102-key reference's sets 2 and 3. Plus the command replies'
literal values, the names QEMU's sendkey accepts, the US-layout text mapping
and the keyboard's counters and bounds."""

from __future__ import annotations

import pytest

from vmm.devices import ps2_keyboard as p

from .ps2 import out, send

# Set 1: the XT numbering, 01..53 along the rows (key names as QEMU's sendkey spells them).
SET1_RUN = """esc 1 2 3 4 5 6 7 8 9 0 minus equal backspace tab q w e r t y u i o p bracket_left
bracket_right ret ctrl a s d f g h j k l semicolon apostrophe grave_accent shift backslash z x c v b n m
comma dot slash shift_r kp_multiply alt spc caps_lock f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 num_lock
scroll_lock kp_7 kp_8 kp_9 kp_subtract kp_4 kp_5 kp_6 kp_add kp_1 kp_2 kp_3 kp_0 kp_decimal""".split()
SET1_OTHER = {"less": 0x56, "f11": 0x57, "f12": 0x58}
# E0-prefixed in sets 1 and 2 (set-1 code, set-2 code).
E0_KEYS = {"kp_enter": (0x1C, 0x5A), "ctrl_r": (0x1D, 0x14), "kp_divide": (0x35, 0x4A), "alt_r": (0x38, 0x11),
           "home": (0x47, 0x6C), "up": (0x48, 0x75), "pgup": (0x49, 0x7D), "left": (0x4B, 0x6B),
           "right": (0x4D, 0x74), "end": (0x4F, 0x69), "down": (0x50, 0x72), "pgdn": (0x51, 0x7A),
           "insert": (0x52, 0x70), "delete": (0x53, 0x71), "meta_l": (0x5B, 0x1F), "meta_r": (0x5C, 0x27),
           "menu": (0x5D, 0x2F)}
# Set 2 (no prefix) and set 3, key by key.
SET2_SET3 = """
esc 76 08   1 16 16   2 1E 1E   3 26 26   4 25 25   5 2E 2E   6 36 36   7 3D 3D   8 3E 3E   9 46 46
0 45 45   minus 4E 4E   equal 55 55   backspace 66 66   tab 0D 0D   q 15 15   w 1D 1D   e 24 24
r 2D 2D   t 2C 2C   y 35 35   u 3C 3C   i 43 43   o 44 44   p 4D 4D   bracket_left 54 54
bracket_right 5B 5B   ret 5A 5A   ctrl 14 11   a 1C 1C   s 1B 1B   d 23 23   f 2B 2B   g 34 34
h 33 33   j 3B 3B   k 42 42   l 4B 4B   semicolon 4C 4C   apostrophe 52 52   grave_accent 0E 0E
shift 12 12   backslash 5D 5C   z 1A 1A   x 22 22   c 21 21   v 2A 2A   b 32 32   n 31 31   m 3A 3A
comma 41 41   dot 49 49   slash 4A 4A   shift_r 59 59   kp_multiply 7C 7E   alt 11 19   spc 29 29
caps_lock 58 14   f1 05 07   f2 06 0F   f3 04 17   f4 0C 1F   f5 03 27   f6 0B 2F   f7 83 37
f8 0A 3F   f9 01 47   f10 09 4F   num_lock 77 76   scroll_lock 7E 5F   kp_7 6C 6C   kp_8 75 75
kp_9 7D 7D   kp_subtract 7B 84   kp_4 6B 6B   kp_5 73 73   kp_6 74 74   kp_add 79 7C   kp_1 69 69
kp_2 72 72   kp_3 7A 7A   kp_0 70 70   kp_decimal 71 71   less 61 13   f11 78 56   f12 07 5E
kp_enter - 79   ctrl_r - 58   kp_divide - 77   alt_r - 39   home - 6E   up - 63   pgup - 6F
left - 61   right - 6A   end - 65   down - 60   pgdn - 6D   insert - 67   delete - 64
meta_l - 8B   meta_r - 8C   menu - 8D
""".split()


def reference() -> dict[str, dict[int, tuple[tuple[int, ...], tuple[int, ...]]]]:
    """key -> {set: (make bytes, break bytes)} from the tables above."""
    s1 = {name: i + 1 for i, name in enumerate(SET1_RUN)} | SET1_OTHER
    ref = {}
    words = SET2_SET3
    for i in range(0, len(words), 3):
        name, s2, s3 = words[i], words[i + 1], int(words[i + 2], 16)
        sets = {3: ((s3,), (0xF0, s3))}
        if name in E0_KEYS:
            c1, c2 = E0_KEYS[name]
            sets[1] = ((0xE0, c1), (0xE0, c1 | 0x80))
            sets[2] = ((0xE0, c2), (0xE0, 0xF0, c2))
        else:
            c2 = int(s2, 16)
            sets[1] = ((s1[name],), (s1[name] | 0x80,))
            sets[2] = ((c2,), (0xF0, c2))
        ref[name] = sets
    ref["print"] = {1: ((0xE0, 0x2A, 0xE0, 0x37), (0xE0, 0xB7, 0xE0, 0xAA)),
                    2: ((0xE0, 0x12, 0xE0, 0x7C), (0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12)),
                    3: ((0x57,), (0xF0, 0x57))}
    ref["pause"] = {1: ((0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5), ()),
                    2: ((0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77), ()),
                    3: ((0x62,), (0xF0, 0x62))}
    return ref


REF = reference()


def test_reference_covers_every_key():
    assert len(SET1_RUN) == 0x53
    assert sorted(REF) == p.all_key_names()


@pytest.mark.parametrize("number", [1, 2, 3])
def test_every_key_make_and_break_in_each_set(number):
    """Each key's make and break bytes, as queued for the controller, in scan-code set 1, 2 and 3."""
    kbd = p.Ps2Keyboard()
    assert send(kbd, 0xF0, number) == [0xFA, 0xFA]
    for name, sets in REF.items():
        make, brk = sets[number]
        assert kbd.codes(name, True) == make, (number, name)
        assert kbd.codes(name, False) == brk, (number, name)
        kbd.press(name)
        kbd.release(name)
        assert out(kbd) == list(make + brk), (number, name)


def test_set2_to_set1_table_matches_the_reference():
    """The 8042's translation table (built from KEYS) maps each key's set-2 code to its set-1 code."""
    for name, sets in REF.items():
        if name in ("print", "pause"):
            continue
        assert p.SET2_TO_SET1[sets[2][0][-1]] == sets[1][0][-1], name


ALIASES = {"control": "ctrl", "control_r": "ctrl_r", "altgr": "alt_r", "alt_gr": "alt_r", "enter": "ret",
           "return": "ret", "space": "spc", "escape": "esc", "del": "delete", "ins": "insert",
           "pageup": "pgup", "pagedown": "pgdn", "page_up": "pgup", "page_down": "pgdn",
           "caps": "caps_lock", "capslock": "caps_lock", "numlock": "num_lock", "scrolllock": "scroll_lock",
           "win": "meta_l", "super": "meta_l", "asterisk": "kp_multiply", "compose": "menu", "period": "dot",
           "lshift": "shift", "rshift": "shift_r", "sysrq": "print", "prtsc": "print", "break": "pause"}


def test_the_other_names_qemu_accepts():
    for alias, name in ALIASES.items():
        assert p.key_name(alias) == name, alias
        assert p.key_name(f" {alias.upper()} ") == name
    with pytest.raises(KeyError):
        p.key_name("hyper")


# US layout: what each printable character is typed with.
US_SHIFTED = dict(zip('!@#$%^&*()_+{}|:"~<>?',
                      ("1 2 3 4 5 6 7 8 9 0 minus equal bracket_left bracket_right "
                       "backslash semicolon apostrophe grave_accent comma dot slash").split()))
US_PLAIN = dict(zip("-=[]\\;'`,./ ", "minus equal bracket_left bracket_right backslash semicolon apostrophe "
                                       "grave_accent comma dot slash spc".split()))
US_PLAIN |= {"\n": "ret", "\r": "ret", "\t": "tab", "\b": "backspace", "\x7f": "backspace", "\x1b": "esc"}


def test_char_to_tap_is_the_us_layout():
    assert len(US_SHIFTED) == 21 and len(US_PLAIN) == 12 + 6
    for c, key in US_SHIFTED.items():
        assert p.char_to_tap(c) == (key, ("shift",)), c
    for c, key in US_PLAIN.items():
        assert p.char_to_tap(c) == (key, ()), repr(c)
    for c in "abcxyz0189":
        assert p.char_to_tap(c) == (c, ())
    for c in "AZ":
        assert p.char_to_tap(c) == (c.lower(), ("shift",))
    assert p.char_to_tap("\x01") == ("a", ("ctrl",))
    assert p.char_to_tap("\x1a") == ("z", ("ctrl",))
    for bad in ("\x00", "\x1c", "é", "\u00c9", "²"):
        with pytest.raises(ValueError):
            p.char_to_tap(bad)


# -- commands: literal replies (IBM keyboard reference) --------------------------------

def test_command_replies_are_the_references():
    kbd = p.Ps2Keyboard()
    assert send(kbd, 0xFF) == [0xFA, 0xAA]
    assert send(kbd, 0xF2) == [0xFA, 0xAB, 0x83]
    assert send(kbd, 0xEE) == [0xEE]
    assert send(kbd, 0xF0, 0x00) == [0xFA, 0xFA, 0x02]
    assert send(kbd, 0xF0, 0x04) == [0xFA, 0xFE]       # bad parameter: taken as a command, FE
    assert send(kbd, 0xF3, 0x80) == [0xFA, 0xFE]
    assert send(kbd, 0xF3, 0x7F) == [0xFA, 0xFA]
    assert kbd.typematic == 0x7F
    assert send(kbd, 0xED, 0x08) == [0xFA, 0xFE]
    assert send(kbd, 0xED, 0x07) == [0xFA, 0xFA]
    assert kbd.leds == 7
    assert send(kbd, 0xF6) == [0xFA]
    assert kbd.typematic == 0x2B and kbd.leds == 7      # defaults: set and typematic, not the LEDs


def test_power_on_state():
    kbd = p.Ps2Keyboard()
    assert kbd.name == "ps2-keyboard" and p.Ps2Keyboard("kb").name == "kb"
    assert (kbd.scanning, kbd.scancode_set, kbd.leds, kbd.typematic, kbd.pending_command, kbd.last_sent) == \
        (True, 2, 0, 0x2B, None, 0)
    assert kbd.counters == {"commands": 0, "bytes_sent": 0, "keys": 0, "resends": 0, "dropped": 0}
    assert out(kbd) == [] and kbd.pressed == set()
    assert send(kbd, 0xFE) == [0x00]                    # nothing sent yet: resend repeats 00


def test_reset_restores_power_on_state_and_empties_the_type_ahead():
    kbd = p.Ps2Keyboard()
    send(kbd, 0xF0, 3, 0xF3, 0x05, 0xED, 0x02, 0xF5)
    kbd.on_data = None
    send(kbd, 0xF4)
    for _ in range(20):
        kbd.tap("a")                                    # more than the 16-byte buffer holds
    assert send(kbd, 0xFF)[:2] == [0xFA, 0xAA]
    assert (kbd.scanning, kbd.scancode_set, kbd.leds, kbd.typematic) == (True, 2, 0, 0x2B)
    assert out(kbd) == []
    send(kbd, 0xF0)
    assert send(kbd, 0x00) == [0xFA, 0x02]              # the pending parameter is honoured after reset


def test_counters_count():
    kbd = p.Ps2Keyboard()
    send(kbd, 0xEE, 0xED, 0x01, 0xFE)
    kbd.tap("a", ("shift",))
    got = out(kbd)
    assert got == [0x12, 0x1C, 0xF0, 0x1C, 0xF0, 0x12]
    c = kbd.counters
    assert c == {"commands": 4, "bytes_sent": 4 + 6, "keys": 4, "resends": 1, "dropped": 0}
    assert send(kbd, 0xFE) == [0x12] and send(kbd, 0xFE) == [0x12]   # resend the last byte sent, again
    assert kbd.counters["resends"] == 3 and kbd.counters["commands"] == 6


def test_replies_beyond_sixteen_bytes_are_dropped():
    """The keyboard's buffer holds 16 bytes: a reply that does not fit whole is dropped and counted."""
    kbd = p.Ps2Keyboard()
    for _ in range(5):
        kbd.write(0xF2)                                 # 3 bytes each: 15
    kbd.write(0xEE)                                     # 16
    kbd.write(0xEE)                                     # 17: dropped
    kbd.write(0xF2)                                     # dropped
    assert kbd.counters["dropped"] == 2
    assert out(kbd) == [0xFA, 0xAB, 0x83] * 5 + [0xEE]


def test_type_ahead_fills_the_buffer_with_whole_key_events():
    """Waiting key events enter the 16-byte buffer whole, as far as they fit."""
    kbd = p.Ps2Keyboard()
    for _ in range(6):
        kbd.tap("up")                                   # E0 75 / E0 F0 75: 2 + 3 bytes
    assert len(kbd.queue) == 15                        # 2+3+2+3+2+3: the next 2 do not fit
    assert len(kbd.typeahead) == 12 - 6
    got = out(kbd)
    assert got == [0xE0, 0x75, 0xE0, 0xF0, 0x75] * 6


def test_type_ahead_limit_drops_and_counts():
    kbd = p.Ps2Keyboard()
    for _ in range(p.TYPEAHEAD_MAX + 16 + 3):
        kbd.press("a")
    assert p.TYPEAHEAD_MAX == 4096
    assert kbd.counters["dropped"] == 3
    assert kbd.counters["keys"] == p.TYPEAHEAD_MAX + 16
    assert len(out(kbd)) == p.TYPEAHEAD_MAX + 16


def test_type_text_limit_is_exact():
    """type_text refuses text needing more key events than the type-ahead has room
    for (TYPEAHEAD_MAX = 4096), and accepts exactly as many."""
    kbd = p.Ps2Keyboard()
    with pytest.raises(ValueError, match="2049 characters need 4098 key events, the type-ahead has room for 4096"):
        kbd.type_text("a" * 2049)
    assert kbd.counters["keys"] == 0
    kbd.type_text("a" * 2048)
    assert kbd.counters["keys"] == 4096 and kbd.counters["dropped"] == 0


def test_pressed_keys_are_tracked_even_while_not_scanning():
    kbd = p.Ps2Keyboard()
    send(kbd, 0xF5)
    kbd.press("Control")
    assert kbd.pressed == {"ctrl"} and out(kbd) == []
    kbd.release("ctrl")
    assert kbd.pressed == set()
    with pytest.raises(KeyError):
        kbd.press("nosuchkey")


def test_refusals_say_why():
    """The errors a console user sees name the character, or the room left in the type-ahead."""
    with pytest.raises(ValueError) as e:
        p.char_to_tap("é")
    assert str(e.value) == ("cannot type 'é': only printable ASCII, newline, tab, backspace, escape "
                            "and control characters have keys")
    kbd = p.Ps2Keyboard()
    for _ in range(100):
        kbd.press("a")                                  # 16 in the buffer, 84 waiting
    assert len(kbd.typeahead) == 84
    with pytest.raises(ValueError) as e:
        kbd.type_text("a" * 2040)
    assert str(e.value) == ("too much text at once: 2040 characters need 4080 key events, "
                            "the type-ahead has room for 4012; send it in parts")


def test_scanning_commands_clear_the_output_buffer():
    """F4, F5 and F6 clear the keyboard's output buffer before acknowledging (IBM reference)."""
    for command in (0xF4, 0xF5, 0xF6):
        kbd = p.Ps2Keyboard()
        kbd.tap("a")
        assert send(kbd, command) == [0xFA], hex(command)


def test_type_ahead_waits_while_scanning_is_disabled():
    """Keys typed before F5 that did not fit the buffer wait on the host's side
    until scanning is enabled again (F4), and then arrive whole and in order."""
    kbd = p.Ps2Keyboard()
    for _ in range(8):
        kbd.tap("a")                                    # 16 bytes fit: 5 taps and the 6th make
    assert send(kbd, 0xF5) == [0xFA]                    # the buffer is cleared, the 6th make with it
    kbd.tap("b")                                        # not scanning: not sent at all
    assert out(kbd) == []
    assert send(kbd, 0xF4) == [0xFA, 0xF0, 0x1C] + [0x1C, 0xF0, 0x1C] * 2


def test_pause_release_sends_and_counts_nothing():
    kbd = p.Ps2Keyboard()
    kbd.press("pause")
    kbd.release("pause")
    assert out(kbd) == [0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77]
    assert kbd.counters["keys"] == 1


def test_type_text_counts_modifier_events():
    """Each character costs a press and a release, plus two per modifier."""
    kbd = p.Ps2Keyboard()
    with pytest.raises(ValueError, match="1025 characters need 4100 key events"):
        kbd.type_text("A" * 1025)
    kbd.type_text("A" * 1024)
    assert kbd.counters["keys"] == 4096
