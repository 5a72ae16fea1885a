"""Kernel build: content-keyed cache and clear compiler errors."""

from __future__ import annotations

import pytest

from vmm.build.kernel import build_kernel
from vmm.errors import KernelError


def test_second_build_is_cached(kernel_elf):
    mtime = kernel_elf.stat().st_mtime_ns
    assert build_kernel() == kernel_elf
    assert kernel_elf.stat().st_mtime_ns == mtime


def test_change_in_sources_changes_the_key(tmp_path, kernel_elf):
    extra = tmp_path / "extra.c"
    extra.write_text("int pyos_test_extra_symbol = 1;\n")
    other = build_kernel(extra_sources=[extra])
    assert other != kernel_elf and other.exists()


def test_compile_error_is_reported(tmp_path):
    broken = tmp_path / "broken.c"
    broken.write_text("int broken( {\n")
    with pytest.raises(KernelError) as info:
        build_kernel(extra_sources=[broken])
    assert "compiling" in str(info.value) and "broken.c" in str(info.value)


def test_the_digest_cache_forgets_files_that_are_gone(tmp_path, monkeypatch):
    """file-digests.json remembers a digest per source file by its metadata. Source
    trees come and go (temporary copies, worktrees): entries for files that no longer
    exist are dropped when the file is written, so what every launch loads stays
    the size of the trees that exist."""
    from vmm.build import cache
    monkeypatch.setenv("PYOS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_digests", None)
    monkeypatch.setattr(cache, "_digests_dirty", False)
    kept, gone = tmp_path / "kept.c", tmp_path / "gone.c"
    kept.write_text("int kept;\n")
    gone.write_text("int gone;\n")
    cache.content_key("settings", [kept, gone])
    gone.unlink()
    monkeypatch.setattr(cache, "_digests", None)  # a later launch, after the tree lost gone.c
    newer = tmp_path / "new.c"
    newer.write_text("int new;\n")
    cache.content_key("settings", [kept, newer])  # a new file: the digests are written again
    import json
    remembered = json.loads((tmp_path / "cache" / "file-digests.json").read_text())
    assert str(kept) in remembered and str(newer) in remembered
    assert str(gone) not in remembered
