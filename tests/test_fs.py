"""Files in the guest: ATA driver, buffer cache, VFS and system calls, under
every filesystem plugin installed (ext2, fat32), in VMs booted by pyos-vmm.

The host builds the image from a folder with the real tools (vmm/mkimage.py),
the guest's `fstest` program works on it through the system calls, and after
power-off the host's own tools judge the result: the tree extracted by
debugfs rdump / mcopy must be exactly what the test expects, and
e2fsck -fn / fsck.fat -n must report a clean filesystem (their output is
checked line by line, not just the exit status).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from vmm.harness.fs import pattern
from vmm.mkimage import make_image
from vmm.plugins.manager import discover

from .conftest import REPO, boot, write_config

FILESYSTEMS = [fs for fs in ("ext2", "fat32") if fs in discover()["filesystems"]]
TOOLS = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
E2FSCK_OK = re.compile(r"^(e2fsck [\d.]+ \(.*\)|Pass [1-5]: .*|\S+: \d+/\d+ files \(.*\), \d+/\d+ blocks)$")
MTOOLS_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1")


def tool(name: str) -> str:
    path = shutil.which(name, path=os.pathsep.join(TOOLS))
    assert path, f"{name} is needed (apt-get install e2fsprogs dosfstools mtools)"
    return path


def image_from(tmp_path: Path, fs: str, files: dict[str, bytes], size_mib: int = 0, name: str = "disk.img",
               **kw) -> Path:
    """An image of `fs` holding `files` (path -> bytes; None: a directory)."""
    src = tmp_path / f"src-{name}"
    src.mkdir()
    for path, data in files.items():
        target = src / path.lstrip("/")
        if data is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return make_image(tmp_path / name, fs, size_mib or (40 if fs == "fat32" else 16), src, **kw)


def guest(tmp_path: Path, images: list[Path], cmdline: str, *args, timeout: float = 600):
    disks = "".join(f'[[disk]]\npath = "{img}"\n' for img in images)
    config = write_config(tmp_path, f'[serial]\ninput = "none"\n{disks}')
    return boot("--cmdline", cmdline, *args, config=config, timeout=timeout)


def fsck_clean(fs: str, image: Path):
    if fs == "ext2":
        r = subprocess.run([tool("e2fsck"), "-fn", str(image)], capture_output=True, text=True)
        out = r.stdout + r.stderr
        stray = [line for line in out.splitlines() if line.strip() and not E2FSCK_OK.match(line.strip())]
    else:
        r = subprocess.run([tool("fsck.fat"), "-n", str(image)], capture_output=True, text=True)
        out = r.stdout + r.stderr
        lines = [line for line in out.splitlines() if line.strip()]
        stray = [line for line in lines if not (line.startswith("fsck.fat ") or " files, " in line)]
    assert r.returncode == 0 and not stray, out


def extract(fs: str, image: Path, dest: Path) -> dict[str, bytes | None]:
    """What the host's own tools find on the image: path -> bytes, None for a directory."""
    dest.mkdir()
    if fs == "ext2":
        r = subprocess.run([tool("debugfs"), "-R", f"rdump / {dest}", str(image)], capture_output=True, text=True)
    else:
        r = subprocess.run([tool("mcopy"), "-s", "-n", "-i", str(image), "::/*", str(dest)], capture_output=True,
                           text=True, env=MTOOLS_ENV)
    assert r.returncode == 0, r.stderr
    tree: dict[str, bytes | None] = {}
    for p in sorted(dest.rglob("*")):
        tree["/" + p.relative_to(dest).as_posix()] = None if p.is_dir() else p.read_bytes()
    return {k: v for k, v in tree.items() if not k.startswith("/lost+found")}


def listed_tree(console: str) -> dict[str, tuple[str, int, str]]:
    """fstest tree's lines: path -> (type, size, crc)."""
    tree = {}
    for line in console.splitlines():
        m = re.fullmatch(r"(/.*) ([df]) (\d+) ([0-9a-f]{1,8})", line.strip())
        if m:
            tree[m[1]] = (m[2], int(m[3]), m[4] if m[2] == "f" else "0")
    return {k: v for k, v in tree.items() if not k.startswith("/lost+found")}


def summary(files: dict[str, bytes | None]) -> dict[str, tuple[str, int, str]]:
    """What `fstest tree /` prints for these files (their folders included)."""
    out = {p: ("d", 0, "0") if d is None else ("f", len(d), f"{zlib.crc32(d):08x}") for p, d in files.items()}
    for p in files:
        parts = p.strip("/").split("/")
        for i in range(1, len(parts)):
            out["/" + "/".join(parts[:i])] = ("d", 0, "0")
    return out


def assert_ok(result, what="fstest"):
    assert "KERNEL PANIC" not in result.console and "Traceback" not in result.stderr, result.console[-4000:]
    assert f"{what}: ok" in result.console, result.console[-6000:] + result.stderr[-2000:]
    assert result.status == 0, result.stderr[-2000:]


HOST_FILES = {
    "/empty": b"",
    "/one": b"1",
    "/docs": None,
    "/docs/readme.txt": b"pyos reads files the host put here.\n" * 3,
    "/docs/A Long File Name.text": b"long names survive\n",
    "/docs/deep/er/still": b"nested three levels\n",
    "/block": pattern(1024, 1),
    "/block-and-one": pattern(4097, 2),
    "/indirect": pattern(300 * 1024 + 17, 3),      # ext2 1 KiB blocks: single and double indirect
    "/big": pattern(1100 * 1024 + 5, 4),           # over 1 MiB: a long FAT cluster chain
}


def block_stats(stderr: str, device: str) -> dict[str, int]:
    """The guest's per-disk counters from --stats (the metrics' names:
    pyos_guest_blk_<field>_total, "none" when every device's value is 0)."""
    out = {}
    for field, values in re.findall(r"^pyos_guest_blk_(\w+)_total  (.*)$", stderr, re.M):
        found = re.search(rf"device={device} (\d+)", values)
        out[field] = int(found[1]) if found else 0
    assert out, stderr
    return out


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_host_files_are_read_byte_exact(tmp_path, fs):
    image = image_from(tmp_path, fs, HOST_FILES)
    result = guest(tmp_path, [image], "-- fstest tree /", "--stats")
    assert_ok(result)
    assert f"vfs: hda ({fs}) mounted on /" in result.console
    assert listed_tree(result.console) == summary(HOST_FILES)
    # The reads went through the buffer cache and the ATA driver, counted per device.
    blk = block_stats(result.stderr, "hda")
    assert blk["reads"] > 0 and blk["sectors_read"] >= 1100 * 1024 // 512 and blk["hits"] > 0
    assert blk["writes"] == 0 or fs == "ext2"   # a read-only workload writes nothing (ext2 may stamp atimes)


WORK_SCRIPT = """
mkdir /work
mkdir /work/a
mkdir /work/a/b
mkdir /work/a/b/c
write /work/a/b/c/deep.txt deep\\n
write /work/hello.txt hello
append /work/hello.txt , world\\n
fill /work/big.bin 1050000 7
fill /work/trunc.bin 100000 3
truncate /work/trunc.bin 70000
fill /work/grow.bin 1000 1
truncate /work/grow.bin 5000
write /work/old.txt renamed\\n
rename /work/old.txt /work/new.txt
!ENOENT stat /work/old.txt
mkdir /work/gone
write /work/gone/x x
!ENOTEMPTY rmdir /work/gone
unlink /work/gone/x
rmdir /work/gone
mkdir /work/many
mkfiles /work/many {files} file
rmfiles /work/many 50 file
!ENOTEMPTY rmdir /work/many
write /work/del.txt bye
unlink /work/del.txt
!ENOENT cat /work/del.txt
mkdir /work/d2
rename /work/a/b/c /work/d2/c
pwrite /work/hole.bin 100000 end
write /work/replace.txt old
write /work/target.txt target
rename /work/replace.txt /work/target.txt
append /host.txt , and the guest\\n
unlink /gone-host.txt
tree /
"""


# Files in one directory: FAT's short-name generation scans the directory for
# each new name, which the emulated kernel pays for quadratically; the host
# harness tests (test_fs_fat32.py) cover larger directories natively.
MANY = {"ext2": 200, "fat32": 110}


def work_script(fs: str) -> str:
    return WORK_SCRIPT.replace("{files}", str(MANY[fs]))


def work_expected(fs: str) -> dict[str, bytes | None]:
    tree = {
        "/host.txt": b"from the host, and the guest\n",
        "/script": work_script(fs).encode(),
        "/work": None, "/work/a": None, "/work/a/b": None, "/work/d2": None, "/work/d2/c": None,
        "/work/d2/c/deep.txt": b"deep\n",
        "/work/hello.txt": b"hello, world\n",
        "/work/big.bin": pattern(1050000, 7),
        "/work/trunc.bin": pattern(100000, 3)[:70000],
        "/work/grow.bin": pattern(1000, 1) + bytes(4000),
        "/work/new.txt": b"renamed\n",
        "/work/many": None,
        "/work/hole.bin": bytes(100000) + b"end",
        "/work/target.txt": b"old",
    }
    for i in range(50, MANY[fs]):
        tree[f"/work/many/file{i}"] = f"file{i}\n".encode()
    return tree


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_guest_writes_a_tree_the_host_tools_find_exactly(tmp_path, fs):
    image = image_from(tmp_path, fs, {"/script": work_script(fs).encode(), "/host.txt": b"from the host",
                                      "/gone-host.txt": b"deleted by the guest"})
    result = guest(tmp_path, [image], "-- fstest run /script", timeout=1200)
    assert_ok(result)
    expected = work_expected(fs)
    assert listed_tree(result.console) == summary(expected)   # the guest's own view, before power-off
    assert "vfs: synced for power-off" in result.console
    fsck_clean(fs, image)
    assert extract(fs, image, tmp_path / "out") == expected   # the host's view, after power-off


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_error_cases_relative_paths_and_dev(tmp_path, fs):
    image = image_from(tmp_path, fs, {"/keep": b"keep"})
    result = guest(tmp_path, [image], "-- fstest errors /scratch")
    assert "errors: 0 failures" in result.console, result.console[-6000:]
    assert_ok(result)
    fsck_clean(fs, image)
    assert extract(fs, image, tmp_path / "out") == {"/keep": b"keep"}


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_full_disk_gives_enospc_and_a_clean_filesystem(tmp_path, fs):
    # The host fills most of the image, so the guest reaches the end quickly.
    size = 40 if fs == "fat32" else 8
    filler = os.urandom((size - 3) << 20)   # not zeros: mke2fs -d would leave holes
    script = "enospc /full.bin\nunlink /full.bin\nwrite /after.txt still works\\n\nstat /filler\n"
    files = {"/filler": filler, "/script": script.encode()}
    image = image_from(tmp_path, fs, files, size_mib=size)
    result = guest(tmp_path, [image], "-- fstest run /script")
    assert re.search(r"enospc: /full.bin: \d+ bytes written, then ENOSPC", result.console), result.console[-4000:]
    assert_ok(result)
    fsck_clean(fs, image)
    tree = extract(fs, image, tmp_path / "out")
    assert tree["/after.txt"] == b"still works\n" and "/full.bin" not in tree and tree["/filler"] == filler


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_two_disks_second_mounted_by_path(tmp_path, fs):
    other = "fat32" if fs == "ext2" else "ext2"
    if other not in FILESYSTEMS:
        pytest.fail(f"this test needs both filesystem plugins; {other} is not installed")
    root = image_from(tmp_path, fs, {"/from-root.bin": pattern(70000, 9)}, name="root.img")
    second = image_from(tmp_path, other, {"/data": None, "/data/there.txt": b"on the second disk\n"},
                        name="second.img")
    script = "cp /from-root.bin /mnt/copied.bin\ncp /mnt/data/there.txt /back.txt\nstatfs /mnt\ntree /mnt\n"
    root2 = image_from(tmp_path, fs, {"/from-root.bin": pattern(70000, 9), "/mnt": None, "/script": script.encode()},
                       name="root2.img")
    root.unlink()
    result = guest(tmp_path, [root2, second], "mount=hdb:/mnt -- fstest run /script")
    assert_ok(result)
    assert f"vfs: hdb ({other}) mounted on /mnt" in result.console
    assert f"type={other}" in result.console
    fsck_clean(fs, root2)
    fsck_clean(other, second)
    assert extract(other, second, tmp_path / "o2")["/copied.bin"] == pattern(70000, 9)
    assert extract(fs, root2, tmp_path / "o1")["/back.txt"] == b"on the second disk\n"


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_corrupted_superblock_is_refused_without_a_crash(tmp_path, fs):
    image = image_from(tmp_path, fs, {"/x": b"x"})
    data = bytearray(image.read_bytes())
    if fs == "ext2":
        data[1024 + 56:1024 + 58] = b"\0\0"          # s_magic 0xEF53 gone
    else:
        data[510:512] = b"\0\0"                      # boot sector signature gone
        data[82:90] = b"NOTAFAT "
    image.write_bytes(data)
    result = guest(tmp_path, [image], "-- fstest ls /")
    assert "vfs: hda: no root filesystem there" in result.console, result.console[-3000:]
    assert "dev d 0" in result.console
    assert_ok(result)


def test_directory_entry_past_the_inode_table_gives_an_error(tmp_path):
    if "ext2" not in FILESYSTEMS:
        pytest.fail("ext2 plugin not installed")
    image = image_from(tmp_path, "ext2", {"/victim": b"v" * 100, "/fine": b"fine"})
    # Find the root directory's block and point victim's entry at inode 10 million.
    out = subprocess.run([tool("debugfs"), "-R", "blocks <2>", str(image)], capture_output=True, text=True).stdout
    block = int(out.split()[0])
    data = bytearray(image.read_bytes())
    at = data.index(b"victim", block * 1024) - 8
    data[at:at + 4] = (10_000_000).to_bytes(4, "little")
    image.write_bytes(data)
    result = guest(tmp_path, [image], "-- fstest cat /victim")
    assert "KERNEL PANIC" not in result.console
    assert re.search(r"fstest: cat: error E[A-Z]+", result.console), result.console[-3000:]
    assert result.status == 1
    result = guest(tmp_path, [image], "-- fstest cat /fine")
    assert "fine" in result.console and result.status == 0


@pytest.mark.qemu
@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_qemu_ide_reads_the_same_files(tmp_path, fs, kernel_elf):
    """The same kernel on QEMU's IDE model: the driver follows the hardware, not our model of it."""
    image = image_from(tmp_path, fs, HOST_FILES)
    cmd = [shutil.which("qemu-system-x86_64"), "-machine", "pc", "-accel", "tcg", "-m", "128", "-nographic",
           "-nodefaults", "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           "-kernel", str(kernel_elf), "-append", "-- fstest tree /",
           "-drive", f"file={image},format=raw,if=ide"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    console = proc.stdout.replace("\r\n", "\n")
    assert "fstest: ok" in console, console[-4000:]
    assert "'QEMU HARDDISK'" in console
    assert listed_tree(console) == summary(HOST_FILES)
    assert proc.returncode == 1   # status 0 through isa-debug-exit


def test_third_disk_on_the_secondary_channel(tmp_path):
    fs = FILESYSTEMS[0]
    # hdc by the kernel's mount= word, hdb by the mount system call (fstest's mount)
    script = b"mount hdb /m2\ncat /m2/b\ncat /mnt/on-hdc.txt\n!EBUSY mount hdb /mnt\n"
    images = [image_from(tmp_path, fs, {"/mnt": None, "/m2": None, "/script": script}, name="a.img"),
              image_from(tmp_path, fs, {"/b": b"on hdb\n"}, name="b.img"),
              image_from(tmp_path, fs, {"/on-hdc.txt": b"third disk\n"}, name="c.img")]
    result = guest(tmp_path, images, "mount=hdc:/mnt -- fstest run /script")
    assert "ata: hdc: secondary master" in result.console, result.console[-3000:]
    assert f"vfs: hdc ({fs}) mounted on /mnt" in result.console
    assert f"vfs: hdb ({fs}) mounted on /m2" in result.console
    assert "third disk" in result.console and "on hdb" in result.console
    assert_ok(result)
