"""VGA in text mode (IBM VGA Technical Reference; FreeVGA's register pages).

The registers, all at ports 0x3B0-0x3DF:

    0x3C0        attribute controller: index and data through one port, a
                 flip-flop picks which; reading input status 1 resets it to
                 "index". Index bit 5 (PAS) set = the palette is in use: while
                 it is clear the screen is blank (the guest is loading it).
    0x3C1        attribute data read
    0x3C2        write: misc output; read: input status 0
    0x3C4/0x3C5  sequencer index/data (clocking mode bit 0: 8- or 9-dot cells,
                 bit 5: screen off)
    0x3C6        DAC pixel mask
    0x3C7        write: DAC read index; read: DAC state (0 write, 3 read mode)
    0x3C8        DAC write index (reads back)
    0x3C9        DAC data: three 6-bit values (R, G, B) per entry, then the
                 index moves on
    0x3CA        feature control read; 0x3CC misc output read
    0x3CE/0x3CF  graphics controller index/data (misc register bits 3:2 pick
                 the memory window: 0xA0000/128K, 0xA0000/64K, 0xB0000/32K,
                 0xB8000/32K)
    0x3D4/0x3D5  CRTC index/data with misc output bit 0 (I/O address
    0x3DA        select) set: colour; input status 1 read / feature control
                 write. With bit 0 clear the same three move to
                 0x3B4/0x3B5/0x3BA and the 0x3Dx ones read 0xFF and ignore
                 writes (and the other way round).

CRTC registers that matter in text mode: 0x01 horizontal display end
(columns - 1), 0x07/0x12 vertical display end, 0x09 maximum scan line
(character height - 1), 0x0A/0x0B cursor start/end (0x0A bit 5: cursor
off), 0x0C/0x0D start address (hardware scrolling), 0x0E/0x0F cursor
location, 0x13 offset (words per row / 2). Registers 0-7 are write-protected
while 0x11 bit 7 is set, except 0x07 bit 4, as on the real chip.

A 16-bit `out` writes its low byte to the port and its high byte to the next
one, so `outw(0x3D4, index | value << 8)` sets a CRTC register in one exit.

Text memory is plain guest RAM: the window at 0xB8000 (or wherever the
graphics controller maps it) is part of the RAM slot, so the guest's stores
cost no VM exit; the VMM reads the cells from RAM when it draws. The state at
power-on is what a VGA BIOS leaves after setting mode 3 (80x25, 9x16 cells,
colour, EGA palette in the DAC), with the screen cleared to grey-on-black
blanks, since this machine has no BIOS to do it.

Simplifications:
- Text mode only: the graphics-mode registers (GC set/reset, bit mask, read
  and write modes, latches, planes) are stored and read back but the memory
  is always the linear odd/even text layout (character byte, then attribute
  byte) and graphics modes are not drawn.
- Memory is the window of guest RAM itself, not four 64 KiB planes: the
  font plane (plane 2) does not exist, so the font is the built-in VGA ROM
  font of the renderer and the character-map-select register has no effect.
- Timing is not modelled: input status 1 toggles its display-enable and
  vertical-retrace bits on every read (as QEMU does), so polling loops end.
- Monochrome mode selects the ports and (by the GC) the 0xB0000 window but
  attributes are still drawn through the colour palette (no underline).
"""

from __future__ import annotations

import functools

from dataclasses import dataclass

PORT_BASE, PORT_COUNT = 0x3B0, 0x30  # 0x3B0-0x3DF

# Ports
AC_INDEX, AC_READ, MISC_WRITE, SEQ_INDEX, SEQ_DATA = 0x3C0, 0x3C1, 0x3C2, 0x3C4, 0x3C5
DAC_MASK, DAC_READ_INDEX, DAC_WRITE_INDEX, DAC_DATA = 0x3C6, 0x3C7, 0x3C8, 0x3C9
FEATURE_READ, MISC_READ, GC_INDEX, GC_DATA = 0x3CA, 0x3CC, 0x3CE, 0x3CF
CRTC_INDEX_MONO, CRTC_DATA_MONO, STATUS1_MONO = 0x3B4, 0x3B5, 0x3BA
CRTC_INDEX_COLOR, CRTC_DATA_COLOR, STATUS1_COLOR = 0x3D4, 0x3D5, 0x3DA

MISC_IOAS = 0x01  # I/O address select: 1 = colour ports 0x3Dx
AC_PAS = 0x20     # palette address source: 1 = display uses the palette
AC_MODE, AC_OVERSCAN, AC_PLANE_ENABLE, AC_PANNING, AC_COLOR_SELECT = 0x10, 0x11, 0x12, 0x13, 0x14
AC_MODE_BLINK, AC_MODE_LGE, AC_MODE_P54S = 0x08, 0x04, 0x80
SEQ_CLOCKING = 1
SEQ_8DOT, SEQ_SCREEN_OFF = 0x01, 0x20
GC_MISC = 6
CR_HDISP_END, CR_OVERFLOW, CR_MAX_SCAN, CR_CURSOR_START, CR_CURSOR_END = 0x01, 0x07, 0x09, 0x0A, 0x0B
CR_START_HI, CR_START_LO, CR_CURSOR_HI, CR_CURSOR_LO = 0x0C, 0x0D, 0x0E, 0x0F
CR_VSYNC_END, CR_VDISP_END, CR_OFFSET = 0x11, 0x12, 0x13
CR_PROTECT = 0x80  # CR11 bit 7: CR0-CR7 read-only
CURSOR_OFF = 0x20
STATUS1_TOGGLE = 0x09  # vertical retrace | display disabled

# Bits each register keeps (others read back as 0), from the register pages.
SEQ_MASKS = (0x03, 0x3D, 0x0F, 0x3F, 0x0E)
GC_MASKS = (0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F, 0xFF)
CRTC_COUNT = 0x19

# What a VGA BIOS programs for mode 3 (80x25 text, 720x400, colour).
MODE3_MISC = 0x67
MODE3_SEQ = (0x03, 0x00, 0x03, 0x00, 0x02)
MODE3_CRTC = (0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00,
              0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF)
MODE3_GC = (0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF)
MODE3_AC = (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F,
            0x0C, 0x00, 0x0F, 0x08, 0x00)

WINDOWS = ((0xA0000, 0x20000), (0xA0000, 0x10000), (0xB0000, 0x8000), (0xB8000, 0x8000))
MAX_COLUMNS, MAX_ROWS = 132, 60  # what the renderers accept from a guest's CRTC values
BLANK_CELL = b"\x20\x07"


@functools.lru_cache(maxsize=1)
def _ega_palette() -> tuple:
    return tuple(ega_palette_uncached())


def ega_palette() -> list[tuple[int, int, int]]:
    """ega_palette_uncached(), computed once per process."""
    return list(_ega_palette())


def ega_palette_uncached() -> list[tuple[int, int, int]]:
    """The 64 EGA colours the BIOS loads into DAC entries 0-63 for text modes:
    index bits 2/1/0 are the primary red/green/blue (2/3 intensity), bits 5/4/3
    the secondary ones (1/3 intensity); 6-bit DAC values."""
    def channel(i, primary, secondary):
        return (0x2A if i >> primary & 1 else 0) + (0x15 if i >> secondary & 1 else 0)
    return [(channel(i, 2, 5), channel(i, 1, 4), channel(i, 0, 3)) for i in range(64)]


@dataclass
class TextScreen:
    """One consistent picture of the text screen, as the VMM draws it."""
    columns: int
    rows: int
    cells: list[list[tuple[int, int]]]  # [row][column] = (character, attribute)
    cursor_row: int
    cursor_column: int
    cursor_visible: bool       # enabled and on the screen
    cursor_start: int          # scan lines, 0 = top of the cell
    cursor_end: int
    start_address: int         # CRTC 0x0C/0x0D, in character cells
    cell_width: int            # 8 or 9 pixels
    cell_height: int
    blink_enabled: bool        # attribute bit 7 blinks (else: bright background)
    line_graphics: bool        # 9th column repeats the 8th for 0xC0-0xDF
    blanked: bool              # screen off, or palette being loaded
    colors: list[tuple[int, int, int]]  # the 16 attribute colours as 8-bit RGB


class Vga:
    name = "vga"

    def __init__(self, ram_view):
        """ram_view: a writable memoryview of guest RAM from physical 0."""
        self.ram = ram_view
        self.reset()

    def reset(self):
        """Power-on (and CPU reset) state: mode 3 as a BIOS leaves it, screen cleared."""
        self.misc = MODE3_MISC
        self.feature = 0
        self.seq_index, self.seq = 0, list(MODE3_SEQ)
        self.gc_index, self.gc = 0, list(MODE3_GC)
        self.crtc_index, self.crtc = 0, list(MODE3_CRTC)
        self.ac_index, self.ac, self.ac_flip_flop = AC_PAS, list(MODE3_AC), 0
        self.dac = [list(rgb) for rgb in ega_palette()] + [[0, 0, 0] for _ in range(192)]
        self.dac_mask, self.dac_state = 0xFF, 0
        self.dac_read_index = self.dac_write_index = self.dac_sub = 0
        self.dac_pending = [0, 0, 0]
        self.status1 = 0
        self.writes = 0  # register writes, for the display's change detection
        base, size = self.window()
        self.ram[base:base + 4000] = BLANK_CELL * 2000  # the BIOS's mode set cleared the screen

    # -- port I/O ------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        value = 0
        for i in range(size):  # a word read reads two consecutive ports
            value |= self._read_port(PORT_BASE + offset + i) << (8 * i)
        return value

    def write(self, offset: int, size: int, value: int):
        for i in range(size):  # outw(0x3D4, index | data << 8): index, then data
            self._write_port(PORT_BASE + offset + i, value >> (8 * i) & 0xFF)

    def _wrong_set(self, port: int) -> bool:
        """Ports of the CRTC set the misc register did not select."""
        if self.misc & MISC_IOAS:
            return 0x3B0 <= port <= 0x3BF
        return 0x3D0 <= port <= 0x3DF

    def _read_port(self, port: int) -> int:
        if self._wrong_set(port):
            return 0xFF
        if port == AC_INDEX:
            return self.ac_index if self.ac_flip_flop == 0 else 0
        if port == AC_READ:
            i = self.ac_index & 0x1F
            return self.ac[i] if i < len(self.ac) else 0
        if port == MISC_WRITE:
            return 0  # input status 0: no switch sense, no CRT interrupt
        if port == SEQ_INDEX:
            return self.seq_index
        if port == SEQ_DATA:
            return self.seq[self.seq_index] if self.seq_index < len(self.seq) else 0
        if port == DAC_MASK:
            return self.dac_mask
        if port == DAC_READ_INDEX:
            return self.dac_state
        if port == DAC_WRITE_INDEX:
            return self.dac_write_index
        if port == DAC_DATA:
            value = self.dac[self.dac_read_index][self.dac_sub]
            self.dac_sub += 1
            if self.dac_sub == 3:
                self.dac_sub = 0
                self.dac_read_index = (self.dac_read_index + 1) & 0xFF
            return value
        if port == FEATURE_READ:
            return self.feature
        if port == MISC_READ:
            return self.misc
        if port == GC_INDEX:
            return self.gc_index
        if port == GC_DATA:
            return self.gc[self.gc_index] if self.gc_index < len(self.gc) else 0
        if port in (CRTC_INDEX_COLOR, CRTC_INDEX_MONO):
            return self.crtc_index
        if port in (CRTC_DATA_COLOR, CRTC_DATA_MONO):
            return self.crtc[self.crtc_index] if self.crtc_index < CRTC_COUNT else 0
        if port in (STATUS1_COLOR, STATUS1_MONO):
            self.status1 ^= STATUS1_TOGGLE
            self.ac_flip_flop = 0
            return self.status1
        return 0  # 0x3C3 and unassigned ports of the range

    def _write_port(self, port: int, value: int):
        if self._wrong_set(port):
            return
        self.writes += 1
        if port == AC_INDEX:
            if self.ac_flip_flop == 0:
                self.ac_index = value & 0x3F
            else:
                self._write_ac(self.ac_index & 0x1F, value)
            self.ac_flip_flop ^= 1
        elif port == MISC_WRITE:
            self.misc = value & 0xEF  # bit 4 is reserved
        elif port == SEQ_INDEX:
            self.seq_index = value & 0x07
        elif port == SEQ_DATA:
            if self.seq_index < len(self.seq):
                self.seq[self.seq_index] = value & SEQ_MASKS[self.seq_index]
        elif port == DAC_MASK:
            self.dac_mask = value
        elif port == DAC_READ_INDEX:
            self.dac_read_index, self.dac_sub, self.dac_state = value, 0, 3
        elif port == DAC_WRITE_INDEX:
            self.dac_write_index, self.dac_sub, self.dac_state = value, 0, 0
        elif port == DAC_DATA:
            self.dac_pending[self.dac_sub] = value & 0x3F
            self.dac_sub += 1
            if self.dac_sub == 3:
                self.dac[self.dac_write_index] = list(self.dac_pending)
                self.dac_sub = 0
                self.dac_write_index = (self.dac_write_index + 1) & 0xFF
        elif port == GC_INDEX:
            self.gc_index = value & 0x0F
        elif port == GC_DATA:
            if self.gc_index < len(self.gc):
                self.gc[self.gc_index] = value & GC_MASKS[self.gc_index]
        elif port in (CRTC_INDEX_COLOR, CRTC_INDEX_MONO):
            self.crtc_index = value
        elif port in (CRTC_DATA_COLOR, CRTC_DATA_MONO):
            self._write_crtc(self.crtc_index, value)
        elif port in (STATUS1_COLOR, STATUS1_MONO):
            self.feature = value & 0x0B  # feature control: FC0, FC1, VSS

    def _write_ac(self, index: int, value: int):
        if index < 16:
            self.ac[index] = value & 0x3F
        elif index == AC_MODE:
            self.ac[index] = value & 0xEF
        elif index == AC_OVERSCAN:
            self.ac[index] = value
        elif index == AC_PLANE_ENABLE:
            self.ac[index] = value & 0x3F
        elif index in (AC_PANNING, AC_COLOR_SELECT):
            self.ac[index] = value & 0x0F

    def _write_crtc(self, index: int, value: int):
        if index >= CRTC_COUNT:
            return
        if index <= CR_OVERFLOW and self.crtc[CR_VSYNC_END] & CR_PROTECT:
            if index == CR_OVERFLOW:  # line compare bit 8 stays writable
                self.crtc[index] = (self.crtc[index] & ~0x10) | (value & 0x10)
            return
        self.crtc[index] = value

    # -- what the screen shows ------------------------------------------------
    def window(self) -> tuple[int, int]:
        """Guest physical base and size of the memory window (GC misc bits 3:2)."""
        return WINDOWS[self.gc[GC_MISC] >> 2 & 3]

    def geometry(self) -> tuple[int, int, int, int]:
        """(columns, rows, stride in cells, cell height) from the CRTC."""
        columns = min(self.crtc[CR_HDISP_END] + 1, MAX_COLUMNS)
        cell_height = (self.crtc[CR_MAX_SCAN] & 0x1F) + 1
        overflow = self.crtc[CR_OVERFLOW]
        lines = (self.crtc[CR_VDISP_END] | (overflow >> 1 & 1) << 8 | (overflow >> 6 & 1) << 9) + 1
        rows = max(1, min(lines // cell_height, MAX_ROWS))
        stride = self.crtc[CR_OFFSET] * 2 or columns
        return columns, rows, stride, cell_height

    def colors(self) -> list[tuple[int, int, int]]:
        """The 16 attribute colours: AC palette → colour select → DAC → 8-bit RGB."""
        mode, select = self.ac[AC_MODE], self.ac[AC_COLOR_SELECT]
        result = []
        for i in range(16):
            p = self.ac[i]
            if mode & AC_MODE_P54S:
                p = (p & 0x0F) | (select & 0x03) << 4
            p = ((p & 0x3F) | (select & 0x0C) << 4) & self.dac_mask
            result.append(tuple((v << 2 | v >> 4) for v in self.dac[p]))
        return result

    def signature(self) -> tuple:
        """Cheap to compute and equal while the picture stays the same: the
        window's bytes, every register the picture depends on and the 16
        colours (which can come from any DAC entry: colour select bits 3:2
        supply DAC index bits 7:6)."""
        base, size = self.window()
        return (bytes(self.ram[base:base + size]), tuple(self.crtc), tuple(self.seq), tuple(self.gc),
                tuple(self.ac), self.ac_index & AC_PAS, tuple(self.colors()))

    def screen(self) -> TextScreen:
        columns, rows, stride, cell_height = self.geometry()
        base, size = self.window()
        cells_in_window = size // 2
        mem = bytes(self.ram[base:base + size])
        start = (self.crtc[CR_START_HI] << 8 | self.crtc[CR_START_LO])
        cells = []
        for r in range(rows):
            first = (start + r * stride) % cells_in_window
            if first + columns <= cells_in_window:
                raw = mem[first * 2:(first + columns) * 2]
            else:  # the address counter wraps to the window's start within this row
                raw = mem[first * 2:] + mem[:(first + columns - cells_in_window) * 2]
            cells.append(list(zip(raw[0::2], raw[1::2])))
        location = self.crtc[CR_CURSOR_HI] << 8 | self.crtc[CR_CURSOR_LO]
        offset = (location - start) % cells_in_window
        cursor_row, cursor_column = divmod(offset, stride)
        cursor_start, cursor_end = self.crtc[CR_CURSOR_START] & 0x1F, self.crtc[CR_CURSOR_END] & 0x1F
        visible = (not self.crtc[CR_CURSOR_START] & CURSOR_OFF and cursor_start <= cursor_end
                   and cursor_start < cell_height and cursor_row < rows and cursor_column < columns)
        return TextScreen(
            columns=columns, rows=rows, cells=cells,
            cursor_row=cursor_row, cursor_column=cursor_column, cursor_visible=visible,
            cursor_start=cursor_start, cursor_end=min(cursor_end, cell_height - 1),
            start_address=start,
            cell_width=8 if self.seq[SEQ_CLOCKING] & SEQ_8DOT else 9, cell_height=cell_height,
            blink_enabled=bool(self.ac[AC_MODE] & AC_MODE_BLINK),
            line_graphics=bool(self.ac[AC_MODE] & AC_MODE_LGE),
            blanked=bool(self.seq[SEQ_CLOCKING] & SEQ_SCREEN_OFF) or not self.ac_index & AC_PAS,
            colors=self.colors())
