"""PS/2 keyboard commands and scan codes at device level (IBM keyboard reference,
Microsoft scan-code specification)."""

from __future__ import annotations

import pytest

from vmm.devices import ps2_keyboard as p

from .ps2 import out, send


@pytest.fixture
def kbd():
    return p.Ps2Keyboard()


def test_reset(kbd):
    kbd.scancode_set = 3
    kbd.leds = 7
    assert send(kbd, 0xFF) == [0xFA, 0xAA]
    assert kbd.scancode_set == 2 and kbd.leds == 0 and kbd.scanning


def test_identify_and_echo(kbd):
    assert send(kbd, 0xF2) == [0xFA, 0xAB, 0x83]
    assert send(kbd, 0xEE) == [0xEE]


def test_leds(kbd):
    assert send(kbd, 0xED) == [0xFA]
    assert send(kbd, 0x04) == [0xFA]
    assert kbd.leds == 4


def test_bad_led_parameter_is_taken_as_a_command(kbd):
    assert send(kbd, 0xED, 0xEE) == [0xFA, 0xEE]


def test_typematic(kbd):
    assert send(kbd, 0xF3, 0x20) == [0xFA, 0xFA]
    assert kbd.typematic == 0x20


def test_scancode_set_select_and_report(kbd):
    assert send(kbd, 0xF0, 0x00) == [0xFA, 0xFA, 0x02]
    assert send(kbd, 0xF0, 0x03) == [0xFA, 0xFA]
    assert send(kbd, 0xF0, 0x00) == [0xFA, 0xFA, 0x03]
    assert send(kbd, 0xF0, 0x01) == [0xFA, 0xFA]
    assert kbd.scancode_set == 1


def test_enable_disable_scanning(kbd):
    assert send(kbd, 0xF5) == [0xFA]
    kbd.tap("a")
    assert out(kbd) == []
    assert send(kbd, 0xF4) == [0xFA]
    kbd.tap("a")
    assert out(kbd) == [0x1C, 0xF0, 0x1C]


def test_defaults_keeps_scanning(kbd):
    send(kbd, 0xF0, 0x01)
    assert send(kbd, 0xF6) == [0xFA]
    assert kbd.scancode_set == 2 and kbd.scanning


def test_set3_key_attribute_commands_acked(kbd):
    for c in range(0xF7, 0xFE):
        assert send(kbd, c) == [0xFA]


def test_resend(kbd):
    send(kbd, 0xEE)
    assert send(kbd, 0xFE) == [0xEE]


@pytest.mark.parametrize("byte", [0x00, 0x05, 0x55, 0xE0, 0xEC])
def test_unknown_command_gets_resend(kbd, byte):
    assert send(kbd, byte) == [0xFE]


@pytest.mark.parametrize("key,set1,set2,set3", [
    ("a", [0x1E, 0x9E], [0x1C, 0xF0, 0x1C], [0x1C, 0xF0, 0x1C]),
    ("esc", [0x01, 0x81], [0x76, 0xF0, 0x76], [0x08, 0xF0, 0x08]),
    ("f7", [0x41, 0xC1], [0x83, 0xF0, 0x83], [0x37, 0xF0, 0x37]),
    ("ctrl_r", [0xE0, 0x1D, 0xE0, 0x9D], [0xE0, 0x14, 0xE0, 0xF0, 0x14], [0x58, 0xF0, 0x58]),
    ("delete", [0xE0, 0x53, 0xE0, 0xD3], [0xE0, 0x71, 0xE0, 0xF0, 0x71], [0x64, 0xF0, 0x64]),
    ("print", [0xE0, 0x2A, 0xE0, 0x37, 0xE0, 0xB7, 0xE0, 0xAA],
     [0xE0, 0x12, 0xE0, 0x7C, 0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12], [0x57, 0xF0, 0x57]),
    ("pause", [0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5], [0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77],
     [0x62, 0xF0, 0x62]),
])
def test_make_and_break_codes_in_each_set(kbd, key, set1, set2, set3):
    for number, expected in ((1, set1), (2, set2), (3, set3)):
        send(kbd, 0xF0, number)
        kbd.tap(key)
        assert out(kbd) == expected, f"set {number}"


def test_key_table_codes_are_unique_per_set():
    for i in range(3):
        codes = [v[i] for v in p.KEYS.values()]
        assert len(codes) == len(set(codes)), f"set {i + 1}"


def test_set2_to_set1_is_consistent():
    for name, (s1, s2, _) in p.KEYS.items():
        assert p.SET2_TO_SET1[s2 & 0xFF] == s1 & 0xFF, name
        assert bool(s1 & p.E0) == bool(s2 & p.E0), name


def test_tap_with_modifiers_orders_presses(kbd):
    kbd.tap("a", modifiers=("ctrl", "shift"))
    assert out(kbd) == [0x14, 0x12, 0x1C, 0xF0, 0x1C, 0xF0, 0x12, 0xF0, 0x14]


def test_aliases_and_unknown_keys(kbd):
    kbd.tap("Enter")
    assert out(kbd) == [0x5A, 0xF0, 0x5A]
    with pytest.raises(KeyError):
        kbd.tap("nosuchkey")
    with pytest.raises(KeyError):
        kbd.tap("a", modifiers=("hyper",))
    assert out(kbd) == []  # nothing half-sent


def test_type_text_maps_ascii(kbd):
    kbd.type_text("aB!\n")
    assert out(kbd) == [0x1C, 0xF0, 0x1C,
                        0x12, 0x32, 0xF0, 0x32, 0xF0, 0x12,
                        0x12, 0x16, 0xF0, 0x16, 0xF0, 0x12,
                        0x5A, 0xF0, 0x5A]


def test_type_text_control_characters_use_ctrl(kbd):
    kbd.type_text("\x03")
    assert out(kbd) == [0x14, 0x21, 0xF0, 0x21, 0xF0, 0x14]


def test_type_text_rejects_non_ascii(kbd):
    with pytest.raises(ValueError, match="cannot type"):
        kbd.type_text("aé")
    assert out(kbd) == []


def test_long_text_waits_and_is_never_cut(kbd):
    text = "the quick brown fox jumps over the lazy dog " * 4
    kbd.type_text(text)
    assert len(kbd.queue) <= p.QUEUE_SIZE
    got = out(kbd)
    makes = [b for i, b in enumerate(got) if b != 0xF0 and (i == 0 or got[i - 1] != 0xF0)]
    assert len(makes) == len(text)


def test_every_key_has_codes_in_every_set(kbd):
    for number in (1, 2, 3):
        send(kbd, 0xF0, number)
        for name in p.all_key_names():
            assert kbd.codes(name, True), (number, name)


def test_type_text_refuses_more_than_the_type_ahead_holds(kbd):
    with pytest.raises(ValueError, match="too much text at once"):
        kbd.type_text("A" * p.TYPEAHEAD_MAX)
    assert out(kbd) == []
