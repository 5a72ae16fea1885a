"""PS/2 mouse behaviours checked with the IBM pointing-device reference's own
numbers (the valid sample rates, the button bits of a packet and of the
status byte) and the model's documented bounds and counters."""

from __future__ import annotations

import pytest

from vmm.devices import ps2_mouse as p

from .ps2 import out, send


@pytest.fixture
def mouse():
    return p.Ps2Mouse()


@pytest.mark.parametrize("rate", [10, 20, 40, 60, 80, 100, 200])
def test_every_valid_sample_rate_is_accepted(mouse, rate):
    """F3 takes 10, 20, 40, 60, 80, 100 or 200 samples/s and reports it in E9's third byte."""
    assert send(mouse, 0xF3, rate) == [0xFA, 0xFA]
    assert send(mouse, 0xE9)[3] == rate


@pytest.mark.parametrize("rate", [0, 9, 11, 21, 39, 41, 59, 61, 79, 81, 99, 101, 199, 201, 255])
def test_other_sample_rates_are_refused(mouse, rate):
    assert send(mouse, 0xF3, rate) == [0xFA, 0xFE]
    assert mouse.sample_rate == 100


@pytest.mark.parametrize("name, bit", [("left", 0x01), ("right", 0x02), ("middle", 0x04)])
def test_each_button_sets_its_own_packet_bit(mouse, name, bit):
    """Packet byte 0: bit 0 left, bit 1 right, bit 2 middle, bit 3 always 1."""
    send(mouse, 0xF4)
    mouse.button(name, True)
    assert out(mouse) == [0x08 | bit, 0, 0]
    mouse.button(name, False)
    assert out(mouse) == [0x08, 0, 0]


def test_queue_bound_is_1024_bytes(mouse):
    """At most QUEUE_MAX = 1024 unread bytes wait; a reply or packet that does not fit whole is dropped and counted."""
    assert p.QUEUE_MAX == 1024
    send(mouse, 0xF4)
    mouse.write(0xE6)                           # 1 byte (ACK) waiting
    for _ in range(341):
        mouse.move(1, 0)                        # 3 bytes each: 1024 in all
    assert len(mouse.queue) == 1024 and mouse.counters["dropped"] == 0
    mouse.write(0xE6)                           # one more byte does not fit
    assert mouse.counters["dropped"] == 1
    assert len(out(mouse)) == 1024


def test_power_on_state(mouse):
    assert mouse.name == "ps2-mouse" and p.Ps2Mouse("m").name == "m"
    assert mouse.counters == {"commands": 0, "bytes_sent": 0, "packets": 0, "dropped": 0, "overflows": 0}
    assert send(mouse, 0xE9) == [0xFA, 0x00, 0x02, 100]


def test_read_data_at_power_on_and_after_defaults_reports_no_movement(mouse):
    """EB (read data) works in any mode: with nothing moved since power-on, F6 or FF it reports 08 00 00."""
    assert send(mouse, 0xEB) == [0xFA, 0x08, 0x00, 0x00]
    send(mouse, 0xF0)
    mouse.move(5, 5)
    assert send(mouse, 0xF6) == [0xFA]                # defaults: stream mode, movement forgotten
    assert send(mouse, 0xEB) == [0xFA, 0x08, 0x00, 0x00]
    send(mouse, 0xF0)
    mouse.move(5, 5)
    assert send(mouse, 0xFF) == [0xFA, 0xAA, 0x00]
    assert send(mouse, 0xEB) == [0xFA, 0x08, 0x00, 0x00]


@pytest.mark.parametrize("total, overflow, value", [
    (255, False, 0xFF), (256, True, 0xFF), (-256, False, 0x00), (-257, True, 0x00), (-255, False, 0x01)])
def test_overflow_edges_of_the_9_bit_range(mouse, total, overflow, value):
    """A 9-bit two's complement count holds -256..255: beyond it the axis's
    overflow bit (X bit 6, Y bit 7) is set and the value clamped; each overflow is counted."""
    send(mouse, 0xF0)
    mouse.move(total, -total)                          # the same PS/2 count on X and Y (screen y is flipped)
    packet = send(mouse, 0xEB)[1:]
    sign = 0x30 if total < 0 else 0
    assert packet == [0x08 | sign | (0xC0 if overflow else 0), value, value]
    assert mouse.counters["overflows"] == (2 if overflow else 0)
    mouse.move(total, 0)
    send(mouse, 0xEB)
    assert mouse.counters["overflows"] == (3 if overflow else 0)


def test_wheel_count_is_clamped_to_4_bits_in_remote_mode(mouse):
    """IntelliMouse byte 3 holds Z in -8..7: accumulated wheel movement beyond it is clamped."""
    send(mouse, 0xF3, 200, 0xF3, 100, 0xF3, 80, 0xF0)
    mouse.move(0, 0, -20)
    assert send(mouse, 0xEB) == [0xFA, 0x08, 0, 0, 0xF8]
    mouse.move(0, 0, 20)
    assert send(mouse, 0xEB) == [0xFA, 0x08, 0, 0, 0x07]
    mouse.move(0, 0, -8)
    assert send(mouse, 0xEB) == [0xFA, 0x08, 0, 0, 0xF8]


def test_reset_is_obeyed_in_wrap_mode(mouse):
    """In wrap mode every byte is echoed except EC (leave wrap mode) and FF (reset)."""
    send(mouse, 0xEE)
    assert send(mouse, 0xFF) == [0xFA, 0xAA, 0x00]
    assert send(mouse, 0x12) == [0xFE]                # no longer wrapping: an unknown command


def test_remote_mode_accumulates_both_axes_and_get_id_clears_them(mouse):
    """In remote mode movement adds up between reads, on Y as on X; F2 (and
    EA/F0/F4/F5) clears the counters, as the model's command table says."""
    send(mouse, 0xF0)
    mouse.move(3, -4)
    mouse.move(2, -6)                                # up 10 in all
    assert send(mouse, 0xEB) == [0xFA, 0x08, 5, 10]
    mouse.move(7, 7)
    assert send(mouse, 0xF2) == [0xFA, 0x00]
    assert send(mouse, 0xEB) == [0xFA, 0x08, 0, 0]


def test_big_wheel_move_is_split_into_4_bit_steps(mouse):
    """In stream mode a wheel movement beyond -8..7 goes out over several packets, each within it."""
    send(mouse, 0xF3, 200, 0xF3, 100, 0xF3, 80, 0xF4)
    out(mouse)
    mouse.move(0, 0, -20)
    assert out(mouse) == [0x08, 0, 0, 0xF8, 0x08, 0, 0, 0xF8, 0x08, 0, 0, 0xFC]
    mouse.move(0, 0, 20)
    assert out(mouse) == [0x08, 0, 0, 0x07, 0x08, 0, 0, 0x07, 0x08, 0, 0, 0x06]


def test_wheel_down_is_one_step_towards_the_user(mouse):
    send(mouse, 0xF3, 200, 0xF3, 100, 0xF3, 80, 0xF4)
    out(mouse)
    mouse.button("wheel-down", True)
    mouse.button("wheel-down", False)                # a release scrolls nothing
    assert out(mouse) == [0x08, 0, 0, 0x01]


def test_scaling_2_1_keeps_the_direction(mouse):
    """2:1 scaling maps |d| through 0,1,1,3,6,9 (then 2d) and keeps the sign: left and down scale too."""
    send(mouse, 0xE7, 0xF4)
    out(mouse)
    mouse.move(-4, 5)                                   # left 4, down 5: PS/2 -4 and -5
    assert out(mouse) == [0x08 | 0x10 | 0x20, (-6) & 0xFF, (-9) & 0xFF]
    mouse.move(-10, 0)
    assert out(mouse) == [0x08 | 0x10, (-20) & 0xFF, 0]


def test_resend_at_power_on_repeats_zero(mouse):
    """FE repeats the last byte sent; before any, the model sends 00."""
    assert send(mouse, 0xFE) == [0x00]


def test_status_byte_bits_one_at_a_time(mouse):
    """E9's first byte: bit 6 remote mode, 5 reporting, 4 2:1 scaling, 2 left, 1 middle, 0 right."""
    send(mouse, 0xF0)
    assert send(mouse, 0xE9)[1] == 0x40
    send(mouse, 0xEA, 0xF4)
    assert send(mouse, 0xE9)[1] == 0x20
    send(mouse, 0xF5, 0xE7)
    assert send(mouse, 0xE9)[1] == 0x10
    send(mouse, 0xE6)
    for name, bit in (("left", 0x04), ("middle", 0x02), ("right", 0x01)):
        mouse.button(name, True)
        assert send(mouse, 0xE9)[1] == bit, name
        mouse.button(name, False)


def test_knock_is_the_last_three_rates(mouse):
    """The IntelliMouse knock is 200, 100, 80 as the last three rates set, whatever came before."""
    send(mouse, 0xF3, 10, 0xF3, 200, 0xF3, 100, 0xF3, 80)
    assert send(mouse, 0xF2) == [0xFA, 0x03]


def test_counters_count_every_event():
    mouse = p.Ps2Mouse()
    send(mouse, 0xF4)
    mouse.move(1, 0)
    mouse.move(0, 1)
    mouse.button("left", True)
    assert len(out(mouse)) == 9
    c = mouse.counters
    assert (c["commands"], c["bytes_sent"], c["packets"]) == (1, 1 + 9, 3)
    for _ in range(343):
        mouse.move(1, 0)                                 # 341 packets fit (1023 bytes), two do not
    assert mouse.counters["dropped"] == 2


def test_reporting_commands_clear_the_remote_counters(mouse):
    """F4/F5 (like F2, EA and F0) clear the movement counters."""
    for command in (0xF4, 0xF5):
        send(mouse, 0xF0)
        mouse.move(3, 3)
        send(mouse, command)
        assert send(mouse, 0xEB) == [0xFA, 0x08, 0, 0], hex(command)


def test_wheel_accumulates_in_remote_mode_and_defaults_to_no_wheel(mouse):
    send(mouse, 0xF3, 200, 0xF3, 100, 0xF3, 80, 0xF0)
    mouse.move(0, 0, 2)
    mouse.move(0, 0, 3)
    mouse.move(1, 0)                                     # no wheel movement given: Z stays
    assert send(mouse, 0xEB) == [0xFA, 0x08, 1, 0, 5]
    send(mouse, 0xEA, 0xF4)
    mouse.move(1, 0)
    assert out(mouse) == [0x08, 1, 0, 0]


@pytest.mark.parametrize("dx, dy, packets", [
    (-600, 0, [(0x18, 0x01, 0), (0x18, 0x01, 0), (0x18, 0xA6, 0)]),     # -255, -255, -90
    (0, -600, [(0x08, 0, 0xFF), (0x08, 0, 0xFF), (0x08, 0, 0x5A)]),      # up: +255, +255, +90
    (0, 600, [(0x28, 0, 0x01), (0x28, 0, 0x01), (0x28, 0, 0xA6)]),       # down: -255, -255, -90
])
def test_big_moves_split_within_plus_minus_255(mouse, dx, dy, packets):
    """A stream-mode move is split into packets of at most 255 either way, never overflowing."""
    send(mouse, 0xF4)
    out(mouse)
    mouse.move(dx, dy)
    assert out(mouse) == [b for pk in packets for b in pk]
    assert mouse.counters["overflows"] == 0


def test_button_packets_only_for_changes_in_stream_mode_with_reporting(mouse):
    """A packet goes out when a button's state changes, in stream mode with reporting on;
    otherwise the state is only kept (and shown by EB and E9)."""
    mouse.button("left", True)                          # reporting off: nothing
    assert out(mouse) == []
    send(mouse, 0xF4)
    mouse.button("left", True)                          # no change: nothing
    mouse.button("right", False)
    assert out(mouse) == []
    send(mouse, 0xF0)                                   # remote: nothing, but EB shows it
    mouse.button("right", True)
    assert out(mouse) == []
    assert send(mouse, 0xEB) == [0xFA, 0x08 | 0x03, 0, 0]


def test_wheel_without_the_knock_sends_a_3_byte_packet_once(mouse):
    send(mouse, 0xF4)
    mouse.button("wheel-up", True)
    assert out(mouse) == [0x08, 0, 0]
    mouse.move(0, 0, 30)
    assert out(mouse) == [0x08, 0, 0]


def test_button_packet_of_an_intellimouse_has_no_wheel_movement(mouse):
    send(mouse, 0xF3, 200, 0xF3, 100, 0xF3, 80, 0xF4)
    out(mouse)
    mouse.button("middle", True)
    assert out(mouse) == [0x08 | 0x04, 0, 0, 0]
