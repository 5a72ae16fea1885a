"""Plugin discovery remembered between launches, checked by file metadata.

Discovering plugins means importing importlib.metadata and pluggy, reading
the entry points of every installed distribution and importing every plugin
module: tens of milliseconds at each start, for an answer that changes only
when packages are installed or removed or a plugin module is edited. So the
answer is kept in the cache folder (cache_dir()/plugins.json) with what it
depended on, and used again only while all of that is unchanged:

- the interpreter (sys.version), the vmm package's own tree and sys.path, in order;
- in every sys.path folder, the names and metadata (mtime, inode) of the
  entries that declare distributions (*.dist-info, *.egg-info, *.egg-link)
  or extend the path (*.pth): installing, upgrading or removing a package
  adds, replaces or removes its *.dist-info folder (an editable install's
  finder and .pth live in site-packages too). Other files are not looked
  at, so a busy current folder (/tmp) does not count as a change;
- the metadata (size, mtime) of every plugin module file and of the folders
  holding each plugin's sources (a plugin that globs its folder sees a new file).

Anything else (a missing or unreadable file, another format) is a miss, and
the caller discovers the slow way and stores the new answer. The cache is an
optimisation only: it is never the reason a launch fails, and
`PYOS_PLUGIN_CACHE=0` turns it off. `pyos-vmm plugins` always discovers afresh.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FORMAT = 1
FILE_NAME = "plugins.json"
KEEP = 8  # environments remembered (a test's PYTHONPATH is another environment)


def enabled() -> bool:
    return os.environ.get("PYOS_PLUGIN_CACHE", "1") != "0"


def _cache_file() -> Path:
    from ..paths import cache_dir
    return cache_dir() / FILE_NAME


def _stamp(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


DECLARES = (".dist-info", ".egg-info", ".egg-link", ".pth")


def _declarations(folder: str) -> list:
    try:
        with os.scandir(folder or ".") as entries:
            found = []
            for e in entries:
                if e.name.endswith(DECLARES):
                    st = e.stat()
                    found.append((e.name, st.st_mtime_ns, st.st_ino))
    except OSError:  # not a folder (a zip) or gone: its own metadata stands for it
        return [_stamp(folder or ".")]
    return sorted(found)


def environment_key() -> str:
    """sys.version, this vmm's tree (a checkout discovers its own built-in plugins:
    paths.use_checkout_plugins), sys.path and what each sys.path folder declares,
    as one string (~1 ms)."""
    from ..paths import SOURCE_TREE
    return "\n".join([sys.version, str(SOURCE_TREE), *(f"{p}\0{_declarations(p)}" for p in sys.path)])


def _depends(plugins, module_files) -> dict[str, list | None]:
    paths = set(module_files)
    for p in plugins:
        paths.update(str(Path(s).parent) for s in p.sources)
    return {path: _stamp(path) for path in sorted(paths)}


def load() -> dict | None:
    """The remembered {subsystem: {name: Plugin}} for this environment, or None."""
    if not enabled():
        return None
    try:
        data = json.loads(_cache_file().read_text())
        if data["format"] != FORMAT:
            return None
        record = data["environments"][environment_key()]
        if any(_stamp(path) != stamp for path, stamp in record["depends"].items()):
            return None
        from . import SUBSYSTEMS, Plugin
        found = {key: {} for key in SUBSYSTEMS}
        for fields in record["plugins"]:
            plugin = Plugin(**fields)
            found[plugin.subsystem][plugin.name] = plugin
        return found
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store(found: dict, module_files: list[str]):
    """Remember a fresh discovery (best effort: a read-only cache is no error)."""
    if not enabled():
        return
    plugins = [p for by_name in found.values() for p in by_name.values()]
    record = {"depends": _depends(plugins, module_files),
              "plugins": [{**p.__dict__, "sources": [str(s) for s in p.sources],
                           "include_dirs": [str(d) for d in p.include_dirs], "cflags": list(p.cflags)}
                          for p in plugins]}
    path = _cache_file()
    try:
        try:
            data = json.loads(path.read_text())
            environments = data["environments"] if data.get("format") == FORMAT else {}
        except (OSError, ValueError, KeyError, AttributeError):
            environments = {}
        environments.pop(environment_key(), None)
        environments[environment_key()] = record  # newest last; the oldest are dropped
        environments = dict(list(environments.items())[-KEEP:])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}")
        tmp.write_text(json.dumps({"format": FORMAT, "environments": environments}))
        os.replace(tmp, path)  # atomic: parallel launches never see half a file
    except OSError:
        pass
