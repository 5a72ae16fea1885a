"""Built-in scheduler plugin 'stride': Stride scheduling: CPU share in proportion to tickets (40 - priority)."""

from pathlib import Path

from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent


@hookimpl
def pyos_plugins():
    return [Plugin(
        subsystem="scheduler",
        name="stride",
        version="1.0",
        interface_version=1,
        sources=[HERE / "stride.c"],
        description="Stride scheduling: CPU share in proportion to tickets (40 - priority)",
    )]
