"""The guest's screen as data: `query_screen(machine)` for the control socket,
the monitor, the tests and the terminal display."""

from __future__ import annotations

from .font import cp437_map


def screen_text(screen) -> list[str]:
    table = cp437_map()
    return ["".join(table[ch] for ch, _ in row) for row in screen.cells]


def query_screen(machine) -> dict:
    """The text screen: rows of text (CP437 shown as Unicode), the raw
    character codes and attribute bytes, and the cursor."""
    screen = machine.vga.screen()
    return {
        "columns": screen.columns,
        "rows": screen.rows,
        "text": screen_text(screen),
        "chars": [[ch for ch, _ in row] for row in screen.cells],
        "attributes": [[attr for _, attr in row] for row in screen.cells],
        "cursor": {"row": screen.cursor_row, "column": screen.cursor_column,
                   "visible": screen.cursor_visible,
                   "start": screen.cursor_start, "end": screen.cursor_end},
        "start_address": screen.start_address,
        "blanked": screen.blanked,
    }
