"""Errors the VMM reports to its user, and the exit statuses they map to.

Every failure a user can cause or meet (bad config, missing kernel, a guest
that crashes) is a PyosError with a message that names the problem and a hint
that names the fix; cli.py prints it and exits with its status, never a
traceback.
"""

from __future__ import annotations

# Exit statuses of pyos-vmm. When the guest powers off, its own status
# (written to the exit port, 0-255) is pyos-vmm's exit status, unchanged.
# The VMM's own outcomes use 110-118: clear of the small numbers programs
# use, of 124-127 (timeout(1) and shells give those meanings) and of 128+N
# (killed by signal N). A guest may still exit with 110-118 itself: where
# that matters, --status-file says who decided the status ("origin").
EXIT_OK = 0
EXIT_CONFIG = 110         # bad config file or command line (argparse's own usage errors: 2)
EXIT_KERNEL = 111         # kernel could not be built or loaded
EXIT_HOST = 112           # KVM unavailable, an ioctl failed, or a host tool/folder is missing
EXIT_TRIPLE_FAULT = 113   # guest shutdown (triple fault)
EXIT_INTERNAL = 114       # KVM internal error (e.g. emulation failure)
EXIT_ENTRY_FAILED = 115   # VM entry failed
EXIT_UNCLAIMED_IO = 116   # guest touched a port or address nothing claims
EXIT_GUEST_DEAD = 117     # guest halted with interrupts off, or unknown exit
EXIT_OUTPUT = 118         # the VMM could not write its output (serial output file, disk full)
EXIT_INTERRUPTED = 130    # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143     # SIGTERM (128 + SIGTERM): the VM was stopped and the terminal restored
EXIT_BROKEN_PIPE = 141    # the reader of our output went away (128 + SIGPIPE), quietly

VMM_STATUSES = {
    EXIT_CONFIG: "bad config or command line",
    EXIT_KERNEL: "kernel could not be built or loaded",
    EXIT_HOST: "KVM or a host tool unavailable",
    EXIT_TRIPLE_FAULT: "guest triple fault",
    EXIT_INTERNAL: "KVM internal error",
    EXIT_ENTRY_FAILED: "VM entry failed",
    EXIT_UNCLAIMED_IO: "guest touched an unclaimed port or address",
    EXIT_GUEST_DEAD: "guest halted with interrupts off",
    EXIT_OUTPUT: "output could not be written",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_TERMINATED: "terminated (SIGTERM)",
    EXIT_BROKEN_PIPE: "output pipe closed",
}


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


class HostError(PyosError):
    """Something on the host is missing or failed: KVM, a compiler, a folder."""
    status = EXIT_HOST


class OutputError(PyosError):
    """The VMM could not write what the guest printed."""
    status = EXIT_OUTPUT
