"""Built-in syscalls plugin 'pyos': The pyos system-call table, ABI 1."""

from pathlib import Path

from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent


@hookimpl
def pyos_plugins():
    return [Plugin(
        subsystem="syscalls",
        name="pyos",
        version="1.0",
        interface_version=1,
        sources=[HERE / "table.c"],
        description="The pyos system-call table, ABI 1",
    )]
