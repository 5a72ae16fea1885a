"""Disk images behind the ATA drives: open, lock, read/write sectors, flush.

A `[[disk]]` entry of the config becomes one DiskImage:

- the file must exist (or be created first from `create = {...}`), be
  readable, and hold a whole number of 512-byte sectors; anything else is a
  ConfigError before the VM boots, naming the image and the fix;
- a writable image is locked with flock(LOCK_EX | LOCK_NB), a read-only or
  snapshot one with LOCK_SH | LOCK_NB, so a second VMM (or a second
  `[[disk]]` entry naming the same file) cannot write an image another one
  has open, while any number may read it. flock, not fcntl: fcntl locks
  belong to the process, so two opens from one VMM would not conflict;
- `readonly = true`: the drive refuses writes (the ATA model aborts them);
- `snapshot = true`: the image is opened read-only and guest writes go to a
  throw-away overlay (an unlinked sparse temporary file plus a bitmap of the
  sectors written), so the image stays byte-identical.

Data reaches the image only through the guest's writes (pwrite, no cache in
the VMM: the data is in the host's page cache when the command completes, so
a VMM killed by SIGKILL loses nothing); flush() fsyncs the file, which is
what a guest FLUSH CACHE asks for (then even a host crash loses nothing).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import ConfigError

SECTOR = 512


class DiskImage:
    def __init__(self, path: str | Path, readonly: bool = False, snapshot: bool = False,
                 what: str = "[[disk]]"):
        """Open and lock `path`; `what` names the config entry in errors."""
        self.path = Path(path)
        self.readonly = readonly
        self.snapshot = snapshot
        self.fd = -1
        self._overlay = -1
        self._written: bytearray | None = None  # snapshot: 1 per sector the overlay holds
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise ConfigError(f"{what}: disk image {self.path} does not exist",
                              "create it (pyos-vmm mkimage --fs ext2 --size 32 --from DIR IMAGE), "
                              "or add create = { fs = \"ext2\", size_mib = 32, from = \"DIR\" }") from None
        except OSError as e:
            raise ConfigError(f"{what}: cannot open disk image {self.path}: {e.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{what}: disk image {self.path} is not a regular file",
                              "point path at an image file")
        if st.st_size == 0 or st.st_size % SECTOR:
            raise ConfigError(f"{what}: disk image {self.path} is {st.st_size} bytes, "
                              f"not a whole number of {SECTOR}-byte sectors",
                              "a disk image's size must be a non-zero multiple of 512 bytes "
                              "(e.g. truncate -s 32M IMAGE, or pyos-vmm mkimage)")
        self.sectors = st.st_size // SECTOR
        writable = not (readonly or snapshot)
        try:
            self.fd = os.open(self.path, (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC)
        except OSError as e:
            hint = "make it writable, or set readonly = true or snapshot = true" if writable else ""
            raise ConfigError(f"{what}: cannot open disk image {self.path} "
                              f"{'for writing' if writable else 'for reading'}: {e.strerror}", hint) from None
        try:
            fcntl.flock(self.fd, (fcntl.LOCK_EX if writable else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError as e:
            os.close(self.fd)
            self.fd = -1
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise ConfigError(
                    f"{what}: disk image {self.path} is locked: another VM (or another [[disk]] entry) "
                    f"has it open{' for writing' if not writable else ''}",
                    "stop the other VM, or give this one its own image or snapshot = true") from None
            raise ConfigError(f"{what}: cannot lock disk image {self.path}: {e.strerror}") from None
        if snapshot:
            try:
                self._overlay = _anonymous_file(self.sectors * SECTOR)
            except OSError as e:
                self.close()
                raise ConfigError(f"{what}: cannot create the snapshot overlay for {self.path}: {e.strerror}",
                                  "set TMPDIR to a writable folder") from None
            self._written = bytearray(self.sectors)

    # -- the drive's side ---------------------------------------------------------------
    def read(self, lba: int, count: int) -> bytes:
        """`count` sectors from `lba` (the caller checked the range). OSError on host I/O errors."""
        offset, length = lba * SECTOR, count * SECTOR
        written = self._written
        if written is None or not any(written[lba:lba + count]):
            data = os.pread(self.fd, length, offset)
        else:
            parts = []
            for s in range(lba, lba + count):
                fd = self._overlay if written[s] else self.fd
                parts.append(os.pread(fd, SECTOR, s * SECTOR))
            data = b"".join(parts)
        if len(data) != length:  # the file shrank under us
            raise OSError(errno.EIO, f"short read from {self.path}")
        return data

    def write(self, lba: int, data) -> None:
        """Write whole sectors at `lba`. OSError on host I/O errors (e.g. ENOSPC)."""
        if self.readonly:
            raise OSError(errno.EROFS, f"{self.path} is read-only")
        offset = lba * SECTOR
        if self._written is not None:
            fd = self._overlay
            count = len(data) // SECTOR
            self._written[lba:lba + count] = b"\x01" * count
        else:
            fd = self.fd
        view = memoryview(data)
        while view:
            n = os.pwrite(fd, view, offset)
            view, offset = view[n:], offset + n

    def flush(self) -> None:
        """The drive's write cache to stable storage: fsync (a snapshot's overlay is thrown away)."""
        if self._written is None:
            os.fsync(self.fd)

    def close(self):
        for attr in ("fd", "_overlay"):
            fd = getattr(self, attr)
            if fd >= 0:
                os.close(fd)  # closing the last descriptor drops the flock
                setattr(self, attr, -1)

    def __repr__(self):
        mode = "snapshot" if self.snapshot else "readonly" if self.readonly else "read-write"
        return f"DiskImage({str(self.path)!r}, {self.sectors} sectors, {mode})"


def _anonymous_file(size: int) -> int:
    """A sparse, already-unlinked file of `size` bytes: the snapshot overlay."""
    fd, name = tempfile.mkstemp(prefix="pyos-snapshot-")
    os.unlink(name)
    os.ftruncate(fd, size)
    return fd


def _stale(image: Path, source: Path) -> bool:
    """Is any file or folder under `source` newer than `image`?"""
    try:
        made = image.stat().st_mtime
        if source.stat().st_mtime > made:
            return True
        for root, dirs, files in os.walk(source):
            for name in dirs + files:
                if os.lstat(os.path.join(root, name)).st_mtime > made:
                    return True
    except OSError:
        return False  # let opening or creating report the problem
    return False


def cached_image_path(fs: str, size_mib: int, source: Path, what: str) -> Path:
    """Where the build cache keeps the image made from `source`: the name is a
    hash of the filesystem, the size and every file's path, mode and content,
    so a changed folder gets a new image and an unchanged one is made once."""
    from .paths import cache_dir
    h = hashlib.sha256(f"{fs}\0{size_mib}\0".encode())
    if not source.is_dir():
        raise ConfigError(f"{what}: create.from {source} is not a folder",
                          "name the folder whose files go on the disk (relative to the config file)")
    try:
        for root, dirs, files in os.walk(source):
            dirs.sort()
            for name in sorted(dirs + files):
                full = os.path.join(root, name)
                st = os.lstat(full)
                h.update(f"{os.path.relpath(full, source)}\0{st.st_mode:o}\0".encode())
                if stat.S_ISREG(st.st_mode):
                    with open(full, "rb") as f:
                        while chunk := f.read(1 << 20):
                            h.update(chunk)
                elif stat.S_ISLNK(st.st_mode):
                    h.update(os.readlink(full).encode())
    except OSError as e:
        raise ConfigError(f"{what}: cannot read {e.filename}: {e.strerror}") from None
    folder = cache_dir() / "disks"
    return folder / f"{fs}-{size_mib}M-{h.hexdigest()[:24]}.img"


def _with_programs(create, source: Path, what: str) -> Path:
    """create.programs: the folder plus every user program at /bin (a cached copy)."""
    if not create.programs:
        return source
    if not Path(source).is_dir():
        raise ConfigError(f"{what}: create.from {source} is not a folder",
                          "name the folder whose files go on the disk (relative to the config file)")
    from .build.user import rootfs_with_programs
    return rootfs_with_programs(Path(source))


def open_disks(config) -> list[DiskImage]:
    """Every [[disk]] of the config, created first if asked and missing, opened and locked."""
    from .mkimage import create_image
    images: list[DiskImage] = []
    try:
        for i, disk in enumerate(config.disks):
            if not disk.path:  # made from a folder, cached by its content
                what = f"[[disk]] #{i + 1} (create from {disk.create.source!r})"
                source = _with_programs(disk.create, config.resolve(disk.create.source), what)
                path = cached_image_path(disk.create.fs, disk.create.size_mib, source, what)
                if not path.exists():
                    create_image(path, disk.create.fs, disk.create.size_mib, source, what=what)
                images.append(DiskImage(path, readonly=disk.readonly, snapshot=disk.snapshot, what=what))
                continue
            what = f"[[disk]] #{i + 1} (path = {disk.path!r})"
            path = Path(os.path.abspath(config.resolve(disk.path)))
            if disk.create is not None:
                source = _with_programs(disk.create, config.resolve(disk.create.source), what)
                # A snapshot disk never keeps the guest's writes, so remaking it when
                # its folder changed loses nothing; a writable one is only made once.
                if not path.exists() or (disk.snapshot and _stale(path, source)):
                    create_image(path, disk.create.fs, disk.create.size_mib, source, what=what)
            images.append(DiskImage(path, readonly=disk.readonly, snapshot=disk.snapshot, what=what))
    except BaseException:
        for image in images:
            image.close()
        raise
    return images
