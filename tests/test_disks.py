"""Disk images: [[disk]] config, opening and locking, snapshots, durability, mkimage."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from vmm import config as config_mod
from vmm import mkimage
from vmm.devices import ata
from vmm.disks import DiskImage, open_disks
from vmm.errors import EXIT_CONFIG, ConfigError

from .conftest import REPO, vmm_command, write_config


def image_file(path, sectors=64, fill=b"\x5a"):
    path.write_bytes(fill * (512 * sectors))
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- config -----------------------------------------------------------------------------------
def test_disk_config_parses(tmp_path):
    cfg = config_mod.from_dict({"disk": [
        {"path": "a.img"},
        {"path": "b.img", "readonly": True, "snapshot": True,
         "create": {"fs": "fat32", "size_mib": 40, "from": "tree"}},
    ]}, source=tmp_path / "x.toml")
    assert [d.path for d in cfg.disks] == ["a.img", "b.img"]
    assert cfg.disks[1].readonly and cfg.disks[1].snapshot
    assert cfg.disks[1].create == config_mod.CreateConfig("fat32", 40, "tree")
    assert config_mod.from_dict({}).disks == []


@pytest.mark.parametrize("disk,message", [
    ({}, "[[disk]] #1 has no path"),
    ({"readonly": False}, "[[disk]] #1 has no path"),
    ({"path": 3}, "path = 3: must be a string"),
    ({"path": "a", "readonly": "yes"}, "readonly = 'yes': must be true or false"),
    ({"path": "a", "snapshot": 1}, "snapshot = 1: must be true or false"),
    ({"path": "a", "size": 3}, "unknown key 'size' in [[disk]] #1"),
    ({"path": "a", "create": "ext2"}, "create must be a table"),
    ({"path": "a", "create": {"fs": "ntfs", "size_mib": 8, "from": "d"}}, "create.fs = 'ntfs'"),
    ({"path": "a", "create": {"fs": "ext2", "size_mib": 0, "from": "d"}}, "create.size_mib = 0"),
    ({"path": "a", "create": {"fs": "ext2", "size_mib": 8}}, "create lacks from"),
    ({"path": "a", "create": {"fs": "ext2", "size_mib": 8, "from": "d", "x": 1}}, "unknown key 'x'"),
])
def test_disk_config_errors_name_the_key(disk, message):
    with pytest.raises(ConfigError) as e:
        config_mod.from_dict({"disk": [disk]})
    assert message in str(e.value)


def test_disk_config_shape_errors():
    with pytest.raises(ConfigError, match=r"array of tables, written \[\[disk\]\]"):
        config_mod.from_dict({"disk": {"path": "a"}})
    with pytest.raises(ConfigError, match="at most 4"):
        config_mod.from_dict({"disk": [{"path": str(i)} for i in range(5)]})


# -- opening images ---------------------------------------------------------------------------
def test_missing_image(tmp_path):
    with pytest.raises(ConfigError, match=r"disk image .*nope.img does not exist") as e:
        DiskImage(tmp_path / "nope.img")
    assert "mkimage" in e.value.hint


@pytest.mark.parametrize("size", [0, 100, 513, 4095])
def test_image_size_must_be_whole_sectors(tmp_path, size):
    path = tmp_path / "odd.img"
    path.write_bytes(b"\0" * size)
    with pytest.raises(ConfigError, match=f"is {size} bytes, not a whole number of 512-byte sectors"):
        DiskImage(path)


def test_image_must_be_a_file(tmp_path):
    with pytest.raises(ConfigError, match="not a regular file"):
        DiskImage(tmp_path)


def test_writable_image_is_locked(tmp_path):
    path = image_file(tmp_path / "a.img")
    first = DiskImage(path)
    try:
        for kwargs in ({}, {"readonly": True}, {"snapshot": True}):
            with pytest.raises(ConfigError, match=r"disk image .*a.img is locked") as e:
                DiskImage(path, **kwargs)
            assert "another VM" in str(e.value)
    finally:
        first.close()
    DiskImage(path).close()  # free again once closed


def test_readers_share_an_image_but_exclude_a_writer(tmp_path):
    path = image_file(tmp_path / "a.img")
    readers = [DiskImage(path, readonly=True), DiskImage(path, snapshot=True)]
    try:
        with pytest.raises(ConfigError, match="is locked"):
            DiskImage(path)
    finally:
        for r in readers:
            r.close()


def test_lock_holds_across_processes(tmp_path):
    path = image_file(tmp_path / "a.img")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from vmm.disks import DiskImage
        d = DiskImage({str(path)!r})
        print("locked", flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match="is locked"):
            DiskImage(path)
    finally:
        holder.communicate("", timeout=60)
    DiskImage(path).close()


def test_same_image_twice_in_one_config(tmp_path):
    image_file(tmp_path / "a.img")
    cfg = config_mod.from_dict({"disk": [{"path": "a.img"}, {"path": "a.img"}]}, source=tmp_path / "c.toml")
    with pytest.raises(ConfigError, match=r"\[\[disk\]\] #2 .*is locked"):
        open_disks(cfg)
    DiskImage(tmp_path / "a.img").close()  # the first one was closed again


def test_snapshot_leaves_the_image_byte_identical(tmp_path):
    path = image_file(tmp_path / "a.img", sectors=128)
    before = sha(path)
    img = DiskImage(path, snapshot=True)
    try:
        drive = ata.AtaDrive(img)
        channel = ata.AtaChannel("ata0", [drive])
        new = os.urandom(3 * 512)
        for reg, value in ((6, 0xE0), (2, 3), (3, 10), (4, 0), (5, 0), (7, 0x30)):
            channel.write(reg, 1, value)
        channel.write_block(0, 2, new)
        channel.write(7, 1, 0xE7)  # FLUSH CACHE
        assert channel.read(7, 1) == ata.DRDY | ata.DSC
        for reg, value in ((2, 5), (3, 9), (7, 0x20)):
            channel.write(reg, 1, value)
        got = channel.read_block(0, 2, 5 * 256)
        assert got == b"\x5a" * 512 + new + b"\x5a" * 512, "the guest sees its own writes"
    finally:
        img.close()
    assert sha(path) == before


def test_flushed_writes_survive_sigkill(tmp_path):
    path = image_file(tmp_path / "a.img", sectors=128)
    script = textwrap.dedent(f"""
        import sys, time
        from vmm.disks import DiskImage
        from vmm.devices.ata import AtaChannel, AtaDrive
        ch = AtaChannel("ata0", [AtaDrive(DiskImage({str(path)!r}))])
        for reg, value in ((6, 0xE0), (2, 2), (3, 7), (4, 0), (5, 0), (7, 0x30)):
            ch.write(reg, 1, value)
        ch.write_block(0, 2, bytes(range(256)) * 4)
        ch.write(7, 1, 0xE7)
        print("flushed", ch.read(7, 1), flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout.readline().split() == ["flushed", str(ata.DRDY | ata.DSC)]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    data = path.read_bytes()
    assert data[7 * 512:9 * 512] == bytes(range(256)) * 4
    assert data[:7 * 512] == b"\x5a" * 7 * 512 and data[9 * 512:] == b"\x5a" * 119 * 512
    DiskImage(path).close()  # the killed VMM's lock went with it


# -- mkimage ----------------------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    (root / "etc").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "etc" / "motd").write_text("hello from the host\n")
    (root / "A long file name.txt").write_bytes(os.urandom(70_000))
    (root / "big.bin").write_bytes(os.urandom(1_300_000))  # double-indirect blocks on 1 KiB ext2
    return root


def run_mkimage(*args):
    proc = subprocess.run(vmm_command("mkimage", *args), capture_output=True, text=True, cwd=REPO, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def tool_output(*argv, env=None):
    proc = subprocess.run(argv, capture_output=True, env=env)
    return proc.returncode, proc.stdout, proc.stderr.decode(errors="replace")


def test_mkimage_ext2(tmp_path, tree):
    image = tmp_path / "root.img"
    status, out, err = run_mkimage("--fs", "ext2", "--size", "8", "--from", tree, image)
    assert status == 0, err
    assert image.stat().st_size == 8 << 20
    rc, out, err = tool_output("e2fsck", "-fn", str(image))
    text = out.decode()
    assert rc == 0 and "clean" not in err and "Fix?" not in text and "wrong" not in text, text + err
    for name in ("etc/motd", "A long file name.txt", "big.bin"):
        rc, data, err = tool_output("debugfs", "-R", f"cat \"/{name}\"", str(image))
        assert data == (tree / name).read_bytes(), name
    rc, listing, err = tool_output("debugfs", "-R", "ls -l /empty", str(image))
    assert b".." in listing


def test_mkimage_fat32(tmp_path, tree):
    image = tmp_path / "fat.img"
    status, out, err = run_mkimage("--fs", "fat32", "--size", "40M", "--from", tree, image)
    assert status == 0, err
    rc, out, err = tool_output("fsck.fat", "-n", str(image))
    assert rc == 0 and b"files" in out and "Warning" not in err, out.decode() + err
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    for name in ("etc/motd", "A long file name.txt", "big.bin"):
        rc, data, err = tool_output("mtype", "-i", str(image), f"::/{name}", env=env)
        assert data == (tree / name).read_bytes(), name + err
    rc, listing, err = tool_output("mdir", "-i", str(image), "-b", "::/", env=env)
    assert b"::/empty/" in listing and b"::/A long file name.txt" in listing


def test_mkimage_errors(tmp_path, tree):
    image = tmp_path / "x.img"
    image.write_bytes(b"keep")
    status, out, err = run_mkimage("--fs", "ext2", "--size", "8", "--from", tree, image)
    assert status == EXIT_CONFIG and "already exists; not overwriting it" in err and "--force" in err
    assert image.read_bytes() == b"keep"
    status, out, err = run_mkimage("--fs", "ext2", "--size", "8", "--from", tree, image, "--force")
    assert status == 0 and image.stat().st_size == 8 << 20
    for size, words in (("lots", "not a number of MiB"), ("0", "out of range"), ("16", "out of range")):
        status, out, err = run_mkimage("--fs", "fat32", "--size", size, "--from", tree, tmp_path / "y.img")
        assert status == EXIT_CONFIG and words in err, err
    status, out, err = run_mkimage("--fs", "ext2", "--size", "1", "--from", tree, tmp_path / "z.img")
    assert status == EXIT_CONFIG and "do not fit in a 1 MiB ext2 image" in err, err
    status, out, err = run_mkimage("--fs", "ext2", "--size", "8", "--from", tmp_path / "nodir", tmp_path / "z.img")
    assert status == EXIT_CONFIG and "not a folder" in err
    status, out, err = run_mkimage("--fs", "ext2", "--size", "8", tmp_path / "z.img")
    assert status == 2 and "the following arguments are required: --from" in err, "a usage error"
    status, out, err = run_mkimage("--fs", "ntfs", "--size", "8", "--from", tree, tmp_path / "z.img")
    assert status == 2 and "invalid choice: 'ntfs'" in err
    assert not (tmp_path / "z.img").exists() and not (tmp_path / "y.img").exists()
    assert "Traceback" not in err


def test_mkimage_names_the_package_of_a_missing_tool(tmp_path, tree, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(mkimage, "TOOL_DIRS", [])
    with pytest.raises(mkimage.MkimageError) as e:
        mkimage.make_image(tmp_path / "a.img", "ext2", 8, tree)
    assert "mke2fs is not installed" in e.value.message and "e2fsprogs" in e.value.hint
    with pytest.raises(mkimage.MkimageError) as e:
        mkimage.make_image(tmp_path / "a.img", "fat32", 40, tree)
    assert "dosfstools" in e.value.hint


def test_config_create_makes_a_missing_image(tmp_path, tree):
    cfg = config_mod.from_dict({"disk": [{"path": "made.img", "snapshot": True,
                                          "create": {"fs": "ext2", "size_mib": 4, "from": "tree"}}]},
                               source=tmp_path / "c.toml")
    images = open_disks(cfg)
    try:
        assert images[0].sectors == 4 << 11
    finally:
        images[0].close()
    rc, data, err = tool_output("debugfs", "-R", "cat /etc/motd", str(tmp_path / "made.img"))
    assert data == b"hello from the host\n"
    cfg.disks[0].create.size_mib = 1  # an existing image is used as it is, not remade
    open_disks(cfg)[0].close()
    bad = config_mod.from_dict({"disk": [{"path": "other.img",
                                          "create": {"fs": "ext2", "size_mib": 1, "from": "tree"}}]},
                               source=tmp_path / "c.toml")
    with pytest.raises(ConfigError, match=r"\[\[disk\]\] #1 .*cannot create the image: .*do not fit"):
        open_disks(bad)


# -- through the VMM --------------------------------------------------------------------------
def test_vmm_refuses_a_bad_image_before_boot(tmp_path):
    (tmp_path / "odd.img").write_bytes(b"\0" * 1000)
    config = write_config(tmp_path, '[serial]\ninput = "none"\n[[disk]]\npath = "odd.img"\n')
    proc = subprocess.run(vmm_command("--config", config, "--cmdline", "exit=0"), capture_output=True,
                          text=True, cwd=REPO, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == EXIT_CONFIG
    assert "odd.img is 1000 bytes, not a whole number of 512-byte sectors" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_snapshot_disk_is_remade_when_its_folder_changes(tmp_path, tree):
    cfg = config_mod.from_dict({"disk": [
        {"path": "snap.img", "snapshot": True, "create": {"fs": "ext2", "size_mib": 4, "from": "tree"}},
        {"path": "keep.img", "create": {"fs": "ext2", "size_mib": 4, "from": "tree"}}]},
        source=tmp_path / "c.toml")
    for image in open_disks(cfg):
        image.close()
    past = os.stat(tmp_path / "snap.img").st_mtime - 100
    for name in ("snap.img", "keep.img"):
        os.utime(tmp_path / name, (past, past))
    (tree / "etc" / "motd").write_text("changed\n")
    for image in open_disks(cfg):
        image.close()
    rc, data, err = tool_output("debugfs", "-R", "cat /etc/motd", str(tmp_path / "snap.img"))
    assert data == b"changed\n", "the snapshot disk was remade"
    rc, data, err = tool_output("debugfs", "-R", "cat /etc/motd", str(tmp_path / "keep.img"))
    assert data == b"hello from the host\n", "a writable disk keeps what it has"


def test_default_config_has_a_generated_root_disk():
    cfg = config_mod.load(REPO / "configs" / "default.toml")
    assert len(cfg.disks) == 1 and cfg.disks[0].snapshot and cfg.disks[0].create.fs == "ext2"
    assert cfg.resolve(cfg.disks[0].create.source).is_dir()


def test_coalesced_pio_key():
    assert config_mod.from_dict({}).machine.coalesced_pio is True
    assert config_mod.from_dict({"machine": {"coalesced_pio": False}}).machine.coalesced_pio is False
    with pytest.raises(ConfigError, match=r"\[machine\] coalesced_pio = 'no': must be true or false"):
        config_mod.from_dict({"machine": {"coalesced_pio": "no"}})


def test_second_vm_cannot_open_a_writable_image_in_use(tmp_path):
    image = image_file(tmp_path / "shared.img", sectors=2048)
    config = write_config(tmp_path, '[serial]\ninput = "none"\n[[disk]]\npath = "shared.img"\n')
    first = subprocess.Popen(vmm_command("--config", config, "--cmdline", "idle=1"), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        banner = first.stdout.readline()  # the guest is running: its disks are open and locked
        assert "pyos" in banner, banner + first.stderr.read() if first.poll() is not None else banner
        second = subprocess.run(vmm_command("--config", config, "--cmdline", "exit=0"), capture_output=True,
                                text=True, cwd=REPO, timeout=120, stdin=subprocess.DEVNULL)
        assert second.returncode == EXIT_CONFIG, second.stderr
        assert f"disk image {image} is locked" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130
    after = subprocess.run(vmm_command("--config", config, "--cmdline", "exit=0"), capture_output=True,
                           text=True, cwd=REPO, timeout=120, stdin=subprocess.DEVNULL)
    assert after.returncode == 0, after.stderr


def test_created_disk_without_path_is_cached_by_content(tmp_path, tree, monkeypatch):
    monkeypatch.setenv("PYOS_CACHE_DIR", str(tmp_path / "cache"))
    cfg = config_mod.from_dict({"disk": [{"snapshot": True,
                                          "create": {"fs": "ext2", "size_mib": 4, "from": "tree"}}]},
                               source=tmp_path / "c.toml")
    first = open_disks(cfg)[0]
    first.close()
    assert first.path.parent == tmp_path / "cache" / "disks"
    again = open_disks(cfg)[0]
    again.close()
    assert again.path == first.path, "an unchanged folder reuses the image"
    (tree / "etc" / "motd").write_text("changed\n")
    changed = open_disks(cfg)[0]
    changed.close()
    assert changed.path != first.path
    rc, data, err = tool_output("debugfs", "-R", "cat /etc/motd", str(changed.path))
    assert data == b"changed\n"
    with pytest.raises(ConfigError, match=r"#1 has no path: its image is made in the cache") as e:
        config_mod.from_dict({"disk": [{"create": {"fs": "ext2", "size_mib": 4, "from": "tree"}}]})
    assert "snapshot = true" in e.value.hint
    bad = config_mod.from_dict({"disk": [{"readonly": True, "create": {"fs": "ext2", "size_mib": 4,
                                                                        "from": "nowhere"}}]},
                               source=tmp_path / "c.toml")
    with pytest.raises(ConfigError, match="create.from .*nowhere is not a folder"):
        open_disks(bad)
