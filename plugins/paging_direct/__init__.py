"""Built-in paging plugin 'direct': Walks page tables through the direct map of all RAM."""

from pathlib import Path

from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent


@hookimpl
def pyos_plugins():
    return [Plugin(
        subsystem="paging",
        name="direct",
        version="1.0",
        interface_version=2,
        sources=[HERE / "direct.c"],
        description="Walks page tables through the direct map of all RAM",
    )]
