"""Built-in filesystem plugin 'ext2': ext2 revision 1 (as mke2fs writes it), read and write."""

from pathlib import Path

from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent


@hookimpl
def pyos_plugins():
    return [Plugin(
        subsystem="filesystems",
        name="ext2",
        version="1.0",
        interface_version=1,
        sources=[HERE / "ext2.c"],
        description="ext2 revision 1: 1-4 KiB blocks, indirect blocks, filetype dirents; read and write",
    )]
