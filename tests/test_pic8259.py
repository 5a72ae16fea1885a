"""8259A register semantics at device level (Intel 8259A datasheet)."""

from __future__ import annotations

import pytest

from vmm.devices.pic8259 import Pic8259, PicPair

CMD, DATA = 0, 1


def init(chip: Pic8259, base: int, icw3: int, icw1: int = 0x11, icw4: int = 0x01):
    chip.write(CMD, icw1)
    chip.write(DATA, base)
    chip.write(DATA, icw3)
    chip.write(DATA, icw4)


@pytest.fixture
def pair():
    raised = []
    acked = []
    p = PicPair(on_int=lambda: raised.append(1), on_ack=acked.append)
    init(p.master, 0x20, 0x04)
    init(p.slave, 0x28, 0x02)
    p.raised, p.acked = raised, acked
    return p


def pulse(pair, line):
    pair.set_irq(line, True)
    pair.set_irq(line, False)


def test_icw_sequence_sets_vector_base(pair):
    assert pair.master.vector_base == 0x20 and pair.slave.vector_base == 0x28
    assert pair.master.init_step == 0
    assert pair.master.read(DATA) == 0  # ICW1 cleared the IMR


def test_icw1_without_ic4_and_single_mode():
    chip = Pic8259("solo")
    chip.write(CMD, 0x12)  # single, no ICW4: ICW2 ends the sequence
    chip.write(DATA, 0x40)
    assert chip.init_step == 0 and chip.vector_base == 0x40
    chip.write(DATA, 0xFE)
    assert chip.imr == 0xFE  # the next data write is OCW1


def test_edge_triggered_delivery_and_eoi(pair):
    pulse(pair, 0)
    assert pair.has_interrupt() and pair.raised
    assert pair.acknowledge() == 0x20
    assert pair.acked == [0]
    assert pair.master.isr == 0x01 and pair.master.irr == 0
    assert not pair.has_interrupt()
    pair.master_port.write(CMD, 1, 0x20)  # non-specific EOI
    assert pair.master.isr == 0


def test_masked_irq_waits_in_irr(pair):
    pair.master_port.write(DATA, 1, 0x01)
    pulse(pair, 0)
    assert pair.master.irr & 1 and not pair.has_interrupt()
    pair.master_port.write(DATA, 1, 0x00)
    assert pair.has_interrupt()
    assert pair.acknowledge() == 0x20


def test_edge_while_pending_is_coalesced(pair):
    pulse(pair, 0)
    pulse(pair, 0)
    assert pair.master.counters["coalesced"][0] == 1
    assert pair.acknowledge() == 0x20
    assert not pair.has_interrupt()


def test_fixed_priority_and_in_service_blocking(pair):
    pulse(pair, 4)
    pulse(pair, 1)
    assert pair.acknowledge() == 0x21  # IRQ1 beats IRQ4
    assert not pair.has_interrupt()    # IRQ4 is lower than IRQ1 in service
    pulse(pair, 0)
    assert pair.acknowledge() == 0x20  # IRQ0 is higher: it nests
    pair.master_port.write(CMD, 1, 0x20)  # EOI clears the highest in service: IRQ0
    assert pair.master.isr == 0x02
    pair.master_port.write(CMD, 1, 0x20)
    assert pair.acknowledge() == 0x24


def test_specific_eoi(pair):
    pulse(pair, 3)
    pair.acknowledge()
    pulse(pair, 1)
    pair.acknowledge()
    assert pair.master.isr == 0x0A
    pair.master_port.write(CMD, 1, 0x60 | 3)  # specific EOI for IR3
    assert pair.master.isr == 0x02


def test_read_irr_and_isr_through_ocw3(pair):
    pair.master_port.write(DATA, 1, 0x20)  # mask IRQ5
    pulse(pair, 5)
    pulse(pair, 6)
    pair.acknowledge()
    pair.master_port.write(CMD, 1, 0x0A)
    assert pair.master_port.read(CMD, 1) == 0x20  # IRR: IRQ5 still requested
    pair.master_port.write(CMD, 1, 0x0B)
    assert pair.master_port.read(CMD, 1) == 0x40  # ISR: IRQ6 in service
    assert pair.master_port.read(DATA, 1) == 0x20  # IMR


def test_auto_eoi(pair):
    init(pair.master, 0x20, 0x04, icw4=0x03)
    pulse(pair, 1)
    assert pair.acknowledge() == 0x21
    assert pair.master.isr == 0


def test_rotate_on_nonspecific_eoi(pair):
    pulse(pair, 0)
    pair.acknowledge()
    pair.master_port.write(CMD, 1, 0xA0)  # rotate on non-specific EOI: IR0 becomes lowest
    pulse(pair, 0)
    pulse(pair, 5)
    assert pair.acknowledge() == 0x25


def test_set_priority_command(pair):
    pair.master_port.write(CMD, 1, 0xC0 | 4)  # IR4 lowest, so IR5 highest
    pulse(pair, 1)
    pulse(pair, 5)
    assert pair.acknowledge() == 0x25


def test_special_mask_mode(pair):
    pulse(pair, 1)
    pair.acknowledge()
    pulse(pair, 4)
    assert not pair.has_interrupt()         # blocked by IRQ1 in service
    pair.master_port.write(DATA, 1, 0x02)   # mask IR1
    pair.master_port.write(CMD, 1, 0x68)    # OCW3: set special mask mode
    assert pair.has_interrupt()             # masked in-service level no longer blocks
    assert pair.acknowledge() == 0x24


def test_poll_command(pair):
    pulse(pair, 3)
    pair.master_port.write(CMD, 1, 0x0C)
    assert pair.master_port.read(CMD, 1) == 0x83
    assert pair.master.isr == 0x08  # poll acts as INTA
    pair.master_port.write(CMD, 1, 0x0C)
    assert pair.master_port.read(CMD, 1) == 0x00


def test_cascade_delivers_slave_vector(pair):
    pulse(pair, 12)
    assert pair.has_interrupt()
    assert pair.acknowledge() == 0x2C
    assert pair.acked == [12]
    assert pair.master.isr == 0x04 and pair.slave.isr == 0x10
    pair.slave_port.write(CMD, 1, 0x20)
    pair.master_port.write(CMD, 1, 0x20)
    assert pair.master.isr == 0 and pair.slave.isr == 0


def test_second_slave_request_gets_a_fresh_edge(pair):
    pulse(pair, 12)
    pulse(pair, 9)
    assert pair.acknowledge() == 0x29  # IRQ9 first: higher priority on the slave
    pair.slave_port.write(CMD, 1, 0x20)
    pair.master_port.write(CMD, 1, 0x20)
    assert pair.has_interrupt()
    assert pair.acknowledge() == 0x2C


def test_spurious_irq7_when_request_withdrawn():
    """Level-triggered: the request drops before INTA → IR7 vector, no ISR bit."""
    pair = PicPair()
    init(pair.master, 0x20, 0x04, icw1=0x19)  # LTIM
    pair.set_irq(3, True)
    assert pair.has_interrupt()
    pair.set_irq(3, False)
    assert pair.acknowledge() == 0x27
    assert pair.master.isr == 0
    assert pair.master.counters["spurious"] == 1


def test_spurious_irq15_leaves_master_cascade_in_service(pair):
    init(pair.slave, 0x28, 0x02, icw1=0x19)  # slave level-triggered
    pair.set_irq(11, True)
    # The master latched the cascade edge; the slave's request then goes away.
    pair.slave.set_irq(3, False)
    assert pair.acknowledge() == 0x2F
    assert pair.slave.isr == 0
    assert pair.master.isr == 0x04  # the guest must still EOI the master


def test_level_triggered_irr_follows_the_line():
    pair = PicPair()
    init(pair.master, 0x20, 0x04, icw1=0x19)
    pair.set_irq(5, True)
    assert pair.acknowledge() == 0x25
    pair.master_port.write(CMD, 1, 0x20)
    assert pair.has_interrupt()  # line still high: requested again
    pair.set_irq(5, False)
    assert not pair.has_interrupt()
