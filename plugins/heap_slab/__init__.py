"""Built-in heap plugin 'slab': Slab allocator: size classes 16 B-1 KiB in 4 KiB slabs, whole frames above."""

from pathlib import Path

from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent


@hookimpl
def pyos_plugins():
    return [Plugin(
        subsystem="heap",
        name="slab",
        version="1.0",
        interface_version=1,
        sources=[HERE / "slab.c"],
        description="Slab allocator: size classes 16 B-1 KiB in 4 KiB slabs, whole frames above",
    )]
