"""8042 behaviours checked with the IBM references' own numbers (status and
config bits, the output port, the translated scan-code set report) instead of
the model's constants, plus the model's documented contracts: the reply queue
bound, counters, device names and the 8-bit bus width."""

from __future__ import annotations

from vmm.bus import Bus
from vmm.devices import i8042 as k
from vmm.irq import IrqLine

from .test_i8042 import cmd, data, status  # the port helpers; drain() below tests OBF by its literal bit


def make():
    return k.I8042(irq_kbd=IrqLine(1), irq_aux=IrqLine(12))


def drain(dev):
    out = []
    while status(dev) & 0x01:
        out.append(data(dev))
    return out


def test_status_bits_are_the_references():
    """Status: bit 0 OBF, 2 SYS, 3 A2 (last write was a command), 4 INH
    (1: not inhibited), 5 AUXB; IBF (bit 1) is never seen set."""
    dev = make()
    assert status(dev) == 0x14
    cmd(dev, 0x20)
    assert status(dev) == 0x1D                  # OBF, A2, SYS, INH
    assert data(dev) == 0x45
    cmd(dev, 0xD3, 0x99)                        # mouse data: AUXB; the data byte cleared A2
    assert status(dev) == 0x35
    data(dev)
    assert status(dev) == 0x14


def test_power_on_output_buffer_and_lines():
    """At power-on the buffer is empty, reads 0, and the IRQ lines stay low without a level change."""
    calls = []
    l1, l12 = IrqLine(1), IrqLine(12)
    l1.connect(lambda n, level: calls.append((n, level)))
    l12.connect(lambda n, level: calls.append((n, level)))
    dev = k.I8042(irq_kbd=l1, irq_aux=l12)
    assert calls == [] and l1.level is False and l12.level is False
    assert data(dev) == 0x00
    assert dev.bytes_to_guest == 0


def test_config_interrupt_bits_each_gate_their_own_line():
    """Config bit 0 enables IRQ 1, bit 1 IRQ 12, each alone."""
    dev = make()
    cmd(dev, 0x60, 0x01)
    cmd(dev, 0xD3, 0x12)
    assert status(dev) & 0x21 == 0x21 and not dev.irq_aux.level and not dev.irq_kbd.level
    data(dev)
    cmd(dev, 0x60, 0x02)
    cmd(dev, 0xD2, 0x34)
    assert not dev.irq_kbd.level and not dev.irq_aux.level
    data(dev)
    cmd(dev, 0xD3, 0x56)
    assert dev.irq_aux.level and not dev.irq_kbd.level


def test_output_port_values():
    """Output port at start: C3 (clock/data high, A20 on, not in reset); DD clears
    bit 1 (A20), DF sets it; D0 shows bit 4 / bit 5 for a keyboard / mouse byte in the buffer."""
    dev = make()
    cmd(dev, 0xD0)
    assert drain(dev) == [0xC3]
    cmd(dev, 0xDD)
    cmd(dev, 0xD0)
    assert drain(dev) == [0xC1]
    cmd(dev, 0xDF)
    cmd(dev, 0xD0)
    assert drain(dev) == [0xC3]
    cmd(dev, 0xD3, 0x77)
    cmd(dev, 0xD0)
    assert drain(dev) == [0x77, 0xE3]
    cmd(dev, 0xD1, 0xDF)                         # bits 4 and 5 written are not stored
    cmd(dev, 0xD0)
    assert drain(dev) == [0xCF]


def test_controller_replies_are_not_keyboard_bytes():
    """kbd_bytes counts keyboard bytes only, aux_bytes mouse bytes: a controller reply is neither."""
    dev = make()
    cmd(dev, 0x20)
    cmd(dev, 0xAA)
    assert drain(dev) == [0x45, 0x55]
    assert (dev.bytes_to_guest, dev.kbd_bytes, dev.aux_bytes) == (2, 0, 0)
    assert dev.counters["bytes_to_guest"] == 2 and dev.counters["kbd_bytes"] == 0


def test_reply_queue_holds_sixteen():
    """Up to REPLIES_MAX = 16 unread controller replies are kept (the buffer holds the
    first), the rest dropped and counted."""
    dev = make()
    assert dev.replies_dropped == 0
    for i in range(1, 17):
        cmd(dev, 0x60 + i, i)                   # RAM bytes 1-16 = 1-16
    for i in range(1, 21):
        cmd(dev, 0x20 + i)                      # 20 reads: one in the buffer, 16 queued
    assert dev.replies_dropped == 3
    assert drain(dev) == list(range(1, 17)) + [0]


def test_translated_scan_code_set_report():
    """F0 00 reports the set as 02; through translation the guest reads 41
    (the 8042's table maps 02 to 41), as a BIOS-configured PC shows it. F5's
    set-2 code 03 still translates to its set-1 code 3F."""
    dev = make()
    dev.data_port.write(0, 1, 0xF0)
    dev.data_port.write(0, 1, 0x00)
    assert drain(dev) == [0xFA, 0xFA, 0x41]
    dev.keyboard.tap("f5")
    assert drain(dev) == [0x3F, 0xBF]
    dev.keyboard.tap("f7")                      # set 2: 83, the one code above 7F
    assert drain(dev) == [0x41, 0xC1]


def test_device_names_and_metrics_source():
    dev = make()
    assert dev.name == "i8042"
    assert dev.data_port.name == "i8042 data"
    assert dev.command_port.name == "i8042 status/command"
    assert dev.data_port.metrics_source is dev and dev.command_port.metrics_source is dev


def test_bus_splits_a_16_bit_access_into_bytes():
    """Both ports are 8-bit: a 16-bit in from 0x64 reads the status byte and then port 0x65."""
    dev = make()
    assert dev.data_port.bus_width == 1 and dev.command_port.bus_width == 1
    bus = Bus("io")
    bus.register(0x60, 1, dev.data_port)
    bus.register(0x64, 1, dev.command_port)
    bus.register(0x65, 1, dev.data_port)         # (a stand-in byte device at 0x65)
    cmd(dev, 0x20)
    assert bus.read(0x64, 2) == (0x45 << 8) | 0x1D


def test_irq1_falls_to_low_once_per_byte_read():
    """Reading 0x60 drops IRQ 1 (a plain low, False) before the next byte raises it again."""
    calls = []
    l1 = IrqLine(1)
    dev = k.I8042(irq_kbd=l1, irq_aux=IrqLine(12))
    l1.connect(lambda n, level: calls.append(level))
    cmd(dev, 0x20)
    data(dev)
    assert calls == [True, False] and l1.level is False
    cmd(dev, 0x20)
    cmd(dev, 0x21)
    data(dev)
    data(dev)
    assert calls == [True, False, True, False, True, False] and l1.level is False


def test_last_ram_byte_and_the_end_of_the_ranges():
    """20-3F read RAM bytes 0-31 and 60-7F write them: 3F/7F are byte 31; 40 and 80 are not RAM commands."""
    dev = make()
    cmd(dev, 0x7F, 0xA7)
    cmd(dev, 0x3F)
    assert drain(dev) == [0xA7]
    cmd(dev, 0x40)
    assert drain(dev) == [] and dev.unknown_commands == 1
    cmd(dev, 0x80, 0xEE)                         # unknown: the data byte goes to the keyboard (echo)
    assert drain(dev) == [0xEE] and dev.unknown_commands == 2
    assert dev.commands == 4


def test_port_enables_and_self_test_keep_the_other_config_bits():
    """A7/A8 change only config bit 5, AD/AE only bit 4, AA only sets bit 2."""
    dev = make()
    cmd(dev, 0x60, 0x43)
    for c, expected in ((0xA7, 0x63), (0xAD, 0x73), (0xA8, 0x53), (0xAE, 0x43), (0xAA, None)):
        cmd(dev, c)
        if expected is None:
            assert drain(dev) == [0x55]
            expected = 0x47
        cmd(dev, 0x20)
        assert drain(dev) == [expected], hex(c)


def test_counters_dict_names_every_counter():
    dev = make()
    cmd(dev, 0xC8)
    cmd(dev, 0xC9)
    cmd(dev, 0xFE)
    cmd(dev, 0xD4, 0xF4)
    cmd(dev, 0xD4, 0xF2)
    dev.data_port.write(0, 1, 0xED)
    dev.data_port.write(0, 1, 0x05)
    dev.mouse.move(1, 1)
    dev.keyboard.tap("a")
    drain(dev)
    c = dev.counters
    assert c == {"bytes_to_guest": 10, "kbd_bytes": 4, "aux_bytes": 6, "commands": 5, "unknown_commands": 2,
                 "resets": 1, "kbd_commands": 2, "keys": 2, "aux_commands": 2, "mouse_packets": 1, "leds": 5}
