"""The build cache: outputs keyed by the content of everything that made them.

A result lives in its own folder, cache_dir()/KIND/KEY, published by renaming
a finished folder into place, so a folder that exists is complete, and
parallel builders of the same key cannot see each other's half-written files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable

from ..paths import cache_dir, cache_subdir


def content_key(settings, files: Iterable[Path]) -> str:
    """A key over `settings` (anything with a stable repr) and each file's name and bytes."""
    digest = hashlib.sha256(repr(settings).encode())
    for path in files:
        digest.update(str(path).encode())
        digest.update(Path(path).read_bytes())
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
