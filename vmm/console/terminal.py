"""The user's terminal: where COM1's output goes, keys into the guest (COM1
or, with the terminal display, the PS/2 keyboard), the Ctrl-A escape, and
the terminal's modes put back on every way out.

Input runs in its own thread. It reads stdin and hands the bytes on:
- serial console: into COM1's receive FIFO as fast as it has room, and only
  while the guest asserts RTS (MCR bit 1). That is RTS/CTS flow control as a
  serial line does it: bytes typed ahead before the driver set the UART up
  wait instead of being wiped by its FIFO reset.
- terminal display with a PS/2 keyboard: decoded into key taps (keys.py).
When stdin ends (a pipe or file, not a terminal), the guest is sent one
Ctrl-D (EOT), the console's end-of-input character, as a terminal's line
discipline reports end of file: a guest waiting for more input ends.

A terminal is put in raw mode, as QEMU's -nographic console is: keys go to
the guest one by one, unechoed, Ctrl-C and Ctrl-Z included. Ctrl-A is the
escape key:

    Ctrl-A x        stop the VM (status 130)
    Ctrl-A c        toggle the monitor prompt (monitor.py)
    Ctrl-A Ctrl-A   send a Ctrl-A to the guest
    Ctrl-A h        this list

The modes are restored when the VM stops, on SIGTERM (run() turns it into a
stop), and around a job-control stop: SIGTSTP (kill -TSTP) puts the
terminal back and stops the process; SIGCONT (fg) enters raw mode again and
repaints the display.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from .. import errors

INPUT_CHUNK = 256
FIFO_FULL_WAIT = 0.002  # seconds between looks at a full (or not ready) receive FIFO
CTRL_A, EOT = 0x01, 0x04
MCR_RTS, MCR_LOOP = 0x02, 0x10
ESCAPE_HELP = ("Ctrl-A x: quit   Ctrl-A c: monitor on/off   Ctrl-A Ctrl-A: send Ctrl-A   "
               "Ctrl-A h: this help")
THREAD_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGTSTP, signal.SIGCONT}


def _fd_writer(fd: int, what: str):
    """write(bytes) to fd, whole; an error becomes an OutputError naming `what`."""
    def write(data):
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
            except InterruptedError:
                continue
            except OSError as e:
                raise errors.OutputError(f"cannot write the guest's serial output to {what}: {e.strerror}",
                                         'free space there, or set [serial] output = "none" or another file'
                                         ) from e
    return write


def open_output(config):
    """(write(bytes), close or None) for [serial] output."""
    target = config.serial.output
    if target == "stdout":
        if getattr(getattr(config, "display", None), "mode", "none") == "terminal":
            # The terminal shows the VGA screen, which the kernel's console mirrors.
            return (lambda data: None), None
        try:
            fd = sys.stdout.fileno()
            os.fstat(fd)
        except (AttributeError, ValueError, OSError):
            raise errors.OutputError("standard output is closed, so the guest's serial output has nowhere "
                                     "to go", 'give pyos-vmm a stdout, or set [serial] output = "none" '
                                     "or a file path") from None
        return _fd_writer(fd, "standard output"), None
    if target == "none":
        return (lambda data: None), None
    path = config.resolve(target)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        raise errors.ConfigError(f"[serial] output = {target!r}: cannot open {path}: {e.strerror}",
                                 'use "stdout", "none" or a writable file path') from None
    return _fd_writer(fd, str(path)), lambda: os.close(fd)


def interactive_console(config) -> bool:
    """Is a person at the guest's console? Yes when the serial input is our
    stdin and stdin is a terminal (in either display mode: keys reach the
    guest's console through COM1 or the keyboard). pyos-vmm then puts
    interactive=1 on the kernel command line and init starts a shell; with
    stdin a pipe or a file (CI) the default boot stays the demo."""
    if config.serial.input != "stdin" or sys.stdin is None:
        return False
    try:
        return os.isatty(sys.stdin.fileno())
    except (ValueError, OSError):
        return False


def raw_attributes(attrs):
    """termios attributes for raw input (no echo, no line editing, no signal
    keys, no flow control, no CR→NL) with output processing kept, so the
    VMM's own messages still end lines properly."""
    import termios
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = attrs
    iflag &= ~(termios.BRKINT | termios.ICRNL | termios.INLCR | termios.IGNCR | termios.INPCK
               | termios.ISTRIP | termios.IXON)
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cc = list(cc)
    cc[termios.VMIN], cc[termios.VTIME] = 1, 0
    return [iflag, oflag, cflag, lflag, ispeed, ospeed, cc]


class SerialInput:
    """stdin → the guest, with the escape key, the monitor and the display."""

    def __init__(self, uart, kick, block_signals=(), machine=None):
        self.uart = uart
        self.kick = kick
        self.machine = machine
        self.block_signals = set(block_signals)
        self.display = None
        self.monitor = None
        self.monitor_active = False
        self._fd = None
        self._saved = None       # the terminal's attributes before raw mode
        self._escape = False     # the previous byte was Ctrl-A
        self._signals = []       # (signum, previous handler) to put back
        self.out_fd = None

    # -- starting and stopping -----------------------------------------------------
    def start(self, config):
        display_mode = getattr(getattr(config, "display", None), "mode", "none")
        try:
            self.out_fd = sys.stdout.fileno()
        except (ValueError, OSError, AttributeError):
            self.out_fd = None
        if display_mode != "none" and self.machine is not None:
            self._start_display(config, display_mode)
        if config.serial.input != "stdin" or sys.stdin is None:
            return
        try:
            fd = sys.stdin.fileno()
        except (ValueError, OSError):
            return
        if os.isatty(fd):
            import termios
            self._fd = fd
            self._saved = termios.tcgetattr(fd)
            self._enter_raw()
            self._install_job_control()
        threading.Thread(target=self._loop, args=(fd,), name="serial-input", daemon=True).start()

    def _start_display(self, config, mode):
        from .display import PngDisplay, TerminalDisplay
        if mode == "terminal":
            if self.out_fd is None or not os.isatty(self.out_fd):
                raise errors.ConfigError('[display] mode = "terminal" needs a terminal on stdout',
                                         'run it in a terminal, or use mode = "png" or "none"')
            self.display = TerminalDisplay(self.machine, self.out_fd)
        else:
            from .screenshot import check_can_render
            check_can_render()
            self.display = PngDisplay(self.machine, config.resolve(config.display.png))
        self.display.start()

    def restore(self):
        """Give the terminal back as it was (idempotent)."""
        if self.display:
            self.display.stop()
            self.display = None
        for signum, previous in self._signals:
            signal.signal(signum, previous)
        self._signals = []
        self._leave_raw()
        self._fd = None

    def _enter_raw(self):
        import termios
        if self._fd is not None and self._saved is not None:
            try:
                termios.tcsetattr(self._fd, termios.TCSANOW, raw_attributes(self._saved))
            except termios.error:
                pass

    def _leave_raw(self):
        import termios
        if self._fd is not None and self._saved is not None:
            try:
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            except termios.error:
                pass

    # -- job control: Ctrl-Z's signal from outside, fg ------------------------------
    def _install_job_control(self):
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in ((signal.SIGTSTP, self._on_tstp), (signal.SIGCONT, self._on_cont)):
            self._signals.append((signum, signal.signal(signum, handler)))

    def _on_tstp(self, signum, frame):
        if self.display and hasattr(self.display, "paused"):
            with self.display.lock:
                self.display.paused = True
                self._write("\033[0m\033[?25h\033[?1049l")
        self._leave_raw()
        os.kill(os.getpid(), signal.SIGSTOP)  # stop now; SIGCONT resumes here

    def _on_cont(self, signum, frame):
        self._enter_raw()
        if self.display and hasattr(self.display, "paused"):
            if hasattr(self.display, "fd"):
                self._write("\033[?1049h\033[?7l")
            self.display.invalidate()
            self.display.paused = self.monitor_active

    # -- input ---------------------------------------------------------------------
    def _write(self, text: str):
        if self.out_fd is None:
            return
        try:
            os.write(self.out_fd, text.encode("utf-8", "replace"))
        except OSError:
            pass

    def _loop(self, fd):
        # Signals are for the vCPU thread: one taken here would not stop KVM_RUN.
        signal.pthread_sigmask(signal.SIG_BLOCK, THREAD_SIGNALS | self.block_signals)
        while True:
            try:
                data = os.read(fd, INPUT_CHUNK)
            except OSError:
                return
            if not data:
                if self._fd is None:  # end of a pipe or file: tell the guest
                    self._to_guest(bytes([EOT]))
                return
            self._input(data)

    def _input(self, data: bytes):
        if self._fd is None:  # not a terminal: no escape key, bytes go through as they are
            self._to_guest(data)
            return
        plain = bytearray()
        for b in data:
            if self._escape:
                self._escape = False
                if b == CTRL_A:
                    plain.append(CTRL_A)
                    continue
                self._flush(plain)
                self._escape_command(b)
            elif b == CTRL_A:
                self._escape = True
            else:
                plain.append(b)
        self._flush(plain)

    def _flush(self, plain: bytearray):
        if not plain:
            return
        data = bytes(plain)
        plain.clear()
        if self.monitor_active:
            text, _ = self.monitor.feed(data)
            self._write(text)
        else:
            self._to_guest(data)

    def _escape_command(self, b: int):
        key = chr(b).lower()
        if key == "x":
            if self.machine is not None:
                self.machine.request_stop(errors.EXIT_INTERRUPTED, reason="quit (Ctrl-A x)")
        elif key == "c":
            self._toggle_monitor()
        elif key == "h":
            self._write("\r\n" + ESCAPE_HELP + "\r\n")

    def _toggle_monitor(self):
        if self.machine is None:
            return
        from .monitor import PROMPT, Monitor
        if self.monitor is None:
            self.monitor = Monitor(self.machine)
        self.monitor_active = not self.monitor_active
        terminal_display = self.display is not None and hasattr(self.display, "fd")
        if self.monitor_active:
            if terminal_display:
                with self.display.lock:
                    self.display.paused = True
                    self._write("\033[0m\033[?7h\033[2J\033[H\033[?25h")  # autowrap on for text
            self._write("\r\npyos-vmm monitor: type help; Ctrl-A c goes back to the guest\r\n" + PROMPT)
        else:
            self.monitor.line.clear()
            if terminal_display:
                with self.display.lock:
                    self._write("\033[?7l")
                    self.display.invalidate()
                    self.display.paused = False
            else:
                self._write("\r\n")

    def _to_guest(self, data: bytes):
        keyboard = getattr(self.machine, "keyboard", None) if self.display is not None else None
        if keyboard is not None and hasattr(self.display, "fd"):
            from .keys import decode
            for key, mods in decode(data):
                try:
                    keyboard.tap(key, mods)
                except (KeyError, ValueError):
                    pass
            self.kick()
            return
        while data:  # hold bytes while the receive FIFO is full or RTS is off: flow control
            mcr = self.uart.mcr
            space = self.uart.rx_space() if mcr & MCR_RTS and not mcr & MCR_LOOP else 0
            if space:
                self.uart.receive(data[:space])
                data = data[space:]
                self.kick()
            else:
                threading.Event().wait(FIFO_FULL_WAIT)
