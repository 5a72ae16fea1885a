"""16550A behaviours the first UART tests left open, checked with the
datasheet's own numbers (PC16550D: register bits, IIR codes, reset values,
trigger levels) rather than the model's constants, plus the model's own
documented contracts: counters, the inbox from other threads, coalesced
transmit (write_block and the tx zone) and the 8-bit bus width."""

from __future__ import annotations

import threading

import pytest

from vmm.bus import Bus
from vmm.devices import uart16550 as u
from vmm.irq import IrqLine

THR = RBR = DLL = 0
IER = DLM = 1
IIR = FCR = 2
LCR, MCR, LSR, MSR, SCR = 3, 4, 5, 6, 7


class Zone:
    """A stand-in for vmm.coalesced.CoalescedZone: records set()."""

    def __init__(self):
        self.enabled = None
        self.calls = []

    def set(self, enabled):
        self.enabled = enabled
        self.calls.append(enabled)


class Outputs(list):
    """The output callback, recording each call's bytes (truthy even while empty)."""

    def __bool__(self):
        return True

    def __call__(self, data):
        self.append(bytes(data))


@pytest.fixture
def uart():
    out = Outputs()
    dev = u.Uart16550(output=out, irq=IrqLine(4))
    dev.out = out
    return dev


# -- reset values (PC16550D Table "UART reset configuration") -------------------------

def test_reset_register_values_read_back_as_the_datasheet_lists(uart):
    """After reset: IER 0, IIR 01 (nothing pending, FIFOs off), LCR 0, MCR 0,
    LSR 60 (THR and transmitter empty), MSR = the terminal's lines with no
    deltas, SCR 0 (this model), divisor 000C (9600 baud, the model's power-on value)."""
    assert [uart.read(r, 1) for r in (IER, IIR, LCR, MCR, LSR, SCR)] == [0x00, 0x01, 0x00, 0x00, 0x60, 0x00]
    assert uart.read(MSR, 1) == 0xB0  # CTS, DSR, DCD asserted; RI clear; no deltas
    uart.write(LCR, 1, 0x80)
    assert (uart.read(DLL, 1), uart.read(DLM, 1)) == (0x0C, 0x00)
    assert uart.divisor == 12


def test_reset_clears_what_the_guest_set(uart):
    """A machine reset (reset()) returns every register to its power-on value."""
    uart.write(LCR, 1, 0x80)
    uart.write(DLL, 1, 0x01)
    uart.write(DLM, 1, 0x02)
    uart.write(LCR, 1, 0x1B)
    uart.write(MCR, 1, 0x1F)
    uart.write(SCR, 1, 0x5A)
    uart.write(IER, 1, 0x0F)
    uart.reset()
    assert [uart.read(r, 1) for r in (IER, IIR, LCR, MCR, LSR, SCR)] == [0x00, 0x01, 0x00, 0x00, 0x60, 0x00]
    assert uart.divisor == 0x000C


def test_default_name_and_counters_start_at_zero():
    dev = u.Uart16550()
    assert dev.name == "uart16550"
    assert dev.counters == {"tx_bytes": 0, "rx_bytes": 0, "rx_overruns": 0}
    assert u.Uart16550("com1").name == "com1"


def test_bus_splits_a_16_bit_access_into_bytes():
    """An 8-bit device: a 16-bit out to the base writes THR and then IER (base + 1)."""
    out = Outputs()
    dev = u.Uart16550(output=out)
    assert dev.bus_width == 1
    bus = Bus("io")
    bus.register(0x3F8, 8, dev)
    bus.write(0x3F8, 2, 0x0341)
    assert out == [b"A"]
    assert dev.read(IER, 1) == 0x03


# -- IIR codes and the IER enables (PC16550D Table "Interrupt control functions") -----

def test_iir_codes_are_the_datasheets(uart):
    """IIR bits 3..0: 0110 line status, 0100 data available, 1100 character
    timeout, 0010 THR empty, 0000 modem status, 0001 none; bits 7..6 = 11 with FIFOs on."""
    uart.write(MCR, 1, 0x08 | 0x10)           # OUT2, loopback
    uart.read(MSR, 1)                          # clear the deltas entering loopback
    uart.write(IER, 1, 0x08)                   # modem status only
    uart.write(MCR, 1, 0x08 | 0x10 | 0x01)     # DTR -> DSR rises
    assert uart.read(IIR, 1) == 0x00
    uart.read(MSR, 1)
    assert uart.read(IIR, 1) == 0x01
    uart.write(IER, 1, 0x02)                   # THRE
    assert uart.read(IIR, 1) == 0x02
    assert uart.read(IIR, 1) == 0x01
    uart.write(MCR, 1, 0x08)                   # leave loopback
    uart.write(FCR, 1, 0x41)                   # FIFO, trigger 4
    uart.write(IER, 1, 0x05)                   # data and line status
    uart.receive(b"ab")
    assert uart.read(IIR, 1) == 0xCC           # timeout (data below the trigger)
    uart.receive(b"cd")
    assert uart.read(IIR, 1) == 0xC4
    uart.receive(bytes(20))                    # overrun
    assert uart.read(IIR, 1) == 0xC6
    uart.read(LSR, 1)
    assert uart.read(IIR, 1) == 0xC4


def test_each_ier_bit_enables_only_its_own_source(uart):
    """IER bit 0 data, 1 THRE, 2 line status, 3 modem status: a source whose
    bit is clear is never reported, whatever the other bits are."""
    uart.write(MCR, 1, 0x08)
    uart.receive(b"AB")                         # data waiting and an overrun (LSR OE)
    uart.write(MCR, 1, 0x08 | 0x10 | 0x01)      # loopback: modem status deltas too
    assert uart.pending_interrupt() == 0x01     # IER 0: nothing
    uart.write(IER, 1, 0x01)                    # data only: not line status, not modem status
    assert uart.read(IIR, 1) == 0x04
    uart.read(RBR, 1)
    assert uart.read(IIR, 1) == 0x01            # OE and the MSR deltas are there, both disabled
    uart.write(IER, 1, 0x02)                    # THRE only
    assert uart.read(IIR, 1) == 0x02
    assert uart.read(IIR, 1) == 0x01
    uart.write(IER, 1, 0x08)
    assert uart.read(IIR, 1) == 0x00
    assert uart.read(LSR, 1) & 0x02             # OE still set: the enables did not touch it


def test_data_does_not_interrupt_with_only_thre_enabled(uart):
    uart.write(IER, 1, 0x02)
    uart.read(IIR, 1)                           # take the THRE interrupt
    uart.receive(b"x")
    assert uart.read(IIR, 1) == 0x01


def test_thre_interrupt_on_the_rising_edge_of_etbei_only(uart):
    """Enabling ETBEI while THR is empty raises THRE once; writing IER again with
    ETBEI still set (after IIR was read) does not raise it again: the datasheet
    leaves this open, and this model's choice is that only the 0 -> 1 change
    of ETBEI samples THRE."""
    uart.write(IER, 1, 0x02)
    assert uart.read(IIR, 1) == 0x02
    uart.write(IER, 1, 0x03)
    assert uart.read(IIR, 1) == 0x01
    uart.write(IER, 1, 0x00)
    uart.write(IER, 1, 0x02)
    assert uart.read(IIR, 1) == 0x02


# -- FIFO control ---------------------------------------------------------------------

@pytest.mark.parametrize("fcr, level", [(0x01, 1), (0x41, 4), (0x81, 8), (0xC1, 14)])
def test_receiver_trigger_levels(uart, fcr, level):
    """FCR bits 7..6 = 00/01/10/11: data-available interrupt at 1, 4, 8 or 14
    bytes; below the level, the character timeout is reported."""
    uart.write(FCR, 1, fcr)
    uart.write(IER, 1, 0x01)
    if level > 1:
        uart.receive(bytes(level - 1))
        assert uart.read(IIR, 1) == 0xCC
    uart.receive(b"\x00")
    assert uart.read(IIR, 1) == 0xC4
    assert uart.read(FCR, 1) & 0xC0 == 0xC0


def test_fcr_rewrite_keeps_the_fifo_and_enabling_it_clears(uart):
    """Writing FCR with the enable bit unchanged and bit 1 clear keeps the
    received bytes; changing bit 0 (FIFO mode) or setting bit 1 clears the RCVR FIFO."""
    uart.write(FCR, 1, 0x01)
    uart.receive(b"abc")
    uart.write(FCR, 1, 0x01)                     # same mode, no clear
    uart.write(FCR, 1, 0x41 | 0x04)              # trigger change and a XMIT clear: RCVR kept
    assert uart.read(LSR, 1) & 0x01
    assert bytes(uart.read(RBR, 1) for _ in range(3)) == b"abc"
    uart.receive(b"d")
    uart.write(FCR, 1, 0x03)                     # RCVR clear
    assert uart.read(LSR, 1) == 0x60
    uart.receive(b"e")
    uart.write(FCR, 1, 0x00)                     # FIFO mode off: FIFOs reset
    assert uart.read(LSR, 1) == 0x60
    uart.receive(b"f")                           # 16450 mode: one byte
    uart.write(FCR, 1, 0x01)                     # FIFO mode on: reset again
    assert uart.read(LSR, 1) == 0x60
    assert uart.read(RBR, 1) == 0


def test_empty_receiver_reads_zero(uart):
    """The model reads 0 from an empty receive buffer (and LSR DR stays clear)."""
    assert uart.read(RBR, 1) == 0
    uart.receive(b"\xff")
    assert uart.read(RBR, 1) == 0xFF
    assert uart.read(RBR, 1) == 0


# -- LSR ----------------------------------------------------------------------------

def test_lsr_bits_through_an_overrun(uart):
    """LSR bit 0 DR, 1 OE, 5 THRE, 6 TEMT: an overrun sets OE and keeps the others."""
    uart.receive(b"AB")
    assert uart.read(LSR, 1) == 0x63
    assert uart.read(LSR, 1) == 0x61             # OE cleared by the read, DR kept
    assert uart.counters["rx_bytes"] == 1 and uart.counters["rx_overruns"] == 1
    uart.receive(b"CD")
    assert uart.counters["rx_overruns"] == 3     # both lost: the holding register is full
    assert uart.counters["rx_bytes"] == 1


def test_transmit_keeps_data_ready(uart):
    """Sending a byte empties THR and the transmitter; it does not touch the receiver's DR."""
    uart.receive(b"r")
    uart.write(THR, 1, ord("t"))
    assert uart.read(LSR, 1) == 0x61
    uart.write_block(THR, 1, b"uv")
    assert uart.read(LSR, 1) == 0x61
    assert uart.read(RBR, 1) == ord("r")


def test_counters_count_bytes(uart):
    uart.write(FCR, 1, 0x01)
    uart.receive(b"abc")
    uart.receive(b"de")
    for ch in b"xyz":
        uart.write(THR, 1, ch)
    assert uart.counters == {"tx_bytes": 3, "rx_bytes": 5, "rx_overruns": 0}
    uart.write_block(THR, 1, b"1234")
    assert uart.counters["tx_bytes"] == 7
    uart.write_block(THR, 1, b"56")
    assert uart.counters["tx_bytes"] == 9


# -- MSR deltas (PC16550D MSR bits 0-3; loopback, section 8.6.5) ---------------------

def _loop(uart, mcr):
    uart.write(MCR, 1, 0x10 | mcr)


def test_each_delta_bit_follows_only_its_own_line(uart):
    """MSR bit 0 DCTS, 1 DDSR, 3 DDCD: set when CTS / DSR / DCD change;
    bit 2 TERI only on the trailing (1 -> 0) edge of RI."""
    _loop(uart, 0x00)
    uart.read(MSR, 1)
    _loop(uart, 0x02)                        # RTS -> CTS rises
    assert uart.read(MSR, 1) == 0x10 | 0x01
    _loop(uart, 0x03)                        # DTR -> DSR rises
    assert uart.read(MSR, 1) == 0x30 | 0x02
    _loop(uart, 0x0B)                        # OUT2 -> DCD rises
    assert uart.read(MSR, 1) == 0xB0 | 0x08
    _loop(uart, 0x0F)                        # OUT1 -> RI rises: no delta
    assert uart.read(MSR, 1) == 0xF0
    _loop(uart, 0x0E)                        # DSR falls, RI stays up: no TERI
    assert uart.read(MSR, 1) == 0xD0 | 0x02
    _loop(uart, 0x0A)                        # RI falls: TERI
    assert uart.read(MSR, 1) == 0x90 | 0x04
    _loop(uart, 0x0A)                        # nothing changes
    assert uart.read(MSR, 1) == 0x90


def test_deltas_accumulate_until_msr_is_read(uart):
    """Delta bits stay set until MSR is read, whatever changes after them."""
    _loop(uart, 0x0F)
    uart.read(MSR, 1)
    _loop(uart, 0x0E)                        # DSR falls
    _loop(uart, 0x0A)                        # RI falls
    _loop(uart, 0x08)                        # CTS falls
    _loop(uart, 0x00)                        # DCD falls
    assert uart.read(MSR, 1) == 0x0F
    assert uart.read(MSR, 1) == 0x00
    _loop(uart, 0x05)                        # DSR and RI rise together: DDSR only
    _loop(uart, 0x01)                        # RI falls with DSR's delta unread: both
    assert uart.read(MSR, 1) == 0x20 | 0x02 | 0x04


def test_ri_in_loopback_follows_out1_only(uart):
    _loop(uart, 0x01 | 0x02 | 0x08)
    assert uart.read(MSR, 1) & 0xF0 == 0xB0  # DSR, CTS, DCD; RI (OUT1) clear


# -- writes to read-only registers ----------------------------------------------------

def test_writes_to_lsr_and_msr_change_nothing(uart):
    """LSR and MSR are read-only here: writing them leaves every register as it was."""
    uart.write(SCR, 1, 0x11)
    uart.write(LSR, 1, 0xFF)
    uart.write(MSR, 1, 0xFF)
    assert uart.read(SCR, 1) == 0x11
    assert uart.read(LSR, 1) == 0x60
    assert uart.read(MSR, 1) == 0xB0


# -- bytes from other threads (the inbox) --------------------------------------------

def _other_thread(uart):
    uart.vcpu_thread = threading.get_ident() + 1  # not this thread


def test_receive_from_another_thread_waits_for_the_vcpu(uart):
    """From a thread other than vcpu_thread, receive() only queues: the FIFO,
    LSR and the IRQ change at the vCPU's next access (take_input), not before."""
    uart.write(MCR, 1, 0x08)
    uart.write(IER, 1, 0x01)
    uart.write(FCR, 1, 0x01)
    _other_thread(uart)
    uart.receive(b"ab")
    assert len(uart.rx) == 0 and not uart.irq.level
    assert uart.rx_space() == 14                  # the queued bytes are counted as taken
    uart.write(SCR, 1, 0x22)                      # the scratch register touches nothing else
    assert len(uart.rx) == 0 and not uart.irq.level
    assert uart.read(LSR, 1) == 0x61
    assert uart.irq.level
    assert uart.rx_space() == 14


def test_receive_on_the_vcpu_thread_is_at_once(uart):
    uart.write(MCR, 1, 0x08)
    uart.write(IER, 1, 0x01)
    uart.vcpu_thread = threading.get_ident()
    uart.receive(b"a")
    assert list(uart.rx) == [ord("a")] and uart.irq.level


def test_queued_input_is_dropped_in_loopback(uart):
    """Line input is ignored in loopback, all of it, however many chunks were queued."""
    _other_thread(uart)
    uart.write(MCR, 1, 0x10)
    uart.receive(b"a")
    uart.receive(b"b")
    uart.receive(b"c")
    assert uart.read(LSR, 1) == 0x60
    assert uart.rx_space() == 1
    uart.write(MCR, 1, 0x00)
    assert uart.read(LSR, 1) == 0x60


# -- coalesced transmit (the module docstring) ---------------------------------------

def test_write_block_sends_a_drain_as_one_output_call(uart):
    uart.write_block(THR, 1, b"hello")
    assert uart.out == [b"hello"]
    uart.write_block(THR, 1, bytearray(b"!"))
    assert uart.out == [b"hello", b"!"]


def test_write_block_raises_thre_like_a_single_write(uart):
    uart.write(MCR, 1, 0x08)
    uart.write(IER, 1, 0x02)
    assert uart.read(IIR, 1) == 0x02
    uart.write_block(THR, 1, b"xy")
    assert uart.irq.level
    assert uart.read(IIR, 1) == 0x02


def test_write_block_elsewhere_is_single_writes(uart):
    """Only THR writes are sent in one call: other registers, the divisor
    latch (DLAB) and loopback take the bytes one by one."""
    uart.write_block(SCR, 1, b"\x01\x02")
    assert uart.read(SCR, 1) == 0x02 and uart.out == []
    uart.write_block(IER, 1, b"\x00\x01")
    assert uart.read(IER, 1) == 0x01 and uart.out == []
    uart.write(LCR, 1, 0x80)
    uart.write_block(THR, 1, b"\x05\x06")
    assert uart.read(DLL, 1) == 0x06 and uart.out == []
    uart.write(LCR, 1, 0x00)
    uart.write(MCR, 1, 0x10)
    uart.write_block(THR, 1, b"Z")
    assert uart.out == [] and uart.read(RBR, 1) == ord("Z")
    uart.write(MCR, 1, 0x00)
    uart.write_block(THR, 2, b"pq")           # not byte-sized: the single-write path
    assert uart.out == [b"p", b"q"]


def test_tx_zone_follows_dlab_loop_and_etbei(uart):
    """The zone is on only while DLAB, MCR.LOOP and IER.ETBEI are all clear, and
    a write to IER, LCR or MCR switches it at once."""
    zone = Zone()
    uart.attach_tx_zone(zone)
    assert zone.calls == [True]
    for reg, on, off in ((LCR, 0x03, 0x83), (MCR, 0x0B, 0x1B), (IER, 0x0D, 0x0F)):
        uart.write(reg, 1, off)
        assert zone.enabled is False, hex(reg)
        uart.write(reg, 1, on)
        assert zone.enabled is True, hex(reg)
    n = len(zone.calls)
    uart.write(FCR, 1, 0x01)
    uart.write(THR, 1, 0x41)
    uart.write(SCR, 1, 0x41)
    uart.write(LSR, 1, 0xFF)
    assert len(zone.calls) == n                # other registers never touch the zone
    uart.write(LCR, 1, 0x80)
    uart.reset()                               # reset clears DLAB: the zone goes on again
    assert zone.enabled is True
