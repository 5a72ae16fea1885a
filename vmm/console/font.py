"""The IBM VGA 8x16 ROM font, read from the PC Screen Font file Debian's
console-data ships (/usr/share/consolefonts/default8x16.psf.gz); the font is
never copied into this repository.

PSF version 1: magic 0x36 0x04, a mode byte (bit 0: 512 glyphs, bit 1: a
Unicode table follows), the glyph height, then height bytes per glyph (one
byte per scan line, bit 7 = leftmost pixel), then for each glyph a list of
16-bit code points ended by 0xFFFF (0xFFFE starts multi-character sequences).
The glyphs are in code page 437 order, so the table doubles as the CP437 →
Unicode map the terminal display uses.
"""

from __future__ import annotations

import functools
import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

FONT_PATH = Path("/usr/share/consolefonts/default8x16.psf.gz")
PSF1_MAGIC = b"\x36\x04"
PSF1_MODE512, PSF1_MODEHASTAB = 0x01, 0x02


class FontError(Exception):
    pass


@dataclass
class PsfFont:
    height: int
    glyphs: list[bytes]        # glyphs[code] = `height` bytes, one per scan line
    unicode: list[str]         # unicode[code] = the character the glyph shows


def parse_psf1(data: bytes) -> PsfFont:
    if len(data) < 4 or data[:2] != PSF1_MAGIC:
        raise FontError("not a PSF version 1 font (bad magic)")
    mode, height = data[2], data[3]
    count = 512 if mode & PSF1_MODE512 else 256
    end = 4 + count * height
    if height == 0 or len(data) < end:
        raise FontError("PSF font is truncated")
    glyphs = [data[4 + i * height:4 + (i + 1) * height] for i in range(count)]
    unicode = [""] * count
    if mode & PSF1_MODEHASTAB:
        table = data[end:]
        values = struct.unpack(f"<{len(table) // 2}H", table[:len(table) // 2 * 2])
        glyph, first = 0, True
        for v in values:
            if glyph >= count:
                break
            if v == 0xFFFF:
                glyph, first = glyph + 1, True
            elif v == 0xFFFE:
                first = False  # sequences: not used for a one-cell map
            elif first and not unicode[glyph]:
                unicode[glyph] = chr(v)
    return PsfFont(height, glyphs, unicode)


@functools.lru_cache(maxsize=None)
def load_font(path: Path = FONT_PATH) -> PsfFont:
    try:
        return parse_psf1(gzip.decompress(Path(path).read_bytes()))
    except FileNotFoundError:
        raise FontError(f"the VGA font {path} is missing; install it with "
                        "`apt-get install console-data`") from None
    except (OSError, EOFError) as e:
        raise FontError(f"cannot read the VGA font {path}: {e}") from None


@functools.lru_cache(maxsize=None)
def cp437_map() -> tuple[str, ...]:
    """CP437 code → the Unicode character a terminal should show for it."""
    try:
        table = list(load_font().unicode[:256])
    except FontError:
        table = [""] * 256
    for code in range(256):
        if not table[code] or not table[code].isprintable():
            fallback = bytes([code]).decode("cp437")
            table[code] = fallback if fallback.isprintable() else " "
    table[0] = " "
    return tuple(table)
