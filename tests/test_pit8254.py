"""8254 register semantics at device level, on a controlled clock."""

from __future__ import annotations

import pytest

from vmm.devices.pit8254 import Pit8254
from vmm.devices.system_port61 import SystemPort61


class FakeClock:
    def __init__(self):
        self.t = 1000

    def __call__(self):
        return self.t


@pytest.fixture
def pit():
    clock = FakeClock()
    dev = Pit8254()
    dev.now = clock
    for c in dev.counters:
        c.clock = clock
    dev.clock = clock
    return dev


def load(pit, counter, mode, count, access=3, bcd=False):
    pit.write(3, 1, counter << 6 | access << 4 | mode << 1 | int(bcd))
    if access in (1, 3):
        pit.write(counter, 1, count & 0xFF)
    if access in (2, 3):
        pit.write(counter, 1, count >> 8 & 0xFF)


def read16(pit, counter):
    lo = pit.read(counter, 1)
    return lo | pit.read(counter, 1) << 8


def test_mode2_rate_generator_counts_down_and_reloads(pit):
    load(pit, 0, 2, 1000)
    c = pit.counters[0]
    assert read16(pit, 0) == 1000 and c.out()
    pit.clock.t += 250
    assert read16(pit, 0) == 750
    pit.clock.t += 749  # count 1: OUT low for one clock
    assert not c.out()
    pit.clock.t += 1    # reload: OUT high again
    assert c.out() and read16(pit, 0) == 1000
    assert c.next_rising_edge(pit.clock.t) == pit.clock.t + 1000


def test_mode0_interrupt_on_terminal_count(pit):
    load(pit, 0, 0, 100)
    c = pit.counters[0]
    assert not c.out()
    pit.clock.t += 99
    assert not c.out() and read16(pit, 0) == 1
    pit.clock.t += 1
    assert c.out()
    pit.clock.t += 10  # keeps counting down past zero, wrapping
    assert read16(pit, 0) == 0x10000 - 10
    assert c.next_rising_edge(pit.clock.t) is None  # one edge only


def test_mode3_square_wave(pit):
    load(pit, 0, 3, 100)
    c = pit.counters[0]
    assert c.out() and read16(pit, 0) == 100
    pit.clock.t += 25
    assert c.out() and read16(pit, 0) == 50  # counts down by two
    pit.clock.t += 25
    assert not c.out()  # second half of the period
    pit.clock.t += 50
    assert c.out()


def test_mode4_software_strobe(pit):
    load(pit, 0, 4, 10)
    c = pit.counters[0]
    assert c.out()
    pit.clock.t += 10
    assert not c.out()  # one clock low at terminal count
    pit.clock.t += 1
    assert c.out()


def test_counter_latch_freezes_the_value(pit):
    load(pit, 0, 2, 1000)
    pit.clock.t += 100
    pit.write(3, 1, 0x00)  # latch counter 0
    pit.clock.t += 300
    assert read16(pit, 0) == 900
    assert read16(pit, 0) == 600  # latch consumed: live value again


def test_lsb_and_msb_only_access(pit):
    load(pit, 1, 2, 0x40, access=1)
    assert pit.counters[1].count_value == 0x40
    assert pit.read(1, 1) == 0x40
    load(pit, 1, 2, 0x1200, access=2)
    assert pit.counters[1].count_value == 0x1200
    assert pit.read(1, 1) == 0x12


def test_zero_count_means_65536(pit):
    load(pit, 0, 2, 0)
    pit.clock.t += 1
    assert read16(pit, 0) == 0xFFFF


def test_bcd_counting(pit):
    load(pit, 0, 2, 0x1000, bcd=True)  # 1000 decimal
    assert pit.counters[0].count_value == 1000
    pit.clock.t += 1
    assert read16(pit, 0) == 0x0999


def test_read_back_status_and_count(pit):
    load(pit, 2, 0, 50)
    pit.write(3, 1, 0xC0 | 0x08)  # read-back count and status of counter 2
    status = pit.read(2, 1)
    assert status & 0x3F == (3 << 4 | 0 << 1)  # RW=3, mode 0, binary
    assert not status & 0x80  # OUT low
    assert not status & 0x40  # count loaded
    assert read16(pit, 2) == 50


def test_null_count_before_load(pit):
    pit.write(3, 1, 0x34)
    pit.write(3, 1, 0xE2)  # read-back status only, counter 0
    assert pit.read(0, 1) & 0x40


def test_mode2_new_count_takes_effect_at_period_end(pit):
    load(pit, 0, 2, 1000)
    pit.clock.t += 100
    pit.write(0, 1, 500 & 0xFF)
    pit.write(0, 1, 500 >> 8)
    assert read16(pit, 0) == 900  # still the old period
    pit.clock.t += 900
    assert read16(pit, 0) == 500  # reloaded with the new count
    pit.clock.t += 250
    assert read16(pit, 0) == 250


def test_counter2_gate_through_port61(pit):
    port = SystemPort61(pit)
    load(pit, 2, 0, 100)
    pit.set_gate2(False)
    assert not port.read(0, 1) & 0x01
    pit.clock.t += 500
    assert read16(pit, 2) == 100  # gate low: mode 0 does not count
    port.write(0, 1, 0x01)
    pit.clock.t += 99
    assert not port.read(0, 1) & 0x20
    pit.clock.t += 1
    assert port.read(0, 1) & 0x20  # OUT2 visible in bit 5
    assert port.read(0, 1) & 0x01  # gate bit reads back


def test_mode1_triggered_by_gate(pit):
    load(pit, 2, 1, 20)
    c = pit.counters[2]
    assert c.out()  # waits for a trigger
    pit.set_gate2(True)
    assert not c.out()
    pit.clock.t += 20
    assert c.out()


def test_catch_up_policy_owes_ticks_until_acknowledged():
    pulses = []

    class Line:
        def set_level(self, level):
            if level:
                pulses.append(1)

    pending = [False]
    pit = Pit8254(Line(), policy="catch-up", irq0_pending=lambda: pending[0])
    with pit.lock:
        deliver = pit._edges_due(3)  # the VMM woke three periods late
    assert deliver
    pit._pulse()
    pending[0] = True  # the edge waits in IRR
    assert len(pulses) == 1
    with pit.lock:
        assert not pit._take_owed()  # a second edge now would merge in IRR
    pending[0] = False
    pit.irq0_acknowledged()
    pit.irq0_acknowledged()
    pit.irq0_acknowledged()
    assert len(pulses) == 3 and pit.stats["caught_up"] == 2
    assert pit.stats["lost_ticks"] == 0


def test_drop_policy_counts_lost_ticks():
    pit = Pit8254(None, policy="drop")
    with pit.lock:
        assert pit._edges_due(3)
    assert pit.stats["lost_ticks"] == 2


def test_control_word_drops_a_pending_latch(pit):
    """8254 datasheet: writing a control word resets the counter's control
    logic, so a latched count not yet read is gone."""
    load(pit, 0, 2, 1000)
    pit.write(3, 1, 0x00)          # latch counter 0
    load(pit, 0, 2, 5000)          # reprogram before reading the latch
    assert read16(pit, 0) == 5000  # the new count, not the stale latch


def test_wide_access_is_split_across_ports():
    """A 16-bit out to 0x40 writes the low byte to 0x40 and the high byte to
    0x41 (counter 1), as the ISA bus splits it: not a 16-bit count to 0x40."""
    from vmm.bus import Bus
    pit = Pit8254()
    bus = Bus("port")
    bus.register(0x40, 4, pit)
    bus.write(0x43, 1, 0x34)   # counter 0: LSB then MSB, mode 2
    bus.write(0x43, 1, 0x74)   # counter 1: LSB then MSB, mode 2
    bus.write(0x40, 2, 0x1234)  # 0x34 → counter 0's LSB, 0x12 → counter 1's LSB
    assert pit.counters[0].write_msb_next and pit.counters[1].write_msb_next
    assert pit.counters[0].reload & 0xFF == 0x34 and pit.counters[1].reload & 0xFF == 0x12
