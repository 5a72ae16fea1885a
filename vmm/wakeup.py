"""A wake-up flag that a signal handler may set: an eventfd, no lock.

threading.Event takes a lock in set(), clear() and wait(). A Python signal
handler runs in the main thread between two bytecodes, so a handler that
calls Event.set() while that same thread is inside Event.clear() or the
start of Event.wait() blocks forever on a lock its own thread holds. That is
how Ctrl-C could hang a halted VM (the vCPU thread, which is the main thread,
clears and waits on its wake-up event at every timer tick).

Wakeup keeps the flag in the kernel instead: set() writes an eventfd,
clear() reads it, wait() selects on it. Each is one system call that takes
no Python lock, so it is safe from any thread and from a signal handler. A
signal arriving during wait() runs its handler and select() resumes
(PEP 475) with the remaining timeout; if the handler set the flag, select
returns at once.
"""

from __future__ import annotations

import math
import os
import select

# select() takes a timeval (microseconds); poll() only milliseconds. The
# eventfd is normally a low number, but select cannot watch one at or above
# FD_SETSIZE: then wait() polls, rounding its timeout up to a millisecond.
FD_SETSIZE = 1024


class Wakeup:
    """set() from anywhere, wait(timeout) and clear() in the thread that sleeps."""

    def __init__(self):
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poll = None
        if self.fd >= FD_SETSIZE:
            self._poll = select.poll()
            self._poll.register(self.fd, select.POLLIN)

    def set(self):
        fd = self.fd
        if fd < 0:
            return  # closed at shutdown: a late kick has nothing left to wake
        try:
            os.eventfd_write(fd, 1)
        except OSError:
            pass  # the counter is full (already set), or closed meanwhile

    def is_set(self) -> bool:
        return bool(self._ready(0))

    def clear(self):
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            pass  # not set

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until set() or `timeout` seconds; True if it was set (it stays set)."""
        return bool(self._ready(timeout))

    def _ready(self, timeout):
        if self._poll is not None:
            ms = None if timeout is None else max(0, math.ceil(timeout * 1000))
            return self._poll.poll(ms)
        return select.select((self.fd,), (), (), timeout)[0]

    def close(self):
        fd, self.fd = self.fd, -1  # -1 first: a late set() then fails instead of writing a reused fd
        if fd >= 0:
            os.close(fd)

    __del__ = close
