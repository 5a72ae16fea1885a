"""Built-in scheduler plugin 'rr': Round-robin with a 50 ms time slice."""

from pathlib import Path

from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent


@hookimpl
def pyos_plugins():
    return [Plugin(
        subsystem="scheduler",
        name="rr",
        version="1.0",
        interface_version=1,
        sources=[HERE / "rr.c"],
        description="Round-robin with a 50 ms time slice",
    )]
