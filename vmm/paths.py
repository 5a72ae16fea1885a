"""Where things live: the source tree and the build cache."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

SOURCE_TREE = Path(__file__).resolve().parent.parent


def running_from_checkout() -> bool:
    """This vmm package is a source checkout's (not an installed wheel's)."""
    return (SOURCE_TREE / "setup.py").is_file() and (SOURCE_TREE / "guest_kernel" / "kernel").is_dir()


def _package_dir(name: str, folder: str) -> Path:
    """The folder of an installed data package (pyos_guest_kernel,
    pyos_configs), or the checkout's own folder when run from a checkout:
    a second clone or a git worktree uses its own kernel and configs even
    when another checkout is the installed (editable) one."""
    if running_from_checkout():
        return SOURCE_TREE / folder
    try:
        return Path(str(importlib.resources.files(name)))
    except ModuleNotFoundError:
        return SOURCE_TREE / folder


def use_checkout_plugins():
    """Run from a checkout, make `pyos_plugins` (the built-in plugins' package,
    named by the entry points) this checkout's plugins/ folder, as setup.py
    maps it, unless it is imported already: a second clone or a git worktree
    then discovers its own built-in plugins, not the installed tree's. Called
    before the entry points are loaded (vmm/plugins/manager.py)."""
    import importlib.util
    import sys
    folder = SOURCE_TREE / "plugins"
    if "pyos_plugins" in sys.modules or not running_from_checkout() or not (folder / "__init__.py").is_file():
        return
    spec = importlib.util.spec_from_file_location("pyos_plugins", folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["pyos_plugins"] = module
    spec.loader.exec_module(module)


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
