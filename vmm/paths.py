"""Where things live: the source tree and the build cache."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

SOURCE_TREE = Path(__file__).resolve().parent.parent


def _package_dir(name: str, folder: str) -> Path:
    """The folder of an installed data package (pyos_guest_kernel,
    pyos_configs; in an editable install, the checkout's folder), or the
    source tree's folder when run from a checkout that is not installed."""
    try:
        return Path(str(importlib.resources.files(name)))
    except ModuleNotFoundError:
        return SOURCE_TREE / folder


GUEST_KERNEL_DIR = _package_dir("pyos_guest_kernel", "guest_kernel")
GUEST_INCLUDE = GUEST_KERNEL_DIR / "include"
CONFIGS_DIR = _package_dir("pyos_configs", "configs")


def cache_dir() -> Path:
    """The build cache: $PYOS_CACHE_DIR, else $XDG_CACHE_HOME/pyos, else ~/.cache/pyos."""
    explicit = os.environ.get("PYOS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyos"


def cache_subdir(name: str) -> Path:
    """cache_dir()/name, created; a clear error if the cache is not writable."""
    from .errors import HostError
    path = cache_dir() / name
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise HostError(f"the build cache {path} is not writable: {e.strerror}",
                        "set PYOS_CACHE_DIR (or XDG_CACHE_HOME) to a writable folder") from None
    return path
