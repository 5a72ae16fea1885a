"""Built-in paging plugin 'recursive': Reaches page tables through a recursive PML4 slot (510)."""

from pathlib import Path

from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent


@hookimpl
def pyos_plugins():
    return [Plugin(
        subsystem="paging",
        name="recursive",
        version="1.0",
        interface_version=2,
        sources=[HERE / "recursive.c"],
        description="Reaches page tables through a recursive PML4 slot (510)",
    )]
