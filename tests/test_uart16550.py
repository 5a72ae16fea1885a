"""16550A register semantics at device level (PC16550D datasheet)."""

from __future__ import annotations

import pytest

from vmm.devices import uart16550 as u
from vmm.irq import IrqLine

THR = RBR = DLL = 0
IER = DLM = 1
IIR = FCR = 2
LCR, MCR, LSR, MSR, SCR = 3, 4, 5, 6, 7


@pytest.fixture
def uart():
    sent = bytearray()
    line = IrqLine(4)
    dev = u.Uart16550(output=sent.extend, irq=line)
    dev.sent = sent
    dev.line = line
    return dev


def test_reset_state(uart):
    assert uart.read(LSR, 1) == u.LSR_THRE | u.LSR_TEMT
    assert uart.read(IIR, 1) == u.IIR_NONE
    assert uart.read(IER, 1) == 0
    assert not uart.line.level


def test_divisor_latch_behind_dlab(uart):
    uart.write(LCR, 1, 0x83)
    uart.write(DLL, 1, 0x01)
    uart.write(DLM, 1, 0x02)
    assert uart.divisor == 0x0201
    assert uart.read(DLL, 1) == 0x01 and uart.read(DLM, 1) == 0x02
    uart.write(LCR, 1, 0x03)
    assert uart.read(IER, 1) == 0  # DLM write did not touch IER
    uart.write(THR, 1, ord("x"))
    assert bytes(uart.sent) == b"x"  # with DLAB clear, offset 0 is THR again
    assert uart.read(LCR, 1) == 0x03


def test_transmit_and_thre_interrupt(uart):
    uart.write(MCR, 1, u.MCR_OUT2)
    uart.write(IER, 1, u.IER_THRE)  # enabling ETBEI with THR empty interrupts at once
    assert uart.line.level
    assert uart.read(IIR, 1) == u.IIR_THRE
    assert not uart.line.level  # reading IIR cleared it
    assert uart.read(IIR, 1) == u.IIR_NONE
    uart.write(THR, 1, ord("a"))
    assert bytes(uart.sent) == b"a"
    assert uart.line.level  # THR empty again after the byte left
    uart.write(IER, 1, 0)
    assert not uart.line.level


def test_out2_gates_the_interrupt_line(uart):
    uart.write(IER, 1, u.IER_RDA)
    uart.receive(b"k")
    assert uart.pending_interrupt() == u.IIR_RDA
    assert not uart.line.level  # OUT2 clear: the PC does not see the IRQ
    uart.write(MCR, 1, u.MCR_OUT2)
    assert uart.line.level


def test_receive_without_fifo(uart):
    uart.write(MCR, 1, u.MCR_OUT2)
    uart.write(IER, 1, u.IER_RDA)
    uart.receive(b"A")
    assert uart.read(LSR, 1) & u.LSR_DR
    assert uart.read(IIR, 1) == u.IIR_RDA  # trigger level 1 without FIFO
    assert uart.read(RBR, 1) == ord("A")
    assert not uart.read(LSR, 1) & u.LSR_DR
    assert not uart.line.level


def test_overrun_without_fifo(uart):
    uart.receive(b"AB")  # one-byte holding register: B is lost
    lsr = uart.read(LSR, 1)
    assert lsr & u.LSR_OE and lsr & u.LSR_DR
    assert not uart.read(LSR, 1) & u.LSR_OE  # reading LSR cleared OE
    assert uart.read(RBR, 1) == ord("A")
    assert uart.counters["rx_overruns"] == 1


def test_line_status_interrupt_has_top_priority(uart):
    uart.write(MCR, 1, u.MCR_OUT2)
    uart.write(IER, 1, u.IER_RDA | u.IER_THRE | u.IER_RLS)
    uart.receive(b"AB")  # overrun
    assert uart.read(IIR, 1) == u.IIR_RLS
    uart.read(LSR, 1)
    assert uart.read(IIR, 1) == u.IIR_RDA
    uart.read(RBR, 1)
    assert uart.read(IIR, 1) == u.IIR_THRE


def test_fifo_trigger_level_and_timeout(uart):
    uart.write(FCR, 1, 0x41)  # FIFO on, trigger at 4 bytes
    uart.write(IER, 1, u.IER_RDA)
    assert uart.read(IIR, 1) & 0xC0 == 0xC0  # FIFOs enabled
    uart.receive(b"abc")
    assert uart.read(IIR, 1) & 0x0F == u.IIR_TIMEOUT  # below trigger: character timeout
    uart.receive(b"d")
    assert uart.read(IIR, 1) & 0x0F == u.IIR_RDA
    assert bytes(uart.read(RBR, 1) for _ in range(4)) == b"abcd"
    assert uart.read(IIR, 1) & 0x0F == u.IIR_NONE


def test_fifo_depth_and_clear(uart):
    uart.write(FCR, 1, 0x01)
    uart.receive(bytes(range(20)))
    assert uart.read(LSR, 1) & u.LSR_OE
    assert uart.rx_space() == 0
    uart.write(FCR, 1, 0x01 | u.FCR_CLEAR_RX)
    assert not uart.read(LSR, 1) & u.LSR_DR
    assert uart.rx_space() == 16


def test_loopback(uart):
    uart.write(MCR, 1, u.MCR_LOOP | u.MCR_RTS)
    uart.write(THR, 1, 0x55)
    assert bytes(uart.sent) == b""  # nothing reaches the line
    assert uart.read(RBR, 1) == 0x55
    msr = uart.read(MSR, 1)
    assert msr & 0xF0 == u.MSR_CTS  # RTS → CTS; DTR, OUT1, OUT2 clear
    # Entering loopback, DSR and DCD (asserted by the terminal) fell: deltas set.
    assert msr & 0x0F == u.MSR_DDSR | u.MSR_DDCD
    uart.write(MCR, 1, u.MCR_LOOP | u.MCR_DTR | u.MCR_OUT1 | u.MCR_OUT2)
    msr = uart.read(MSR, 1)
    assert msr & 0xF0 == u.MSR_DSR | u.MSR_RI | u.MSR_DCD
    assert msr & 0x0F == u.MSR_DCTS | u.MSR_DDSR | u.MSR_DDCD  # CTS fell, DSR/DCD rose; RI rose (no TERI)
    assert uart.read(MSR, 1) & 0x0F == 0  # deltas clear on read
    uart.receive(b"z")
    assert not uart.read(LSR, 1) & u.LSR_DR  # line input is ignored in loopback


def test_modem_status_interrupt(uart):
    uart.write(MCR, 1, u.MCR_OUT2 | u.MCR_LOOP)
    uart.read(MSR, 1)
    uart.write(IER, 1, u.IER_MSI)
    uart.write(MCR, 1, u.MCR_OUT2 | u.MCR_LOOP | u.MCR_DTR)  # DSR rises
    assert uart.read(IIR, 1) == u.IIR_MSI
    assert uart.line.level
    assert uart.read(MSR, 1) & u.MSR_DDSR
    assert uart.read(IIR, 1) == u.IIR_NONE


def test_scratch_register(uart):
    uart.write(SCR, 1, 0xA5)
    assert uart.read(SCR, 1) == 0xA5


def test_terminal_modem_lines(uart):
    assert uart.read(MSR, 1) == u.MSR_CTS | u.MSR_DSR | u.MSR_DCD
