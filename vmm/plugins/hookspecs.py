"""The hook a pyos plugin package implements (pluggy, like pytest's hookspecs).

A package registers a module under the ``pyos.plugins`` entry-point group;
that module implements::

    from vmm.plugins import Plugin, hookimpl

    @hookimpl
    def pyos_plugins():
        return [Plugin(subsystem="frame_allocator", name="mine", version="1.0",
                       interface_version=1, sources=[HERE / "mine.c"],
                       description="...")]
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("pyos")
hookimpl = pluggy.HookimplMarker("pyos")


@hookspec
def pyos_plugins():
    """Return a list of vmm.plugins.Plugin: the subsystem implementations this
    package provides. Each names its C sources; the VMM compiles and links
    them into the guest kernel when a config selects them."""
