"""Exit port: the guest ends the VM with a status code.

Like QEMU's isa-debug-exit (which the guest kernel also supports), a write of
any size to the port stops the VM; unlike it, the status is the value
written, unchanged (QEMU exits with (value << 1) | 1). Reads return 0.
Access width: any; a 1-, 2- or 4-byte write gives the value of that width.
"""

from __future__ import annotations


class ExitPort:
    def __init__(self, on_exit, name: str = "exit-port"):
        """on_exit(status) is called with the value the guest wrote."""
        self.name = name
        self.on_exit = on_exit

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, size: int, value: int):
        self.on_exit(value)
