"""VGA text-mode registers at device level (IBM VGA Technical Reference)."""

from __future__ import annotations

import pytest

from vmm.devices import vga as v


@pytest.fixture
def ram():
    return memoryview(bytearray(0x100000))


@pytest.fixture
def dev(ram):
    return v.Vga(ram)


def outb(dev, port, value):
    dev.write(port - v.PORT_BASE, 1, value)


def outw(dev, port, value):
    dev.write(port - v.PORT_BASE, 2, value)


def inb(dev, port):
    return dev.read(port - v.PORT_BASE, 1)


def crtc(dev, index, value=None):
    outb(dev, 0x3D4, index)
    if value is not None:
        outb(dev, 0x3D5, value)
    return inb(dev, 0x3D5)


def test_power_on_state_is_mode_3_with_a_cleared_screen(dev, ram):
    assert inb(dev, 0x3CC) == 0x67
    assert bytes(ram[0xB8000:0xB8000 + 4000]) == b"\x20\x07" * 2000
    s = dev.screen()
    assert (s.columns, s.rows, s.cell_width, s.cell_height) == (80, 25, 9, 16)
    assert (s.cursor_start, s.cursor_end, s.cursor_visible) == (13, 14, True)
    assert not s.blanked and s.blink_enabled and s.line_graphics


def test_crtc_index_data_and_word_write(dev):
    assert crtc(dev, 0x0E, 0x12) == 0x12
    outw(dev, 0x3D4, 0x0F | 0x34 << 8)  # one outw: index 0x0F, data 0x34
    assert inb(dev, 0x3D4) == 0x0F
    assert inb(dev, 0x3D5) == 0x34
    assert dev.read(0x3D4 - v.PORT_BASE, 2) == 0x340F


def test_cursor_location_and_shape(dev):
    outw(dev, 0x3D4, 0x0E | 0x00 << 8)
    outw(dev, 0x3D4, 0x0F | 83 << 8)  # row 1, column 3
    s = dev.screen()
    assert (s.cursor_row, s.cursor_column, s.cursor_visible) == (1, 3, True)
    outw(dev, 0x3D4, 0x0A | 0x20 << 8)  # cursor disable bit
    assert not dev.screen().cursor_visible
    outw(dev, 0x3D4, 0x0A | 0x00 << 8)
    outw(dev, 0x3D4, 0x0B | 0x0F << 8)  # block cursor
    s = dev.screen()
    assert (s.cursor_start, s.cursor_end, s.cursor_visible) == (0, 15, True)
    outw(dev, 0x3D4, 0x0A | 0x0E << 8)
    outw(dev, 0x3D4, 0x0B | 0x0D << 8)  # start below end: no cursor, as on the chip
    assert not dev.screen().cursor_visible


def test_start_address_scrolls_the_screen(dev, ram):
    for row in range(30):
        at = 0xB8000 + row * 160
        ram[at:at + 2] = bytes([ord("A") + row, 0x1F])
    assert dev.screen().cells[0][0] == (ord("A"), 0x1F)
    crtc(dev, 0x0C, 0)
    crtc(dev, 0x0D, 80 * 3)  # start three rows down
    s = dev.screen()
    assert s.start_address == 240
    assert s.cells[0][0] == (ord("D"), 0x1F)
    assert s.cells[24][0] == (ord("A") + 27, 0x1F)
    # the cursor location is absolute: it moves up the screen with the start
    crtc(dev, 0x0E, (80 * 5 + 7) >> 8)
    crtc(dev, 0x0F, (80 * 5 + 7) & 0xFF)
    s = dev.screen()
    assert (s.cursor_row, s.cursor_column) == (2, 7)


def test_start_address_wraps_in_the_32k_window(dev, ram):
    ram[0xB8000:0xB8002] = b"W\x02"
    start = 0x4000 - 80  # last row of the 16K-cell window, then wrap to the top
    crtc(dev, 0x0C, start >> 8)
    crtc(dev, 0x0D, start & 0xFF)
    assert dev.screen().cells[1][0] == (ord("W"), 0x02)


def test_crtc_0_7_write_protect(dev):
    assert crtc(dev, 0x11) & 0x80  # mode 3 sets the protect bit
    assert crtc(dev, 0x01, 0x27) == 0x4F  # ignored
    assert crtc(dev, 0x07, 0x00) == 0x1F & ~0x10  # only bit 4 (line compare 8) is writable
    crtc(dev, 0x11, 0x0E)
    assert crtc(dev, 0x01, 0x27) == 0x27
    assert dev.screen().columns == 40


def test_misc_output_selects_mono_or_colour_ports(dev):
    crtc(dev, 0x0E, 0x05)
    outb(dev, 0x3C2, 0x66)  # I/O address select clear: monochrome
    assert inb(dev, 0x3CC) == 0x66
    assert inb(dev, 0x3D5) == 0xFF and inb(dev, 0x3DA) == 0xFF  # colour set is gone
    outb(dev, 0x3D4, 0x0F)  # ignored
    outb(dev, 0x3B4, 0x0E)
    assert inb(dev, 0x3B5) == 0x05  # same CRTC behind the mono ports
    outb(dev, 0x3B5, 0x07)
    outb(dev, 0x3C2, 0x67)
    assert inb(dev, 0x3B5) == 0xFF
    outb(dev, 0x3D4, 0x0E)
    assert inb(dev, 0x3D5) == 0x07


def test_input_status_1_resets_the_attribute_flip_flop(dev):
    inb(dev, 0x3DA)
    outb(dev, 0x3C0, 0x10 | 0x20)  # index: mode control, palette in use
    # a read of 0x3DA now puts the flip-flop back to "index"
    inb(dev, 0x3DA)
    outb(dev, 0x3C0, 0x31)  # an index again (overscan), not data for 0x10
    outb(dev, 0x3C0, 0x05)  # data for 0x11
    assert inb(dev, 0x3C0) == 0x31  # flip-flop back at index after the data write
    outb(dev, 0x3C0, 0x30)
    assert inb(dev, 0x3C1) == 0x0C  # mode control untouched
    inb(dev, 0x3DA)
    outb(dev, 0x3C0, 0x31)
    assert inb(dev, 0x3C1) == 0x05


def test_status_1_toggles_retrace_so_polling_ends(dev):
    a, b = inb(dev, 0x3DA), inb(dev, 0x3DA)
    assert (a ^ b) & 0x08 and (a ^ b) & 0x01


def test_attribute_palette_blanking_and_blink(dev):
    inb(dev, 0x3DA)
    outb(dev, 0x3C0, 0x01)  # PAS clear: the palette is being loaded, screen blank
    assert dev.screen().blanked
    outb(dev, 0x3C0, 0x3F)  # palette register 1 = white
    assert dev.screen().blanked
    outb(dev, 0x3C0, 0x30)  # PAS set again, index 0x10
    outb(dev, 0x3C0, 0x04)  # mode control: blink off, line graphics on
    s = dev.screen()
    assert not s.blanked and not s.blink_enabled and s.line_graphics
    assert s.colors[1] == (0xFF, 0xFF, 0xFF)


def test_default_colours_are_the_cga_sixteen(dev):
    c = dev.screen().colors
    assert c[0] == (0, 0, 0)
    assert c[1] == (0, 0, 0xAA)
    assert c[6] == (0xAA, 0x55, 0)  # brown: palette 6 → DAC 0x14
    assert c[7] == (0xAA, 0xAA, 0xAA)
    assert c[8] == (0x55, 0x55, 0x55)
    assert c[14] == (0xFF, 0xFF, 0x55)
    assert c[15] == (0xFF, 0xFF, 0xFF)


def test_dac_write_read_and_state(dev):
    outb(dev, 0x3C8, 7)
    assert inb(dev, 0x3C7) == 0  # write mode
    for value in (0x3F, 0x20, 0x01, 0x02, 0x03, 0x04):
        outb(dev, 0x3C9, value)
    assert inb(dev, 0x3C8) == 9  # two entries written
    outb(dev, 0x3C7, 7)
    assert inb(dev, 0x3C7) == 3  # read mode
    assert [inb(dev, 0x3C9) for _ in range(6)] == [0x3F, 0x20, 0x01, 0x02, 0x03, 0x04]
    assert dev.screen().colors[7] == (0xFF, 0x82, 0x04)  # attribute 7 → palette 7 → DAC 7
    outb(dev, 0x3C6, 0x00)  # pixel mask: every colour becomes DAC entry 0
    assert dev.screen().colors[15] == (0, 0, 0)


def test_sequencer_and_graphics_registers(dev, ram):
    outb(dev, 0x3C4, 0x01)
    assert inb(dev, 0x3C5) == 0x00
    outb(dev, 0x3C5, 0x01 | 0x20 | 0xC0)  # 8-dot, screen off, reserved bits
    assert inb(dev, 0x3C5) == 0x21
    s = dev.screen()
    assert s.cell_width == 8 and s.blanked
    outb(dev, 0x3CE, 0x06)
    assert inb(dev, 0x3CF) == 0x0E
    outb(dev, 0x3CF, 0x0A)  # memory map 2: 0xB0000
    ram[0xB0000:0xB0002] = b"M\x70"
    assert dev.screen().cells[0][0] == (ord("M"), 0x70)


def test_hostile_values_stay_bounded(dev):
    crtc(dev, 0x11, 0)
    for index in range(0x19):
        crtc(dev, index, 0xFF)
    crtc(dev, 0x77, 0x12)  # no such register
    assert crtc(dev, 0x77) == 0
    s = dev.screen()
    assert s.columns <= v.MAX_COLUMNS and 1 <= s.rows <= v.MAX_ROWS
    for port in range(0x3B0, 0x3E0):
        inb(dev, port)
        outb(dev, port, 0xFF)
    dev.screen()
