"""Disk images from a host folder, made with the real filesystem tools.

    pyos-vmm mkimage --fs ext2|fat32 --size N --from DIR IMAGE [--force]

ext2:  mke2fs -t ext2 -d DIR (e2fsprogs >= 1.43 copies the tree itself).
fat32: mkfs.fat -F 32, then mcopy -s -p -m from mtools copies the tree
       (long file names included; FAT has no owners, links or modes).

The image is built under a temporary name beside IMAGE and renamed into
place only when complete, so a failed or interrupted build never leaves a
half-made image, and two VMMs creating the same missing image at once (a
config's `create = {...}`) both end up with a whole one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .errors import ConfigError, PyosError, EXIT_CONFIG

FS_TOOLS = {  # filesystem → [(tool, Debian package)]
    "ext2": [("mke2fs", "e2fsprogs")],
    "fat32": [("mkfs.fat", "dosfstools"), ("mcopy", "mtools")],
}
MIN_MIB = {"ext2": 1, "fat32": 33}  # FAT32 needs at least 65525 clusters
MAX_MIB = 1 << 20


class MkimageError(PyosError):
    status = EXIT_CONFIG


def parse_size(text: str) -> int:
    """'32', '32M', '32MiB', '1G', '1GiB' → MiB. ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*(m|mib|mb|g|gib|gb)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"size {text!r} is not a number of MiB (e.g. 32, 64M, 1G)")
    mib = int(m.group(1)) * (1024 if (m.group(2) or "m").lower().startswith("g") else 1)
    return mib


TOOL_DIRS = ["/usr/sbin", "/sbin"]  # mke2fs and mkfs.fat live here, often outside a user's PATH


def _tool(name: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *TOOL_DIRS])
    return shutil.which(name, path=path)


def _check_tools(fs: str):
    for tool, package in FS_TOOLS[fs]:
        if _tool(tool) is None:
            raise MkimageError(f"{tool} is not installed (needed for {fs} images)",
                               f"install the Debian package {package}: apt-get install {package}")


def _run(argv, what: str, env=None):
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or "WARNING" in proc.stderr:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise MkimageError(f"{what} failed: {' '.join(map(str, argv[:2]))} ...: "
                           + ("; ".join(detail[-3:]) or f"exit status {proc.returncode}"))
    return proc


def make_image(image: str | Path, fs: str, size_mib: int, source: str | Path, force: bool = False,
               block_size: int | None = None, inode_size: int | None = None) -> Path:
    """Build `image` (fs of size_mib MiB) holding the tree under `source`."""
    image, source = Path(image), Path(source)
    if fs not in FS_TOOLS:
        raise MkimageError(f"unknown filesystem {fs!r}", "use --fs ext2 or --fs fat32")
    if not MIN_MIB[fs] <= size_mib <= MAX_MIB:
        raise MkimageError(f"size {size_mib} MiB is out of range for {fs}",
                           f"give --size from {MIN_MIB[fs]} to {MAX_MIB} (MiB)"
                           + ("; FAT32 needs at least 65525 clusters" if fs == "fat32" else ""))
    if not source.is_dir():
        raise MkimageError(f"--from {source}: not a folder", "give the folder whose files go on the image")
    if image.exists() and not force:
        raise MkimageError(f"{image} already exists; not overwriting it", "pass --force to replace it")
    if not image.parent.is_dir():
        raise MkimageError(f"{image}: the folder {image.parent} does not exist", "create it first")
    _check_tools(fs)
    tmp = image.with_name(f".{image.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.truncate(size_mib << 20)
        if fs == "ext2":
            argv = [_tool("mke2fs"), "-q", "-F", "-t", "ext2", "-d", str(source), "-E", "root_owner=0:0"]
            if block_size:
                argv += ["-b", str(block_size)]
            if inode_size:
                argv += ["-I", str(inode_size)]
            try:
                _run(argv + [str(tmp)], "mke2fs")
            except MkimageError as e:
                if "Could not allocate" in e.message or "No space" in e.message or "space" in e.message:
                    raise MkimageError(f"the files in {source} do not fit in a {size_mib} MiB ext2 image",
                                       "give a bigger --size") from None
                raise
        else:
            _run([_tool("mkfs.fat"), "-F", "32", "-n", "PYOS", str(tmp)], "mkfs.fat")
            entries = sorted(str(p) for p in source.iterdir())
            if entries:
                env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
                try:
                    _run([_tool("mcopy"), "-i", str(tmp), "-s", "-p", "-m", "-Q", *entries, "::/"],
                         "mcopy", env=env)
                except MkimageError as e:
                    if "full" in e.message.lower():
                        raise MkimageError(f"the files in {source} do not fit in a {size_mib} MiB FAT32 image",
                                           "give a bigger --size") from None
                    raise
        os.replace(tmp, image)
    except OSError as e:
        raise MkimageError(f"cannot write {image}: {e.strerror}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return image


def create_image(path: Path, fs: str, size_mib: int, source: Path, what: str):
    """A config's create = {...}: make (or remake) the image, errors as ConfigErrors naming the entry.
    The new image replaces the path atomically; a VMM that has the old one open keeps reading it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        make_image(path, fs, size_mib, source, force=True)
    except OSError as e:
        raise ConfigError(f"{what}: cannot create the image: {e.strerror}: {e.filename}") from None
    except MkimageError as e:
        raise ConfigError(f"{what}: cannot create the image: {e.message}", e.hint) from None


def cmd_mkimage(args) -> int:
    """The CLI verb (args: fs, size, source, image, force, block_size, inode_size)."""
    try:
        size = parse_size(args.size)
    except ValueError as e:
        raise MkimageError(str(e), "give --size in MiB, e.g. --size 32 or --size 1G") from None
    path = make_image(args.image, args.fs, size, args.source, force=args.force,
                      block_size=args.block_size, inode_size=args.inode_size)
    print(f"{path}: {args.fs}, {size} MiB, from {args.source}")
    return 0
