"""The run loop's wake-up flag can be set from a signal handler without deadlocking.

A halted vCPU thread (the main thread) clears and waits on its wake-up flag
at every timer tick, and Ctrl-C's handler sets that flag in the same thread.
With threading.Event, whose set(), clear() and wait() take a lock, a SIGINT
landing while the thread was inside clear() or wait() blocked the handler on
a lock its own thread held: pyos-vmm hung instead of stopping (CI saw it in
test_boot.py's Ctrl-C test). vmm/wakeup.py keeps the flag in an eventfd.

Here another process sends signals at the sleeping thread as fast as it
takes them, the way a terminal's SIGINT arrives: at any bytecode. The child
must take 3000 of them while doing what _on_hlt does, and exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from .conftest import REPO

from vmm.wakeup import Wakeup

CHILD = r"""
import signal, sys
from vmm.wakeup import Wakeup

flag = Wakeup()
handled = 0

def on_signal(signum, frame):
    global handled
    handled += 1
    flag.set()

signal.signal(signal.SIGUSR2, on_signal)
print("ready", flush=True)
woken = 0
while handled < 3000:
    flag.clear()              # as _on_hlt does at every tick
    woken += flag.wait(0.0002)
signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # exiting Python restores the default, which kills
print("handled", handled, "woken", woken, flush=True)
"""


def test_a_signal_handler_can_set_it_at_any_moment():
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        deadline = time.monotonic() + 120
        while child.poll() is None and time.monotonic() < deadline:
            try:
                os.kill(child.pid, signal.SIGUSR2)
            except ProcessLookupError:
                break
            time.sleep(0.0003)  # a rate, not a wait for anything: the loop ends when the child does
        status = child.wait(timeout=10)
    finally:
        child.kill()
    out, err = child.stdout.read(), child.stderr.read()
    assert status == 0, f"the child hung or died (status {status}): {err[-2000:]}"
    assert out.startswith("handled "), out
    assert int(out.split()[3]) > 0  # the handler's set() did wake the wait


def test_set_wakes_a_wait_in_another_thread_and_stays_set_until_cleared():
    flag = Wakeup()
    try:
        assert not flag.is_set()
        assert not flag.wait(0.001)
        threading.Thread(target=flag.set).start()
        assert flag.wait(60)
        assert flag.is_set() and flag.wait(0)  # still set: wait() does not consume it
        flag.set()  # setting twice is still one flag
        flag.clear()
        assert not flag.is_set()
        flag.clear()  # clearing a clear flag is harmless
        assert not flag.is_set()
    finally:
        flag.close()
    flag.set()  # after close: ignored, never written to a reused descriptor
    flag.close()
