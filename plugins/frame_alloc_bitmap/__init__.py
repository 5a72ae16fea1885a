"""Built-in frame_allocator plugin 'bitmap': Two-level bitmap: one bit per frame, a summary bit per 64 frames."""

from pathlib import Path

from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent


@hookimpl
def pyos_plugins():
    return [Plugin(
        subsystem="frame_allocator",
        name="bitmap",
        version="1.0",
        interface_version=1,
        sources=[HERE / "bitmap.c"],
        description="Two-level bitmap: one bit per frame, a summary bit per 64 frames",
    )]
