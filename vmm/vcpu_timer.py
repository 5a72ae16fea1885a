"""The vCPU thread's own alarm: a POSIX timer that signals that thread.

The PIT's next IRQ 0 deadline is kept by the PIT (devices/pit8254.py,
deadline_ns); the run loop services it itself. While the guest runs, this
one-shot CLOCK_MONOTONIC timer (timer_create with SIGEV_THREAD_ID, so the
signal goes to the vCPU thread and no other) makes KVM_RUN return with EINTR
at the deadline; while the vCPU is halted the loop sleeps until the deadline
and the alarm is off. So a timer tick costs one wake-up of one thread, where
a timer thread pulsing the PIC and then kicking the vCPU cost two.

arm() is called before every KVM_RUN but makes the system call only when
the deadline changed (once per tick).
"""

from __future__ import annotations

import signal
import threading

from .devices.pit8254 import NEVER  # the PIT's "no deadline": this module's "off"
from .kvm import ffi, lib


def can_signal_this_thread(signum: int) -> bool:
    """A handler is installed, so the signal interrupts KVM_RUN instead of killing the process."""
    return callable(signal.getsignal(signum))


class VcpuAlarm:
    """A one-shot alarm delivering `signum` to the thread that created it."""

    def __init__(self, signum: int):
        self._timer = ffi.new("void **")
        r = lib.pyos_thread_timer_create(signum, self._timer)
        if r < 0:
            raise OSError(-r, "timer_create")
        self.thread = threading.get_ident()
        self.armed = NEVER  # the absolute deadline (monotonic ns) set now; NEVER: off
        self.sets = 0  # timer_settime calls, for the benchmarks

    def arm(self, deadline_ns: int):
        """Signal the thread at `deadline_ns` (CLOCK_MONOTONIC); NEVER disarms."""
        if deadline_ns != self.armed:
            lib.pyos_timer_arm(self._timer[0], 0 if deadline_ns >= NEVER else deadline_ns)
            self.armed = deadline_ns
            self.sets += 1

    def close(self):
        if self._timer is not None:
            lib.pyos_timer_delete(self._timer[0])
            self._timer = None
