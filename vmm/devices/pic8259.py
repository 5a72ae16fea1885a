"""8259A programmable interrupt controller pair (Intel 8259A datasheet).

Master at 0x20/0x21, slave at 0xA0/0xA1 cascaded on the master's IR2, as on
the PC. Per chip:

    A0=0 write, bit 4 set      ICW1: starts initialisation (LTIM, SNGL, IC4)
    A0=1 writes after ICW1     ICW2 (vector base), ICW3 (if not SNGL), ICW4 (if IC4)
    A0=1 write otherwise       OCW1: the interrupt mask register (IMR)
    A0=0 write, bits 4,3 = 00  OCW2: EOI, specific EOI, rotations, set priority
    A0=0 write, bits 4,3 = 01  OCW3: read IRR/ISR select, poll, special mask mode
    A0=0 read                  IRR or ISR (per OCW3), or the poll word after a poll
    A0=1 read                  IMR

Priorities are fixed (IR0 highest) until a rotate or set-priority command
moves the lowest-priority level. An interrupt is passed to the CPU when it is
requested (IRR), unmasked (IMR) and of higher priority than everything in
service (ISR) — in special mask mode, masked levels in service do not block;
in special fully nested mode a master lets a cascade input interrupt again
while it is in service. The INTA sequence (acknowledge()) moves the request
from IRR to ISR (not in auto-EOI mode) and returns the vector; if the request
went away before INTA, the chip answers with its IR7 vector and sets no ISR
bit (a spurious interrupt); for a spurious interrupt on the slave the master
has still put IR2 in service, as on real hardware.

Simplifications:
- Inputs are edge-triggered unless ICW1 sets LTIM (level). The per-line ELCR
  registers of later PC chipsets (0x4D0/0x4D1) are not modelled.
- 8080/8085 mode (ICW4 uPM=0), buffered mode and the M/S bit are stored and
  read back through nothing: the chips always behave as the PC wires them.
- The slave's INT output is dropped for the INTA cycle and raised again if a
  request is still pending, so the master sees a fresh edge on IR2.

Access width: an 8-bit device (bus_width = 1). A 16- or 32-bit access is
split by the bus into byte accesses at consecutive ports, lowest first, as
the ISA bus does (a 16-bit `out` to 0x20 also writes 0x21).
"""

from __future__ import annotations

import threading

CASCADE_IRQ = 2
CASCADE_BIT = 1 << CASCADE_IRQ


class Pic8259:
    """One 8259A chip."""

    def __init__(self, name: str):
        self.name = name
        self.counters = {"acknowledged": [0] * 8, "spurious": 0, "coalesced": [0] * 8}
        self.reset()

    def reset(self):
        self.irr = 0
        self.isr = 0
        self.imr = 0
        self.levels = 0           # current input line levels (edge detection)
        self.vector_base = 0
        self.init_step = 0        # 0: initialised; 2, 3, 4: next ICW expected
        self.icw1 = 0
        self.icw3 = 0
        self.icw4 = 0
        self.lowest_priority = 7  # IR7 lowest: IR0 highest
        self.read_isr = False     # OCW3 RR/RIS
        self.poll = False
        self.special_mask = False
        self.rotate_on_aeoi = False

    # -- configuration decoded from the ICWs -------------------------------
    @property
    def level_triggered(self) -> bool:
        return bool(self.icw1 & 0x08)

    @property
    def single(self) -> bool:
        return bool(self.icw1 & 0x02)

    @property
    def auto_eoi(self) -> bool:
        return bool(self.icw4 & 0x02)

    @property
    def special_fully_nested(self) -> bool:
        return bool(self.icw4 & 0x10)

    # -- priority ---------------------------------------------------------------
    def _priority(self, irq: int) -> int:
        """0 is the highest priority."""
        return (irq - self.lowest_priority - 1) & 7

    def _highest(self, bits: int):
        """The highest-priority IR level set in `bits`, or None.

        Rotating the bits so the highest-priority level (the one after
        lowest_priority) is bit 0 makes this the lowest set bit: a few integer
        operations instead of a loop over eight levels (it runs on every
        register access and interrupt acknowledge)."""
        bits &= 0xFF
        if not bits:
            return None
        shift = (self.lowest_priority + 1) & 7
        rotated = ((bits >> shift) | (bits << (8 - shift))) & 0xFF
        return ((rotated & -rotated).bit_length() - 1 + shift) & 7

    def pending(self):
        """The IR level this chip would interrupt the CPU for now, or None."""
        requests = self.irr & ~self.imr
        if not requests:
            return None
        irq = self._highest(requests)
        in_service = self.isr & ~self.imr if self.special_mask else self.isr
        if not in_service:
            return irq
        blocking = self._highest(in_service)
        if blocking is not None and self._priority(blocking) <= self._priority(irq):
            nested_cascade = (self.special_fully_nested and blocking == irq
                              and self.icw3 >> irq & 1)
            if not nested_cascade:
                return None
        return irq

    @property
    def int_output(self) -> bool:
        return self.pending() is not None

    # -- inputs -----------------------------------------------------------------
    def set_irq(self, irq: int, level: bool):
        bit = 1 << irq
        if level:
            if self.level_triggered or not self.levels & bit:
                if self.irr & bit and not self.level_triggered:
                    self.counters["coalesced"][irq] += 1  # a new edge while one still waits
                self.irr |= bit
            self.levels |= bit
        else:
            self.levels &= ~bit
            if self.level_triggered:
                self.irr &= ~bit

    def acknowledge(self):
        """INTA: the IR level being serviced, or None for a spurious interrupt."""
        irq = self.pending()
        if irq is None:
            self.counters["spurious"] += 1
            return None
        bit = 1 << irq
        if not self.level_triggered:
            self.irr &= ~bit
        if self.auto_eoi:
            if self.rotate_on_aeoi:
                self.lowest_priority = irq
        else:
            self.isr |= bit
        self.counters["acknowledged"][irq] += 1
        return irq

    # -- registers ----------------------------------------------------------------
    def read(self, a0: int) -> int:
        if a0:
            return self.imr
        if self.poll:
            self.poll = False
            irq = self.acknowledge() if self.pending() is not None else None
            return 0x80 | irq if irq is not None else 0
        return self.isr if self.read_isr else self.irr

    def write(self, a0: int, value: int):
        if not a0:
            if value & 0x10:
                self._icw1(value)
            elif value & 0x08:
                self._ocw3(value)
            else:
                self._ocw2(value)
        elif self.init_step == 2:
            self.vector_base = value & 0xF8
            self.init_step = 3 if not self.single else (4 if self.icw1 & 0x01 else 0)
        elif self.init_step == 3:
            self.icw3 = value
            self.init_step = 4 if self.icw1 & 0x01 else 0
        elif self.init_step == 4:
            self.icw4 = value
            self.init_step = 0
        else:
            self.imr = value  # OCW1

    def _icw1(self, value: int):
        # Datasheet: ICW1 clears the IMR, the edge-sense latch and special mask
        # mode, gives IR7 the lowest priority and selects IRR for status reads.
        self.icw1 = value
        self.imr = 0
        self.isr = 0
        self.irr = 0
        self.levels = 0
        self.lowest_priority = 7
        self.special_mask = False
        self.read_isr = False
        self.poll = False
        self.rotate_on_aeoi = False
        if not value & 0x01:
            self.icw4 = 0
        self.init_step = 2

    def _ocw2(self, value: int):
        command, level = value >> 5, value & 7
        if command in (0b001, 0b101):  # non-specific EOI (and rotate)
            irq = self._highest(self.isr)
            if irq is not None:
                self.isr &= ~(1 << irq)
                if command == 0b101:
                    self.lowest_priority = irq
        elif command in (0b011, 0b111):  # specific EOI (and rotate)
            self.isr &= ~(1 << level)
            if command == 0b111:
                self.lowest_priority = level
        elif command == 0b110:  # set priority
            self.lowest_priority = level
        elif command == 0b100:
            self.rotate_on_aeoi = True
        elif command == 0b000:
            self.rotate_on_aeoi = False
        # 0b010: no operation

    def _ocw3(self, value: int):
        if value & 0x40:
            self.special_mask = bool(value & 0x20)
        if value & 0x04:
            self.poll = True
        if value & 0x02:
            self.read_isr = bool(value & 0x01)


class PicPort:
    """One chip's two ports as a bus device (8-bit: the bus splits wider accesses)."""

    bus_width = 1

    def __init__(self, pair: "PicPair", chip: Pic8259):
        self.name = f"pic8259-{chip.name}"
        self.pair = pair
        self.chip = chip

    @property
    def counters(self):
        """The chip's counters, for the metrics' device hook (vmm/metrics/devices.py)."""
        return self.chip.counters

    def read(self, offset: int, size: int) -> int:
        with self.pair.lock:
            polled = self.chip.poll and offset == 0
            value = self.chip.read(offset)
            self.pair.update()
            if polled and value & 0x80 and self.pair.on_ack:  # the poll acted as INTA
                self.pair.on_ack((8 if self.chip is self.pair.slave else 0) + (value & 7))
            return value

    def write(self, offset: int, size: int, value: int):
        with self.pair.lock:
            self.chip.write(offset, value & 0xFF)
            self.pair.update()


class PicPair:
    """The PC's master and slave 8259A, and the CPU's INTR line."""

    def __init__(self, on_int=None, on_ack=None):
        """on_int() is called (from any thread) when INTR rises; on_ack(line)
        after an INTA cycle took IRQ line 0-15."""
        self.master = Pic8259("master")
        self.slave = Pic8259("slave")
        self.lock = threading.RLock()  # devices raise IRQs from their own threads
        self.on_int = on_int
        self.on_ack = on_ack
        # The INTR output as of the last change, for the run loop to read per
        # exit without the lock: every state change goes through update().
        self.intr = False
        self.master_port = PicPort(self, self.master)
        self.slave_port = PicPort(self, self.slave)

    def update(self):
        """Propagate the slave's INT to IR2, and INTR changes to the CPU."""
        slave, master = self.slave, self.master
        # (no request in the slave's IRR: its INT is low without resolving priorities)
        cascade = bool(slave.irr) and slave.pending() is not None
        if cascade != bool(master.levels & CASCADE_BIT):
            # (an input at the level it has changes nothing, edge- or level-triggered:
            # a level-triggered IRR bit is set only while its input is high)
            master.set_irq(CASCADE_IRQ, cascade)
        intr = bool(master.irr) and master.pending() is not None
        rose = intr and not self.intr
        self.intr = intr
        if rose and self.on_int:
            self.on_int()

    def set_irq(self, line: int, level: bool):
        """An IRQ line 0-15 changed level. Usable as an IrqLine listener."""
        with self.lock:
            if line < 8:
                self.master.set_irq(line, level)
            else:
                self.slave.set_irq(line - 8, level)
            self.update()

    def has_interrupt(self) -> bool:
        with self.lock:
            return self.master.int_output

    def acknowledge(self) -> int:
        """The CPU's INTA cycle: the vector to deliver."""
        with self.lock:
            irq = self.master.acknowledge()
            line = irq
            if irq is None:
                vector = self.master.vector_base | 7
            elif irq == CASCADE_IRQ and self.master.icw3 & (1 << CASCADE_IRQ):
                slave_irq = self.slave.acknowledge()
                vector = self.slave.vector_base | (7 if slave_irq is None else slave_irq)
                line = None if slave_irq is None else 8 + slave_irq
                self.master.set_irq(CASCADE_IRQ, False)  # INT drops for the INTA cycle
            else:
                vector = self.master.vector_base | irq
            self.update()
            if line is not None and self.on_ack:
                self.on_ack(line)
            return vector
