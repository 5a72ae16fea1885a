"""8259A register details the mutation run found unguarded (docs/mutation.md):
power-on and reset state, what ICW1 clears, specific EOI with rotation,
special mask mode on and off, poll through the port (INTA side effects),
the INT edge callback, the IRQ 8 boundary and the per-line counters."""

from __future__ import annotations

from vmm.devices.pic8259 import Pic8259, PicPair

CMD, DATA = 0, 1


def init(chip: Pic8259, base: int, icw3: int, icw4: int = 0x01):
    for a0, value in ((CMD, 0x11), (DATA, base), (DATA, icw3), (DATA, icw4)):
        chip.write(a0, value)


def make_pair():
    raised, acked = [], []
    p = PicPair(on_int=lambda: raised.append(1), on_ack=acked.append)
    init(p.master, 0x20, 0x04)
    init(p.slave, 0x28, 0x02)
    p.raised, p.acked = raised, acked
    return p


def pulse(pair, line):
    pair.set_irq(line, True)
    pair.set_irq(line, False)


def state(chip: Pic8259):
    return (chip.irr, chip.isr, chip.imr, chip.levels, chip.vector_base, chip.init_step, chip.icw1, chip.icw3,
            chip.icw4, chip.lowest_priority, chip.read_isr, chip.poll, chip.special_mask, chip.rotate_on_aeoi)


POWER_ON = (0, 0, 0, 0, 0, 0, 0, 0, 0, 7, False, False, False, False)


def test_power_on_and_reset_state():
    chip = Pic8259("x")
    assert chip.name == "x"
    assert state(chip) == POWER_ON
    assert chip.counters == {"acknowledged": [0] * 8, "spurious": 0, "coalesced": [0] * 8}
    init(chip, 0x40, 0x04, 0x13)
    chip.write(DATA, 0x5A)
    chip.set_irq(1, True)
    chip.write(CMD, 0x0B)
    chip.write(CMD, 0x68)
    chip.write(CMD, 0x80)
    chip.reset()
    assert state(chip) == POWER_ON


def test_icw1_clears_what_the_datasheet_says():
    chip = Pic8259("x")
    init(chip, 0x40, 0x04, 0x03)
    chip.write(DATA, 0xF0)            # IMR
    chip.set_irq(1, True)             # an edge latched and a level held
    chip.acknowledge()                # (AEOI: nothing in service)
    chip.set_irq(2, True)
    chip.write(CMD, 0xC3)             # set priority: IR3 lowest
    chip.write(CMD, 0x0B)             # read ISR
    chip.write(CMD, 0x68)             # special mask on
    chip.write(CMD, 0x80)             # rotate in AEOI
    chip.write(CMD, 0x0C)             # poll pending
    chip.write(CMD, 0x10)             # ICW1 without IC4: ICW4 cleared too
    assert (chip.imr, chip.isr, chip.irr, chip.levels) == (0, 0, 0, 0)
    assert chip.lowest_priority == 7 and not chip.special_mask and not chip.read_isr
    assert not chip.poll and not chip.rotate_on_aeoi and chip.icw4 == 0 and chip.init_step == 2
    chip.set_irq(1, True)             # the old level does not count: a new edge is needed
    assert chip.irr == 0x02


def test_specific_eoi_and_rotate():
    pair = make_pair()
    pulse(pair, 5)
    assert pair.acknowledge() == 0x25
    pair.master_port.write(CMD, 1, 0xE5)  # specific EOI and rotate on IR5
    assert pair.master.isr == 0 and pair.master.lowest_priority == 5
    pulse(pair, 4)
    pulse(pair, 6)
    assert pair.acknowledge() == 0x26     # IR6 is now the highest
    pair.master_port.write(CMD, 1, 0x66)  # specific EOI, no rotation
    assert pair.master.lowest_priority == 5 and pair.master.isr == 0
    pair.master_port.write(CMD, 1, 0x40)  # no operation
    assert pair.master.lowest_priority == 5 and pair.master.irr == 0x10


def test_nonspecific_eoi_without_rotation_keeps_priority():
    pair = make_pair()
    pulse(pair, 2 + 1)
    pair.acknowledge()
    pair.master_port.write(CMD, 1, 0x20)
    assert pair.master.lowest_priority == 7


def test_special_mask_mode_on_and_off():
    pair = make_pair()
    pulse(pair, 3)
    pair.acknowledge()                    # IR3 in service
    pair.master_port.write(DATA, 1, 0x08)  # mask IR3
    pair.master_port.write(CMD, 1, 0x68)  # special mask mode on
    assert pair.master.special_mask
    pulse(pair, 5)                        # lower than IR3, but IR3 is masked: allowed
    assert pair.has_interrupt()
    pair.master_port.write(CMD, 1, 0x48)  # special mask mode off
    assert not pair.master.special_mask and not pair.has_interrupt()
    pair.master_port.write(CMD, 1, 0x28)  # OCW3 without ESMM: the mode stays as it is
    assert not pair.master.special_mask
    pair.master_port.write(CMD, 1, 0x68)
    pair.master_port.write(CMD, 1, 0x28)
    assert pair.master.special_mask


def test_read_register_select_and_imr_read():
    pair = make_pair()
    pair.master_port.write(DATA, 1, 0xA5)
    assert pair.master_port.read(DATA, 1) == 0xA5
    pulse(pair, 1)
    pair.master_port.write(CMD, 1, 0x0B)  # ISR
    assert pair.master_port.read(CMD, 1) == 0
    pair.master_port.write(CMD, 1, 0x08)  # RR=0: the selection stays (ISR)
    assert pair.master.read_isr
    pair.master_port.write(CMD, 1, 0x0A)  # IRR
    assert pair.master_port.read(CMD, 1) == 0x02


def test_poll_through_the_port_acknowledges():
    pair = make_pair()
    pulse(pair, 11)
    pair.slave_port.write(CMD, 1, 0x0C)
    assert pair.slave_port.read(CMD, 1) == 0x83
    assert pair.acked == [11] and pair.slave.isr == 0x08
    pulse(pair, 1)
    pair.master_port.write(CMD, 1, 0x0C)
    word = pair.master_port.read(CMD, 1)
    assert word & 0x80 and word & 7 in (1, 2)   # the highest request (IR1, above the cascade)
    assert word == 0x81 and pair.acked == [11, 1]
    pair.master_port.write(CMD, 1, 0x0C)
    assert pair.master_port.read(CMD, 1) in (0x00, 0x82)
    assert pair.master_port.read(DATA, 1) == 0  # A0=1 reads the IMR, even after a poll
    pair.master_port.write(CMD, 1, 0x0C)
    pair.master_port.read(DATA, 1)            # the IMR read does not consume the poll
    assert pair.master.poll
    before = list(pair.acked)
    pair.master_port.write(CMD, 1, 0x0A)
    pair.master_port.read(CMD, 1)
    assert pair.acked[:len(before)] == before


def test_poll_with_nothing_pending_reads_zero_and_acknowledges_nothing():
    pair = make_pair()
    pair.master_port.write(CMD, 1, 0x0C)
    assert pair.master_port.read(CMD, 1) == 0
    assert pair.acked == [] and pair.master.counters["spurious"] == 0


def test_int_callback_on_each_rising_edge_only():
    pair = make_pair()
    pulse(pair, 3)
    pulse(pair, 4)
    assert len(pair.raised) == 1          # still high: no second rise
    pair.acknowledge()
    pair.master_port.write(CMD, 1, 0x20)
    assert len(pair.raised) == 2          # IR4 raised INT again after the EOI
    pair.acknowledge()
    pair.master_port.write(CMD, 1, 0x20)
    pulse(pair, 5)
    assert len(pair.raised) == 3


def test_irq_lines_7_and_8_reach_the_right_chip():
    pair = make_pair()
    pulse(pair, 8)
    assert pair.slave.irr == 0x01 and pair.master.irr & 0x01 == 0
    assert pair.acknowledge() == 0x28 and pair.acked == [8]
    pair.slave_port.write(CMD, 1, 0x20)
    pair.master_port.write(CMD, 1, 0x20)
    pulse(pair, 7)
    assert pair.master.irr & 0x80 and pair.slave.irr == 0
    assert pair.acknowledge() == 0x27 and pair.acked == [8, 7]


def test_counters_count_each_event_once():
    pair = make_pair()
    for _ in range(3):
        pulse(pair, 1)
        pair.acknowledge()
        pair.master_port.write(CMD, 1, 0x20)
    assert pair.master.counters["acknowledged"] == [0, 3, 0, 0, 0, 0, 0, 0]
    pair.master_port.write(DATA, 1, 0x02)
    pulse(pair, 1)
    pulse(pair, 1)
    pulse(pair, 1)
    assert pair.master.counters["coalesced"][1] == 2
    pair.master_port.write(DATA, 1, 0x00)
    pair.master.irr = 0                   # the request went away before INTA
    for _ in range(2):
        pair.master.acknowledge()
    assert pair.master.counters["spurious"] == 2
    assert pair.master_port.counters is pair.master.counters


def test_single_chip_with_icw4_and_no_cascade():
    chip = Pic8259("solo")
    chip.write(CMD, 0x13)                 # single, IC4
    chip.write(DATA, 0x48)
    assert chip.init_step == 4
    chip.write(DATA, 0x02)                # ICW4 (AEOI), no ICW3 in between
    assert chip.icw4 == 0x02 and chip.icw3 == 0 and chip.init_step == 0 and chip.auto_eoi
    chip.write(DATA, 0x0F)
    assert chip.imr == 0x0F


def test_cascade_without_icw3_bit_is_a_plain_master_line():
    pair = PicPair()
    init(pair.master, 0x20, 0x00)         # ICW3 says no slave on IR2
    init(pair.slave, 0x28, 0x02)
    pair.set_irq(2, True)
    assert pair.acknowledge() == 0x22     # IR2's own vector, the slave not asked


def test_a_line_held_high_makes_no_second_request_when_another_rises():
    chip = Pic8259("x")
    init(chip, 0x20, 0x04)
    chip.set_irq(1, True)
    chip.acknowledge()
    chip.write(CMD, 0x20)                 # IR1 served; its line is still high
    chip.set_irq(2, True)
    chip.set_irq(1, True)                 # (still) high: no new edge
    assert chip.irr == 0x04


def test_poll_word_for_even_levels_and_only_once():
    pair = make_pair()
    pulse(pair, 0)
    pair.master_port.write(CMD, 1, 0x0C)
    assert pair.master_port.read(CMD, 1) == 0x80  # IR0: 0x80 | 0
    pair.master_port.write(DATA, 1, 0x00)
    pulse(pair, 4)
    assert pair.master_port.read(CMD, 1) == 0x10  # the poll was used up: IRR again
    assert pair.acked == [0]


def test_icw2_low_bits_are_ignored_and_cascade_without_ic4():
    chip = Pic8259("x")
    chip.write(CMD, 0x10)                 # cascade, no IC4: ICW2, ICW3, done
    chip.write(DATA, 0x27)
    assert chip.vector_base == 0x20
    chip.write(DATA, 0x04)
    assert chip.init_step == 0 and chip.icw3 == 0x04
    chip.write(DATA, 0x3C)
    assert chip.imr == 0x3C and chip.icw4 == 0


def test_icw1_without_ic4_clears_auto_eoi_even_in_single_mode():
    chip = Pic8259("x")
    init(chip, 0x20, 0x04, 0x03)
    assert chip.auto_eoi
    chip.write(CMD, 0x12)                 # single, no IC4
    chip.write(DATA, 0x20)
    assert chip.icw4 == 0 and not chip.auto_eoi and chip.init_step == 0


def test_ocw3_bits_act_only_with_their_enable_bits():
    chip = Pic8259("x")
    init(chip, 0x20, 0x04)
    chip.write(CMD, 0x68)                 # special mask on
    chip.write(CMD, 0x0B)                 # read ISR (RIS=1, RR=1), ESMM=0: special mask stays
    assert chip.special_mask and chip.read_isr
    chip.write(CMD, 0x49)                 # ESMM=1, SMM=0 (bit 0 is RIS, without RR): special mask off
    assert not chip.special_mask
    assert chip.read_isr                  # RIS without RR: the read selection stays
    chip.write(CMD, 0x0A)
    chip.write(CMD, 0x09)
    assert not chip.read_isr


def test_reading_the_imr_is_never_a_poll():
    pair = make_pair()
    pair.master_port.write(DATA, 1, 0x80)
    pulse(pair, 1)
    assert pair.master_port.read(DATA, 1) == 0x80
    assert pair.acked == [] and pair.master.isr == 0


def test_ports_are_named_per_chip_and_split_wide_accesses():
    from vmm.bus import Bus
    pair = make_pair()
    assert (pair.master_port.name, pair.slave_port.name) == ("pic8259-master", "pic8259-slave")
    assert (pair.master.name, pair.slave.name) == ("master", "slave")
    bus = Bus("port")
    bus.register(0x20, 2, pair.master_port)
    bus.write(0x20, 2, 0xF00B)            # 0x0B to 0x20 (OCW3: read ISR), 0xF0 to 0x21 (IMR)
    assert pair.master.read_isr and pair.master.imr == 0xF0
