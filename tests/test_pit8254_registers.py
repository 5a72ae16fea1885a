"""8254 register details the mutation run found unguarded (docs/mutation.md):
modes 6 and 7, read-back status fields, latches in LSB/MSB-only access,
BCD wrap, mode 0's stop on the first byte, the control port reading 0xFF,
what reprogramming does to owed ticks, and the arithmetic edge counting."""

from __future__ import annotations

from vmm.devices.pit8254 import Pit8254

from .test_pit8254 import load, pit, read16  # noqa: F401  (pit: the fake-clock fixture)


def test_modes_6_and_7_are_2_and_3(pit):  # noqa: F811
    load(pit, 0, 6, 10)
    assert pit.counters[0].mode == 2
    load(pit, 0, 7, 10)
    assert pit.counters[0].mode == 3
    load(pit, 0, 5, 10)
    assert pit.counters[0].mode == 5


def test_read_back_status_fields(pit):  # noqa: F811
    load(pit, 1, 3, 0x99, access=1, bcd=True)       # LSB only, mode 3, BCD
    pit.write(3, 1, 0xC0 | 0x20 | 0x04)            # status only, counter 1
    status = pit.read(1, 1)
    assert status == 0x80 | 1 << 4 | 3 << 1 | 1    # OUT high, count loaded, RW=1, mode 3, BCD
    pit.write(3, 1, 0x70)                          # counter 1: new control word, no count yet
    pit.write(3, 1, 0xC0 | 0x20 | 0x04)
    status = pit.read(1, 1)
    assert status & 0x40 and status & 0x3F == 3 << 4   # null count, RW=3, mode 0, binary
    pit.write(3, 1, 0xC0 | 0x10 | 0x04)            # count only: no status byte first
    load(pit, 1, 2, 300)
    pit.write(3, 1, 0xC0 | 0x10 | 0x04)
    assert read16(pit, 1) == 300


def test_latch_in_lsb_only_and_msb_only_access(pit):  # noqa: F811
    load(pit, 0, 2, 0x80, access=1)
    pit.clock.t += 0x10
    pit.write(3, 1, 0x00)                          # latch counter 0
    pit.clock.t += 0x10
    assert pit.read(0, 1) == 0x70                  # one byte, the latched LSB
    assert pit.read(0, 1) == 0x60                  # then live again
    load(pit, 0, 2, 0x3000, access=2)
    pit.clock.t += 0x100
    pit.write(3, 1, 0x00)
    pit.clock.t += 0x1000
    assert pit.read(0, 1) == 0x2F                  # the latched MSB
    assert pit.read(0, 1) == 0x1F


def test_second_latch_before_reading_is_ignored(pit):  # noqa: F811
    load(pit, 0, 2, 1000)
    pit.write(3, 1, 0x00)
    pit.clock.t += 100
    pit.write(3, 1, 0x00)
    assert read16(pit, 0) == 1000
    assert read16(pit, 0) == 900


def test_bcd_zero_count_is_10000(pit):  # noqa: F811
    load(pit, 0, 2, 0, bcd=True)
    assert pit.counters[0].modulus == 10000
    pit.clock.t += 1
    assert read16(pit, 0) == 0x9999
    pit.clock.t += 9998
    assert read16(pit, 0) == 0x0001
    load(pit, 0, 2, 0)
    assert pit.counters[0].modulus == 0x10000


def test_mode0_first_byte_stops_counting(pit):  # noqa: F811
    load(pit, 0, 0, 100)
    pit.clock.t += 10
    pit.write(0, 1, 50)                            # LSB of a new count: counting stops
    c = pit.counters[0]
    assert c.start is None and c.write_msb_next
    pit.clock.t += 30
    pit.write(0, 1, 0)                             # MSB: 50 loaded, counting restarts
    assert read16(pit, 0) == 50 and not c.out()
    load(pit, 0, 2, 100)
    pit.clock.t += 10
    pit.write(0, 1, 50)                            # in mode 2 the first byte does not stop it
    assert c.start is not None


def test_control_port_reads_ff_and_counter_ports_do_not(pit):  # noqa: F811
    load(pit, 0, 2, 0x1234)
    assert pit.read(3, 1) == 0xFF
    assert read16(pit, 0) == 0x1234


def test_reprogramming_counter0_forgives_owed_ticks():
    pit = Pit8254(None, policy="catch-up", irq0_pending=lambda: True)
    with pit.lock:
        pit._edges_due(5)
    assert pit._owed == 5
    pit.write(3, 1, 0x74)                          # counter 1's control word: counter 0's debt stays
    assert pit._owed == 5
    pit.write(1, 1, 3)                             # a count to counter 1: stays too
    assert pit._owed == 5
    pit.write(3, 1, 0xE2)                          # read-back command: stays
    assert pit._owed == 5
    pit.write(3, 1, 0x34)                          # counter 0 reprogrammed: forgiven
    assert pit._owed == 0
    with pit.lock:
        pit._edges_due(2)
    pit.write(0, 1, 0x10)                          # a count byte to counter 0: forgiven too
    assert pit._owed == 0


def test_owed_ticks_are_capped_at_one_second():
    pit = Pit8254(None, policy="catch-up", irq0_pending=lambda: True)
    pit.write(3, 1, 0x34)
    pit.write(0, 1, 0x9C)
    pit.write(0, 1, 0x2E)                          # 11932: 100 Hz
    with pit.lock:
        pit._edges_due(150)
    # one second of ticks: 1193182 // 11932 = 99 (the rate is 99.998 Hz)
    assert pit._owed == 99 and pit.stats["lost_ticks"] == 51 and pit.stats["edges"] == 150


def test_edges_until_counts_periods_arithmetically(pit):  # noqa: F811
    load(pit, 0, 2, 100)
    c = pit.counters[0]
    start = pit.clock.t
    first = c.next_rising_edge(start)
    assert first == start + 100
    assert Pit8254._edges_until(c, first, first) == (1, first)
    assert Pit8254._edges_until(c, first, first + 99) == (1, first)
    assert Pit8254._edges_until(c, first, first + 100) == (2, first + 100)
    assert Pit8254._edges_until(c, first, first + 1050) == (11, first + 1000)
    load(pit, 0, 4, 10)                            # one-shot strobe: at most one edge
    start = pit.clock.t
    edge = c.next_rising_edge(start)
    assert edge == start + 11
    assert Pit8254._edges_until(c, edge, edge + 500) == (1, edge)


def test_edges_until_with_a_pending_reload(pit):  # noqa: F811
    load(pit, 0, 2, 100)
    c = pit.counters[0]
    start = pit.clock.t
    pit.clock.t += 10
    pit.write(0, 1, 50)
    pit.write(0, 1, 0)                             # new count 50 at the end of this period
    edge = c.next_rising_edge(pit.clock.t)
    assert edge == start + 100
    edges, last = Pit8254._edges_until(c, edge, start + 100 + 50 * 4 + 10)
    assert (edges, last) == (5, start + 100 + 200)
