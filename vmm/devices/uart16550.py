"""16550A UART (National Semiconductor PC16550D datasheet), e.g. COM1 at 0x3F8.

Registers, by offset from the base (DLAB = LCR bit 7):

    0  read: RBR receive buffer       write: THR transmit holding   (DLAB=1: DLL)
    1  IER interrupt enable                                         (DLAB=1: DLM)
    2  read: IIR interrupt identity   write: FCR FIFO control
    3  LCR line control   4  MCR modem control   5  LSR line status
    6  MSR modem status   7  SCR scratch

Interrupts, highest priority first (IIR bits 3..1):
    receiver line status (0b011) > received data / character timeout
    (0b010 / 0b110) > THR empty (0b001) > modem status (0b000).
The interrupt output reaches the PIC only while MCR.OUT2 is set, as it is
wired on the PC.

Simplifications, all invisible to a driver that follows the datasheet:
- The line is infinitely fast: a byte written to THR is sent at once, so
  THR and the transmitter are always empty again by the next read of LSR
  (the transmit FIFO never fills). The THRE interrupt follows the datasheet:
  raised when THR empties (or ETBEI is set while it is empty), cleared by
  reading IIR when THRE is the reported source, or by writing THR.
- Baud rate, word length, parity and stop bits are stored and read back but
  do not change the bytes; no parity/framing errors or breaks occur on input,
  so LSR bit 7 (error in the receive FIFO) always reads 0.
- The character-timeout interrupt (FIFO mode, data below the trigger level)
  is raised as soon as such data is waiting, instead of after four
  character times.
- Outside loopback the modem inputs read as a connected terminal: CTS, DSR
  and DCD asserted, RI clear, never changing.

Threads: the guest's register accesses come from the vCPU thread, bytes
from the terminal from an input thread. There is no lock: state has one
writer. receive() from another thread (once vcpu_thread is set, see
vmm/machine.py) only appends to an inbox and the caller kicks the vCPU; the
vCPU thread moves the inbox into the receive FIFO (take_input()) after a
kick and before any register access, so the guest sees the bytes in order
and no later than it would have with a lock.

Coalesced transmit (KVM_CAP_COALESCED_PIO, vmm/coalesced.py): with a
tx_zone attached, THR writes are left in KVM's ring instead of exiting, and
reach write_block() in order at the next exit (or the run loop's flush
timer), all bytes of a drain as one output() call. That is invisible to the
guest only because this line is infinitely fast: a THR write changes nothing
the guest could read before the next exit (LSR THRE/TEMT are set again at
once; IIR shows no THRE interrupt while ETBEI is clear). So the zone is on
only while
- LCR.DLAB is clear (offset 0 is the divisor latch DLL otherwise),
- MCR.LOOP is clear (looped-back bytes would appear in RBR/LSR.DR at once),
- IER.ETBEI is clear (a THRE interrupt must be raised at the write, and the
  guest's handler may run before the next exit);
any write to IER, LCR or MCR that breaks one of these switches it off before
the guest's next instruction (those registers always exit, and the ring is
drained before the write is handled), and normal exits take over.

Access width: an 8-bit device (bus_width = 1). A 16- or 32-bit access is
split by the bus into byte accesses at consecutive ports, lowest first, as
the ISA bus does (a 16-bit `out` to the base also writes base + 1).
"""

from __future__ import annotations

import threading
from collections import deque

# IER bits
IER_RDA, IER_THRE, IER_RLS, IER_MSI = 0x01, 0x02, 0x04, 0x08
# IIR values (bit 0 = 1: nothing pending)
IIR_NONE, IIR_MSI, IIR_THRE, IIR_RDA, IIR_RLS, IIR_TIMEOUT = 0x01, 0x00, 0x02, 0x04, 0x06, 0x0C
IIR_FIFO_ENABLED = 0xC0
# FCR bits
FCR_ENABLE, FCR_CLEAR_RX, FCR_CLEAR_TX = 0x01, 0x02, 0x04
RX_TRIGGER_LEVELS = (1, 4, 8, 14)
# LCR / MCR bits
LCR_DLAB = 0x80
MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_LOOP = 0x01, 0x02, 0x04, 0x08, 0x10
# LSR bits
LSR_DR, LSR_OE, LSR_PE, LSR_FE, LSR_BI, LSR_THRE, LSR_TEMT, LSR_RXFE = 1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80
LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI
# MSR bits
MSR_DCTS, MSR_DDSR, MSR_TERI, MSR_DDCD = 0x01, 0x02, 0x04, 0x08
MSR_CTS, MSR_DSR, MSR_RI, MSR_DCD = 0x10, 0x20, 0x40, 0x80

FIFO_DEPTH = 16


class Uart16550:
    def __init__(self, name: str = "uart16550", output=None, irq=None):
        """output(bytes) receives transmitted bytes; irq has set_level(bool)."""
        self.name = name
        self.output = output or (lambda data: None)
        self.irq = irq
        # The thread that owns the state while a run loop runs (None: whoever calls).
        self.vcpu_thread: int | None = None
        self._inbox: deque[bytes] = deque()  # bytes from other threads, not yet in rx
        self.tx_zone = None  # a vmm.coalesced.CoalescedZone for THR, switched by _update_tx_zone()
        self.counters = {"tx_bytes": 0, "rx_bytes": 0, "rx_overruns": 0}
        self.reset()

    def reset(self):
        self.dll, self.dlm = 0x0C, 0x00  # 9600 baud, a common power-on value
        self.ier = 0
        self.fcr = 0
        self.lcr = 0
        self.mcr = 0
        self.lsr = LSR_THRE | LSR_TEMT
        self.msr_inputs = MSR_CTS | MSR_DSR | MSR_DCD  # a terminal is attached
        self.msr_deltas = 0
        self.scr = 0
        self.rx: deque[int] = deque()
        self.thre_pending = False
        self._update_irq()
        self._update_tx_zone()

    def attach_tx_zone(self, zone):
        """Coalesce THR writes through `zone` whenever that is safe (see the docstring)."""
        self.tx_zone = zone
        self._update_tx_zone()

    def _update_tx_zone(self):
        zone = getattr(self, "tx_zone", None)
        if zone is not None:
            zone.set(not (self.lcr & LCR_DLAB or self.mcr & MCR_LOOP or self.ier & IER_THRE))

    # -- helpers -----------------------------------------------------------
    @property
    def fifo_enabled(self) -> bool:
        return bool(self.fcr & FCR_ENABLE)

    @property
    def rx_capacity(self) -> int:
        return FIFO_DEPTH if self.fifo_enabled else 1

    @property
    def rx_trigger(self) -> int:
        return RX_TRIGGER_LEVELS[self.fcr >> 6] if self.fifo_enabled else 1

    def _msr(self) -> int:
        if self.mcr & MCR_LOOP:
            # Loopback: modem outputs feed the modem inputs (datasheet 8.6.5).
            inputs = ((MSR_CTS if self.mcr & MCR_RTS else 0) | (MSR_DSR if self.mcr & MCR_DTR else 0)
                      | (MSR_RI if self.mcr & MCR_OUT1 else 0) | (MSR_DCD if self.mcr & MCR_OUT2 else 0))
        else:
            inputs = self.msr_inputs
        return inputs | self.msr_deltas

    def _set_modem_inputs(self, before: int, after: int):
        changed = before ^ after
        if changed & MSR_CTS:
            self.msr_deltas |= MSR_DCTS
        if changed & MSR_DSR:
            self.msr_deltas |= MSR_DDSR
        if changed & MSR_DCD:
            self.msr_deltas |= MSR_DDCD
        if before & MSR_RI and not after & MSR_RI:  # trailing edge of RI
            self.msr_deltas |= MSR_TERI

    def pending_interrupt(self) -> int:
        """The IIR identity bits of the highest-priority pending interrupt."""
        if self.ier & IER_RLS and self.lsr & LSR_ERRORS:
            return IIR_RLS
        if self.ier & IER_RDA and self.rx:
            if len(self.rx) >= self.rx_trigger:
                return IIR_RDA
            return IIR_TIMEOUT
        if self.ier & IER_THRE and self.thre_pending:
            return IIR_THRE
        if self.ier & IER_MSI and self.msr_deltas:
            return IIR_MSI
        return IIR_NONE

    def _update_irq(self):
        if self.irq is not None:
            asserted = self.pending_interrupt() != IIR_NONE and bool(self.mcr & MCR_OUT2)
            self.irq.set_level(asserted)

    def _receive_byte(self, byte: int):
        if len(self.rx) >= self.rx_capacity:
            self.lsr |= LSR_OE  # the new character is lost
            self.counters["rx_overruns"] += 1
        else:
            self.rx.append(byte)
            self.counters["rx_bytes"] += 1
        self.lsr |= LSR_DR

    def _transmit(self, byte: int):
        self.counters["tx_bytes"] += 1
        if self.mcr & MCR_LOOP:
            self._receive_byte(byte)  # looped back, not sent to the line
        else:
            self.output(bytes((byte,)))
        # Sent at once: THR and shift register are empty again.
        self.lsr |= LSR_THRE | LSR_TEMT
        self.thre_pending = True

    # -- the outside world ---------------------------------------------------
    def receive(self, data: bytes):
        """Bytes arriving on the line (from the terminal). Ignored in loopback.
        From a thread other than vcpu_thread: queued, the caller kicks the vCPU."""
        self._inbox.append(bytes(data))
        owner = self.vcpu_thread
        if owner is None or owner == threading.get_ident():
            self.take_input()

    def take_input(self):
        """Move bytes received by other threads into the receive FIFO (the owner thread)."""
        inbox = self._inbox
        if not inbox:
            return
        while inbox:
            data = inbox.popleft()
            if self.mcr & MCR_LOOP:
                continue
            for byte in data:
                self._receive_byte(byte)
        self._update_irq()

    def rx_space(self) -> int:
        """Free places in the receive FIFO, bytes still in the inbox counted as taken."""
        waiting = sum(len(d) for d in list(self._inbox))
        return max(0, self.rx_capacity - len(self.rx) - waiting)

    # -- bus interface ---------------------------------------------------------
    bus_width = 1  # an 8-bit device: the bus splits wider accesses into bytes

    def read(self, offset: int, size: int) -> int:
        if self._inbox:
            self.take_input()
        value = self._read(offset)
        self._update_irq()
        return value

    def write(self, offset: int, size: int, value: int):
        if offset == 7:  # the scratch register: no other state, no interrupt change
            self.scr = value & 0xFF
            return
        if self._inbox:
            self.take_input()
        self._write(offset, value & 0xFF)
        self._update_irq()
        if offset in (1, 3, 4):  # IER, LCR, MCR: may make coalescing THR unsafe (or safe again)
            self._update_tx_zone()

    def write_block(self, offset: int, size: int, data):
        """Writes drained from the coalesced ring: THR bytes go out in one output() call."""
        if offset != 0 or size != 1 or self.lcr & LCR_DLAB or self.mcr & MCR_LOOP:
            for byte in bytes(data):
                self.write(offset, 1, byte)
            return
        if self._inbox:
            self.take_input()
        data = bytes(data)
        self.counters["tx_bytes"] += len(data)
        self.output(data)
        self.lsr |= LSR_THRE | LSR_TEMT  # sent at once, as for a single write
        self.thre_pending = True
        self._update_irq()

    def _read(self, offset: int) -> int:
        dlab = self.lcr & LCR_DLAB
        if offset == 0:
            if dlab:
                return self.dll
            byte = self.rx.popleft() if self.rx else 0
            if not self.rx:
                self.lsr &= ~LSR_DR
            return byte
        if offset == 1:
            return self.dlm if dlab else self.ier
        if offset == 2:
            iir = self.pending_interrupt()
            if iir == IIR_THRE:
                self.thre_pending = False  # reading IIR clears a THRE interrupt
            return iir | (IIR_FIFO_ENABLED if self.fifo_enabled else 0)
        if offset == 3:
            return self.lcr
        if offset == 4:
            return self.mcr
        if offset == 5:
            value = self.lsr
            # LSR7 (PC16550D): set in FIFO mode while a character with a parity or
            # framing error or a break is in the FIFO; an overrun does not set it.
            if self.fifo_enabled and self.lsr & (LSR_PE | LSR_FE | LSR_BI):
                value |= LSR_RXFE
            self.lsr &= ~LSR_ERRORS  # reading LSR clears the error bits
            return value
        if offset == 6:
            value = self._msr()
            self.msr_deltas = 0
            return value
        return self.scr

    def _write(self, offset: int, value: int):
        dlab = self.lcr & LCR_DLAB
        if offset == 0:
            if dlab:
                self.dll = value
            else:
                self.thre_pending = False
                self._transmit(value)
        elif offset == 1:
            if dlab:
                self.dlm = value
            else:
                was = self.ier
                self.ier = value & 0x0F
                # Enabling ETBEI while THR is empty raises THRE at once.
                if value & IER_THRE and not was & IER_THRE and self.lsr & LSR_THRE:
                    self.thre_pending = True
        elif offset == 2:
            if (value ^ self.fcr) & FCR_ENABLE:
                self.rx.clear()  # changing FIFO mode resets the FIFOs
            if value & FCR_CLEAR_RX:
                self.rx.clear()
            if not self.rx:
                self.lsr &= ~LSR_DR
            self.fcr = value & 0xC1  # the clear bits are self-clearing
        elif offset == 3:
            self.lcr = value
        elif offset == 4:
            before = self._msr() & 0xF0
            self.mcr = value & 0x1F
            self._set_modem_inputs(before, self._msr() & 0xF0)
        elif offset == 5:
            pass  # LSR is read-only (the factory-test write is not modelled)
        elif offset == 6:
            pass  # MSR is read-only
        else:
            self.scr = value

    @property
    def divisor(self) -> int:
        return (self.dlm << 8) | self.dll
