"""8254 programmable interval timer (Intel 8254 datasheet), ports 0x40-0x43.

Three 16-bit down counters clocked at 1.193182 MHz. Counter 0's OUT drives
IRQ 0; counter 2's gate and OUT are wired to system port 0x61 (see
system_port61.py); counter 1 (DRAM refresh on old PCs) is free.

    0x40-0x42  counter 0-2: count writes and reads, per its access mode
    0x43       control word: SC1 SC0 RW1 RW0 M2 M1 M0 BCD
               RW=00 is the counter-latch command, SC=11 the read-back command

Counters are not stepped one clock at a time: each one records the host
moment (in PIT clocks since the device was created) its count was loaded,
and a read computes the value and OUT from the clocks elapsed since. All six
modes are modelled (0 interrupt on terminal count, 1 hardware one-shot,
2 rate generator, 3 square wave, 4 software strobe, 5 hardware strobe), with
gate behaviour per mode, binary and BCD counting, LSB/MSB/LSB-then-MSB access,
the counter latch and the read-back command (count and status).

Timer interrupts: deadline_ns is the host moment counter 0's OUT next rises;
whoever keeps the time calls service() once it has passed, which pulses IRQ 0.
In a machine that is the vCPU thread's run loop (no timer thread: it sleeps
until the deadline while halted and has its own alarm while running, see
vmm/vcpu_timer.py); start()/stop() run a timer thread that does the same,
for a PIT used on its own. The host cannot always wake it on time, nor inject the
interrupt at once (a wake-up is typically 0.1-0.5 ms late here), so with the
default policy "catch-up" a tick the VMM was late for is owed, not lost: the
next owed edge is pulsed as soon as the guest acknowledges the previous one
(the reinjection KVM's in-kernel PIT does by default). The guest's tick count
then tracks host time, with short bursts after a delay. Ticks the guest
itself chose to miss (IRQ 0 masked in the PIC) are not owed: those edges
coalesce in the PIC's IRR, as on hardware. More than one second of owed ticks
is dropped and counted as lost. With policy "drop", every edge is pulsed when
due and any the VMM woke too late for are lost (stats["lost_ticks"]).

Simplifications: OUT changes are computed at clock granularity, but IRQ 0
edges are delivered with the host's sleep resolution (tens of microseconds)
and never closer than MIN_IRQ0_PERIOD_S apart;
a count written in modes 2 and 3 while counting takes effect at the end of the
current period, as the datasheet says; in mode 3 with an odd count, the
reported value steps like an even count one lower.

Access width: an 8-bit device (bus_width = 1). A 16- or 32-bit access is
split by the bus into byte accesses at consecutive ports, lowest first, as
the ISA bus does (a 16-bit `out` to 0x40 also writes 0x41 (counter 1)).
"""

from __future__ import annotations

import threading
import time

PIT_HZ = 1_193_182
# The shortest interval between two IRQ 0 edges the timer thread delivers:
# 100 us, i.e. 10 kHz, the highest [machine] timer_hz. KVM's in-kernel PIT
# clamps periodic timers the same way (min_timer_period_us, 200 us by
# default). Counter reads stay exact; faster edges are counted as due and
# handled by the tick policy (owed and caught up, or lost).
MIN_IRQ0_PERIOD_S = 100e-6
MIN_IRQ0_PERIOD_NS = 100_000
NEVER = 1 << 62  # deadline_ns when no IRQ 0 edge is coming (counter 0 not counting, or stopped)


def _clock_now(epoch_ns: int) -> int:
    return (time.monotonic_ns() - epoch_ns) * PIT_HZ // 1_000_000_000


def _to_bcd(value: int) -> int:
    return int(str(value % 10000), 16)


def _from_bcd(value: int) -> int:
    digits = f"{value:04x}"
    return int(digits) if digits.isdigit() else value


class PitCounter:
    def __init__(self, index: int, clock):
        self.index = index
        self.clock = clock  # () -> current PIT clock number
        self.mode = 0
        self.access = 3  # 1 LSB, 2 MSB, 3 LSB then MSB
        self.bcd = False
        self.reload = 0         # the count register (CR) as last written
        self.count_value = 0    # N in effect for the current run
        self.null_count = True  # CR written but not yet loaded into the counting element
        self.gate = index != 2  # counters 0 and 1 have their gate tied high
        self.start = None       # clock at which the current run began
        self.paused_elapsed = 0  # modes 0/4 with gate low: clocks counted so far
        self.armed = False      # modes 1/5: waiting for a gate trigger
        self.write_msb_next = False
        self.read_msb_next = False
        self.latched = []        # bytes still to read from a counter latch
        self.latched_status = None
        self.pending_reload = None  # modes 2/3: count to load at the next period end
        self.held = 0               # modes 2/3 with gate low: the count, stopped

    # -- the counting element -------------------------------------------------
    @property
    def modulus(self) -> int:
        n = self.count_value
        return n if n else (10000 if self.bcd else 0x10000)

    def elapsed(self, now: int) -> int | None:
        """Clocks counted in the current run, or None if not counting."""
        if self.start is None:
            return None
        if self.mode in (0, 4) and not self.gate:
            return self.paused_elapsed
        return self.paused_elapsed + (now - self.start)

    def _apply_pending_reload(self, now: int):
        """Modes 2/3: a count written while counting loads at the period's end."""
        if self.pending_reload is None or self.start is None:
            return
        n = self.modulus
        if self.elapsed(now) >= n:
            self.start = self.start - self.paused_elapsed + n  # the new run began there
            self.paused_elapsed = 0
            self.count_value, self.pending_reload = self.pending_reload, None
            self.null_count = False

    def value_and_out(self, now: int) -> tuple[int, bool]:
        self._apply_pending_reload(now)
        e = self.elapsed(now)
        mode, n = self.mode, self.modulus
        if e is None:  # not counting yet
            return self.count_value, mode != 0
        if mode in (0, 1):
            value = (n - e) % self.modulus_wrap
            return value, e >= n
        if mode in (4, 5):
            value = (n - e) % self.modulus_wrap
            return value, e != n
        if mode == 2:
            if not self.gate:
                return self.held, True  # gate low: counting stops, OUT high
            phase = e % n
            return n - phase, phase != n - 1
        # mode 3: square wave
        if not self.gate:
            return self.held, True
        phase = e % n
        high = (n + 1) // 2
        if phase < high:
            return (n - 2 * phase) & ~1 or n, True
        return (n - 2 * (phase - high)) & ~1 or n, False

    @property
    def modulus_wrap(self) -> int:
        return 10000 if self.bcd else 0x10000

    def out(self) -> bool:
        return self.value_and_out(self.clock())[1]

    def next_rising_edge(self, after: int) -> int | None:
        """Clock number of the first rising edge of OUT after clock `after`."""
        self._apply_pending_reload(after)
        if self.start is None or (self.mode in (0, 4) and not self.gate):
            return None
        n = self.modulus
        e = max(self.elapsed(after), 0)
        run_origin = self.start - self.paused_elapsed
        if self.mode in (2, 3):
            if not self.gate:
                return None
            k = e // n + 1  # OUT rises at the start of every period
            if self.pending_reload is not None:
                return run_origin + n  # the period end at which the new count loads
            return run_origin + k * n
        edge = n if self.mode in (0, 1) else n + 1  # strobe modes rise after the low clock
        return run_origin + edge if e < edge else None

    def _load(self, now: int):
        self.count_value = self.reload
        self.null_count = False
        self.paused_elapsed = 0
        self.start = now
        self.held = self.modulus  # loaded with the gate low: N until it rises

    # -- programming ----------------------------------------------------------
    def control(self, access: int, mode: int, bcd: bool):
        self.access = access
        self.mode = mode if mode < 6 else mode - 4  # modes 6, 7 are 2, 3
        self.bcd = bcd
        self.write_msb_next = False
        self.read_msb_next = False
        self.start = None  # counting stops until a count is written
        self.pending_reload = None
        self.null_count = True
        self.armed = False
        # Writing a control word resets the counter's control logic: a count
        # or status latched and not yet read is dropped (8254 datasheet).
        self.latched = []
        self.latched_status = None

    def write_count_byte(self, byte: int):
        now = self.clock()
        if self.access == 1:
            self.reload = byte
        elif self.access == 2:
            self.reload = byte << 8
        elif not self.write_msb_next:
            self.reload = (self.reload & 0xFF00) | byte
            self.write_msb_next = True
            if self.mode == 0:
                self.start = None  # writing the first byte stops mode 0 counting
            return
        else:
            self.reload = (self.reload & 0x00FF) | (byte << 8)
            self.write_msb_next = False
        if self.bcd:
            self.reload = _from_bcd(self.reload)
        self.null_count = True
        if self.mode in (1, 5):
            self.armed = True  # loaded by the next gate trigger
        elif self.mode in (2, 3) and self.start is not None:
            # New count at the end of the period now in progress: count the
            # run from that period's start, so the reload lands at its end
            # (not at the end of the first period, which may be long past).
            self._apply_pending_reload(now)
            self.start += self.elapsed(now) // self.modulus * self.modulus
            self.pending_reload = self.reload
        else:
            self._load(now)

    def latch(self):
        if not self.latched:  # a second latch before reading is ignored
            value, _ = self.value_and_out(self.clock())
            if self.bcd:
                value = _to_bcd(value)
            value &= 0xFFFF
            if self.access == 1:
                self.latched = [value & 0xFF]
            elif self.access == 2:
                self.latched = [value >> 8]
            else:
                self.latched = [value & 0xFF, value >> 8]

    def latch_status(self):
        if self.latched_status is None:
            _, out = self.value_and_out(self.clock())
            self.latched_status = ((0x80 if out else 0) | (0x40 if self.null_count else 0)
                                   | self.access << 4 | self.mode << 1 | int(self.bcd))

    def read_byte(self) -> int:
        if self.latched_status is not None:
            status, self.latched_status = self.latched_status, None
            return status
        if self.latched:
            return self.latched.pop(0)
        value, _ = self.value_and_out(self.clock())
        if self.bcd:
            value = _to_bcd(value)
        value &= 0xFFFF
        if self.access == 1:
            return value & 0xFF
        if self.access == 2:
            return value >> 8
        byte = value >> 8 if self.read_msb_next else value & 0xFF
        self.read_msb_next = not self.read_msb_next
        return byte

    def set_gate(self, level: bool):
        now = self.clock()
        rising = level and not self.gate
        if self.mode in (0, 4) and self.start is not None:
            if not level and self.gate:
                self.paused_elapsed = self.elapsed(now)
            elif rising:
                self.start = now
        elif self.mode in (2, 3) and self.start is not None and not level and self.gate:
            self.held = self.value_and_out(now)[0]  # counting stops where it is
        self.gate = level
        if rising:
            if self.mode in (1, 5) and (self.armed or self.start is not None):
                self.armed = False
                self._load(now)  # trigger: (re)load and start
            elif self.mode in (2, 3) and self.start is not None:
                self._load(now)  # a rising gate reloads the counter


class Pit8254:
    POLICIES = ("catch-up", "drop")

    def __init__(self, irq0=None, name: str = "pit8254", policy: str = "catch-up", irq0_masked=None,
                 irq0_pending=None):
        """irq0: the IrqLine counter 0's OUT drives. For the catch-up policy, from
        the PIC: irq0_masked() (the guest masked it) and irq0_pending() (the
        last edge still waits in IRR, not yet acknowledged)."""
        self.name = name
        self.epoch_ns = time.monotonic_ns()
        self.counters = [PitCounter(i, self.now) for i in range(3)]
        self.irq0 = irq0
        if policy not in self.POLICIES:
            raise ValueError(f"{name}: tick policy {policy!r} is not one of {', '.join(self.POLICIES)}")
        self.policy = policy
        self.irq0_masked = irq0_masked or (lambda: False)
        self.irq0_pending = irq0_pending or (lambda: False)
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.stats = {"edges": 0, "delivered": 0, "caught_up": 0, "lost_ticks": 0}
        self._owed = 0
        self._thread = None
        self._stopping = True  # until start() or attach_to_vcpu()
        self.vcpu_driven = False  # the run loop services deadline_ns (attach_to_vcpu())
        self.deadline_ns = NEVER  # monotonic ns of the next IRQ 0 edge (see service())
        self._next_edge = None    # its PIT clock number
        self._last_edge = 0       # the PIT clock of the last edge delivered
        self._earliest = 0        # no edge before this monotonic ns (MIN_IRQ0_PERIOD_NS)

    def now(self) -> int:
        return _clock_now(self.epoch_ns)

    def clock_to_monotonic(self, clock: int) -> float:
        return (self.epoch_ns + clock * 1_000_000_000 // PIT_HZ) / 1e9

    # -- bus interface ---------------------------------------------------------
    bus_width = 1  # an 8-bit device: a 16-bit out to 0x40 writes 0x40 and 0x41, as on the ISA bus

    def read(self, offset: int, size: int) -> int:
        with self.lock:
            if offset == 3:
                return 0xFF  # the control word register cannot be read
            return self.counters[offset].read_byte()

    def write(self, offset: int, size: int, value: int):
        value &= 0xFF
        with self.lock:
            if offset < 3:
                self.counters[offset].write_count_byte(value)
            else:
                self._control(value)
            if offset == 0 or (offset == 3 and value >> 6 == 0):
                self._owed = 0  # counter 0 reprogrammed: old ticks are not owed
                self._plan()
            self.changed.notify_all()  # a timer thread re-plans too

    def _control(self, value: int):
        select = value >> 6
        if select == 3:  # read-back: bit 5 = !COUNT, bit 4 = !STATUS, bits 3-1 counters
            for i in range(3):
                if value & (2 << i):
                    if not value & 0x20:
                        self.counters[i].latch()
                    if not value & 0x10:
                        self.counters[i].latch_status()
            return
        access = (value >> 4) & 3
        counter = self.counters[select]
        if access == 0:
            counter.latch()
        else:
            counter.control(access, (value >> 1) & 7, bool(value & 1))

    # -- counter 2's gate and OUT, for port 0x61 --------------------------------
    def set_gate2(self, level: bool):
        with self.lock:
            self.counters[2].set_gate(level)

    def out2(self) -> bool:
        with self.lock:
            return self.counters[2].out()

    # -- IRQ 0 -------------------------------------------------------------------
    # Two ways to drive counter 0's edges to IRQ 0, both through service():
    # - in a booted machine the run loop does it in the vCPU thread: it reads
    #   deadline_ns after every exit, calls service() once it has passed, and
    #   sleeps until it while halted (vmm/run_loop.py, vmm/vcpu_timer.py);
    # - start()/stop() run a timer thread that does the same on its own, for
    #   a PIT used without a run loop (device tests, a vCPU thread that cannot
    #   take the alarm signal).
    def attach_to_vcpu(self):
        """The run loop services the deadline from now on (no timer thread)."""
        self.vcpu_driven = True
        with self.lock:
            self._stopping = False
            self._last_edge = self.now()
            self._earliest = 0
            self._plan()

    def detach(self):
        """No more edges until attach_to_vcpu() or start() (e.g. while a debugger holds the VM)."""
        with self.lock:
            self._stopping = True
            self.deadline_ns = NEVER

    def start(self):
        if self.vcpu_driven:  # the run loop keeps the deadline: just plan it again
            self.attach_to_vcpu()
            return
        with self.lock:
            self._stopping = False
            self._last_edge = self.now()
            self._earliest = 0
            self._plan()
        self._thread = threading.Thread(target=self._timer_loop, name="pit-irq0", daemon=True)
        self._thread.start()

    def stop(self):
        with self.lock:
            self._stopping = True
            self.deadline_ns = NEVER
            self.changed.notify_all()
        if self._thread:
            self._thread.join(timeout=2)
            self._thread = None

    def _plan(self):
        """With the lock held: the monotonic ns of the next IRQ 0 edge to pulse, in deadline_ns."""
        if self._stopping:
            self.deadline_ns = NEVER
            return
        edge = self.counters[0].next_rising_edge(self._last_edge)
        self._next_edge = edge
        if edge is None:
            self.deadline_ns = NEVER
            return
        self.deadline_ns = max(self.epoch_ns + edge * 1_000_000_000 // PIT_HZ + 1, self._earliest)

    def service(self, now_ns: int):
        """Deliver the edges due by `now_ns` (monotonic) and plan the next deadline."""
        with self.lock:
            if now_ns < self.deadline_ns or self._next_edge is None:
                return
            edges, self._last_edge = self._edges_until(self.counters[0], self._next_edge, self.now())
            self._earliest = now_ns + MIN_IRQ0_PERIOD_NS
            deliver = self._edges_due(edges)
            self._plan()
        if deliver:
            self._pulse()  # never with the PIT lock held: it calls into the PIC

    def _pulse(self):
        """A rising edge on IRQ 0. Called without the PIT lock held."""
        if self.irq0 is not None:
            self.irq0.set_level(True)
            self.irq0.set_level(False)

    def _take_owed(self) -> bool:
        """With the lock held: may the next owed edge go out now? Only once the
        previous one has left the PIC's IRR (an edge there would merge)."""
        if self._owed and not self.irq0_pending():
            self._owed -= 1
            self.stats["delivered"] += 1
            return True
        return False

    def irq0_acknowledged(self):
        """The PIC acknowledged IRQ 0 (INTA or poll): send the next owed edge, if any."""
        if not self._owed:  # every tick (none owed): no lock. An edge owed meanwhile by
            return          # the PIT's own thread is sent by that thread (_edges_due).
        with self.lock:
            catching_up = self._take_owed()
            if catching_up:
                self.stats["caught_up"] += 1
        if catching_up:
            self._pulse()

    def _edges_due(self, edges: int) -> bool:
        """With the lock held: `edges` rising edges are due now. Pulse now?"""
        self.stats["edges"] += edges
        if self.policy == "drop" or self.irq0_masked():
            self.stats["lost_ticks"] += edges - 1  # the VMM was late for all but one
            self.stats["delivered"] += 1
            return True
        self._owed += edges
        cap = max(1, PIT_HZ // self.counters[0].modulus)  # one second of ticks
        if self._owed > cap:
            self.stats["lost_ticks"] += self._owed - cap
            self._owed = cap
        return self._take_owed()

    def _timer_loop(self):
        import signal
        # Signals are for the vCPU thread.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGUSR1})
        with self.lock:
            while not self._stopping:
                if self.deadline_ns == NEVER:
                    self.changed.wait()
                    continue
                delay = (self.deadline_ns - time.monotonic_ns()) / 1e9
                if delay > 0:
                    self.changed.wait(delay)
                    continue  # reprogrammed, stopping or woke early: look again
                self.lock.release()
                try:
                    self.service(time.monotonic_ns())
                finally:
                    self.lock.acquire()

    @staticmethod
    def _edges_until(counter, edge: int, now: int) -> tuple[int, int]:
        """Rising edges from `edge` to clock `now`, and the last of them.

        Counted arithmetically for the periodic modes, so a guest that
        programs a period of 2 clocks costs one division per wake-up, not a
        Python step per edge (which could never catch up, and once hung the
        VMM with the PIT lock held)."""
        edges = 1
        for _ in range(4):  # at most a pending reload and one period change
            following = counter.next_rising_edge(edge)
            if following is None or following > now:
                return edges, edge
            period = following - edge
            if counter.mode in (2, 3) and counter.pending_reload is None and period > 0:
                k = (now - edge) // period
                return edges + k, edge + k * period
            edges += 1
            edge = following
        return edges, edge
