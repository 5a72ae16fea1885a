"""The serial console's host side: where COM1's output goes, and keys from
the user's terminal (or a pipe) into COM1's receive FIFO.

Input runs in its own thread: it reads stdin, feeds the UART as fast as its
receive FIFO has room (holding bytes back while it is full, like CTS flow
control) and kicks the vCPU so the guest sees the interrupt promptly. A
terminal is put in cbreak mode (keys one by one, unechoed; Ctrl-C still
signals) and restored when the VM stops.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from .. import errors

INPUT_CHUNK = 256
FIFO_FULL_WAIT = 0.002  # seconds between looks at a full receive FIFO


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


class SerialInput:
    """stdin → the UART's receive FIFO, in a thread of its own."""

    def __init__(self, uart, kick, block_signals=()):
        self.uart = uart
        self.kick = kick
        self.block_signals = set(block_signals)
        self._restore_tty = None

    def start(self, config):
        if config.serial.input != "stdin" or sys.stdin is None:
            return
        try:
            fd = sys.stdin.fileno()
        except (ValueError, OSError):
            return
        if os.isatty(fd):
            self._enter_cbreak(fd)
        threading.Thread(target=self._loop, args=(fd,), name="serial-input", daemon=True).start()

    def restore(self):
        """Give the terminal back as it was (idempotent)."""
        restore, self._restore_tty = self._restore_tty, None
        if restore:
            restore()

    def _enter_cbreak(self, fd):
        import termios
        import tty
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        self._restore_tty = lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    def _loop(self, fd):
        # Signals are for the vCPU thread: a SIGINT taken here would not stop KVM_RUN.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, *self.block_signals})
        while True:
            try:
                data = os.read(fd, INPUT_CHUNK)
            except OSError:
                return
            if not data:
                return
            while data:  # hold bytes while the receive FIFO is full, like CTS flow control
                space = self.uart.rx_space()
                if space:
                    self.uart.receive(data[:space])
                    data = data[space:]
                    self.kick()
                else:
                    threading.Event().wait(FIFO_FULL_WAIT)
