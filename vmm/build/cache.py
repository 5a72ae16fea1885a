"""The build cache: outputs keyed by the content of everything that made them.

A result lives in its own folder, cache_dir()/KIND/KEY, published by renaming
a finished folder into place, so a folder that exists is complete, and
parallel builders of the same key cannot see each other's half-written files.

Hashing every source and header on each launch cost tens of milliseconds, so
a file's SHA-256 is remembered with its metadata (size, mtime in ns, inode)
in cache_dir()/file-digests.json and reused while those are unchanged, as
make trusts mtimes; the key is still over the files' contents. A tool's
--version output is remembered the same way, by the tool binary's metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Iterable

from ..paths import cache_dir, cache_subdir


_DIGESTS_FILE = "file-digests.json"
_digests: dict | None = None   # path → [[size, mtime_ns, inode], hex digest]; loaded on first use
_digests_dirty = False


def _load_digests() -> dict:
    global _digests
    if _digests is None:
        try:
            with open(cache_dir() / _DIGESTS_FILE) as f:
                _digests = json.load(f)
            if not isinstance(_digests, dict):
                _digests = {}
        except (OSError, ValueError):
            _digests = {}
    return _digests


_TOOL_PREFIX = "tool-version:"


def _exists(name: str) -> bool:
    return os.path.exists(name[len(_TOOL_PREFIX):] if name.startswith(_TOOL_PREFIX) else name)


def _save_digests():
    """Write the remembered digests back (atomically; losing a race only costs a rehash).

    Entries for files that no longer exist are dropped first: temporary source
    trees (tests, mutation runs, worktrees removed) would otherwise make the
    file every launch loads grow without bound."""
    global _digests_dirty
    if not _digests_dirty:
        return
    _digests_dirty = False
    for name in [n for n in _digests if not _exists(n)]:
        del _digests[name]
    try:
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".digests-")
        with os.fdopen(fd, "w") as f:
            json.dump(_digests, f)
        os.replace(tmp, folder / _DIGESTS_FILE)
    except OSError:
        pass  # a read-only cache: digests are recomputed next time


def _stamp(path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def file_digest(path) -> str:
    """SHA-256 of the file's bytes, from the remembered digest while its metadata is unchanged."""
    global _digests_dirty
    digests = _load_digests()
    name = os.fspath(path)
    stamp = _stamp(name)
    hit = digests.get(name)
    if isinstance(hit, list) and len(hit) == 2 and hit[0] == stamp:
        return hit[1]
    with open(name, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if _stamp(name) == stamp:  # not changed while being read
        digests[name] = [stamp, digest]
        _digests_dirty = True
    return digest


def tool_version(tool: str) -> str:
    """The first line of `tool --version`, remembered by the tool binary's metadata."""
    global _digests_dirty
    digests = _load_digests()
    real = os.path.realpath(tool)
    stamp = _stamp(real)
    key = _TOOL_PREFIX + real
    hit = digests.get(key)
    if isinstance(hit, list) and len(hit) == 2 and hit[0] == stamp:
        return hit[1]
    out = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.splitlines()
    version = out[0] if out else ""
    digests[key] = [stamp, version]
    _digests_dirty = True
    _save_digests()
    return version


def content_key(settings, files: Iterable[Path]) -> str:
    """A key over `settings` (anything with a stable repr) and each file's name and bytes."""
    digest = hashlib.sha256(repr(settings).encode())
    for path in files:
        digest.update(str(path).encode())
        digest.update(file_digest(path).encode())
    _save_digests()
    return digest.hexdigest()[:24]


def cached_build(kind: str, key: str, build: Callable[[Path, Path, Path], None]) -> Path:
    """The folder for (kind, key), running build(staged, scratch, final) first if needed.

    build writes its outputs into `staged` (which becomes `final`), may use
    `scratch` for intermediate files, and may name `final` in what it writes.
    """
    final = cache_dir() / kind / key
    if final.exists():
        return final
    cache_subdir(kind)  # created, or a clear error if it cannot be
    with tempfile.TemporaryDirectory(dir=final.parent) as tmp:
        staged, scratch = Path(tmp) / "out", Path(tmp) / "scratch"
        staged.mkdir()
        scratch.mkdir()
        build(staged, scratch, final)
        try:
            os.replace(staged, final)
        except OSError:
            if not final.exists():  # someone else published the same key first: fine
                raise
    return final
