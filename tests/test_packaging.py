"""pyos as an installed package: the wheel carries everything a run needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Build from a copy: setuptools leaves build/ and *.egg-info where it
    # builds, and an egg-info in the checkout would shadow the installed
    # package's metadata for every VMM the other tests start there.
    source = tmp_path_factory.mktemp("source") / "pyos"
    skip = shutil.ignore_patterns(".git", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis")

    def ignore(folder, names):
        top = {"build"} & set(names) if Path(folder) == REPO else set()
        return set(skip(folder, names)) | top

    shutil.copytree(REPO, source, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)],
                   check=True, capture_output=True, text=True, timeout=600)
    (path,) = out.glob("pyos-*.whl")
    return path


def test_wheel_ships_the_kernel_sources_configs_and_plugins(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in (REPO / "guest_kernel").rglob("*"):
        if source.suffix in (".c", ".h", ".S", ".ld"):
            assert f"pyos_guest_kernel/{source.relative_to(REPO / 'guest_kernel')}" in names, source
    assert "pyos_configs/default.toml" in names
    for plugin_c in (REPO / "plugins").rglob("*.c"):
        assert f"pyos_plugins/{plugin_c.relative_to(REPO / 'plugins')}" in names, plugin_c
    for package in (REPO / "vmm").rglob("__init__.py"):
        assert str(package.relative_to(REPO)) in names, package
    # Nothing at a top-level name another distribution might use.
    assert {n.split("/")[0] for n in names if "/" in n} <= {
        "vmm", "pyos_plugins", "pyos_guest_kernel", "pyos_configs", f"{wheel.name.split('-')[0]}-"
        f"{wheel.name.split('-')[1]}.dist-info"}


def test_entry_points_use_the_installed_names(wheel):
    with zipfile.ZipFile(wheel) as z:
        (entry_points,) = [n for n in z.namelist() if n.endswith("entry_points.txt")]
        text = z.read(entry_points).decode()
    assert "= pyos_plugins." in text and "= plugins." not in text
    assert "pyos-vmm = vmm.cli:entry_point" in text
