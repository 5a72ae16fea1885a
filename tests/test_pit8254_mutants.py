"""8254 behaviour the second mutation run found unguarded (docs/mutation.md):
the input clock against host time, IRQ 0 deadlines and how the run loop
reads them, the tick policies' counters, the timer thread, the state before
any control word, gate behaviour per mode, the read-back command's fields,
and counts read in modes 3, 4 and 5 and in BCD.

Two clocks are used: the `pit` fixture (test_pit8254.py) sets each
counter's clock directly; `mono` replaces the host's monotonic clock seen by
the module, so the conversion from host nanoseconds to PIT clocks, the
deadlines and service() run exactly as in a machine, deterministically.
"""

from __future__ import annotations

import math
import threading
import time
from types import SimpleNamespace

import pytest

from vmm import run_loop, vcpu_timer
from vmm.config import TIMER_HZ_MAX
from vmm.devices import pit8254
from vmm.devices.pit8254 import MIN_IRQ0_PERIOD_NS, MIN_IRQ0_PERIOD_S, PIT_HZ, Pit8254
from vmm.devices.system_port61 import SystemPort61

from .test_pit8254 import load, pit, read16  # noqa: F401  (pit: the fake-clock fixture)


class Mono:
    """time.monotonic_ns for the module under test, moved by the test only."""

    def __init__(self):
        self.ns = 10 ** 12
        self.calls = 0

    def monotonic_ns(self):
        self.calls += 1
        return self.ns


@pytest.fixture
def mono(monkeypatch):
    m = Mono()
    monkeypatch.setattr(pit8254, "time", SimpleNamespace(monotonic_ns=m.monotonic_ns))
    return m


class Line:
    """IRQ 0: counts rising edges."""

    def __init__(self):
        self.pulses = 0
        self.level = False

    def set_level(self, level):
        if level and not self.level:
            self.pulses += 1
        self.level = level


def at_clock(pit, mono, clock):  # noqa: F811
    """Move host time to the first nanosecond at which the PIT clock reads `clock`."""
    mono.ns = pit.epoch_ns - (-clock * 10 ** 9 // PIT_HZ)
    assert pit.now() == clock


def program0(pit, mode, count):  # noqa: F811
    """Counter 0 through its ports, LSB then MSB; returns the clock the count was loaded at."""
    load(pit, 0, mode, count)
    return pit.now()


def status(pit, counter):  # noqa: F811
    pit.write(3, 1, 0xE0 | 2 << counter)  # read-back: status only
    return pit.read(counter, 1)


# -- the input clock ----------------------------------------------------------

def test_input_clock_is_1193182_hz_of_host_time(mono):
    """The counters are clocked at 1.193182 MHz (14.31818 MHz / 12) of host
    monotonic time: clock k starts at the first nanosecond k * 10^9 / PIT_HZ
    reaches, in whole clocks (a counter read is an integer count)."""
    dev = Pit8254()
    assert dev.now() == 0
    mono.ns += 838
    assert dev.now() == 0                 # 838 ns: 0.99989 of a clock
    mono.ns += 1
    assert dev.now() == 1 and isinstance(dev.now(), int)
    mono.ns = dev.epoch_ns + 10 ** 9
    assert dev.now() == 1_193_182         # one second
    mono.ns = dev.epoch_ns + 60 * 10 ** 9
    assert dev.now() == 60 * 1_193_182    # a minute, not a clock more or less
    start = program0(dev, 2, 1000)
    mono.ns += 100_000                    # 100 us: 119.3 clocks
    assert read16(dev, 0) == 1000 - 119 and dev.now() == start + 119


def test_clock_to_monotonic_is_the_inverse_of_the_clock(mono):
    """clock_to_monotonic(k): the host moment (monotonic seconds) of PIT clock k,
    in whole nanoseconds, as the deadlines are computed."""
    dev = Pit8254()
    base = dev.epoch_ns
    assert dev.clock_to_monotonic(0) == base / 1e9
    assert dev.clock_to_monotonic(1) == (base + 838) / 1e9
    assert dev.clock_to_monotonic(PIT_HZ) == (base + 10 ** 9) / 1e9
    assert dev.clock_to_monotonic(3 * PIT_HZ + 1) == (base + 3 * 10 ** 9 + 838) / 1e9


def test_shortest_irq0_period_is_the_highest_timer_hz():
    """MIN_IRQ0_PERIOD_S is the shortest IRQ 0 period: 1 / the highest
    [machine] timer_hz the config accepts; the ns constant is the same period."""
    assert math.isclose(MIN_IRQ0_PERIOD_S * TIMER_HZ_MAX, 1.0)
    assert MIN_IRQ0_PERIOD_NS == round(MIN_IRQ0_PERIOD_S * 1e9)


# -- deadlines, as the run loop reads them --------------------------------------

def test_no_deadline_is_the_run_loops_never(mono):
    """When no IRQ 0 edge is coming, deadline_ns is the NEVER the run loop and
    the vCPU alarm compare it with (they neither sleep on it nor arm for it):
    before the PIT is started or attached, after detach() and after stop(),
    even when counter 0 is reprogrammed then, and while counter 0 waits for a count."""
    dev = Pit8254(Line())
    assert dev.deadline_ns == run_loop.NEVER == vcpu_timer.NEVER
    # one value for all three (they import it), centuries ahead of CLOCK_MONOTONIC, and within the
    # signed 64-bit deadline the vCPU alarm's C timer takes
    assert time.monotonic_ns() + 100 * 365 * 86400 * 10**9 < run_loop.NEVER < 2**63
    program0(dev, 2, 11932)
    assert dev.deadline_ns == run_loop.NEVER          # programmed but not started
    dev.attach_to_vcpu()
    assert dev.deadline_ns < run_loop.NEVER
    dev.detach()
    assert dev.deadline_ns == run_loop.NEVER
    program0(dev, 2, 5000)
    assert dev.deadline_ns == run_loop.NEVER          # detached: reprogramming plans nothing
    dev.attach_to_vcpu()
    assert dev.deadline_ns < run_loop.NEVER
    dev.write(3, 1, 0x34)                             # control word: counter 0 stops until a count
    assert dev.deadline_ns == run_loop.NEVER
    program0(dev, 2, 5000)
    dev.stop()
    assert dev.deadline_ns == run_loop.NEVER
    program0(dev, 2, 6000)
    assert dev.deadline_ns == run_loop.NEVER          # stopped: reprogramming plans nothing
    dev.write(0, 1, 0x10)
    assert dev.deadline_ns == run_loop.NEVER


def test_service_before_any_edge_was_planned_delivers_nothing(mono):
    """service() on a PIT that never planned an edge (counter 0 idle) delivers
    nothing, whatever the time it is given."""
    line = Line()
    dev = Pit8254(line)
    dev.service(run_loop.NEVER)
    dev.attach_to_vcpu()
    dev.service(run_loop.NEVER)
    assert line.pulses == 0 and dev.stats["edges"] == 0


def test_deadline_is_the_first_ns_the_edge_is_due_and_service_keeps_it(mono):
    """deadline_ns is the first host nanosecond at which counter 0's OUT has
    risen (an integer, as the vCPU alarm takes it); service() before it does
    nothing, service() at it pulses IRQ 0 once and plans the next edge."""
    line = Line()
    dev = Pit8254(line)
    dev.attach_to_vcpu()
    start = program0(dev, 2, 11932)
    for k in (1, 2, 3):
        edge = start + k * 11932
        d = dev.deadline_ns
        assert isinstance(d, int)
        mono.ns = d - 1
        assert dev.now() < edge
        dev.service(d - 1)
        assert line.pulses == k - 1 and dev.stats["edges"] == k - 1
        mono.ns = d
        assert dev.now() == edge
        dev.service(d)
        assert line.pulses == k
        assert dev.stats == {"edges": k, "delivered": k, "caught_up": 0, "lost_ticks": 0}


def test_attach_plans_from_the_present(mono):
    """attach_to_vcpu() with counter 0 already counting: the next edge is
    planned from now, and later reprogramming re-plans."""
    dev = Pit8254(Line())
    start = program0(dev, 2, 1000)
    mono.ns += 10 ** 9 // 2                           # half a second later
    dev.attach_to_vcpu()
    now = dev.now()
    d = dev.deadline_ns
    at_clock(dev, mono, start + (now - start) // 1000 * 1000 + 1000)
    assert mono.ns == d
    program0(dev, 2, 2000)
    assert dev.deadline_ns == dev.epoch_ns + (dev.now() + 2000) * 10 ** 9 // PIT_HZ + 1


def test_irq0_edges_are_never_closer_than_the_minimum_period(mono):
    """A period shorter than MIN_IRQ0_PERIOD_NS: the next deadline after a
    service is exactly that much later; the edges in between are counted and
    owed (catch-up), then delivered one per acknowledge."""
    line = Line()
    dev = Pit8254(line)
    dev.attach_to_vcpu()
    start = program0(dev, 2, 2)                       # 596591 Hz
    d = dev.deadline_ns
    mono.ns = d
    dev.service(d)
    assert line.pulses == 1 and dev.now() == start + 2
    assert dev.deadline_ns == d + MIN_IRQ0_PERIOD_NS
    mono.ns = d + MIN_IRQ0_PERIOD_NS
    dev.service(mono.ns)
    due = (dev.now() - (start + 2)) // 2              # edges after the first, up to now
    assert due == 59
    assert line.pulses == 2
    assert dev.stats == {"edges": 1 + due, "delivered": 2, "caught_up": 0, "lost_ticks": 0}
    for _ in range(due + 5):
        dev.irq0_acknowledged()
    assert line.pulses == 1 + due
    assert dev.stats["caught_up"] == due - 1 and dev.stats["delivered"] == 1 + due


def test_owed_ticks_accumulate_while_the_last_edge_waits(mono):
    """Catch-up: edges due while the previous one still waits in the PIC's IRR
    are owed, across services, and go out one per acknowledge."""
    line = Line()
    waiting = [True]
    dev = Pit8254(line, irq0_pending=lambda: waiting[0])
    dev.attach_to_vcpu()
    start = program0(dev, 2, 11932)
    at_clock(dev, mono, start + 3 * 11932)
    dev.service(mono.ns)
    at_clock(dev, mono, start + 5 * 11932)
    dev.service(mono.ns)
    assert line.pulses == 0 and dev.stats["edges"] == 5
    waiting[0] = False
    for _ in range(8):
        dev.irq0_acknowledged()
    assert line.pulses == 5
    assert dev.stats == {"edges": 5, "delivered": 5, "caught_up": 5, "lost_ticks": 0}


def test_lost_ticks_add_up_under_both_policies(mono):
    """Drop: every service pulses once and the rest of the due edges are lost.
    Catch-up: more than a second of owed ticks is dropped, each time it overflows."""
    line = Line()
    dev = Pit8254(line, policy="drop")
    dev.attach_to_vcpu()
    start = program0(dev, 2, 11932)
    at_clock(dev, mono, start + 3 * 11932)
    dev.service(mono.ns)
    at_clock(dev, mono, start + 7 * 11932)
    dev.service(mono.ns)
    assert line.pulses == 2
    assert dev.stats == {"edges": 7, "delivered": 2, "caught_up": 0, "lost_ticks": 5}

    dev = Pit8254(Line(), irq0_pending=lambda: True)
    dev.attach_to_vcpu()
    start = program0(dev, 2, 0)                       # 65536: 18.2 Hz, 18 owed at most
    at_clock(dev, mono, start + 30 * 0x10000)
    dev.service(mono.ns)
    assert dev.stats["lost_ticks"] == 12
    at_clock(dev, mono, start + 35 * 0x10000)
    dev.service(mono.ns)
    assert dev.stats == {"edges": 35, "delivered": 0, "caught_up": 0, "lost_ticks": 17}


def test_service_counts_counter0s_edges_in_every_periodic_mode(mono):
    """IRQ 0 is counter 0's OUT (counter 1 programmed differently does not
    count), and a late service counts every period it missed in mode 3 too."""
    for mode in (2, 3):
        dev = Pit8254(Line(), policy="drop")
        dev.attach_to_vcpu()
        load(dev, 1, 2, 100)
        start = program0(dev, mode, 1000)
        at_clock(dev, mono, start + 10 * 1000 + 500)
        dev.service(mono.ns)
        assert dev.stats["edges"] == 10 and dev.stats["lost_ticks"] == 9
        assert dev.deadline_ns == dev.epoch_ns + (start + 11000) * 10 ** 9 // PIT_HZ + 1


def test_edges_until_crosses_a_pending_reload(pit):  # noqa: F811
    """_edges_until from an edge before a pending reload: the edges of the old
    period, then those of the new count, counted per period."""
    load(pit, 0, 2, 100)
    c = pit.counters[0]
    start = pit.clock.t
    pit.clock.t = start + 150
    pit.write(0, 1, 30)
    pit.write(0, 1, 0)                                # loads at start + 200
    assert Pit8254._edges_until(c, start + 100, start + 200 + 95) == (5, start + 290)


def test_edges_until_counts_the_shortest_period_arithmetically(pit):  # noqa: F811
    """A period of one clock (count 1, below the datasheet's minimum for
    modes 2 and 3, which the model accepts): still one edge per period."""
    load(pit, 0, 2, 1)
    c = pit.counters[0]
    first = c.next_rising_edge(pit.clock.t)
    assert first == pit.clock.t + 1
    assert Pit8254._edges_until(c, first, first + 100) == (101, first + 100)


# -- the timer thread ----------------------------------------------------------

def test_timer_thread_is_a_named_daemon_and_not_used_when_vcpu_driven():
    """start() runs one daemon thread named pit-irq0 (it must not keep the VMM
    alive); stop() ends it. Once attached to a vCPU, start() only re-plans."""
    def ours():
        return [t for t in threading.enumerate() if t.name == "pit-irq0"]
    before = ours()
    dev = Pit8254(Line())
    dev.start()
    try:
        mine = [t for t in ours() if t not in before]
        assert len(mine) == 1 and mine[0].daemon
    finally:
        dev.stop()
    assert not mine[0].is_alive()
    dev = Pit8254(Line())
    dev.attach_to_vcpu()
    dev.start()
    try:
        assert [t for t in ours() if t not in before] == []
        program0(dev, 2, 11932)
        assert dev.deadline_ns < run_loop.NEVER
    finally:
        dev.stop()


class WaitLog:
    """The timer thread's condition: wait(t) moves host time by t instead of sleeping."""

    def __init__(self, dev, mono, ticks):
        self.dev, self.mono, self.ticks = dev, mono, ticks
        self.waits = []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        if timeout is None or timeout <= 0 or self.dev.irq0.pulses >= self.ticks:
            self.dev._stopping = True                 # done (or a wait that would spin)
            return
        self.mono.ns += math.ceil(timeout * 1e9)

    def notify_all(self):
        pass


def test_timer_thread_sleeps_until_each_deadline_in_one_wait(mono):
    """The timer thread waits for the whole delay to the next deadline, then
    services it: one wait per tick, never a busy loop of short or zero waits."""
    dev = Pit8254(Line())
    program0(dev, 2, 11932)                           # ~10 ms
    dev.changed = WaitLog(dev, mono, ticks=5)
    spin = 100_000

    def guard():
        if mono.calls > spin:
            dev._stopping = True                      # the loop never waited: stop it
        return mono.ns
    pit8254.time.monotonic_ns = lambda: (mono.monotonic_ns(), guard())[1]
    dev.start()
    dev._thread.join(10)
    assert not dev._thread.is_alive()
    assert mono.calls <= spin, "the timer thread spun without waiting"
    assert dev.irq0.pulses == 5
    waits = dev.changed.waits
    assert len(waits) == 6                            # one per tick, then the one that ended it
    for w in waits[:5]:
        assert 0.0099 < w < 0.0101, waits
    dev._stopping = True


# -- the state before any control word, and construction -------------------------

def test_a_counter_before_any_control_word(pit):  # noqa: F811
    """The datasheet leaves the power-on state undefined; the model's (a guest
    may use a counter before programming it): mode 0, LSB then MSB, binary,
    count 0, null count, OUT low. A count written then loads in mode 0."""
    assert [c.index for c in pit.counters] == [0, 1, 2]
    assert status(pit, 1) == 0x40 | 3 << 4            # null count, RW=3, mode 0, binary, OUT low
    assert read16(pit, 1) == 0
    pit.write(1, 1, 0x34)                             # LSB first
    pit.write(1, 1, 0x12)
    assert pit.read(1, 1) == 0x34 and pit.read(1, 1) == 0x12
    pit.clock.t += 10
    assert read16(pit, 1) == 0x1234 - 10              # binary, counting at once: mode 0
    assert status(pit, 1) == 3 << 4                   # loaded, OUT low
    pit.clock.t += 0x1234
    assert read16(pit, 1) == 0x10000 - 10             # wrapped past the terminal count
    assert status(pit, 1) == 0x80 | 3 << 4


def test_construction_defaults():
    """Three counters, the device's name (bus errors name it), zeroed tick
    counters, and only the two tick policies there are."""
    dev = Pit8254()
    assert len(dev.counters) == 3 and dev.name == "pit8254" and dev.policy == "catch-up"
    assert dev.stats == {"edges": 0, "delivered": 0, "caught_up": 0, "lost_ticks": 0}
    assert Pit8254(policy="drop").policy == "drop"
    with pytest.raises(ValueError) as refused:
        Pit8254(policy="catchup")
    assert str(refused.value) == "pit8254: tick policy 'catchup' is not one of catch-up, drop"


# -- modes: null count, counts, gates ---------------------------------------------

def test_null_count_until_the_new_count_is_loaded(pit):  # noqa: F811
    """Read-back status bit 6 (null count): set from a count write until the
    count is loaded into the counting element: at the period's end in mode 2,
    at the trigger in mode 1."""
    load(pit, 0, 2, 100)
    assert status(pit, 0) == 0x80 | 3 << 4 | 2 << 1   # OUT high, loaded, RW=3, mode 2, binary
    pit.clock.t += 40
    pit.write(0, 1, 50)
    pit.write(0, 1, 0)
    assert status(pit, 0) & 0x40
    pit.clock.t += 59
    assert status(pit, 0) & 0x40
    pit.clock.t += 1
    assert not status(pit, 0) & 0x40
    load(pit, 2, 1, 20)
    assert status(pit, 2) & 0x40                      # waits for the trigger
    pit.set_gate2(True)
    assert not status(pit, 2) & 0x40


def test_mode3_counts_down_by_two_in_both_halves(pit):  # noqa: F811
    """Mode 3, even N: the count is reloaded at each half and decremented by
    two per clock, so the second half reads N, N-2, ... as the first does."""
    load(pit, 0, 3, 100)
    start = pit.clock.t
    values = {}
    for phase in (0, 1, 30, 49, 50, 51, 60, 99):
        pit.clock.t = start + phase
        values[phase] = read16(pit, 0)
    assert values == {0: 100, 1: 98, 30: 40, 49: 2, 50: 100, 51: 98, 60: 80, 99: 2}


def test_strobe_modes_count_down_and_wrap(pit):  # noqa: F811
    """Modes 4 and 5 read N - elapsed, wrapping past zero as mode 0 does."""
    load(pit, 0, 4, 100)
    pit.clock.t += 30
    assert read16(pit, 0) == 70
    pit.clock.t += 80
    assert read16(pit, 0) == 0x10000 - 10
    pit.set_gate2(True)
    load(pit, 2, 5, 100)
    pit.set_gate2(False)
    pit.set_gate2(True)                               # trigger
    pit.clock.t += 25
    assert read16(pit, 2) == 75


def test_mode4_new_count_loads_at_once(pit):  # noqa: F811
    """Mode 4: a count written during counting is loaded on the next clock
    and counting continues from it (unlike modes 2 and 3)."""
    load(pit, 0, 4, 100)
    c = pit.counters[0]
    pit.clock.t += 30
    pit.write(0, 1, 50)
    pit.write(0, 1, 0)
    assert read16(pit, 0) == 50
    assert c.next_rising_edge(pit.clock.t) == pit.clock.t + 51


def test_mode5_does_not_count_before_its_trigger(pit):  # noqa: F811
    """Mode 5: writing the count does not start it, even with the gate
    already high: only a rising gate does."""
    pit.set_gate2(True)
    load(pit, 2, 5, 10)
    c = pit.counters[2]
    for _ in range(20):
        assert c.out()
        pit.clock.t += 1
    assert c.next_rising_edge(pit.clock.t) is None


def test_bcd_wraps_at_10000_and_latches_in_bcd(pit):  # noqa: F811
    """BCD: mode 0 counts from 0005 through 0000 to 9999; a latched count is
    BCD too."""
    load(pit, 0, 0, 0x0005, bcd=True)
    pit.clock.t += 6
    assert read16(pit, 0) == 0x9999
    load(pit, 0, 2, 0x1000, bcd=True)
    pit.clock.t += 1
    pit.write(3, 1, 0x00)                             # latch
    pit.clock.t += 5
    assert read16(pit, 0) == 0x0999


def test_bcd_count_with_non_decimal_digits(pit):  # noqa: F811
    """A count with digits above 9 written in BCD (left undefined by the
    datasheet): the model takes it as the binary value and reads back its
    low four decimal digits."""
    load(pit, 0, 2, 0xABCD, bcd=True)                 # 43981
    assert pit.counters[0].count_value == 0xABCD
    assert read16(pit, 0) == 0x3981


def test_gate_low_stops_modes_2_and_3_with_out_high(pit):  # noqa: F811
    """Modes 2 and 3: GATE low disables counting (the count holds where it
    was: the model once read N instead) and sets OUT high at once. A count
    loaded while the gate is low holds at N."""
    c = pit.counters[2]
    pit.set_gate2(True)
    load(pit, 2, 2, 100)
    pit.clock.t += 99
    assert not c.out() and read16(pit, 2) == 1
    pit.set_gate2(False)
    assert c.out() and read16(pit, 2) == 1
    pit.clock.t += 500
    assert c.out() and read16(pit, 2) == 1
    pit.set_gate2(True)
    load(pit, 2, 3, 100)
    pit.clock.t += 60
    assert not c.out() and read16(pit, 2) == 80
    pit.set_gate2(False)
    pit.clock.t += 30
    assert c.out() and read16(pit, 2) == 80
    pit.set_gate2(False)                              # already low: still held
    assert read16(pit, 2) == 80
    load(pit, 2, 2, 300)
    pit.clock.t += 40
    assert c.out() and read16(pit, 2) == 300


def test_rising_gate_reloads_modes_2_and_3(pit):  # noqa: F811
    """Modes 2 and 3: a rising gate reloads the count and starts a new period."""
    c = pit.counters[2]
    for mode, mid in ((2, 70), (3, 40)):
        pit.set_gate2(True)
        load(pit, 2, mode, 100)
        pit.clock.t += 30
        assert read16(pit, 2) == mid
        pit.set_gate2(False)
        pit.clock.t += 7
        pit.set_gate2(True)
        assert read16(pit, 2) == 100
        assert c.next_rising_edge(pit.clock.t) == pit.clock.t + 100


def test_gate_pauses_and_resumes_modes_0_and_4(pit):  # noqa: F811
    """Modes 0 and 4: GATE low suspends counting, high resumes it where it
    stopped (no reload); while suspended no edge is coming. Writing port 0x61
    with the gate bit unchanged changes nothing."""
    port = SystemPort61(pit)
    c = pit.counters[2]
    for mode in (0, 4):
        port.write(0, 1, 0x01)
        load(pit, 2, mode, 100)
        start = pit.clock.t
        pit.clock.t += 30
        port.write(0, 1, 0x01)                        # gate stays high
        assert read16(pit, 2) == 70
        port.write(0, 1, 0x00)                        # gate low: paused
        pit.clock.t += 500
        port.write(0, 1, 0x00)
        assert read16(pit, 2) == 70
        assert c.next_rising_edge(pit.clock.t) is None
        port.write(0, 1, 0x01)                        # resumes
        resumed = pit.clock.t
        edge = 100 if mode == 0 else 101
        assert c.next_rising_edge(resumed) == resumed - 30 + edge
        pit.clock.t += 20
        assert read16(pit, 2) == 50
        assert start < resumed


def test_one_shot_modes_edge_and_gate(pit):  # noqa: F811
    """Mode 0 and mode 1 rise at the terminal count (N clocks), count 1
    included; modes 1 and 5 keep counting with the gate low (it only
    triggers); a gate already high, or already low, is no trigger."""
    load(pit, 0, 0, 100)
    assert pit.counters[0].next_rising_edge(pit.clock.t) == pit.clock.t + 100
    load(pit, 0, 0, 1)
    assert pit.counters[0].next_rising_edge(pit.clock.t) == pit.clock.t + 1
    c = pit.counters[2]
    for mode, edge in ((1, 20), (5, 21)):
        pit.set_gate2(False)
        load(pit, 2, mode, 20)
        pit.set_gate2(True)
        trigger = pit.clock.t
        pit.clock.t += 5
        pit.set_gate2(True)                           # no edge on GATE: no retrigger
        pit.set_gate2(False)
        pit.set_gate2(False)
        assert c.next_rising_edge(pit.clock.t) == trigger + edge
        pit.clock.t = trigger + 20
        assert c.out() == (mode == 1)


def test_control_word_disarms_a_one_shot(pit):  # noqa: F811
    """A new control word in mode 1 without a count: a trigger does nothing
    until a count is written."""
    c = pit.counters[2]
    load(pit, 2, 1, 20)
    pit.set_gate2(True)
    pit.clock.t += 30
    pit.write(3, 1, 0xB2)                             # counter 2, LSB then MSB, mode 1: no count yet
    pit.set_gate2(False)
    pit.set_gate2(True)
    assert c.out() and c.start is None
    pit.clock.t += 5
    assert c.out()


def test_period_edges_from_mid_period(pit):  # noqa: F811
    """Mode 2, asked mid-period: the next edge is this period's end."""
    load(pit, 0, 2, 1000)
    start = pit.clock.t
    pit.clock.t += 250
    assert pit.counters[0].next_rising_edge(pit.clock.t) == start + 1000


# -- the read-back command -----------------------------------------------------------

def test_read_back_latches_only_the_selected_counters(pit):  # noqa: F811
    """Read-back: bits 3-1 select counters 0-2 (bit 0 is reserved and ignored),
    bit 5 low latches their counts, bit 4 low their status; a status-only
    read-back leaves the count live; the status OUT bit is bit 7 only."""
    load(pit, 0, 2, 1000)
    load(pit, 1, 2, 1000)
    pit.write(3, 1, 0xD2)                             # count of counter 0
    pit.clock.t += 100
    assert read16(pit, 0) == 1000 and read16(pit, 1) == 900
    pit.write(3, 1, 0xD4)                             # count of counter 1
    pit.clock.t += 100
    assert read16(pit, 1) == 900 and read16(pit, 0) == 800
    pit.write(3, 1, 0xD3)                             # counter 0, reserved bit set
    pit.clock.t += 100
    assert read16(pit, 0) == 800
    pit.write(3, 1, 0xE3)                             # status of counter 0, reserved bit set
    assert pit.read(0, 1) == 0x80 | 3 << 4 | 2 << 1   # OUT high, binary: 0xB4
    pit.write(3, 1, 0xE2)                             # status only
    pit.clock.t += 100
    assert pit.read(0, 1) == 0xB4
    assert read16(pit, 0) == 600                      # the count was not latched
