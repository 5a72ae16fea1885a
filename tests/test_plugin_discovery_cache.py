"""Plugin discovery remembered between launches (vmm/plugins/discovery_cache.py).

A remembered answer must be exactly what a fresh discovery finds, and must
be dropped as soon as something it depended on changes: a distribution
installed on sys.path, a plugin module edited, a file added next to a
plugin's sources. A launch never fails because of the cache.
"""

from __future__ import annotations

import os
import sys

import pytest

from vmm.plugins import discovery_cache
from vmm.plugins.manager import discover


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYOS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PYOS_PLUGIN_CACHE", raising=False)
    return tmp_path / "cache" / discovery_cache.FILE_NAME


def _flatten(found):
    return {(key, name): (p, p.provider) for key, by_name in found.items() for name, p in by_name.items()}


def test_a_remembered_discovery_is_the_fresh_one(cache):
    assert discovery_cache.load() is None
    fresh = discover(cached=True)       # a miss: discovers and stores
    assert cache.is_file()
    remembered = discovery_cache.load()
    assert remembered is not None
    assert _flatten(remembered) == _flatten(fresh) == _flatten(discover())
    assert all(p.sources and all(s.is_file() for s in p.sources) for p, _ in _flatten(remembered).values())


def test_a_distribution_installed_on_sys_path_is_a_miss(cache, tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    discover(cached=True)
    assert discovery_cache.load() is not None
    (site / "other-1.0.dist-info").mkdir()       # what pip install leaves there
    assert discovery_cache.load() is None
    discover(cached=True)
    assert discovery_cache.load() is not None
    (site / "unrelated.txt").write_text("x")     # any other file: not a change of what is installed
    assert discovery_cache.load() is not None


FAKE_MODULE = """
from pathlib import Path
from vmm.plugins import Plugin, hookimpl

@hookimpl
def pyos_plugins():
    return [Plugin(subsystem="heap", name="fake", version="1.0", interface_version=1,
                   sources=[Path(__file__).parent / "fake.c"])]
"""


@pytest.fixture
def fake_plugin(tmp_path, monkeypatch):
    """A plugin distribution of our own on sys.path (the repository's files are never touched)."""
    site = tmp_path / "site"
    info = site / "pyos_fake-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pyos-fake\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pyos.plugins]\nfake = pyos_fake\n")
    package = site / "pyos_fake"
    package.mkdir()
    (package / "__init__.py").write_text(FAKE_MODULE)
    (package / "fake.c").write_text("/* a heap */\n")
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    yield package
    sys.modules.pop("pyos_fake", None)


def _later(path):
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_an_edited_plugin_module_or_a_new_source_file_is_a_miss(cache, fake_plugin):
    found = discover(cached=True)
    assert found["heap"]["fake"].provider == "fake"
    assert discovery_cache.load()["heap"]["fake"] == found["heap"]["fake"]
    _later(fake_plugin / "__init__.py")           # the module that declares the plugin, edited
    assert discovery_cache.load() is None
    discover(cached=True)
    assert discovery_cache.load() is not None
    (fake_plugin / "more.c").write_text("")       # a file beside its sources (a plugin may glob them)
    assert discovery_cache.load() is None


def test_a_damaged_or_disabled_cache_is_only_a_miss(cache, monkeypatch):
    discover(cached=True)
    cache.write_text("{not json")
    assert discovery_cache.load() is None
    assert _flatten(discover(cached=True)) == _flatten(discover())  # and it is rewritten
    assert discovery_cache.load() is not None
    monkeypatch.setenv("PYOS_PLUGIN_CACHE", "0")
    assert discovery_cache.load() is None
