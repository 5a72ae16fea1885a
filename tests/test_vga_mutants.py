"""VGA registers in detail (IBM VGA Technical Reference, FreeVGA's register pages):
the behaviours tests/test_vga.py does not pin down, found by mutation testing
(python -m mutation vga). Ports are written as the literal numbers a guest
uses, never through the model's own constants.
"""

from __future__ import annotations

import pytest

from vmm.bus import Bus
from vmm.devices import vga as v

from .test_vga import dev, ram  # noqa: F401 (fixtures: 1 MiB of RAM, a Vga on it)

BASE = 0x3B0  # the VGA decodes 0x3B0-0x3DF


def outb(dev, port, value):
    dev.write(port - BASE, 1, value)


def inb(dev, port):
    return dev.read(port - BASE, 1)


def crtc(dev, index, value=None):
    outb(dev, 0x3D4, index)
    if value is not None:
        outb(dev, 0x3D5, value)
    return inb(dev, 0x3D5)


def seq(dev, index, value=None):
    outb(dev, 0x3C4, index)
    if value is not None:
        outb(dev, 0x3C5, value)
    return inb(dev, 0x3C5)


def gc(dev, index, value=None):
    outb(dev, 0x3CE, index)
    if value is not None:
        outb(dev, 0x3CF, value)
    return inb(dev, 0x3CF)


def ac(dev, index, value=None):
    """Attribute controller register `index` (PAS kept set), through the flip-flop."""
    inb(dev, 0x3DA)  # flip-flop to "index"
    outb(dev, 0x3C0, index | 0x20)
    if value is not None:
        outb(dev, 0x3C0, value)
    return inb(dev, 0x3C1)


# -- where the VGA sits ----------------------------------------------------------------------
def test_vga_decodes_ports_3b0_to_3df():
    """The VGA's I/O range is 0x3B0-0x3DF: the machine registers PORT_BASE/PORT_COUNT."""
    assert (v.PORT_BASE, v.PORT_COUNT) == (0x3B0, 0x30)
    bus = Bus("port")
    dev = v.Vga(memoryview(bytearray(0x100000)))
    bus.register(v.PORT_BASE, v.PORT_COUNT, dev)
    assert bus.read(0x3CC, 1) == 0x67  # misc output read
    bus.write(0x3D4, 1, 0x0A)
    assert bus.read(0x3D5, 1) == 0x0D


# -- power-on state: what a BIOS leaves after setting mode 3 ---------------------------------
MODE3_CRTC = [0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00,
              0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF]
MODE3_SEQ = [0x03, 0x00, 0x03, 0x00, 0x02]
MODE3_GC = [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF]
MODE3_AC = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F,
            0x0C, 0x00, 0x0F, 0x08, 0x00]


def test_power_on_registers_are_the_bios_mode_3_table(dev):
    """Every CRTC, sequencer, graphics and attribute register reads back the
    IBM BIOS's mode 3 parameter table (80x25 colour text, 720x400)."""
    assert dev.writes == 0
    assert inb(dev, 0x3C4) == 0 and inb(dev, 0x3CE) == 0 and inb(dev, 0x3D4) == 0, "indexes at 0"
    assert inb(dev, 0x3C0) == 0x20, "attribute index: PAS set, index 0, flip-flop at index"
    assert [crtc(dev, i) for i in range(0x19)] == MODE3_CRTC
    assert [seq(dev, i) for i in range(5)] == MODE3_SEQ
    assert [gc(dev, i) for i in range(9)] == MODE3_GC
    assert [ac(dev, i) for i in range(0x15)] == MODE3_AC
    assert inb(dev, 0x3CC) == 0x67 and inb(dev, 0x3CA) == 0
    assert inb(dev, 0x3C6) == 0xFF, "DAC pixel mask"
    assert inb(dev, 0x3C7) == 0 and inb(dev, 0x3C8) == 0, "DAC in write mode at entry 0"


def test_power_on_dac_holds_the_ega_palette(dev):
    """Entries 0-63: the 64 EGA colours (bits 2/1/0 primary R/G/B at 2/3,
    bits 5/4/3 secondary at 1/3, 6-bit values); entries 64-255 black."""
    def ega(i):
        return [(0x2A if i >> p & 1 else 0) + (0x15 if i >> s & 1 else 0) for p, s in ((2, 5), (1, 4), (0, 3))]
    outb(dev, 0x3C7, 0)
    got = [inb(dev, 0x3C9) for _ in range(256 * 3)]
    assert got == [c for i in range(64) for c in ega(i)] + [0] * (192 * 3)
    assert v.ega_palette()[0o24] == (0x2A, 0x15, 0x00), "brown"
    assert v.ega_palette() == v.ega_palette_uncached() and len(v.ega_palette()) == 64


def test_reset_clears_the_window_and_restores_every_register(dev, ram):
    """A CPU reset puts mode 3 back and clears the 80x25 text page (4000 bytes) only."""
    ram[0xB8000 + 4000:0xB8000 + 4002] = b"XY"
    ram[0xB8000:0xB8002] = b"AB"
    ram[0xB8000 + 3998:0xB8000 + 4000] = b"CD"
    outb(dev, 0x3C2, 0x66)
    outb(dev, 0x3BA, 0x0B)
    outb(dev, 0x3C2, 0x67)
    crtc(dev, 0x11, 0)
    for i in range(0x19):
        crtc(dev, i, 0x11)
    for i in range(5):
        seq(dev, i, 0xFF)
    for i in range(9):
        gc(dev, i, 0x01)
    for i in range(0x15):
        ac(dev, i, 0x01)
    outb(dev, 0x3C6, 0x0F)
    outb(dev, 0x3C8, 0)
    for _ in range(3):
        outb(dev, 0x3C9, 0x3F)
    outb(dev, 0x3C9, 0x01)  # a pending component
    outb(dev, 0x3C7, 5)
    inb(dev, 0x3DA)
    outb(dev, 0x3C0, 0x01)  # PAS clear, flip-flop at data
    dev.reset()
    assert bytes(ram[0xB8000:0xB8002]) == b"\x20\x07" and bytes(ram[0xB8000 + 3998:0xB8000 + 4000]) == b"\x20\x07"
    assert bytes(ram[0xB8000 + 4000:0xB8000 + 4002]) == b"XY", "only the 80x25 page is cleared"
    assert [crtc(dev, i) for i in range(0x19)] == MODE3_CRTC
    assert [seq(dev, i) for i in range(5)] == MODE3_SEQ
    assert [gc(dev, i) for i in range(9)] == MODE3_GC
    assert inb(dev, 0x3CA) == 0 and inb(dev, 0x3C6) == 0xFF and inb(dev, 0x3C7) == 0
    outb(dev, 0x3C7, 0)
    assert [inb(dev, 0x3C9) for _ in range(3)] == [0, 0, 0]
    outb(dev, 0x3C8, 0x40)  # a full triple after reset goes to one entry: no stale component
    for c in (1, 2, 3):
        outb(dev, 0x3C9, c)
    outb(dev, 0x3C7, 0x40)
    assert [inb(dev, 0x3C9) for _ in range(3)] == [1, 2, 3]
    assert [ac(dev, i) for i in range(0x15)] == MODE3_AC
    assert not dev.screen().blanked


def test_reset_status1_phase(dev):
    """Reset puts input status 1 back to its first phase (retrace bits clear)."""
    assert inb(dev, 0x3DA) == 0x09
    dev.reset()
    assert inb(dev, 0x3DA) == 0x09
    assert inb(dev, 0x3DA) == 0x00


def test_the_palette_is_computed_once_per_process():
    """ega_palette() hands out copies of one cached table."""
    assert v._ega_palette() is v._ega_palette()
    a, b = v.ega_palette(), v.ega_palette()
    assert a == b and a is not b


def test_device_name():
    """The machine's slot table and --stats name the device "vga"."""
    assert v.Vga.name == "vga"


def test_attribute_flip_flop_starts_at_index(dev):
    """After the mode set the flip-flop is at "index": the first 0x3C0 write
    is an index even without a read of input status 1 first."""
    outb(dev, 0x3C0, 0x20 | 0x12)
    outb(dev, 0x3C0, 0x05)
    outb(dev, 0x3C0, 0x20 | 0x12)
    assert inb(dev, 0x3C1) == 0x05


# -- register widths -------------------------------------------------------------------------
def test_sequencer_registers_keep_their_defined_bits(dev):
    """Reset 0-1, clocking mode 0x3D, map mask 0-3, character map select 0-5,
    memory mode 1-3; the index register has 3 bits and 5-7 do not exist."""
    assert [seq(dev, i, 0xFF) for i in range(5)] == [0x03, 0x3D, 0x0F, 0x3F, 0x0E]
    assert [seq(dev, i, 0x00) for i in range(5)] == [0, 0, 0, 0, 0]
    for i in (5, 6, 7):
        assert seq(dev, i, 0xFF) == 0
    outb(dev, 0x3C4, 0x09)  # bit 3 and up are not stored
    assert inb(dev, 0x3C4) == 0x01
    outb(dev, 0x3C5, 0x01)
    assert seq(dev, 1) == 0x01


def test_graphics_registers_keep_their_defined_bits(dev):
    """Set/reset 0-3, enable set/reset 0-3, colour compare 0-3, data rotate 0-4,
    read map select 0-1, mode 0x7B, misc 0-3, colour don't care 0-3, bit mask 0-7;
    the index register has 4 bits and 9-15 do not exist."""
    assert [gc(dev, i, 0xFF) for i in range(9)] == [0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F, 0xFF]
    assert [gc(dev, i, 0x00) for i in range(9)] == [0] * 9
    for i in range(9, 16):
        assert gc(dev, i, 0xFF) == 0
    outb(dev, 0x3CE, 0x13)
    assert inb(dev, 0x3CE) == 0x03
    outb(dev, 0x3CF, 0xFF)
    assert gc(dev, 3) == 0x1F


def test_attribute_registers_keep_their_defined_bits(dev):
    """Palette 0-5, mode control all but bit 4, overscan 8 bits, colour plane
    enable 0-5, panning 0-3, colour select 0-3; 0x15-0x1F do not exist; the
    index register keeps 6 bits (PAS and the index)."""
    assert [ac(dev, i, 0xFF) for i in range(0x15)] == [0x3F] * 16 + [0xEF, 0xFF, 0x3F, 0x0F, 0x0F]
    assert [ac(dev, i, 0x00) for i in range(0x15)] == [0] * 0x15
    for i in range(0x15, 0x20):
        assert ac(dev, i, 0xFF) == 0
    inb(dev, 0x3DA)
    outb(dev, 0x3C0, 0xFF)
    outb(dev, 0x3C0, 0x01)  # data for index 0x1F (0x3F & 0x1F): no register
    assert inb(dev, 0x3C0) == 0x3F
    assert ac(dev, 0x1F) == 0 and ac(dev, 0x11) == 0


def test_attribute_index_reads_zero_while_the_flip_flop_is_at_data(dev):
    """0x3C0 reads the index only in the index state (as QEMU does)."""
    inb(dev, 0x3DA)
    outb(dev, 0x3C0, 0x31)
    assert inb(dev, 0x3C0) == 0
    outb(dev, 0x3C0, 0x07)
    assert inb(dev, 0x3C0) == 0x31


def test_misc_output_and_feature_control(dev):
    """Misc output keeps all but reserved bit 4 (read at 0x3CC); feature control
    is written at 0x3DA (0x3BA in mono) and keeps FC0, FC1 and VSS (read at 0x3CA);
    input status 0 reads 0."""
    outb(dev, 0x3C2, 0xFF)
    assert inb(dev, 0x3CC) == 0xEF
    outb(dev, 0x3DA, 0xFF)
    assert inb(dev, 0x3CA) == 0x0B
    outb(dev, 0x3DA, 0x00)
    assert inb(dev, 0x3CA) == 0
    assert inb(dev, 0x3C2) == 0
    outb(dev, 0x3C2, 0x66)  # mono: feature control moves to 0x3BA
    outb(dev, 0x3DA, 0x01)  # ignored
    assert inb(dev, 0x3CA) == 0
    outb(dev, 0x3BA, 0x02)
    assert inb(dev, 0x3CA) == 0x02
    assert inb(dev, 0x3C3) == 0 and inb(dev, 0x3CD) == 0, "unassigned ports read 0"


def test_mono_input_status_1_at_3ba(dev):
    """With the mono ports selected, input status 1 (toggling, flip-flop reset) is at 0x3BA."""
    outb(dev, 0x3C2, 0x66)
    inb(dev, 0x3BA)
    outb(dev, 0x3C0, 0x20 | 0x12)  # index
    a = inb(dev, 0x3BA)  # back to index
    b = inb(dev, 0x3BA)
    assert a ^ b == 0x09
    outb(dev, 0x3C0, 0x20 | 0x13)  # an index again, not data for 0x12
    outb(dev, 0x3C0, 0x05)
    assert inb(dev, 0x3C0) == 0x33 and inb(dev, 0x3C1) == 0x05
    assert ac(dev, 0x12) == 0x0F, "plane enable untouched"


def test_wrong_port_set_is_exactly_the_other_crtc_block(dev):
    """Colour: 0x3B0-0x3BF float (read 0xFF, writes ignored); mono: 0x3D0-0x3DF do.
    0x3C0-0x3CF answer in both."""
    before = dev.writes
    for port in range(0x3B0, 0x3C0):
        assert inb(dev, port) == 0xFF, hex(port)
        outb(dev, port, 0x00)
    assert dev.writes == before, "writes to the floating block are not register writes"
    assert inb(dev, 0x3C0) != 0xFF and inb(dev, 0x3CF) != 0xFF
    assert inb(dev, 0x3D0) == 0 and inb(dev, 0x3DF) == 0
    outb(dev, 0x3C2, 0x66)
    for port in range(0x3D0, 0x3E0):
        assert inb(dev, port) == 0xFF, hex(port)
    assert inb(dev, 0x3B0) == 0 and inb(dev, 0x3BF) == 0
    assert inb(dev, 0x3C0) != 0xFF and inb(dev, 0x3CF) != 0xFF


def test_register_writes_are_counted(dev):
    """`writes` counts every register write the VGA takes (the display's change detection)."""
    outb(dev, 0x3D4, 0x0E)
    dev.write(0x3D4 - BASE, 2, 0x000F)  # a word write: two register writes
    assert dev.writes == 3
    inb(dev, 0x3DA)
    assert dev.writes == 3, "reads are not writes"


# -- the CRTC ---------------------------------------------------------------------------------
def test_crtc_has_registers_0_to_0x18(dev):
    """0x18 (line compare) is the last CRTC register; 0x19 and up read 0 and ignore writes."""
    assert crtc(dev, 0x18, 0x12) == 0x12
    assert crtc(dev, 0x19, 0x12) == 0
    assert crtc(dev, 0x18) == 0x12


def test_crtc_write_protect_is_bit_7_only(dev):
    """CR11 bits 0-6 do not protect CR0-CR7; bit 7 protects all of 0-7 but not 8 and up."""
    crtc(dev, 0x11, 0x7F)
    for i in range(8):
        assert crtc(dev, i, 0x5A) == 0x5A
    crtc(dev, 0x11, 0x80)
    for i in range(7):
        assert crtc(dev, i, 0xA5) == 0x5A
    assert crtc(dev, 0x07, 0xFF) == 0x5A | 0x10, "only bit 4 of the overflow register"
    assert crtc(dev, 0x07, 0x00) == 0x4A
    assert crtc(dev, 0x08, 0xA5) == 0xA5, "CR8 is not protected"
    assert crtc(dev, 0x11) == 0x80


# -- what the screen shows --------------------------------------------------------------------
@pytest.mark.parametrize("misc,window", [(0x00, (0xA0000, 0x20000)), (0x04, (0xA0000, 0x10000)),
                                         (0x08, (0xB0000, 0x8000)), (0x0C, (0xB8000, 0x8000))])
def test_memory_map_select_windows(dev, ram, misc, window):
    """GC misc bits 3:2: 0xA0000/128K, 0xA0000/64K, 0xB0000/32K, 0xB8000/32K;
    the CRTC's address counter wraps at the window's end (here inside a row)."""
    gc(dev, 6, misc | 0x02)
    assert dev.window() == window
    base, size = window
    cells = size // 2
    start = cells - 2  # the first row: two cells at the window's end, the rest from its start
    ram[base + size - 4:base + size] = b"ab" + b"cd"
    ram[base:base + 4] = b"ef" + b"gh"
    crtc(dev, 0x0C, start >> 8)
    crtc(dev, 0x0D, start & 0xFF)
    row = dev.screen().cells[0]
    assert len(row) == 80
    assert row[:4] == [(ord("a"), ord("b")), (ord("c"), ord("d")), (ord("e"), ord("f")), (ord("g"), ord("h"))]
    assert dev.signature()[0] == bytes(ram[base:base + size])


def test_geometry_is_bounded_exactly(dev):
    """A guest's CRTC values are clipped to 132 columns and 60 rows."""
    crtc(dev, 0x11, 0)
    crtc(dev, 0x01, 131)
    assert dev.geometry()[0] == 132
    crtc(dev, 0x01, 132)
    assert dev.geometry()[0] == 132
    crtc(dev, 0x09, 0x03)  # 4 scan lines
    crtc(dev, 0x07, 0x00)
    crtc(dev, 0x12, 60 * 4 - 1)
    assert dev.geometry()[1] == 60
    crtc(dev, 0x12, 61 * 4 - 1)
    assert dev.geometry()[1] == 60
    crtc(dev, 0x12, 59 * 4 - 1)
    assert dev.geometry()[1] == 59
    crtc(dev, 0x12, 59 * 4 - 2)  # CR12 is the last line: lines = CR12 + 1
    assert dev.geometry()[1] == 58
    crtc(dev, 0x12, 2)  # 3 scan lines: less than one row still shows one
    assert dev.geometry()[1] == 1


def test_vertical_display_end_bits_8_and_9_in_the_overflow_register(dev):
    """Vertical display end is 10 bits: CR12, CR07 bit 1 (bit 8), CR07 bit 6 (bit 9);
    rows = lines / (CR09 bits 4:0 + 1); CR09's other bits do not count."""
    crtc(dev, 0x11, 0)
    crtc(dev, 0x09, 0xE0 | 0x0F)  # 16 scan lines; bits 7:5 are not the height
    assert dev.geometry()[3] == 16
    crtc(dev, 0x12, 0xFF)
    crtc(dev, 0x07, 0x00)
    assert dev.geometry()[1] == 16  # 256 lines
    crtc(dev, 0x07, 0x02)
    assert dev.geometry()[1] == 32  # 512 lines
    crtc(dev, 0x07, 0x40)
    assert dev.geometry()[1] == 48  # 768 lines
    crtc(dev, 0x07, 0xBD)  # every other overflow bit: no effect
    assert dev.geometry()[1] == 16


def test_offset_register_sets_the_row_stride(dev, ram):
    """CR13 is words per row / 2: a row starts CR13 * 2 cells after the previous;
    0 falls back to the displayed width."""
    crtc(dev, 0x13, 50)
    assert dev.geometry()[2] == 100
    ram[0xB8000 + 200:0xB8000 + 202] = b"R\x1e"
    assert dev.screen().cells[1][0] == (ord("R"), 0x1e)
    crtc(dev, 0x13, 0)
    assert dev.geometry()[2] == 80


def test_attribute_mode_control_bits(dev):
    """Mode control: bit 3 blink, bit 2 line graphics, bit 0 graphics mode
    (ignored: text only); bit 7 P54S. Each is read alone."""
    ac(dev, 0x10, 0x01)
    s = dev.screen()
    assert not s.blink_enabled and not s.line_graphics
    assert s.colors == dev.colors()
    default = [tuple(x << 2 | x >> 4 for x in v.ega_palette()[p]) for p in MODE3_AC[:16]]
    assert s.colors == default, "bit 0 does not select P5:4 from the colour select register"
    ac(dev, 0x14, 0x03)  # colour select bits 1:0 (used only with P54S)
    assert dev.colors() == default
    ac(dev, 0x10, 0x08)
    s = dev.screen()
    assert s.blink_enabled and not s.line_graphics
    ac(dev, 0x10, 0x04)
    s = dev.screen()
    assert not s.blink_enabled and s.line_graphics


def test_sequencer_screen_off_is_bit_5_only(dev):
    """Clocking mode bit 0 alone: 8-dot cells, screen on; bit 5: screen off."""
    seq(dev, 1, 0x01)
    s = dev.screen()
    assert s.cell_width == 8 and not s.blanked
    seq(dev, 1, 0x20)
    s = dev.screen()
    assert s.cell_width == 9 and s.blanked


# -- the DAC ----------------------------------------------------------------------------------
def test_dac_indexes_wrap_and_keep_six_bits(dev):
    """DAC data values are 6 bits; after entry 255 the read and write indexes wrap to 0."""
    outb(dev, 0x3C8, 0xFF)
    for value in (0xFF, 0x40, 0x81, 0x01, 0x02, 0x03):
        outb(dev, 0x3C9, value)
    assert inb(dev, 0x3C8) == 1
    outb(dev, 0x3C7, 0xFF)
    assert [inb(dev, 0x3C9) for _ in range(6)] == [0x3F, 0x00, 0x01, 0x01, 0x02, 0x03]
    assert inb(dev, 0x3C7) == 3
    outb(dev, 0x3C8, 0xFF)
    assert inb(dev, 0x3C7) == 0
    assert dev.screen().colors[0] == (0x04, 0x08, 0x0C), "attribute 0 -> palette 0 -> DAC 0"


def test_dac_write_index_starts_a_new_triple(dev):
    """Writing the write index (or the read index) restarts the R, G, B sequence."""
    outb(dev, 0x3C8, 0x10)
    outb(dev, 0x3C9, 0x11)
    outb(dev, 0x3C8, 0x20)
    for value in (0x01, 0x02, 0x03):
        outb(dev, 0x3C9, value)
    outb(dev, 0x3C7, 0x20)
    inb(dev, 0x3C9)
    outb(dev, 0x3C7, 0x20)
    assert [inb(dev, 0x3C9) for _ in range(3)] == [0x01, 0x02, 0x03]
    outb(dev, 0x3C7, 0x10)
    assert [inb(dev, 0x3C9) for _ in range(3)] == list(v.ega_palette()[0x10]), "the partial triple was dropped"


def test_dac_component_counter_is_shared_and_the_holding_register_starts_clear(dev):
    """The DAC has one R/G/B counter for reads and writes: a read of 0x3C9
    advances it, so two writes then complete the entry, with the first
    component from the holding register, which is clear after reset."""
    outb(dev, 0x3C8, 0x30)
    inb(dev, 0x3C9)
    outb(dev, 0x3C9, 0x05)
    outb(dev, 0x3C9, 0x06)
    outb(dev, 0x3C7, 0x30)
    assert [inb(dev, 0x3C9) for _ in range(3)] == [0, 0x05, 0x06]
    assert inb(dev, 0x3C8) == 0x31
    # and the holding register keeps what was last written into each slot
    outb(dev, 0x3C8, 0x31)
    inb(dev, 0x3C9)
    inb(dev, 0x3C9)
    outb(dev, 0x3C9, 0x07)
    outb(dev, 0x3C7, 0x31)
    assert [inb(dev, 0x3C9) for _ in range(3)] == [0, 0x05, 0x07]


def test_dac_holding_register_green_starts_clear(dev):
    """Two reads then one write complete an entry whose red and green come from
    the holding register: both 0 after reset."""
    outb(dev, 0x3C8, 0x40)
    inb(dev, 0x3C9)
    inb(dev, 0x3C9)
    outb(dev, 0x3C9, 0x09)
    outb(dev, 0x3C7, 0x40)
    assert [inb(dev, 0x3C9) for _ in range(3)] == [0, 0, 0x09]


def test_dac_pixel_mask_and_colour_select(dev):
    """The colour path: palette register (6 bits), with P54S bits 5:4 from colour
    select bits 1:0, bits 7:6 from colour select bits 3:2, ANDed with the pixel
    mask, picks the DAC entry; 6-bit DAC values widen to 8 bits (v << 2 | v >> 4)."""
    def set_dac(i, rgb):
        outb(dev, 0x3C8, i)
        for c in rgb:
            outb(dev, 0x3C9, c)

    set_dac(0x83, (0x3F, 0x10, 0x01))
    set_dac(0x93, (0x01, 0x02, 0x20))
    set_dac(0x13, (0x21, 0x00, 0x3E))
    ac(dev, 3, 0x03)
    ac(dev, 0x14, 0x08)  # colour select bit 3 -> DAC index bit 7
    assert dev.colors()[3] == (0xFF, 0x41, 0x04)
    ac(dev, 0x10, 0x80 | 0x0C)  # P54S: bits 5:4 from colour select 1:0
    ac(dev, 0x14, 0x09)
    assert dev.colors()[3] == (0x04, 0x08, 0x82)
    ac(dev, 3, 0x33)  # palette bits 5:4 are replaced under P54S
    assert dev.colors()[3] == (0x04, 0x08, 0x82)
    ac(dev, 0x10, 0x0C)
    ac(dev, 0x14, 0x00)
    assert dev.colors()[3] == tuple(x << 2 | x >> 4 for x in v.ega_palette()[0x33])
    outb(dev, 0x3C6, 0x1F)  # mask: 0x33 -> 0x13
    assert dev.colors()[3] == (0x86, 0x00, 0xFB)
    assert len(dev.colors()) == 16


# -- the screen picture -----------------------------------------------------------------------
def test_every_row_has_the_displayed_width(dev, ram):
    """Each row holds exactly CR01 + 1 cells, read from its own start in memory."""
    for i in range(2000):
        ram[0xB8000 + 2 * i:0xB8000 + 2 * i + 2] = bytes([i & 0xFF, i >> 8])
    s = dev.screen()
    assert len(s.cells) == 25
    for r, row in enumerate(s.cells):
        assert row == [((80 * r + c) & 0xFF, (80 * r + c) >> 8) for c in range(80)]
    crtc(dev, 0x0D, 40)  # start in the middle of a row
    assert [len(row) for row in dev.screen().cells] == [80] * 25
    last = dev.screen().cells[24]
    assert last[39] == (1999 & 0xFF, 1999 >> 8) and last[40] == (0, 0)


def test_cursor_visibility_edges(dev):
    """The cursor shows when enabled, start <= end (a one-line cursor too),
    start inside the cell, and its location inside the displayed rows and
    columns; the end scan line is clipped to the cell."""
    def cursor(start, end, location=0):
        crtc(dev, 0x0A, start)
        crtc(dev, 0x0B, end)
        crtc(dev, 0x0E, location >> 8)
        crtc(dev, 0x0F, location & 0xFF)
        return dev.screen()

    s = cursor(7, 7)
    assert s.cursor_visible and (s.cursor_start, s.cursor_end) == (7, 7)
    s = cursor(15, 31)
    assert s.cursor_visible and s.cursor_end == 15, "end clipped to the 16-line cell"
    assert not cursor(16, 31).cursor_visible, "start below the cell"
    assert cursor(0, 15, 80 * 25 - 1).cursor_visible
    s = cursor(0, 15, 80 * 25)
    assert (s.cursor_row, s.cursor_column, s.cursor_visible) == (25, 0, False), "below the last row"
    crtc(dev, 0x13, 50)  # 100 cells per row, 80 shown
    s = cursor(0, 15, 79)
    assert s.cursor_visible
    s = cursor(0, 15, 80)
    assert (s.cursor_row, s.cursor_column, s.cursor_visible) == (0, 80, False), "right of the last column"
    assert cursor(0x20 | 3, 5).cursor_visible is False


def test_signature_follows_everything_the_picture_depends_on(dev, ram):
    """The display redraws only when the signature changes: it must change with
    text memory, the registers, blanking (PAS) and any colour, including DAC
    entries above 63 reached through colour select bits 3:2."""
    sig = dev.signature()
    assert dev.signature() == sig
    inb(dev, 0x3DA)
    outb(dev, 0x3C0, 0x00)  # PAS clear: blank
    assert dev.signature() != sig
    outb(dev, 0x3C0, 0x00)  # palette 0 = 0 again (data)
    outb(dev, 0x3C0, 0x20)  # PAS set
    assert dev.signature() == sig
    ac(dev, 0x14, 0x04)  # colours now from DAC 64-127
    sig = dev.signature()
    outb(dev, 0x3C8, 64 + 7)
    for c in (0x3F, 0x3F, 0x00):
        outb(dev, 0x3C9, c)
    assert dev.signature() != sig, "a visible colour changed"
    sig = dev.signature()
    outb(dev, 0x3C8, 200)  # not shown by any attribute
    for c in (0x3F, 0x3F, 0x00):
        outb(dev, 0x3C9, c)
    assert dev.signature() == sig
    outb(dev, 0x3C6, 0x0F)
    assert dev.signature() != sig, "pixel mask"
    sig = dev.signature()
    ram[0xB8000 + 0x7FFF] = 1  # the last byte of the 32K window
    assert dev.signature() != sig
    sig = dev.signature()
    ram[0xB8000 + 0x8000] = 1  # outside the window
    assert dev.signature() == sig
