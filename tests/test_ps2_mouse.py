"""PS/2 mouse commands and packets at device level (IBM pointing-device
reference, Microsoft IntelliMouse protocol)."""

from __future__ import annotations

import pytest

from vmm.devices import ps2_mouse as p

from .ps2 import out, send


@pytest.fixture
def mouse():
    return p.Ps2Mouse()


def test_reset(mouse):
    assert send(mouse, 0xFF) == [0xFA, 0xAA, 0x00]


def test_get_id_and_intellimouse_knock(mouse):
    assert send(mouse, 0xF2) == [0xFA, 0x00]
    assert send(mouse, 0xF3, 200, 0xF3, 100, 0xF3, 80) == [0xFA] * 6
    assert send(mouse, 0xF2) == [0xFA, 0x03]
    assert send(mouse, 0xFF) == [0xFA, 0xAA, 0x00]
    assert send(mouse, 0xF2) == [0xFA, 0x00]


def test_wrong_knock_keeps_id_0(mouse):
    send(mouse, 0xF3, 200, 0xF3, 200, 0xF3, 80)
    assert send(mouse, 0xF2) == [0xFA, 0x00]


def test_status_request_reports_settings(mouse):
    assert send(mouse, 0xE9) == [0xFA, 0x00, 2, 100]
    send(mouse, 0xE8, 3, 0xF3, 40, 0xE7, 0xF4)
    mouse.button("left", True)
    out(mouse)
    assert send(mouse, 0xE9) == [0xFA, 0x20 | 0x10 | 0x04, 3, 40]
    send(mouse, 0xF0, 0xE6)
    mouse.button("right", True)
    mouse.button("middle", True)
    assert send(mouse, 0xE9) == [0xFA, 0x40 | 0x20 | 0x07, 3, 40]


def test_bad_parameters_get_resend(mouse):
    assert send(mouse, 0xF3, 33) == [0xFA, 0xFE]
    assert send(mouse, 0xE8, 4) == [0xFA, 0xFE]
    assert mouse.sample_rate == 100 and mouse.resolution == 2


@pytest.mark.parametrize("byte", [0x00, 0xE0, 0xED, 0xF1])
def test_unknown_command_gets_resend(mouse, byte):
    assert send(mouse, byte) == [0xFE]


def test_defaults(mouse):
    send(mouse, 0xE8, 0, 0xF3, 10, 0xE7, 0xF0, 0xF4)
    assert send(mouse, 0xF6) == [0xFA]
    assert send(mouse, 0xE9) == [0xFA, 0x00, 2, 100]


def test_stream_packets_need_reporting_enabled(mouse):
    mouse.move(5, 0)
    assert out(mouse) == []
    assert send(mouse, 0xF4) == [0xFA]
    mouse.move(5, -3)  # right 5, up 3 (screen direction)
    assert out(mouse) == [0x08, 5, 3]
    mouse.move(-2, 4)  # left 2, down 4: both signs
    assert out(mouse) == [0x08 | 0x10 | 0x20, 0xFE, 0xFC]
    assert send(mouse, 0xF5) == [0xFA]
    mouse.move(1, 1)
    assert out(mouse) == []


def test_buttons_send_packets(mouse):
    send(mouse, 0xF4)
    mouse.button("left", True)
    mouse.button("right", True)
    mouse.button("left", False)
    assert out(mouse) == [0x09, 0, 0, 0x0B, 0, 0, 0x0A, 0, 0]
    with pytest.raises(KeyError):
        mouse.button("fourth", True)


def test_big_move_is_split_without_overflow(mouse):
    send(mouse, 0xF4)
    mouse.move(600, 0)
    assert out(mouse) == [0x08, 255, 0, 0x08, 255, 0, 0x08, 90, 0]


def test_intellimouse_4_byte_packets_with_wheel(mouse):
    send(mouse, 0xF3, 200, 0xF3, 100, 0xF3, 80, 0xF4)
    mouse.move(1, 0, 2)
    assert out(mouse) == [0x08, 1, 0, 2]
    mouse.button("wheel-up", True)
    assert out(mouse) == [0x08, 0, 0, 0xFF]


def test_remote_mode_accumulates_and_overflows(mouse):
    assert send(mouse, 0xF0) == [0xFA]
    mouse.move(200, 0)
    mouse.move(100, -10)
    assert out(mouse) == []
    assert send(mouse, 0xEB) == [0xFA, 0x08 | 0x40, 0xFF, 10]  # X overflowed, clamped to 255
    assert send(mouse, 0xEB) == [0xFA, 0x08, 0, 0]  # counters cleared by the read
    mouse.move(0, 300)  # 300 down: -300 in PS/2 direction
    assert send(mouse, 0xEB) == [0xFA, 0x08 | 0x20 | 0x80, 0x00, 0x00]  # clamped to -256


def test_scaling_2_1_in_stream_mode(mouse):
    send(mouse, 0xE7, 0xF4)
    out(mouse)
    for d, scaled in ((1, 1), (2, 1), (3, 3), (4, 6), (5, 9), (10, 20)):
        mouse.move(d, 0)
        assert out(mouse) == [0x08, scaled, 0]


def test_wrap_mode_echoes(mouse):
    assert send(mouse, 0xEE) == [0xFA]
    assert send(mouse, 0x12, 0xF2) == [0x12, 0xF2]
    assert send(mouse, 0xEC) == [0xFA]
    assert send(mouse, 0xF2) == [0xFA, 0x00]


def test_resend(mouse):
    send(mouse, 0xF2)
    assert send(mouse, 0xFE) == [0x00]
