"""8042 controller semantics at device level: commands, status bits, the shared
output buffer, IRQ 1 / IRQ 12 and translation (IBM PC/AT and PS/2 references)."""

from __future__ import annotations

import pytest

from vmm.devices import i8042 as k
from vmm.irq import IrqLine


class Edges:
    """Records rising edges of an IrqLine, as the edge-triggered 8259A sees them."""

    def __init__(self, line):
        self.count = 0
        line.connect(self._on)

    def _on(self, number, level):
        if level:
            self.count += 1


@pytest.fixture
def kbc():
    resets = []
    dev = k.I8042(irq_kbd=IrqLine(1), irq_aux=IrqLine(12), on_reset=lambda: resets.append(1))
    dev.resets_seen = resets
    dev.edges1 = Edges(dev.irq_kbd)
    dev.edges12 = Edges(dev.irq_aux)
    return dev


def cmd(dev, c, *data):
    dev.command_port.write(0, 1, c)
    for d in data:
        dev.data_port.write(0, 1, d)


def status(dev):
    return dev.command_port.read(0, 1)


def data(dev):
    return dev.data_port.read(0, 1)


def drain(dev):
    out = []
    while status(dev) & k.ST_OBF:
        out.append(data(dev))
    return out


def test_power_on_state(kbc):
    assert status(kbc) == k.ST_INH | k.ST_SYS  # empty buffer, system flag from config
    cmd(kbc, 0x20)
    assert status(kbc) & k.ST_OBF and not status(kbc) & k.ST_AUXB
    assert data(kbc) == k.CONFIG_AT_BOOT == 0x45
    assert not status(kbc) & k.ST_OBF


def test_a2_bit_tracks_last_write(kbc):
    kbc.command_port.write(0, 1, 0xAE)
    assert status(kbc) & k.ST_A2
    kbc.data_port.write(0, 1, 0xEE)  # echo to the keyboard
    assert not status(kbc) & k.ST_A2


def test_self_tests(kbc):
    cmd(kbc, 0x60, 0x00)
    assert not status(kbc) & k.ST_SYS
    cmd(kbc, 0xAA)
    assert drain(kbc) == [0x55]
    assert status(kbc) & k.ST_SYS  # a passed self test sets the system flag
    cmd(kbc, 0xAB)
    assert drain(kbc) == [0x00]
    cmd(kbc, 0xA9)
    assert drain(kbc) == [0x00]


def test_config_byte_write_read_and_sys_flag(kbc):
    cmd(kbc, 0x60, 0x00)
    assert not status(kbc) & k.ST_SYS
    cmd(kbc, 0x20)
    assert drain(kbc) == [0x00]
    cmd(kbc, 0x60, 0xFF)  # bit 7 reads back 0
    cmd(kbc, 0x20)
    assert drain(kbc) == [0x7F]
    assert status(kbc) & k.ST_SYS


def test_controller_ram_bytes(kbc):
    cmd(kbc, 0x65, 0xA5)
    cmd(kbc, 0x25)
    assert drain(kbc) == [0xA5]


def test_port_enable_disable_bits(kbc):
    def config():
        cmd(kbc, 0x20)
        return data(kbc)
    cmd(kbc, 0xAD)
    assert config() & k.CFG_KBD_OFF
    cmd(kbc, 0xAE)
    assert not config() & k.CFG_KBD_OFF
    cmd(kbc, 0xA7)
    assert config() & k.CFG_AUX_OFF
    cmd(kbc, 0xA8)
    assert not config() & k.CFG_AUX_OFF


def test_disabled_keyboard_port_holds_bytes_in_the_device(kbc):
    cmd(kbc, 0xAD)
    kbc.keyboard.tap("a")
    assert not status(kbc) & k.ST_OBF
    cmd(kbc, 0xAE)
    assert drain(kbc) == [0x1E, 0x9E]


def test_output_port_read_write_and_a20(kbc):
    cmd(kbc, 0xD0)
    assert drain(kbc) == [k.OUTPORT_AT_BOOT]
    cmd(kbc, 0xDD)
    cmd(kbc, 0xD0)
    assert drain(kbc) == [k.OUTPORT_AT_BOOT & ~k.OUT_A20]
    cmd(kbc, 0xD1, 0xC3)
    cmd(kbc, 0xD0)
    assert drain(kbc) == [0xC3]
    assert not kbc.resets_seen


def test_output_port_shows_buffer_full_bits(kbc):
    cmd(kbc, 0xD2, 0x11)  # a keyboard byte is in the buffer when D0's reply is queued
    cmd(kbc, 0xD0)
    assert data(kbc) == 0x11
    assert data(kbc) & k.OUT_KBD_OBF


def test_input_port_and_test_inputs(kbc):
    cmd(kbc, 0xC0)
    assert drain(kbc) == [0x80]
    cmd(kbc, 0xE0)
    assert drain(kbc) == [0x00]


def test_loopback_d2_is_keyboard_data_on_irq1(kbc):
    cmd(kbc, 0x60, k.CFG_KBD_INT | k.CFG_AUX_INT)
    cmd(kbc, 0xD2, 0xF0)  # not translated, not swallowed
    assert status(kbc) & k.ST_OBF and not status(kbc) & k.ST_AUXB
    assert kbc.irq_kbd.level and not kbc.irq_aux.level
    assert data(kbc) == 0xF0
    assert not kbc.irq_kbd.level


def test_loopback_d3_is_mouse_data_on_irq12(kbc):
    cmd(kbc, 0x60, k.CFG_KBD_INT | k.CFG_AUX_INT)
    cmd(kbc, 0xD3, 0x5A)
    assert status(kbc) & k.ST_OBF and status(kbc) & k.ST_AUXB
    assert kbc.irq_aux.level and not kbc.irq_kbd.level
    assert data(kbc) == 0x5A
    assert not kbc.irq_aux.level and not status(kbc) & k.ST_AUXB


def test_irq_enables_gate_the_lines(kbc):
    cmd(kbc, 0x60, 0x00)
    cmd(kbc, 0xD2, 1)
    assert status(kbc) & k.ST_OBF and not kbc.irq_kbd.level
    data(kbc)
    cmd(kbc, 0xD3, 2)
    assert status(kbc) & k.ST_AUXB and not kbc.irq_aux.level


def test_each_byte_is_a_new_edge(kbc):
    kbc.keyboard.tap("a")  # two bytes
    assert kbc.edges1.count == 1
    assert data(kbc) == 0x1E
    assert kbc.edges1.count == 2  # line dropped on read and rose for the next byte
    assert data(kbc) == 0x9E
    assert kbc.edges1.count == 2 and not kbc.irq_kbd.level


def test_keyboard_has_priority_over_mouse(kbc):
    cmd(kbc, 0x60, k.CFG_XLAT | k.CFG_KBD_INT | k.CFG_AUX_INT)
    cmd(kbc, 0xD4, 0xF4)  # enable mouse reporting → FA from the mouse
    assert (status(kbc) & k.ST_AUXB) and data(kbc) == 0xFA
    kbc.mouse.move(1, 0)          # a mouse packet waits ...
    kbc.keyboard.tap("b")         # ... and key bytes arrive while the mouse's first byte is in the buffer
    first = data(kbc)             # the mouse byte already loaded
    assert first == 0x08
    order = []
    while status(kbc) & k.ST_OBF:
        order.append(("aux" if status(kbc) & k.ST_AUXB else "kbd", data(kbc)))
    assert order[:2] == [("kbd", 0x30), ("kbd", 0xB0)]
    assert order[2:] == [("aux", 1), ("aux", 0)]


def test_translation_turns_set2_into_set1(kbc):
    kbc.keyboard.tap("up")  # set 2: E0 75 / E0 F0 75
    assert drain(kbc) == [0xE0, 0x48, 0xE0, 0xC8]


def test_no_translation_passes_set2(kbc):
    cmd(kbc, 0x60, k.CFG_KBD_INT)
    kbc.keyboard.tap("up")
    assert drain(kbc) == [0xE0, 0x75, 0xE0, 0xF0, 0x75]


def test_identify_translated_and_raw(kbc):
    kbc.data_port.write(0, 1, 0xF2)
    assert drain(kbc) == [0xFA, 0xAB, 0x41]
    cmd(kbc, 0x60, k.CFG_KBD_INT)
    kbc.data_port.write(0, 1, 0xF2)
    assert drain(kbc) == [0xFA, 0xAB, 0x83]


def test_writing_to_keyboard_enables_its_clock(kbc):
    cmd(kbc, 0xAD)
    kbc.data_port.write(0, 1, 0xEE)
    assert drain(kbc) == [0xEE]
    cmd(kbc, 0x20)
    assert not data(kbc) & k.CFG_KBD_OFF


def test_d4_sends_to_the_mouse(kbc):
    cmd(kbc, 0xD4, 0xF2)
    assert drain(kbc) == [0xFA, 0x00]
    assert kbc.mouse.counters["commands"] == 1 and kbc.keyboard.counters["commands"] == 0


def test_disabled_mouse_port_holds_bytes(kbc):
    cmd(kbc, 0xA7)
    cmd(kbc, 0xD4, 0xF2)
    assert not status(kbc) & k.ST_OBF
    cmd(kbc, 0xA8)
    assert drain(kbc) == [0xFA, 0x00]


def test_fe_pulses_cpu_reset(kbc):
    cmd(kbc, 0xFE)
    assert kbc.resets_seen == [1] and kbc.resets == 1
    cmd(kbc, 0xFF)  # pulses nothing
    cmd(kbc, 0xFD)  # pulses bit 1 (A20) only
    assert kbc.resets == 1
    cmd(kbc, 0xF0)  # bits 0-3 low: reset among them
    assert kbc.resets == 2


def test_output_port_bit0_low_resets(kbc):
    cmd(kbc, 0xD1, 0xC2)
    assert kbc.resets_seen == [1]


def test_unknown_command_is_ignored_and_counted(kbc):
    cmd(kbc, 0xC8)
    assert not status(kbc) & k.ST_OBF and kbc.unknown_commands == 1


def test_empty_read_returns_last_byte(kbc):
    cmd(kbc, 0xAA)
    assert data(kbc) == 0x55
    assert data(kbc) == 0x55 and kbc.bytes_to_guest == 1


def test_counters(kbc):
    kbc.keyboard.tap("a")
    cmd(kbc, 0xD4, 0xF2)
    drain(kbc)
    c = kbc.counters
    assert c["bytes_to_guest"] == 4 and c["kbd_bytes"] == 2 and c["aux_bytes"] == 2
    assert c["commands"] == 1 and c["keys"] == 2 and c["aux_commands"] == 1


from hypothesis import given, settings, strategies as st


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["data", "cmd", "rdata", "rstatus", "key", "move"]),
                          st.integers(0, 0xFF)), max_size=60))
def test_hostile_port_traffic_never_breaks_the_controller(ops):
    """Any sequence of guest port accesses and host input leaves a consistent device."""
    dev = k.I8042(irq_kbd=IrqLine(1), irq_aux=IrqLine(12))
    from vmm.devices.ps2_keyboard import all_key_names
    keys = all_key_names()
    for op, v in ops:
        if op == "data":
            dev.data_port.write(0, 1, v)
        elif op == "cmd":
            dev.command_port.write(0, 1, v)
        elif op == "rdata":
            assert 0 <= dev.data_port.read(0, 1) <= 0xFF
        elif op == "rstatus":
            assert 0 <= dev.command_port.read(0, 1) <= 0xFF
        elif op == "key":
            dev.keyboard.tap(keys[v % len(keys)])
        else:
            dev.mouse.move(v - 128, 128 - v, v % 3)
        # the IRQ lines follow the buffer and the config byte, always
        aux = dev.obf and dev.out_from == k.FROM_AUX
        assert dev.irq_kbd.level == (dev.obf and not aux and bool(dev.config & k.CFG_KBD_INT))
        assert dev.irq_aux.level == (aux and bool(dev.config & k.CFG_AUX_INT))
    assert len(dev.keyboard.queue) <= 16


def test_unread_replies_are_bounded(kbc):
    for _ in range(100):
        cmd(kbc, 0x20)
        kbc.data_port.write(0, 1, 0xEE)
    assert len(kbc.replies) <= k.REPLIES_MAX and kbc.replies_dropped > 0
    assert len(kbc.keyboard.queue) <= 16 and kbc.keyboard.counters["dropped"] > 0
    drain(kbc)
    kbc.data_port.write(0, 1, 0xEE)  # still answers once read
    assert drain(kbc) == [0xEE]
