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
