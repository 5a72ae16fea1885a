"""Screenshots of the text screen as PNG, drawn as a real VGA draws them.

Each cell is 9 (or, with sequencer clocking-mode bit 0, 8) pixels wide and
as tall as the CRTC's character height, in the IBM VGA 8x16 font (see
font.py). The 9th column is background, except that with the attribute
controller's line-graphics bit set the box-drawing characters 0xC0-0xDF
repeat their 8th column into it so lines join. Foreground is attribute bits
0-3, background bits 4-6 (bit 7 too when blinking is off); colours go
through the attribute palette and the DAC (vga.py's `colors`). A blinking
character and the cursor are drawn in their visible phase; the cursor fills
its scan lines (CRTC 0x0A-0x0B) in the cell's foreground colour. A blanked
screen (sequencer screen-off, or the palette being loaded) is black.
"""

from __future__ import annotations

import functools
from pathlib import Path

from .font import load_font

LINE_GRAPHICS = range(0xC0, 0xE0)


@functools.lru_cache(maxsize=8)
def _glyph_masks(cell_width: int, cell_height: int, line_graphics: bool):
    """One 1-bit-deep mask per character code, built once per cell shape."""
    from PIL import Image
    font = load_font()
    masks = []
    for code in range(256):
        rows = font.glyphs[code]
        pixels = bytearray(cell_width * cell_height)
        for y in range(min(cell_height, font.height)):
            bits = rows[y]
            for x in range(8):
                if bits & (0x80 >> x):
                    pixels[y * cell_width + x] = 255
            if cell_width == 9 and line_graphics and code in LINE_GRAPHICS and bits & 1:
                pixels[y * cell_width + 8] = 255
        masks.append(Image.frombytes("L", (cell_width, cell_height), bytes(pixels)))
    return masks


def render(screen):
    """A PIL image of a vga.TextScreen."""
    from PIL import Image
    cw, ch = screen.cell_width, screen.cell_height
    image = Image.new("RGB", (screen.columns * cw, screen.rows * ch), (0, 0, 0))
    if screen.blanked:
        return image
    masks = _glyph_masks(cw, ch, screen.line_graphics)
    colors = screen.colors
    for r, row in enumerate(screen.cells):
        for c, (code, attr) in enumerate(row):
            x, y = c * cw, r * ch
            bg = attr >> 4 & (0x07 if screen.blink_enabled else 0x0F)
            image.paste(colors[bg], (x, y, x + cw, y + ch))
            image.paste(colors[attr & 0x0F], (x, y), masks[code])
    if screen.cursor_visible:
        attr = screen.cells[screen.cursor_row][screen.cursor_column][1]
        x, y = screen.cursor_column * cw, screen.cursor_row * ch
        image.paste(colors[attr & 0x0F], (x, y + screen.cursor_start, x + cw, y + screen.cursor_end + 1))
    return image


def check_can_render():
    """Raise a ConfigError naming the fix if Pillow or the font is missing."""
    from ..errors import ConfigError
    from .font import FontError
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise ConfigError("screenshots need Pillow, which is not installed",
                          "pip install pillow (it is in pyos's dependencies)") from None
    try:
        load_font()
    except FontError as e:
        raise ConfigError(str(e)) from None


def screendump(machine, path) -> Path:
    """Write the guest's screen as a PNG file; returns the path."""
    path = Path(path)
    render(machine.vga.screen()).save(path, format="PNG")
    return path
