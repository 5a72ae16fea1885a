"""Built-in heap plugin 'freelist': First-fit free list, address-ordered, coalescing neighbours."""

from pathlib import Path

from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent


@hookimpl
def pyos_plugins():
    return [Plugin(
        subsystem="heap",
        name="freelist",
        version="1.0",
        interface_version=1,
        sources=[HERE / "freelist.c"],
        description="First-fit free list, address-ordered, coalescing neighbours",
    )]
