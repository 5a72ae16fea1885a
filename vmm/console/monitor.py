"""The VMM monitor: a small command prompt for the running VM, reached with
Ctrl-A c from the console (in the spirit of QEMU's HMP).

    help              the commands
    stats             what --stats prints: exits, IRQs, guest counters
    screen            the VGA text screen as text
    screendump FILE   save the screen as a PNG (9x16 cells, the VGA font)
    sendkey KEYS      press keys on the PS/2 keyboard, QEMU style: ctrl-alt-delete,
                      shift-a, f1 (several, separated by spaces, one after the other)
    info registers    every register, RIP as function and file:line, a backtrace
    x ADDR [LEN]      LEN bytes (default 128) of guest virtual memory at ADDR, as hex
    stop, cont        pause the vCPU (no KVM_RUN) and let it run again
    quit              stop the VM (status 130, as Ctrl-A x)

With the terminal display the monitor has the terminal to itself until
Ctrl-A c; on the serial console the guest's output goes on meanwhile and
may interleave with the prompt (the VM is not paused).
"""

from __future__ import annotations

import shlex

from .. import errors

HELP = __doc__.split("\n\n")[1].rstrip() + "\n"
PROMPT = "(pyos) "


class Monitor:
    def __init__(self, machine):
        self.machine = machine
        self.line = bytearray()

    def execute(self, line: str) -> str:
        """Run one command line; returns what to show (ends with a newline)."""
        try:
            words = shlex.split(line)
        except ValueError as e:
            return f"error: {e}\n"
        if not words:
            return ""
        command, args = words[0], words[1:]
        handler = getattr(self, "cmd_" + command.replace("-", "_"), None)
        if handler is None:
            return f"error: unknown command {command!r}; type help\n"
        try:
            return handler(args)
        except Exception as e:  # a monitor command must never take the VM down
            return f"error: {command}: {e}\n"

    def cmd_help(self, args):
        return HELP

    def cmd_stats(self, args):
        return self.machine.stats() + "\n"

    def cmd_screen(self, args):
        from .screen import query_screen
        s = query_screen(self.machine)
        cursor = s["cursor"]
        return "\n".join(s["text"]) + f"\ncursor: row {cursor['row']}, column {cursor['column']}\n"

    def cmd_screendump(self, args):
        if len(args) != 1:
            return "usage: screendump FILE.png\n"
        from .screenshot import screendump
        path = screendump(self.machine, args[0])
        return f"saved {path}\n"

    def cmd_sendkey(self, args):
        if not args:
            return "usage: sendkey KEYS (for example ctrl-alt-delete)\n"
        keyboard = getattr(self.machine, "keyboard", None)
        if keyboard is None:
            return "error: this machine has no PS/2 keyboard\n"
        combos = []
        for combo in args:
            names = combo.split("-")
            if not all(names):
                return f"error: bad key combination {combo!r}\n"
            combos.append((names[-1], tuple(names[:-1])))
        for key, mods in combos:
            try:
                keyboard.tap(key, mods)
            except KeyError as e:
                return f"error: unknown key {e.args[0]!r}\n"
        return ""

    def _still(self, read):
        """read() with the vCPU out of KVM_RUN: paused for the read if it was running."""
        was_paused = self.machine.loop.paused
        if not was_paused:
            self.machine.pause()
        try:
            return read()
        finally:
            if not was_paused:
                self.machine.resume()

    def cmd_info(self, args):
        if args != ["registers"]:
            return "usage: info registers\n"
        from ..inspector import info_registers
        return self._still(lambda: info_registers(self.machine)).rstrip("\n") + "\n"

    def cmd_x(self, args):
        if not 1 <= len(args) <= 2:
            return "usage: x ADDR [LEN] (numbers in C syntax: 0xffffffff80100000 64)\n"
        try:
            address = int(args[0], 0)
            length = int(args[1], 0) if len(args) > 1 else 128
        except ValueError:
            return "error: ADDR and LEN are numbers, e.g. x 0xffffffff80100000 64\n"
        if not (0 <= address < 1 << 64 and 1 <= length <= 4096):
            return "error: ADDR must be a 64-bit address and LEN from 1 to 4096\n"
        from ..inspector import hexdump, read_memory
        data = self._still(lambda: read_memory(self.machine, address, length))
        note = "" if len(data) == length else f"(unmapped from {address + len(data):#x})\n"
        return hexdump(data, address).rstrip("\n") + "\n" + note

    def cmd_stop(self, args):
        self.machine.pause()
        return "paused (cont to go on)\n"

    def cmd_cont(self, args):
        self.machine.resume()
        return ""

    def cmd_quit(self, args):
        self.machine.request_stop(errors.EXIT_INTERRUPTED, reason="quit (monitor)")
        return ""

    cmd_q = cmd_quit

    # -- line editing for a raw terminal ------------------------------------------
    def feed(self, data: bytes) -> tuple[str, bool]:
        """Bytes typed at the prompt → (what to echo/print, whether a command ran)."""
        out = []
        ran = False
        for b in data:
            if b in (0x0D, 0x0A):
                line = self.line.decode("latin-1")
                self.line.clear()
                out.append("\r\n")
                result = self.execute(line)
                out.append(result.replace("\n", "\r\n"))
                out.append(PROMPT)
                ran = True
            elif b in (0x7F, 0x08):
                if self.line:
                    self.line.pop()
                    out.append("\b \b")
            elif b == 0x15:  # Ctrl-U: kill the line
                out.append("\b \b" * len(self.line))
                self.line.clear()
            elif 0x20 <= b < 0x7F:
                self.line.append(b)
                out.append(chr(b))
        return "".join(out), ran
