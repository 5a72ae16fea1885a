"""Errors the VMM reports to its user, and the exit statuses they map to.

Every failure a user can cause or meet (bad config, missing kernel, a guest
that crashes) is a PyosError with a message that names the problem and a hint
that names the fix; cli.py prints it and exits with its status, never a
traceback.
"""

from __future__ import annotations

# Exit statuses of pyos-vmm. A guest's own status (written to the exit port)
# passes through unchanged; the VMM's own failures use these.
EXIT_OK = 0
EXIT_CONFIG = 120         # bad config file or command line
EXIT_KERNEL = 121         # kernel could not be built or loaded
EXIT_HOST = 122           # KVM unavailable or an ioctl failed
EXIT_TRIPLE_FAULT = 123   # guest shutdown (triple fault)
EXIT_INTERNAL = 124       # KVM internal error (e.g. emulation failure)
EXIT_ENTRY_FAILED = 125   # VM entry failed
EXIT_UNCLAIMED_IO = 126   # guest touched a port or address nothing claims
EXIT_GUEST_DEAD = 127     # guest halted with interrupts off, or unknown exit
EXIT_INTERRUPTED = 130    # Ctrl-C (128 + SIGINT), Ctrl-A x, monitor quit
EXIT_TERMINATED = 143     # SIGTERM (128 + 15)


class PyosError(Exception):
    """An error with a message for the user and a hint at the fix."""

    status = EXIT_HOST

    def __init__(self, message: str, hint: str = "", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return self.message + (f"\n  hint: {self.hint}" if self.hint else "")


class ConfigError(PyosError):
    status = EXIT_CONFIG


class KernelError(PyosError):
    status = EXIT_KERNEL


class GuestCrash(PyosError):
    """The guest stopped abnormally; message carries the register dump."""
