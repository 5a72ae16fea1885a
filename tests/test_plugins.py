"""Plugin discovery, selection, build checks, and a third-party plugin installed with pip."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from vmm import errors
from vmm.build.kernel import build_kernel
from vmm.errors import ConfigError, KernelError
from vmm.plugins import SUBSYSTEMS, Plugin
from vmm.plugins.manager import discover, select

from .conftest import REPO, boot, vmm_command, write_config

BUILT_IN = {"frame_allocator": {"buddy", "bitmap"}, "heap": {"slab", "freelist"}, "paging": {"direct", "recursive"}}


def test_built_in_plugins_are_discovered_through_entry_points():
    installed = discover()
    for subsystem, names in BUILT_IN.items():
        assert names <= set(installed[subsystem])
        for name in names:
            plugin = installed[subsystem][name]
            # provider: the entry point that registered it (pyproject's pyos.plugins group)
            prefix = {"frame_allocator": "frame_alloc", "heap": "heap", "paging": "paging"}[subsystem]
            assert plugin.provider == f"{prefix}_{name}"
            assert plugin.interface_version == SUBSYSTEMS[subsystem].interface_version
            assert all(src.is_file() for src in plugin.sources)


def test_defaults_and_choices():
    chosen = {p.subsystem: p.name for p in select({"heap": "freelist"}) if p.subsystem != "filesystems"}
    assert chosen == {"frame_allocator": "buddy", "heap": "freelist", "paging": "direct", "scheduler": "rr",
                      "syscalls": "pyos"}


def test_unknown_plugin_lists_the_installed_ones():
    with pytest.raises(ConfigError) as info:
        select({"frame_allocator": "nope"})
    assert "[kernel] frame_allocator = 'nope': no such frame_allocator plugin" in str(info.value)
    assert "bitmap, buddy" in str(info.value)


def test_interface_version_mismatch_is_refused():
    installed = discover()
    old = installed["heap"]["slab"]
    installed["heap"]["slab"] = Plugin(**{**old.__dict__, "interface_version": 0})
    with pytest.raises(KernelError) as info:
        select({}, installed)
    assert "implements interface version 0" in str(info.value)


def _with(plugin_subsystem, name, source, tmp_path):
    path = tmp_path / f"{name}.c"
    path.write_text(textwrap.dedent(source))
    plugins = [p for p in select({}) if p.subsystem != plugin_subsystem]
    return plugins + [Plugin(plugin_subsystem, name, "0", 1, [path], provider="test")]


def test_plugin_without_its_symbol_fails_at_build_time(tmp_path):
    plugins = _with("heap", "empty", "int not_the_ops_structure = 1;\n", tmp_path)
    with pytest.raises(KernelError) as info:
        build_kernel(plugins)
    assert "heap plugin 'empty' (from test) does not define heap_plugin" in str(info.value)


def test_plugin_with_wrong_interface_version_fails_at_build_time(tmp_path):
    source = """
        #include <pyos/heap.h>
        static void init(struct heap_stats *s) { (void)s; }
        static void *alloc(size_t n) { (void)n; return 0; }
        static void release(void *p) { (void)p; }
        const struct heap_ops heap_plugin = {7, "wrong", init, alloc, release};
    """
    with pytest.raises(KernelError) as info:
        build_kernel(_with("heap", "wrong", source, tmp_path))
    assert "heap_plugin.interface_version is 7, the kernel expects 1" in str(info.value)


def test_plugins_command_marks_the_selection(tmp_path):
    cfg = write_config(tmp_path, '[kernel]\nframe_allocator = "bitmap"\npaging = "recursive"\n')
    out = subprocess.run(vmm_command("plugins", "--config", cfg), capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("  * bitmap") for line in lines)
    assert any(line.startswith("    buddy") for line in lines)
    assert any(line.startswith("  * recursive") for line in lines)
    assert any(line.startswith("  * slab") for line in lines)


def test_unknown_plugin_in_config_is_a_clear_cli_error(tmp_path):
    result = boot(config=write_config(tmp_path, '[kernel]\nheap = "tcmalloc"\n'))
    assert result.status == errors.EXIT_CONFIG
    assert "[kernel] heap = 'tcmalloc': no such heap plugin is installed" in result.stderr
    assert "installed heap plugins: freelist, slab" in result.stderr
    assert "Traceback" not in result.stderr


OUT_OF_TREE_C = """
/* A bump heap: never reuses memory. Small, but a complete heap plugin. */
#include <pyos/frame_alloc.h>
#include <pyos/heap.h>
#include <pyos/mm_env.h>

static struct heap_stats *stats;
static char *next, *end;

static void bump_init(struct heap_stats *s) { stats = s; }

static void *bump_alloc(size_t size)
{
    size = (size + 15) & ~15UL;
    if (!next || next + size > end) {
        unsigned order = 0;
        while ((FRAME_SIZE << order) < size)
            order++;
        uint64_t phys = frame_alloc(order);
        if (!phys) { stats->failures++; return 0; }
        next = phys_to_virt(phys);
        end = next + (FRAME_SIZE << order);
        stats->grows++;
        stats->frames_in_use += 1UL << order;
    }
    void *p = next;
    next += size;
    stats->allocs++;
    stats->bytes_in_use += size;
    return p;
}

static void bump_free(void *p) { if (p) stats->frees++; }

const struct heap_ops heap_plugin = {
    .interface_version = HEAP_INTERFACE, .name = "bump",
    .init = bump_init, .alloc = bump_alloc, .free = bump_free,
};
"""

OUT_OF_TREE_PY = '''
from pathlib import Path
from vmm.plugins import Plugin, hookimpl

@hookimpl
def pyos_plugins():
    return [Plugin(subsystem="heap", name="bump", version="0.1", interface_version=1,
                   sources=[Path(__file__).with_name("bump.c")], description="bump heap (test)")]
'''

OUT_OF_TREE_TOML = '''
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "pyos-bump-heap"
version = "0.1"

[project.entry-points."pyos.plugins"]
bump = "pyos_bump_heap"

[tool.setuptools]
packages = ["pyos_bump_heap"]

[tool.setuptools.package-data]
pyos_bump_heap = ["*.c"]
'''


@pytest.fixture(scope="module")
def out_of_tree_site(tmp_path_factory):
    """A third-party plugin package, really installed by pip (into its own folder)."""
    root = tmp_path_factory.mktemp("oot")
    pkg = root / "pkg"
    (pkg / "pyos_bump_heap").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(OUT_OF_TREE_TOML)
    (pkg / "pyos_bump_heap" / "__init__.py").write_text(OUT_OF_TREE_PY)
    (pkg / "pyos_bump_heap" / "bump.c").write_text(OUT_OF_TREE_C)
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(pkg)], check=True, capture_output=True)
    return site


def test_out_of_tree_plugin_installed_with_pip_boots(out_of_tree_site, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(out_of_tree_site)}
    listing = subprocess.run(vmm_command("plugins"), capture_output=True, text=True, cwd=REPO, env=env)
    assert "bump" in listing.stdout and "[bump]" in listing.stdout, listing.stdout + listing.stderr
    cfg = write_config(tmp_path, '[kernel]\nheap = "bump"\n[serial]\ninput = "none"\n')
    proc = subprocess.run(vmm_command("--config", cfg, "--stats"), capture_output=True, text=True, cwd=REPO,
                          env=env, stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "memory: heap 'bump'" in proc.stdout
    assert "subsystem=heap,name=bump" in proc.stderr
