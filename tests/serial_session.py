"""A VM driven through its serial port: bytes written to the VMM's stdin
reach the guest's UART, and everything the guest prints is collected as one
transcript (echo included), so a test can wait on output and then type."""

from __future__ import annotations

import re
import subprocess
import threading
import time

from .conftest import DEFAULT_CONFIG, REPO, vmm_command

TIMEOUT = 180.0  # seconds: generous, for a loaded 2-core machine


class SerialSession:
    def __init__(self, cmdline: str, config=DEFAULT_CONFIG):
        self.proc = subprocess.Popen(vmm_command("--config", config, "--cmdline", cmdline), cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._out = bytearray()
        self._eof = False
        self._changed = threading.Condition()
        self.stderr = b""
        self._threads = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for t in self._threads:
            t.start()

    def _read(self):
        while chunk := self.proc.stdout.read1(4096):
            with self._changed:
                self._out += chunk
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def _read_err(self):
        self.stderr = self.proc.stderr.read()

    @property
    def text(self) -> str:
        """The transcript so far, CR LF as LF."""
        with self._changed:
            return bytes(self._out).decode(errors="replace").replace("\r\n", "\n")

    def expect(self, pattern: str, after: int = 0, timeout: float = TIMEOUT) -> re.Match:
        """Wait until the transcript (from offset `after`) matches `pattern`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                m = re.compile(pattern, re.S).search(self.text, after)
                if m:
                    return m
                if self._eof:
                    raise AssertionError(f"VM exited ({self.proc.poll()}) before {pattern!r}:\n{self.text}\n"
                                         + self.stderr.decode(errors="replace"))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.text}")
                self._changed.wait(min(left, 0.5))

    def send(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def finish(self, timeout: float = TIMEOUT) -> int:
        status = self.proc.wait(timeout)
        for t in self._threads:
            t.join(timeout)
        return status

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
