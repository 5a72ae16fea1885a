"""Built-in frame_allocator plugin 'buddy': Buddy allocator: per-order free lists, splits on allocation, coalesces buddies on free."""

from pathlib import Path

from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent


@hookimpl
def pyos_plugins():
    return [Plugin(
        subsystem="frame_allocator",
        name="buddy",
        version="1.0",
        interface_version=1,
        sources=[HERE / "buddy.c"],
        description="Buddy allocator: per-order free lists, splits on allocation, coalesces buddies on free",
    )]
