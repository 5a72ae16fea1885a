"""8259A nesting rules the first tests left open (issue 16), each checked so a
planted fault in vmm/devices/pic8259.py fails it: a request at the level in
service waits for EOI; the slave's INT output at acknowledge in auto-EOI mode;
rotate on auto-EOI; special fully nested mode (Intel 8259A datasheet, "Fully
Nested Mode", "Special Fully Nest Mode", "Automatic Rotation", "AEOI")."""

from __future__ import annotations

from vmm.devices.pic8259 import Pic8259, PicPair

CMD, DATA = 0, 1


def init(chip: Pic8259, base: int, icw3: int, icw4: int):
    for a0, value in ((CMD, 0x11), (DATA, base), (DATA, icw3), (DATA, icw4)):
        chip.write(a0, value)


def make_pair(master_icw4=0x01, slave_icw4=0x01) -> PicPair:
    acked = []
    p = PicPair(on_ack=acked.append)
    init(p.master, 0x20, 0x04, master_icw4)
    init(p.slave, 0x28, 0x02, slave_icw4)
    p.acked = acked
    return p


def pulse(pair, line):
    pair.set_irq(line, True)
    pair.set_irq(line, False)


def test_request_at_the_level_in_service_waits_for_eoi():
    pair = make_pair()
    pulse(pair, 3)
    assert pair.acknowledge() == 0x23
    pulse(pair, 3)                       # the same level again, while IR3 is in service
    assert pair.master.irr == 0x08
    assert not pair.has_interrupt()      # equal priority does not nest
    pulse(pair, 4)
    assert not pair.has_interrupt()      # nor does a lower one
    pair.master_port.write(CMD, 1, 0x20)  # EOI
    assert pair.has_interrupt()
    assert pair.acknowledge() == 0x23    # now it is delivered, before IR4
    pair.master_port.write(CMD, 1, 0x20)
    assert pair.acknowledge() == 0x24


def test_slave_int_at_acknowledge_in_auto_eoi():
    """In AEOI mode neither chip keeps a level in service, so a second slave
    request pending at INTA must reach the CPU with no EOI at all: the slave's
    INT stays high and the master sees it on IR2 again."""
    pair = make_pair(master_icw4=0x03, slave_icw4=0x03)
    pulse(pair, 10)
    pulse(pair, 11)
    assert pair.acknowledge() == 0x2A
    assert pair.master.isr == 0 and pair.slave.isr == 0
    assert pair.slave.int_output          # IR3 of the slave still requests
    assert pair.has_interrupt()
    assert pair.acknowledge() == 0x2B
    assert pair.acked == [10, 11]
    assert not pair.slave.int_output and not pair.has_interrupt()  # and then INT is low: nothing more
    pulse(pair, 12)                       # a later request: a fresh edge again
    assert pair.acknowledge() == 0x2C


def test_rotate_on_auto_eoi():
    pair = make_pair(master_icw4=0x03)
    pair.master_port.write(CMD, 1, 0x80)  # OCW2: rotate in automatic EOI mode (set)
    pulse(pair, 0)
    assert pair.acknowledge() == 0x20     # IR0 served: it becomes the lowest priority
    assert pair.master.lowest_priority == 0
    pulse(pair, 0)
    pulse(pair, 1)
    assert pair.acknowledge() == 0x21     # IR1 is now the highest
    assert pair.acknowledge() == 0x20     # (IR1 rotated to lowest: IR0 next)
    pair.master_port.write(CMD, 1, 0x00)  # rotate in AEOI (clear)
    pulse(pair, 1)
    assert pair.acknowledge() == 0x21     # served, but no longer rotated to the lowest priority:
    assert pair.master.lowest_priority == 0
    pulse(pair, 2)
    pulse(pair, 1)
    assert pair.acknowledge() == 0x21     # IR1 still ahead of IR2


def test_plain_auto_eoi_does_not_rotate():
    pair = make_pair(master_icw4=0x03)
    pulse(pair, 0)
    pair.acknowledge()
    pulse(pair, 0)
    pulse(pair, 1)
    assert pair.acknowledge() == 0x20 and pair.master.lowest_priority == 7


def test_special_fully_nested_mode_lets_a_higher_slave_request_through():
    pair = make_pair(master_icw4=0x11)    # SFNM on the master
    pulse(pair, 12)
    assert pair.acknowledge() == 0x2C     # master IR2 and slave IR4 in service
    assert pair.master.isr == 0x04 and pair.slave.isr == 0x10
    pulse(pair, 9)                        # higher than slave IR4: the slave raises INT again
    assert pair.has_interrupt()           # and the master passes it though IR2 is in service
    assert pair.acknowledge() == 0x29
    pulse(pair, 13)                       # lower than slave IR4: the slave itself holds it back
    assert not pair.has_interrupt()


def test_fully_nested_mode_blocks_the_cascade_while_in_service():
    """The control for the test above: without SFNM, IR2 in service blocks
    every further slave request until the master's EOI."""
    pair = make_pair(master_icw4=0x01)
    pulse(pair, 12)
    assert pair.acknowledge() == 0x2C
    pulse(pair, 9)
    assert pair.slave.int_output and not pair.has_interrupt()
    pair.slave_port.write(CMD, 1, 0x20)
    pair.master_port.write(CMD, 1, 0x20)
    assert pair.acknowledge() == 0x29


def test_sfnm_does_not_let_a_non_cascade_level_nest_with_itself():
    pair = make_pair(master_icw4=0x11)
    pulse(pair, 3)
    assert pair.acknowledge() == 0x23
    pulse(pair, 3)
    assert not pair.has_interrupt()       # SFNM only concerns the cascade input
