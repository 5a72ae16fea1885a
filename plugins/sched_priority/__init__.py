"""Built-in scheduler plugin 'priority': Priorities 0-39 with aging, so nothing starves."""

from pathlib import Path

from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent


@hookimpl
def pyos_plugins():
    return [Plugin(
        subsystem="scheduler",
        name="priority",
        version="1.0",
        interface_version=1,
        sources=[HERE / "priority.c"],
        description="Priorities 0-39 with aging, so nothing starves",
    )]
