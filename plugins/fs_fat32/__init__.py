"""Built-in filesystems plugin 'fat32': FAT32 and FAT16 volumes, read and write, with long file names."""

from pathlib import Path

from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent


@hookimpl
def pyos_plugins():
    return [Plugin(
        subsystem="filesystems",
        name="fat32",
        version="1.0",
        interface_version=1,
        sources=[HERE / "fat_ops.c", HERE / "fat_dir.c", HERE / "fat_table.c"],
        include_dirs=[HERE],
        description="FAT32 and FAT16: long file names, both FATs kept identical, FSInfo kept exact",
    )]
