"""Kernel subsystems as plugins: what a plugin declares, and the subsystems.

One C interface per subsystem (a header with an ops structure under
guest_kernel/include/pyos/); a plugin is a set of C sources that defines
that structure under the subsystem's symbol. The config picks one plugin per
subsystem; the VMM compiles the kernel core with the chosen ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..kvm.binding import lib

__all__ = ["Plugin", "Subsystem", "SUBSYSTEMS", "hookimpl"]


def __getattr__(name):
    """`from vmm.plugins import hookimpl` imports pluggy only then: a launch whose
    plugin discovery is cached (discovery_cache.py) never needs it."""
    if name == "hookimpl":
        from .hookspecs import hookimpl
        return hookimpl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Plugin:
    subsystem: str                 # a key of SUBSYSTEMS
    name: str                      # what configs select it by
    version: str
    interface_version: int         # the subsystem interface version it implements
    sources: tuple[Path, ...]      # its C (or .S) files
    description: str = ""
    cflags: tuple[str, ...] = ()   # extra compiler flags for its own sources
    include_dirs: tuple[Path, ...] = ()
    provider: str = field(default="", compare=False)  # set by discovery: the entry point

    def __post_init__(self):
        object.__setattr__(self, "sources", tuple(Path(s) for s in self.sources))
        object.__setattr__(self, "cflags", tuple(self.cflags))
        object.__setattr__(self, "include_dirs", tuple(Path(d) for d in self.include_dirs))


@dataclass(frozen=True)
class Subsystem:
    key: str                # [kernel] key in the config
    symbol: str             # the ops structure the kernel core links against
    header: str             # its interface, under guest_kernel/include/
    interface_version: int  # the version the kernel core expects
    default: str | tuple[str, ...]  # the plugin(s) used when the config says nothing
    multiple: bool = False  # several plugins at once; symbol is a pattern with {name}
    # Sources define `symbol`; the build renames it to symbol_<name> (-D) so several can be
    # linked side by side ([kernel] schedulers, live swap), listed in a generated table.
    renamed: bool = False

    def symbol_for(self, plugin_name: str) -> str:
        """The symbol in the linked kernel."""
        return f"{self.symbol}_{plugin_name}" if self.renamed else self.symbol.format(name=plugin_name)


SUBSYSTEMS = {s.key: s for s in [
    Subsystem("frame_allocator", "frame_alloc_plugin", "pyos/frame_alloc.h", lib.FRAME_ALLOC_INTERFACE, "buddy"),
    Subsystem("heap", "heap_plugin", "pyos/heap.h", lib.HEAP_INTERFACE, "slab"),
    Subsystem("paging", "paging_plugin", "pyos/paging.h", lib.PAGING_INTERFACE, "direct"),
    Subsystem("scheduler", "sched_plugin", "pyos/sched.h", lib.SCHED_INTERFACE, "rr", renamed=True),
    Subsystem("syscalls", "syscalls_plugin", "pyos/syscalls.h", lib.SYSCALLS_INTERFACE, "pyos"),
    # Default: whichever of these are installed (see manager.select).
    Subsystem("filesystems", "fs_plugin_{name}", "pyos/fs.h", lib.FS_INTERFACE, ("ext2", "fat32"),
              multiple=True),
]}
