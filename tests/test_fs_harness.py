"""The filesystem plugin subsystem: config, build (fs_plugins[]), and the host fs harness.

tinyfs (tests/fs_tinyfs/) is a small test-only plugin: it proves the harness
and the build machinery before, and independently of, the real plugins.
"""

from __future__ import annotations

import subprocess
import zlib
from pathlib import Path

import pytest

from vmm import errors
from vmm.build.kernel import build_kernel, read_symbol
from vmm.config import from_dict
from vmm.errors import ConfigError, KernelError
from vmm.harness.fs import pattern, run_fs_script
from vmm.plugins import Plugin
from vmm.plugins.manager import discover, select

from .conftest import REPO, vmm_command, write_config

TINYFS = Plugin("filesystems", "tinyfs", "0", 1, [REPO / "tests" / "fs_tinyfs" / "tinyfs.c"], provider="test")
BS, EXTENT = 1024, 16


def tiny_image(path: Path, blocks: int = 600) -> Path:
    data = bytearray(BS * blocks)
    data[0:8] = b"TINYFS01"
    data[8:12] = blocks.to_bytes(4, "little")
    path.write_bytes(data)
    return path


def tiny_file(image: Path, name: str) -> bytes:
    """Read a file straight out of a tinyfs image (the host's independent view)."""
    data = image.read_bytes()
    for i in range(32):
        entry = data[BS + 32 * i: BS + 32 * i + 32]
        if entry[:20].rstrip(b"\0") == name.encode():
            size = int.from_bytes(entry[24:28], "little")
            start = (2 + i * EXTENT) * BS
            return data[start:start + size]
    raise FileNotFoundError(name)


def run(image, script, **kw):
    result = run_fs_script([TINYFS], image, script, **kw)
    assert "AddressSanitizer" not in result.stderr and "runtime error" not in result.stderr, result.stderr
    return result


def test_harness_runs_operations_and_the_image_holds_the_result(tmp_path):
    image = tiny_image(tmp_path / "t.img")
    host = tmp_path / "host.bin"
    host.write_bytes(bytes(range(256)) * 20)
    result = run(image, f"""
        mount
        write /hello.txt hello\\nworld
        append /hello.txt !
        cat /hello.txt
        fill /big 15000 3
        check /big 15000 3
        put {host} /fromhost
        get /fromhost {tmp_path / 'back.bin'}
        !ENOSPC fill /toobig 17000
        !EPERM mkdir /dir
        !ENOENT cat /missing
        !EEXIST rename /nothere /x
        rename /big /big2
        !ENOENT stat /big
        truncate /fromhost 100
        unlink /toobig
        tree /
        statfs
        unmount
    """.replace("!EEXIST rename /nothere /x", "!ENOENT rename /nothere /x"))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "mounted tinyfs" in out
    assert "hello\nworld!" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("/")}
    assert lines["/hello.txt"] == ["f", "12", f"{zlib.crc32(b'hello' + bytes([10]) + b'world!'):08x}"]
    assert lines["/big2"] == ["f", "15000", f"{zlib.crc32(pattern(15000, 3)):08x}"]
    assert "/toobig" not in lines
    assert (tmp_path / "back.bin").read_bytes() == host.read_bytes()
    # After unmount the image itself, read by the host, holds what was written.
    assert tiny_file(image, "hello.txt") == b"hello\nworld!"
    assert tiny_file(image, "big2") == pattern(15000, 3)
    assert tiny_file(image, "fromhost") == host.read_bytes()[:100]
    assert "type=tinyfs block_size=1024 blocks=512 free=464 files=32 files_free=29" in out


def test_unexpected_errors_and_bad_scripts_fail_the_run(tmp_path):
    image = tiny_image(tmp_path / "t.img")
    result = run(image, "mount\ncat /missing\n")
    assert result.returncode == 1
    assert "cat /missing: error ENOENT" in result.stdout
    result = run(image, "mount\n!ENOENT write /now-exists x\n")
    assert result.returncode == 1
    assert "succeeded, expected error ENOENT" in result.stdout
    result = run(image, "frobnicate /x\n")
    assert result.returncode == 1 and "unknown operation 'frobnicate'" in result.stdout


def test_unrecognised_image_is_refused_by_every_plugin(tmp_path):
    image = tmp_path / "zero.img"
    image.write_bytes(bytes(BS * 64))
    result = run(image, "!EINVAL mount\n!ENODEV ls /\n")
    assert result.returncode == 0, result.stdout


def test_device_errors_come_back_as_eio_not_a_crash(tmp_path):
    image = tiny_image(tmp_path / "t.img")
    # request 1: the superblock (mount); 2: the directory block and, read ahead
    # with it (sequential after block 0), the data blocks cat would need
    run(image, "mount\nwrite /f abc\nunmount\n")
    result = run(image, "mount\n!EIO cat /f\nstats\n", fail_request=2)
    assert result.returncode == 0, result.stdout
    assert "reading block" in result.stdout and "errors=1" in result.stdout


def test_write_back_cache_writes_only_at_sync(tmp_path):
    image = tiny_image(tmp_path / "t.img")
    result = run(image, "mount\nfill /f 8192 1\nstats\nsync\nstats\n")
    stats = [dict(kv.split("=") for kv in line.split()) for line in result.stdout.splitlines()
             if line.startswith("reads=")]
    assert stats[0]["writes"] == "0" and stats[0]["flushes"] == "0"
    # 8 data blocks + the directory, consecutive: one write-back request
    assert stats[1]["writes"] == "1" and stats[1]["flushes"] == "1"
    assert int(stats[1]["sectors_written"]) == 9 * 2
    assert tiny_file(image, "f") == pattern(8192, 1)


def test_readonly_image_refuses_writes_at_sync(tmp_path):
    image = tiny_image(tmp_path / "t.img")
    before = image.read_bytes()
    result = run(image, "mount\nwrite /f abc\n!EIO sync\n", readonly=True)
    assert "writing block" in result.stdout
    assert image.read_bytes() == before


def test_filesystems_config_key_is_validated():
    assert from_dict({"kernel": {"filesystems": ["ext2"]}}).kernel.filesystems == ["ext2"]
    assert from_dict({}).kernel.filesystems is None
    for bad, message in [("ext2", "must be a list of plugin names"), ([1], "must be a list of plugin names"),
                         (["ext2", "ext2"], "names 'ext2' more than once")]:
        with pytest.raises(ConfigError) as info:
            from_dict({"kernel": {"filesystems": bad}})
        assert "[kernel] filesystems" in str(info.value) and message in str(info.value)


def test_unknown_filesystem_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        select({"filesystems": ["ntfs"]})
    assert "[kernel] filesystems = 'ntfs': no such filesystems plugin is installed" in str(info.value)
    cfg = write_config(tmp_path, '[kernel]\nfilesystems = ["ntfs"]\n')
    out = subprocess.run(vmm_command("build", "--config", cfg), capture_output=True, text=True, cwd=REPO)
    assert out.returncode == errors.EXIT_CONFIG and "ntfs" in out.stderr and "Traceback" not in out.stderr


def test_default_is_every_installed_builtin_filesystem():
    installed = discover()["filesystems"]
    chosen = [p.name for p in select({}) if p.subsystem == "filesystems"]
    assert chosen == [n for n in ("ext2", "fat32") if n in installed]
    assert [p.name for p in select({"filesystems": []}) if p.subsystem == "filesystems"] == []


def test_kernel_links_the_fs_plugin_table():
    plugins = [p for p in select({}) if p.subsystem != "filesystems"] + [TINYFS]
    elf = build_kernel(plugins)
    address, table = read_symbol(elf, "fs_plugins", 16)
    plugin_address, ops = read_symbol(elf, "fs_plugin_tinyfs", 4)
    assert int.from_bytes(table[:8], "little") == plugin_address
    assert int.from_bytes(table[8:16], "little") == 0
    assert int.from_bytes(ops, "little") == 1


def test_fs_plugin_without_its_symbol_or_with_a_wrong_version_is_refused(tmp_path):
    base = [p for p in select({}) if p.subsystem != "filesystems"]
    empty = tmp_path / "empty.c"
    empty.write_text("int nothing = 1;\n")
    with pytest.raises(KernelError) as info:
        build_kernel(base + [Plugin("filesystems", "empty", "0", 1, [empty], provider="test")])
    assert "filesystems plugin 'empty' (from test) does not define fs_plugin_empty" in str(info.value)
    wrong = tmp_path / "wrong.c"
    wrong.write_text("#include <pyos/fs.h>\nconst struct fs_ops fs_plugin_wrong = {.interface_version = 9};\n")
    with pytest.raises(KernelError) as info:
        build_kernel(base + [Plugin("filesystems", "wrong", "0", 1, [wrong], provider="test")])
    assert "fs_plugin_wrong.interface_version is 9, the kernel expects 1" in str(info.value)


def test_cli_fs_harness_errors_are_clear(tmp_path):
    out = subprocess.run(vmm_command("harness", "--fs", "nope", "--image", tmp_path / "x.img", tmp_path / "s"),
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == errors.EXIT_CONFIG and "does not exist" in out.stderr
    (tmp_path / "x.img").write_bytes(bytes(4096))
    (tmp_path / "s").write_text("mount\n")
    out = subprocess.run(vmm_command("harness", "--fs", "nope", "--image", tmp_path / "x.img", tmp_path / "s"),
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == errors.EXIT_CONFIG and "--fs nope: no such filesystem plugin" in out.stderr


def test_plugins_command_lists_filesystems():
    out = subprocess.run(vmm_command("plugins"), capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0
    assert "filesystems (interface 1, pyos/fs.h, symbol fs_plugin_{name}, several at once):" in out.stdout
