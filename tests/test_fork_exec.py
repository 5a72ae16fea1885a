"""Processes and memory (issue 10): fork with copy-on-write, execve of programs
from the root disk, waitpid, demand paging, mmap; under both paging plugins.

The cases themselves are in guest_kernel/user/programs/usertests.c; each runs
in a child and passes when it exits 0 with the free-frame count unchanged."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .conftest import REPO, boot, write_config

ROOTFS = REPO / "configs" / "rootfs"
CASES = ["fork", "exec", "cow", "stack", "mmap", "mmap_file", "exec_errors"]


def _disk_config(tmp_path, paging="direct", source=ROOTFS, programs=True):
    return write_config(tmp_path, f'[kernel]\npaging = "{paging}"\n[serial]\ninput = "none"\n'
                                  f'[[disk]]\nsnapshot = true\ncreate = {{ fs = "ext2", size_mib = 32, '
                                  f'from = "{source}", programs = {str(programs).lower()} }}\n')


def _assert_cases(console, cases):
    for case in cases:
        m = re.search(rf"^usertests: {case}: OK \(exit status 0, free frames (\d+) -> (\d+)\)$", console, re.M)
        assert m, f"case {case} did not pass:\n{console[-4000:]}"
        assert m[1] == m[2], f"case {case} lost frames: {m[1]} -> {m[2]}"
    assert f"usertests: {len(cases)} passed, 0 failed" in console


@pytest.mark.parametrize("paging", ["direct", "recursive"])
def test_process_cases_from_disk(tmp_path, paging):
    """usertests itself is loaded from /bin on the root image; fork, exec,
    COW, stack growth, mmap of files and exec's errors all pass, frames intact."""
    result = boot("--cmdline", "-- usertests run " + " ".join(CASES), "--stats",
                  config=_disk_config(tmp_path, paging))
    console = result.console
    assert result.status == 0, console  # all of it: the failing case may be far from the end
    assert f"paging '{paging}'" in console
    _assert_cases(console, CASES)
    assert re.search(r"cow: child saw its own values: yes; parent keeps 'Q' 'h' 'D'", console)
    assert "exec errors: missing -2, text -8, 32-bit -8, aarch64 -8, kernel -22, vdso -22, truncated -8, " \
           "directory -13" in console
    assert "munmap wrote 'T', exit wrote 'K'" in console
    stats = dict(re.findall(r"^pyos_guest_(\w+)_total  (\d+)$", result.stderr, re.M))
    assert int(stats["cow_faults"]) > 0 and int(stats["demand_faults"]) > 0 and int(stats["forks"]) > 20
    # fork needs the full path (a trap frame to copy): its slot in the fast table turns it
    # into the trap, and the call is counted once, as every fork here succeeds
    calls = dict(re.findall(r"name=(\w+) (\d+)", re.search(r"^pyos_guest_syscalls_total  (.*)", result.stderr,
                                                            re.M).group(1)))
    assert calls["fork"] == stats["forks"], (calls, stats)
    # Parent and child run the same program: the child's text pages were the parent's, from the page cache.
    assert int(stats["pagecache_hits"]) > 0


def _copy_hello(tmp_path, name: str, pie: bool = False):
    """A rootfs whose /bin holds a program that is not embedded in the kernel."""
    from vmm.build.user import programs_dir
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copyfile(programs_dir() / "hello.elf", root / "bin" / name)
    return root


def test_disk_only_program_runs_and_text_is_demand_paged(tmp_path):
    root = _copy_hello(tmp_path, "greeter")
    result = boot("--cmdline", "-- greeter from-disk", config=_disk_config(tmp_path, source=root, programs=False))
    assert result.status == 0, result.console[-3000:]
    assert re.search(r"hello from pid \d+: greeter from-disk", result.console)
    assert "init: greeter exited with status 0" in result.console


def test_a_missing_program_is_enoent_not_a_crash(tmp_path):
    result = boot("--cmdline", "-- /bin/nothing-here", config=_disk_config(tmp_path))
    assert "init: no such program '/bin/nothing-here'" in result.console
    assert result.status == 127


PIE_SOURCE = r"""
#include <pyos_user.h>
const char *words[] = {"pie", "relocated", 0};        /* absolute pointers in .data */
int (*volatile say)(const char *, ...) = printf;
int main(int argc, char **argv)
{
    say("%s says %s: argc %d, argv[1] %s\n", words[0], words[1], argc, argv[1]);
    return 0;
}
"""


def _build_pie(tmp_path):
    """A program and the C library compiled position-independent and linked as
    a static PIE: its absolute pointers become R_X86_64_RELATIVE relocations."""
    from vmm.build.user import USER_CFLAGS, library_sources
    flags = [f for f in USER_CFLAGS if f not in ("-fno-pic", "-fno-pie")] + ["-fPIE"]
    main = tmp_path / "pie.c"
    main.write_text(PIE_SOURCE)
    objs = []
    for i, src in enumerate([main, *library_sources()]):
        obj = tmp_path / f"{i}.o"
        subprocess.run(["gcc", *flags, "-c", str(src), "-o", str(obj)], check=True, capture_output=True)
        objs.append(str(obj))
    out = tmp_path / "pie.elf"
    subprocess.run(["ld", "-pie", "--no-dynamic-linker", "-z", "max-page-size=0x1000", "-z", "norelro",
                    "-e", "_start", "-o", str(out), *objs], check=True, capture_output=True)
    return out


def test_pie_program_is_relocated(tmp_path):
    pie = _build_pie(tmp_path)
    header = pie.read_bytes()[:18]
    assert header[16] == 3, "not an ET_DYN"
    relocs = subprocess.run(["readelf", "-r", str(pie)], capture_output=True, text=True).stdout
    assert "R_X86_64_RELATIVE" in relocs
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copyfile(pie, root / "bin" / "pie")
    result = boot("--cmdline", "-- pie loaded", config=_disk_config(tmp_path, source=root, programs=False))
    assert result.status == 0, result.console[-3000:]
    assert "pie says relocated: argc 2, argv[1] loaded" in result.console


def test_programs_key_is_validated():
    from vmm import config as config_mod
    from vmm.errors import ConfigError
    with pytest.raises(ConfigError) as e:
        config_mod.from_dict({"disk": [{"path": "a", "create": {"fs": "ext2", "size_mib": 8, "from": "d",
                                                                 "programs": "yes"}}]})
    assert "create.programs = 'yes': must be true or false" in str(e.value)


def test_default_root_image_has_every_program_and_the_kernel_only_a_few(kernel_elf):
    from vmm import config as config_mod
    from vmm.build.user import embedded
    from vmm.disks import open_disks
    from vmm.symbols import embedded_programs
    cfg = config_mod.load(REPO / "configs" / "default.toml")
    assert cfg.disks[0].create.programs
    images = open_disks(cfg)
    path = images[0].path
    for image in images:
        image.close()
    listing = subprocess.run(["debugfs", "-R", "ls -p /bin", str(path)], capture_output=True, text=True).stdout
    names = {src.stem for src in (REPO / "guest_kernel" / "user" / "programs").glob("*.c")}
    on_disk = {line.split("/")[5] for line in listing.splitlines() if line.count("/") >= 6}
    assert names <= on_disk, names - on_disk
    assert "/100755/" in listing                       # executable files
    assert set(embedded_programs(kernel_elf)) == {n for n in names if embedded(n)}
    assert {"init", "hello", "usertests", "wl_proc"} <= set(embedded_programs(kernel_elf))
