"""The guest's VGA screen, live: in the user's terminal, or as a PNG file.

[display] mode = "terminal" (like QEMU's curses display): the 80x25 text
screen is drawn in the terminal's alternate screen with the 16 VGA colours as
ANSI colours, the blink attribute as blink and the hardware cursor as the
terminal's cursor. A thread looks at the screen REFRESH_HZ times a second
and writes only the cells that changed (cursor moves plus the new
characters), so an idle guest costs a comparison, not a repaint.
Simplifications: palette changes made by the guest show in screenshots, not
here (the terminal keeps its own 16 colours); a terminal smaller than the
guest's screen shows its top-left part.

[display] mode = "png": the same thread renders the screen with
screenshot.py into [display] png whenever it changed (written to a
temporary file and renamed, so a viewer never sees half a file).
"""

from __future__ import annotations

import os
import threading

from .font import cp437_map

REFRESH_HZ = 20
PNG_HZ = 2
VGA_TO_ANSI = (0, 4, 2, 6, 1, 5, 3, 7)  # VGA colour bits are BGR-ordered IRGB, ANSI's RGB


def sgr(attr: int, blink_enabled: bool) -> str:
    fg, bg = attr & 0x0F, attr >> 4
    codes = ["0", str((90 if fg & 8 else 30) + VGA_TO_ANSI[fg & 7])]
    if blink_enabled:
        codes.append(str(40 + VGA_TO_ANSI[bg & 7]))
        if bg & 8:
            codes.append("5")
    else:
        codes.append(str((100 if bg & 8 else 40) + VGA_TO_ANSI[bg & 7]))
    return "\033[" + ";".join(codes) + "m"


class TerminalDisplay:
    def __init__(self, machine, fd: int):
        self.machine = machine
        self.fd = fd
        self.lock = threading.Lock()  # one writer at a time: the refresher, the monitor
        self.paused = False
        self._previous = None   # cells last drawn, or None: repaint all
        self._signature = None  # vga.signature() of the picture last drawn
        self._cursor = None
        self._size = None
        self._stop = threading.Event()
        self._thread = None
        self.frames = 0          # repaints that wrote something, for tests and stats

    def start(self):
        self._write("\033[?1049h\033[?7l\033[2J")  # alternate screen, no autowrap, clear
        self._thread = threading.Thread(target=self._loop, name="display", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        self._write("\033[0m\033[?25h\033[?7h\033[?1049l")  # back to the user's screen

    def invalidate(self):
        """Repaint everything next time (after the monitor or a resume)."""
        self._previous = None

    def _write(self, text: str):
        data = text.encode("utf-8")
        while data:
            try:
                n = os.write(self.fd, data)
            except BlockingIOError:
                continue
            except OSError:
                return  # the terminal went away; the VM goes on
            data = data[n:]

    def _loop(self):
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGTSTP,
                                                  signal.SIGCONT, signal.SIGUSR1})
        while not self._stop.wait(1 / REFRESH_HZ):
            with self.lock:
                if not self.paused:
                    self.refresh()

    def refresh(self):
        try:
            size = os.get_terminal_size(self.fd)
        except OSError:
            size = None
        if size != self._size:
            self._size, self._previous = size, None
        signature = self.machine.vga.signature()
        if self._previous is not None and signature == self._signature:
            return  # nothing changed: no work beyond the comparison
        self._signature = signature
        screen = self.machine.vga.screen()
        cells = [[(0x20, 0x07)] * screen.columns for _ in range(screen.rows)] if screen.blanked else screen.cells
        cursor = ((screen.cursor_row, screen.cursor_column) if screen.cursor_visible and not screen.blanked
                  else None)
        previous = self._previous
        if previous is not None and len(previous) != len(cells):
            previous = None
        out = []
        if previous is None:
            out.append("\033[0m\033[2J")
        table = cp437_map()
        attr_now = None
        for r, row in enumerate(cells):
            old = previous[r] if previous is not None and len(previous[r]) == len(row) else None
            if old == row:
                continue
            c = 0
            while c < len(row):
                if old is not None and old[c] == row[c]:
                    c += 1
                    continue
                out.append(f"\033[{r + 1};{c + 1}H")
                while c < len(row) and (old is None or old[c] != row[c]):
                    code, attr = row[c]
                    if attr != attr_now:
                        out.append(sgr(attr, screen.blink_enabled))
                        attr_now = attr
                    out.append(table[code])
                    c += 1
        if out or cursor != self._cursor:
            if cursor:
                out.append(f"\033[{cursor[0] + 1};{cursor[1] + 1}H\033[?25h")
            else:
                out.append("\033[?25l")
            self._write("".join(out))
            self.frames += 1
        self._previous = [list(row) for row in cells]
        self._cursor = cursor


class PngDisplay:
    def __init__(self, machine, path):
        self.machine = machine
        self.path = path
        self._last = None
        self._stop = threading.Event()
        self._thread = None
        self.lock = threading.Lock()
        self.paused = False
        self.frames = 0

    def start(self):
        self._thread = threading.Thread(target=self._loop, name="display-png", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.refresh()

    def invalidate(self):
        self._last = None

    def _loop(self):
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGTSTP,
                                                  signal.SIGCONT, signal.SIGUSR1})
        while not self._stop.wait(1 / PNG_HZ):
            self.refresh()

    def refresh(self):
        from .screenshot import render
        screen = self.machine.vga.screen()
        key = (screen.cells, screen.cursor_row, screen.cursor_column, screen.cursor_visible,
               tuple(screen.colors), screen.blanked)
        if key == self._last:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            render(screen).save(tmp, format="PNG")
            os.replace(tmp, self.path)
        except OSError:
            return
        self._last = key
        self.frames += 1
