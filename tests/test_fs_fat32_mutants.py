"""The fat32 plugin (FAT32 and FAT16) on fixed, repeatable workloads, judged by
the host's own tools (fsck.fat, mtools, the FAT copies, FSInfo): the tests
`python -m mutation fs` runs for every mutant of fat_table.c, fat_dir.c and
fat_ops.c (the random-seeded workloads of test_fs_fat32.py are too long and
not repeatable for that). A compile-time check and the broad workloads come first, since the
mutation run stops at the first failure.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from . import test_fs_ext2 as e2
from . import test_fs_fat32 as fat
from vmm.harness.fs import pattern, run_fs_script
from .test_fs_ext2_mutants import (ALLOC_SCRIPT, IO_SCRIPT, alloc_failure_sweep, each_failed_request, io_error_sweep,
                                   statfs_counts)

FSCK_FAT_SUMMARY = re.compile(r": (\d+) files, (\d+)/(\d+) clusters")


def fat_counts(image):
    """(clusters, free clusters) as fsck.fat counts them."""
    fat.fsck_clean(image)
    r = subprocess.run(["fsck.fat", "-n", str(image)], capture_output=True, text=True)
    _, used, total = map(int, FSCK_FAT_SUMMARY.search(r.stdout).groups())
    return total, total - used


# A compile-time check first: the quickest to fail.
def test_fat_functions_all_return_a_value():
    """Every path of a non-void function returns a value (falling off the end is
    undefined behaviour in C, whatever a given build happens to return):
    the plugin compiles with -Werror=return-type."""
    from vmm.harness.fs import return_type_errors
    assert return_type_errors(fat.filesystem_plugin("fat32")) == ""


@pytest.mark.parametrize("layout,seed", [("fat32-512", 16), ("fat16", 17), ("fat32-4k", 18)])
def test_fat_workload(tmp_path, layout, seed):
    """A fixed workload: long and short names, files growing and shrinking across
    cluster and block boundaries, renames across directories, with a remount in
    the middle; afterwards fsck.fat finds nothing, the FAT copies agree, FSInfo's
    free count is exact, mtools extracts exactly the model's tree, and statfs
    counted the free clusters fsck.fat counts."""
    src = fat.host_folder(tmp_path / "src")
    image = fat.layout_image(tmp_path, layout)
    fat.mcopy_in(image, src)
    w = fat.Workload(seed)
    w.model.update(fat.host_tree(src))
    w.lines += ["mkdir /deep", "mkfiles /deep 40 a_long_file_name_", "fill /deep/big 300000 7",
                "truncate /deep/big 70000", "rename /sub /deep/sub_moved", "rename /hello.txt /Hello.TXT"]
    for i in range(40):
        w.model[f"/deep/a_long_file_name_{i}"] = f"a_long_file_name_{i}\n".encode()
    w.model["/deep"] = None
    w.model["/deep/big"] = pattern(300000, 7)[:70000]
    w.move("/sub", "/deep/sub_moved")
    w.move("/hello.txt", "/Hello.TXT")
    for _ in range(120):
        w.op()
    r = fat.run(image, w.remounted_halfway("statfs"))
    fat.check_image(image, w.model, tmp_path)
    assert statfs_counts(r.stdout)[:2] == fat_counts(image)     # statfs counts clusters


@pytest.mark.parametrize("bits", [32, 16])
def test_fat_io_errors_never_crash(tmp_path, bits):
    """The same for FAT32 and FAT16: any one failed request is an error, never a crash."""
    plugins = [fat.filesystem_plugin("fat32")]
    image = fat.mkfs(tmp_path / "f.img", bits, 34 if bits == 32 else 20, 1)
    fat.run(image, "mount\nmkdir /d\n" + "".join(f"write /d/f{i} {'x' * (i * 300)}\n" for i in range(6))
            + "unmount\n")
    script = IO_SCRIPT.replace("fill /d/big 300000 1", "fill /d/big 30000 1").replace("fill /more 400000 2",
                                                                                      "mkfiles /d 20 a_long_name_")
    io_error_sweep(plugins, image, script)


def fat_raw(image, script: bytes, **env):
    """The harness on a FAT image with a script given as bytes (names that are not valid UTF-8 text)."""
    from vmm.harness.fs import build_fs_harness
    exe = build_fs_harness([fat.filesystem_plugin("fat32")])
    r = subprocess.run([str(exe), str(image), "-"], input=script, capture_output=True, timeout=60,
                       env={"ASAN_OPTIONS": "detect_leaks=1", "PATH": "/usr/bin:/bin", **env})
    assert b"Sanitizer" not in r.stdout + r.stderr and b"runtime error" not in r.stdout + r.stderr, r.stderr
    return r


@pytest.mark.parametrize("bits", [32, 16])
def test_fat_allocation_failures_never_crash(tmp_path, bits):
    """Any one failed kernel allocation (the mount's state, a vnode's) is an
    error (ENOMEM, or the error of the operation that needed it), never a crash."""
    image = fat.mkfs(tmp_path / "f.img", bits, 34 if bits == 32 else 20, 1)
    alloc_failure_sweep([fat.filesystem_plugin("fat32")], image, ALLOC_SCRIPT)


def test_fat_long_names_outside_the_bmp(tmp_path):
    """Long names are UTF-16 on disk (VFAT): a character past U+FFFF is stored
    as a surrogate pair and read back as that character; UTF-8 that encodes a
    surrogate itself (U+D800..U+DFFF) is not a name (EINVAL), U+E000 is; a lone
    surrogate found on disk reads as U+FFFD. (mtools turns characters past
    U+FFFF into '_', so the image's long-name entries are read directly.)"""
    image = fat.layout_image(tmp_path, "fat16")
    names = ["\U0001F600smile.txt", "dir\U0001F389", "\U00010000", "\U0010FFFDend", "\ue000"]
    r = fat_raw(image, ("mount\nmkdir /dir\U0001F389\nwrite /\U0001F600smile.txt s\nwrite /\U00010000 a\n"
                        "write /\U0010FFFDend e\nwrite /\ue000 p\n").encode()
                + b"!EINVAL write /\xed\xa0\x80 x\n!EINVAL write /\xed\xbf\xbf x\n!EINVAL write /a\xed\xb0\x80 x\n"
                + b"unmount\n")
    assert r.returncode == 0, r.stdout
    fat.fsck_clean(image)
    data = image.read_bytes()
    for name in names:      # the first five UTF-16 units, as the first long-name entry holds them
        units = (name.encode("utf-16-le") + b"\0\0" + b"\xff" * 10)[:10]
        assert units in data, name
    r = fat_raw(image, b"mount\nls /\nunmount\n")
    listed = {line.rsplit(b" ", 2)[0].decode() for line in r.stdout.splitlines() if line.count(b" ") >= 2}
    assert set(names) <= listed, listed
    # lone surrogates on disk: the long-name entry of "ab" made to hold D800 E000, and of "cd" DC00 DC00
    fat_raw(image, b"mount\nwrite /ab x\nwrite /cd y\nunmount\n")
    data = bytearray(image.read_bytes())
    for name, units in [("ab", (0xD800, 0xE000)), ("cd", (0xDC00, 0xDC00))]:
        pattern_ = name[0].encode() + b"\0" + name[1].encode() + b"\0\0\0"
        at = data.index(pattern_)
        assert data[at - 1] & 0x40 and data[at - 1 + 11] == 0x0F        # an LFN entry's first two characters
        data[at:at + 4] = units[0].to_bytes(2, "little") + units[1].to_bytes(2, "little")
    image.write_bytes(bytes(data))
    r = fat_raw(image, b"mount\nls /\nunmount\n")
    lines = r.stdout.splitlines()      # (listed by name; looking them up again finds nothing, rightly)
    assert any(line.startswith("\ufffd\ue000 ".encode()) for line in lines), r.stdout
    assert any(line.startswith("\ufffd\ufffd ".encode()) for line in lines), r.stdout


def fat_entry(image, short_name: bytes) -> bytes:
    """The 32-byte directory entry with this 8.3 name (11 bytes, space padded)."""
    data = image.read_bytes()
    at = data.index(short_name)
    assert at % 32 == 0 and data[at + 11] != 0x0F
    return data[at:at + 32]


def test_fat_timestamps(tmp_path):
    """Directory entry times (FAT spec: date = (year - 1980) << 9 | month << 5 | day,
    time = hour << 11 | minute << 5 | seconds / 2, creation time's odd second in
    the 10 ms byte; times before 1980 and after 2107 are clamped to the ends of
    the range) and stat's mtime decoded from them."""
    import calendar
    import struct
    image = fat.layout_image(tmp_path, "fat16")
    for when, name in [((2026, 11, 23, 12, 34, 57), b"STAMP"), ((1970, 1, 1, 0, 0, 0), b"EARLY"),
                       ((2200, 6, 1, 10, 0, 0), b"LATE")]:
        t = calendar.timegm(when + (0, 0, 0))
        r = fat_raw(image, b"mount\nwrite /" + name + b".TXT x\nmtime /" + name + b".TXT\nunmount\n",
                    PYOS_HARNESS_TIME=str(t))
        assert r.returncode == 0, r.stdout
        e = fat_entry(image, name.ljust(8) + b"TXT")
        tenths, ctime, cdate, adate, _, mtime, mdate = struct.unpack_from("<BHHHHHH", e, 13)
        y, mo, d, h, mi, s = when
        if y < 1980:
            want_date, want_time, stamp = (1 << 5) | 1, 0, calendar.timegm((1980, 1, 1, 0, 0, 0))
        elif y > 2107:
            want_date, want_time = (127 << 9) | (12 << 5) | 31, (23 << 11) | (59 << 5) | 29
            stamp = calendar.timegm((2107, 12, 31, 23, 59, 58))
        else:
            want_date, want_time, stamp = (y - 1980) << 9 | mo << 5 | d, h << 11 | mi << 5 | s // 2, t - t % 2
        assert (mdate, mtime, adate, cdate, ctime) == (want_date, want_time, want_date, want_date, want_time), name
        assert tenths == (s % 2 * 100 if 1980 <= y <= 2107 else 0), name
        assert f"mtime={stamp}".encode() in r.stdout, (name, r.stdout)


def test_fat_chain_order_is_file_order(tmp_path):
    """A file's data is its cluster chain in chain order, wherever the clusters
    lie: a file whose chain runs backwards on disk (as another system may leave
    it) reads back in chain order, as mtools reads it."""
    import struct
    image = fat.mkfs(tmp_path / "f16.img", 16, 20, 1)            # 512-byte clusters
    data = pattern(3 * 512, 5)
    fat.run(image, "mount\nfill /f 1536 5\nunmount\n")
    raw = bytearray(image.read_bytes())
    bps, spc, resv, nfats = struct.unpack_from("<HBHB", raw, 11)
    root_ent, fatsz = struct.unpack_from("<H", raw, 17)[0], struct.unpack_from("<H", raw, 22)[0]
    data_start = (resv + nfats * fatsz) * bps + root_ent * 32
    at = raw.index(b"F          ")
    first = struct.unpack_from("<H", raw, at + 26)[0]
    chain = [first, first + 1, first + 2]
    fats = [(resv + i * fatsz) * bps for i in range(nfats)]
    assert [struct.unpack_from("<H", raw, fats[0] + 2 * c)[0] for c in chain] == [first + 1, first + 2, 0xFFFF]
    backwards = chain[::-1]                       # first+2 -> first+1 -> first
    struct.pack_into("<H", raw, at + 26, backwards[0])
    for f in fats:
        for c, nxt in zip(backwards, backwards[1:] + [0xFFFF]):
            struct.pack_into("<H", raw, f + 2 * c, nxt)
    for k, c in enumerate(backwards):
        off = data_start + (c - 2) * spc * bps
        raw[off:off + 512] = data[k * 512:(k + 1) * 512]
    image.write_bytes(bytes(raw))
    fat.fsck_clean(image)
    assert fat.extract(image, tmp_path / "out")["/f"] == data        # mtools agrees
    fat.run(image, f"mount\nget /f {tmp_path / 'got'}\ncheck /f 1536 5\nunmount\n")
    assert (tmp_path / "got").read_bytes() == data


def test_fat_allocation_wraps_to_the_first_cluster(tmp_path):
    """Clusters are searched for after the last one allocated (on FAT16, with
    no FSInfo, that starts as cluster 2, so the first file gets 3, as Linux
    does); after the disk's last cluster the search starts again at the first,
    cluster 2 -- for a file's data and for a new directory's first cluster alike."""
    import struct
    for make in ["write /c x", "mkdir /c"]:
        image = fat.mkfs(tmp_path / "f16.img", 16, 20, 1)       # 40609 clusters of 512 bytes: 2 .. 40610
        fat.run(image, f"mount\nfill /a1 5120 1\nfill /a2 {(40610 - 12) * 512} 2\nstatfs\nunlink /a1\n"
                       f"{make}\nunmount\n")
        raw = image.read_bytes()
        first = {n: struct.unpack_from("<H", raw, raw.index(n.ljust(11).encode()) + 26)[0] for n in ["A2", "C"]}
        assert first == {"A2": 13, "C": 2}, make                # /a1 had 3 .. 12, /a2 13 .. 40610
        fat.fsck_clean(image)


def test_fat_boot_sector_checks(tmp_path):
    """What fat_mount checks in the boot sector (FAT spec, BPB): not a FAT boot
    sector at all (signature, jump byte, bytes per sector) is a quiet EINVAL so
    other plugins may try; a FAT boot sector with an impossible BPB is EINVAL
    with the reason (a volume ending at or before its data area, or with less
    than a cluster of data, has no data area); the FAT type follows the
    cluster count: 4084 clusters is FAT12 (refused), 4085 is FAT16; a FAT
    must hold an entry for each cluster and the two reserved ones, and a FAT
    of exactly that many is enough. FAT32's root cluster must be a cluster of
    the volume, and the active FAT (BPB_ExtFlags, when bit 7 turns mirroring
    off) one of its FATs."""
    import struct
    image = fat.mkfs(tmp_path / "f16.img", 16, 20, 1)
    good = image.read_bytes()
    bps, spc, resv, nfats = struct.unpack_from("<HBHB", good, 11)
    root_ent, fatsz = struct.unpack_from("<H", good, 17)[0], struct.unpack_from("<H", good, 22)[0]
    meta = resv + nfats * fatsz + root_ent * 32 // bps

    def mount(patches, expect):
        data = bytearray(good)
        for off, fmt, value in patches:
            struct.pack_into(fmt, data, off, value)
        image.write_bytes(bytes(data))
        r = fat.run(image, "mount\nstatfs\n", expect_ok=False)
        if expect is None:
            assert "mounted fat32" in r.stdout, (patches, r.stdout)
        else:
            assert "mount: error EINVAL" in r.stdout, (patches, r.stdout)
            assert (expect in r.stdout) if expect else "not mounting" not in r.stdout, (patches, r.stdout)
        return r.stdout

    for patches in [[(510, "<B", 0x54)], [(511, "<B", 0xAB)], [(0, "<B", 0x90)], [(11, "<H", 3000)]]:
        mount(patches, "")                                        # quietly not FAT
    mount([(0, "<B", 0xE9)], None)                                # a near jump is fine too
    cases = [
        ([(13, "<B", 3)], "bad sectors per cluster"), ([(13, "<B", 0)], "bad sectors per cluster"),
        ([(11, "<H", 4096), (13, "<B", 32)], "bad sectors per cluster"),
        ([(14, "<H", 0)], "bad BPB"), ([(16, "<B", 0)], "bad BPB"), ([(16, "<B", 5)], "bad BPB"),
        ([(19, "<H", 0), (32, "<I", 0)], "bad BPB"),
        ([(17, "<H", 0)], "bad root directory size"), ([(17, "<H", 17)], "bad root directory size"),
        ([(19, "<H", 0), (32, "<I", 41 * 2048 + 1)], "the volume is larger than the device"),
        ([(19, "<H", meta)], "no data area"), ([(19, "<H", meta - 1)], "no data area"),
        ([(13, "<B", 2), (19, "<H", meta + 1)], "no data area"),          # less than one cluster of data
        ([(19, "<H", meta + 4084 * spc)], "FAT12 is not supported"),
        ([(19, "<H", meta + spc)], "FAT12 is not supported"),           # one cluster: a (tiny) volume
        ([(22, "<H", 1)], "the FAT is too small for the cluster count"),
    ]
    for patches, why in cases:
        mount(patches, f"not mounting: {why}")
    out = mount([(19, "<H", meta + 4085 * spc)], None)
    assert "blocks=4085 " in out
    small = 150                                                   # a FAT of 150 sectors: 150 * bps / 2 entries
    tot_small = resv + nfats * small + root_ent * 32 // bps + (small * bps // 2 - 2) * spc
    out = mount([(22, "<H", small), (19, "<H", tot_small)], None)  # entries for clusters 2 .. the last exactly
    assert f"blocks={small * bps // 2 - 2} " in out
    mount([(22, "<H", small), (19, "<H", tot_small + spc)], "not mounting: the FAT is too small for the cluster count")
    mount([(16, "<B", 4)], None)                                  # four FATs: the most allowed
    mount([(17, "<H", 16)], None)                                 # a root of one sector (16 entries)
    image32 = fat.mkfs(tmp_path / "f32.img", 32, 34, 1)
    good = image32.read_bytes()
    image = image32
    mount([(17, "<H", 16)], "not mounting: FAT32 BPB with root entries or an unknown version")
    mount([(42, "<H", 1)], "not mounting: FAT32 BPB with root entries or an unknown version")
    last = fat.Bpb(good).nclusters + 1                            # clusters 2 .. last exist
    for root in (0, 1, last + 1):
        mount([(44, "<I", root)], "not mounting: root cluster out of range")
    mount([(40, "<H", 0x0082)], "not mounting: active FAT out of range")    # FAT 2 of 2 (0 and 1) active
    mount([(40, "<H", 0x0081)], None)                             # FAT 1: the last one there is


def test_fat_stale_fsinfo_free_count_is_corrected(tmp_path):
    """FSInfo's free count is a hint another system may have left stale: when a
    search of the FAT finds no free cluster although the count says there are
    some, the allocation is ENOSPC and the count becomes 0 -- in statfs and in
    FSInfo on disk -- for a new directory's cluster and for file data alike."""
    import struct
    for make in ["mkdir /x", "write /x data"]:
        image = fat.mkfs(tmp_path / "f32.img", 32, 34, 1)
        fat.run(image, "mount\n!ENOSPC fill /big 60000000 1\nunmount\n")
        fsinfo = struct.unpack_from("<H", image.read_bytes(), 48)[0] * 512
        assert struct.unpack_from("<I", image.read_bytes(), fsinfo + 488)[0] == 0
        e2.poke(image, fsinfo + 488, struct.pack("<I", 5))
        r = fat.run(image, f"mount\nstatfs\n!ENOSPC {make}\nstatfs\nunmount\n")
        assert [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)] == [5, 0], (make, r.stdout)
        fat.fat_tables_consistent(image)


def test_fat32_clusters_past_65535(tmp_path):
    """FAT32 entries keep a cluster number in two 16-bit halves (offsets 20 and
    26): files and directories whose first cluster is past 65535 -- created,
    grown, renamed -- are found again by the plugin, mtools and fsck.fat, and
    unlinking and removing them frees exactly their clusters; a directory
    moved into one of them has both halves in its '..' entry, so moving
    the far directory into it is refused as a move into its own
    descendant (EINVAL)."""
    image = fat.layout_image(tmp_path, "fat32-512")           # 512-byte clusters: ~95000 of them
    fat.run(image, "mount\nmkdir /near\nfill /big 40000000 1\nwrite /far hello\nmkdir /fardir\nwrite /fardir/x y\n"
                   "append /far !\nrename /far /fardir/far2\nrename /near /fardir/near\n"
                   "!EINVAL rename /fardir /fardir/near/inside\nunmount\n")
    fat.fsck_clean(image)
    seen = fat.extract(image, tmp_path / "out")
    assert seen["/fardir/far2"] == b"hello!" and seen["/fardir/x"] == b"y"
    r = fat.run(image, "mount\ncat /fardir/far2\ncat /fardir/x\nunmount\n")
    assert "hello!" in r.stdout
    raw = image.read_bytes()
    at = raw.index(b"X          ")
    import struct
    assert struct.unpack_from("<H", raw, at + 20)[0] >= 1          # its first cluster is past 65535
    r = fat.run(image, "mount\nstatfs\nunlink /fardir/far2\nunlink /fardir/x\nrmdir /fardir/near\nrmdir /fardir\n"
                       "statfs\nunmount\n")
    free = [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)]
    assert free[1] == free[0] + 4, r.stdout                          # far2, x, near and fardir: a cluster each
    assert statfs_counts(r.stdout)[:2] == fat_counts(image)


def test_fat_broken_long_name_sequence_falls_back_to_the_short_name(tmp_path):
    """Long-name entries must come in descending order (N|0x40, N-1, ..., 1)
    with the short name's checksum (FAT spec, VFAT): a sequence whose middle
    entry has the wrong order number is not a long name, and the file is
    listed by its 8.3 name; an intact one by its long name."""
    image = fat.layout_image(tmp_path, "fat16")
    long_name = "a_very_long_file_name_for_testing.txt"        # 37 characters: three entries
    fat.run(image, f"mount\nwrite /{long_name} x\nwrite /{long_name}2 y\nunmount\n")
    raw = bytearray(image.read_bytes())
    first = next(i for i in range(0, len(raw) - 96, 32)        # the first name's entries: 0x43, 0x02, 0x01
                 if raw[i] == 0x43 and raw[i + 11] == 0x0F and raw[i + 32] == 0x02)
    assert raw[first + 11] == 0x0F and raw[first + 32] == 0x02 and raw[first + 64] == 0x01
    raw[first + 32] = 0x01
    image.write_bytes(bytes(raw))
    r = fat.run(image, "mount\nls /\nunmount\n")
    names = [line.rsplit(" ", 2)[0] for line in r.stdout.splitlines() if line.endswith((" f 1",))]
    assert f"{long_name}2" in names and long_name not in names, names
    assert any(n.upper().startswith("A_VERY") and "~" in n for n in names), names


@pytest.mark.parametrize("layout", ["fat32-512", "fat16"])
def test_fat_rename_onto_its_own_name_changes_nothing(tmp_path, layout):
    """POSIX rename(): when old and new name the same directory entry, rename
    succeeds and does nothing else. An 8.3-only name (no long-name entries), a
    long name and an 8.3 name shown in lower case (the NT case flags), each at
    the first slot of the root (which no "last found" position points before)
    or further on, in the root and in a subdirectory: the entry keeps its
    place (inode number, listing order), its 8.3 name and its case flags."""
    import struct
    image = fat.layout_image(tmp_path, layout)
    fat.run(image, "mount\nwrite /README.TXT first\nwrite /a_long_name.txt x\nwrite /MIDDLE.TXT m\n"
                   "mkdir /D\nwrite /D/INNER.TXT i\nwrite /D/other y\nunmount\n")
    # a lower-case 8.3 name as other systems write it: no long name, the NT case flags
    raw = bytearray(image.read_bytes())
    at = raw.index(b"MIDDLE  TXT")
    raw[at + 12] = 0x18                                    # base and extension shown in lower case
    image.write_bytes(bytes(raw))
    assert raw.index(b"README  TXT") % 512 == 0            # the root's first entry
    listing = "ls /\nls /D\n"
    before = fat.run(image, f"mount\n{listing}unmount\n").stdout
    assert "middle.txt f 1" in before
    for path in ["/README.TXT", "/a_long_name.txt", "/middle.txt", "/D/INNER.TXT", "/D/other"]:
        r = fat.run(image, f"mount\nstat {path}\nrename {path} {path}\nstat {path}\n{listing}unmount\n")
        stats = re.findall(r"ino=.*", r.stdout)
        assert len(stats) == 2 and stats[0] == stats[1], (path, r.stdout)
        assert r.stdout.split(stats[1] + "\n")[-1] == before.split("mounted fat32\n")[1], (path, r.stdout)
    after = image.read_bytes()
    assert after[at:at + 13] == bytes(raw[at:at + 13])     # the 8.3 name and its case flags
    assert after.index(b"README  TXT") % 512 == 0
    fat.fsck_clean(image)



def root_entries(image):
    """A FAT16 image's root directory: [(the 11 name bytes, attribute)] of its used entries, in order."""
    import struct
    raw = image.read_bytes()
    bps, _, resv, nfats = struct.unpack_from("<HBHB", raw, 11)
    root_ent, fatsz = struct.unpack_from("<H", raw, 17)[0], struct.unpack_from("<H", raw, 22)[0]
    start = (resv + nfats * fatsz) * bps
    out = []
    for off in range(start, start + root_ent * 32, 32):
        if raw[off] == 0:
            break
        if raw[off] != 0xE5:
            out.append((raw[off:off + 11], raw[off + 11]))
    return out


def test_fat_upper_case_83_names_with_punctuation_need_no_long_name(tmp_path):
    """8.3 names may hold letters, digits and the punctuation ! $ % & ' ( ) - @
    ^ _ ` { } ~ (FAT spec, 8.3 names; + , ; = [ ] are long-name only): an
    upper-case name made of those is stored as that 8.3 name alone, with no
    long-name entries and no ~N tail; the same name in lower case keeps that
    8.3 name and gets a long name for its case; a '+' makes it lossy (~1)."""
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nwrite /A!B$C.TXT 1\nwrite /%&'()-@.^_` 2\nwrite /{}~9.TXT 3\nwrite /a!b.txt 4\n"
                   "write /A+B.TXT 5\nunmount\n")
    entries = root_entries(image)
    assert entries == [(b"A!B$C   TXT", 0x20), (b"%&'()-@ ^_`", 0x20), (b"{}~9    TXT", 0x20),
                       (entries[3][0], 0x0F), (b"A!B     TXT", 0x20),
                       (entries[5][0], 0x0F), (b"A_B~1   TXT", 0x20)], entries
    fat.fsck_clean(image)
    r = fat.run(image, "mount\nls /\ncat /a!b.txt\ncat /%&'()-@.^_`\nunmount\n")
    assert "A!B$C.TXT f 1\n%&'()-@.^_` f 1\n{}~9.TXT f 1\na!b.txt f 1\nA+B.TXT f 1\n" in r.stdout, r.stdout


def test_fat_83_name_starting_with_e5(tmp_path):
    """An 8.3 name whose first byte is 0xE5 (Latin-1 'å') is stored with 0x05
    there, since 0xE5 marks a deleted entry (FAT spec, DIR_Name[0]): such an
    entry, as another system writes it (no long name), is listed as 'åBC.TXT'
    and found by that name, in either ASCII case."""
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nwrite /XBC.TXT secret\nunmount\n")
    raw = bytearray(image.read_bytes())
    at = raw.index(b"XBC     TXT")
    raw[at] = 0x05
    image.write_bytes(bytes(raw))
    fat.fsck_clean(image)
    r = fat.run(image, "mount\nls /\ncat /åBC.TXT\ncat /åbc.txt\nstat /åBc.tXt\nunmount\n")
    assert "åBC.TXT f 6\n" in r.stdout and r.stdout.count("secret") == 2, r.stdout


def test_fat_names_longer_than_83_are_not_its_83_name(tmp_path):
    """A name is only the 8.3 name it spells in full (names compare exactly, up
    to ASCII case): a longer base or extension, or a trailing dot, is another
    name -- not found while only the 8.3 file exists, and created beside it as
    a file of its own (with a long name and a ~N 8.3 name)."""
    image = fat.layout_image(tmp_path, "fat16")
    others = ["ABCDEFGHIJ.TXT", "ABCDEFGH.TXTX", "ABCDEFGHI.TXT", "ABC."]
    r = fat.run(image, "mount\nwrite /ABCDEFGH.TXT eight\nwrite /ABC three\n"
                + "".join(f"!ENOENT stat /{n}\n" for n in others)
                + "".join(f"write /{n} {n}\n" for n in others[:3]) + "ls /\nunmount\n")
    assert "ABCDEFGH.TXT f 5\nABC f 5\nABCDEFGHIJ.TXT f 14\nABCDEFGH.TXTX f 13\nABCDEFGHI.TXT f 13\n" in r.stdout, \
        r.stdout
    fat.fsck_clean(image)
    assert fat.extract(image, tmp_path / "out") == {"/ABCDEFGH.TXT": b"eight", "/ABC": b"three",
                                                     **{f"/{n}": n.encode() for n in others[:3]}}


def test_fat32_active_fat_bits_count_only_without_mirroring(tmp_path):
    """FAT32 BPB_ExtFlags: bits 0-3 name the active FAT only when bit 7 says
    mirroring is off; with mirroring on (bit 7 clear) every copy is a mirror
    and FAT 0 is read, whatever bits 0-3 hold. So a second copy that
    disagrees (here: the file's chain cut short in it) is not read then, and
    is read when bit 7 makes it the active one."""
    import struct
    image = fat.layout_image(tmp_path, "fat32-512")
    fat.run(image, "mount\nfill /f 5000 1\nunmount\n")
    raw = bytearray(image.read_bytes())
    bps, _, resv, nfats = struct.unpack_from("<HBHB", raw, 11)
    fatsz = struct.unpack_from("<I", raw, 36)[0]
    at = raw.index(b"F          ")
    first = struct.unpack_from("<H", raw, at + 26)[0] | struct.unpack_from("<H", raw, at + 20)[0] << 16
    struct.pack_into("<I", raw, (resv + fatsz) * bps + 4 * first, 0x0FFFFFFF)   # copy 1: one cluster only
    for flags, ok in [(0x0001, True), (0x0081, False)]:
        struct.pack_into("<H", raw, 40, flags)
        image.write_bytes(bytes(raw))
        r = fat.run(image, "mount\ncheck /f 5000 1\nunmount\n", expect_ok=False)
        assert (r.returncode == 0) == ok, (hex(flags), r.stdout)


def cache_hits(stdout):
    """The buffer cache's hit counts of the harness's `stats` lines, in order."""
    return [int(h) for h in re.findall(r"\bhits=(\d+)", stdout)]


def test_fat_directory_walk_and_create_cost_no_rescans(tmp_path):
    """What the directory code promises about cost (fat_dir.c), counted in
    buffer-cache lookups in FAT16's fixed root (no cluster chain to walk, so
    the counts are the scans' alone):
    - readdir then a lookup of each name (ls, tree) finds each name from where
      readdir left it, not by a scan from the start: every file costs the same
      in a root of 40 files and one of 160;
    - creating a name after its lookup found nothing uses the place that scan
      found (no second scan): the create costs the same in both roots."""
    image = fat.layout_image(tmp_path, "fat16")
    script = ["mount"]
    for n, first in [(40, 0), (160, 40)]:
        script += [f"mkfiles / {n - first} f{first}_", "unmount", "mount", "stats", "ls /", "stats",
                   f"!ENOENT stat /new_{n}", "stats", f"write /new_{n} x", "stats", f"unlink /new_{n}"]
    r = fat.run(image, "\n".join(script + ["unmount"]) + "\n")
    h = cache_hits(r.stdout)
    (ls40, lookup40, create40), (ls160, lookup160, create160) = [
        (h[i + 1] - h[i], h[i + 2] - h[i + 1], h[i + 3] - h[i + 2]) for i in (0, 4)]
    assert (ls160 - ls40) / 120 <= 1.1 * ls40 / 40, (ls40, ls160)
    assert create160 - lookup160 == create40 - lookup40, (lookup40, create40, lookup160, create160)


def test_fat_directory_walk_costs_the_same_per_file_across_clusters(tmp_path):
    """The same readdir walk in a subdirectory of 512-byte clusters (16
    entries each), where a name's long-name entries often begin in the
    cluster before its 8.3 entry: looking it up one cluster back does not walk
    the directory's chain from its first cluster, so every file costs the
    same in a directory of 40 files and one of 160."""
    image = fat.layout_image(tmp_path, "fat32-512")
    r = fat.run(image, "mount\nmkdir /a\nmkfiles /a 40 a_long_file_name_\nmkdir /b\nmkfiles /b 160 a_long_file_name_\n"
                       "unmount\nmount\nstats\nls /a\nstats\nls /b\nstats\nunmount\n")
    h = cache_hits(r.stdout)
    ls40, ls160 = h[1] - h[0], h[2] - h[1]
    assert ls160 / 160 <= 1.1 * ls40 / 40, (ls40, ls160)


@pytest.mark.parametrize("layout", ["fat32-512", "fat16"])
def test_fat_stat_of_a_directory(tmp_path, layout):
    """stat of a directory: mode directory, two links, and its size is what
    its entries occupy on disk -- its cluster chain (a subdirectory, and
    FAT32's root) or FAT16's fixed root area (root entries x 32 bytes) --
    with blocks (512-byte units) to match."""
    image = fat.layout_image(tmp_path, layout)
    r = fat.run(image, "mount\nmkdir /d\nmkfiles /d 60 a_long_file_name_\nstat /d\nstat /\nunmount\n")
    csize = 512 if layout == "fat32-512" else 2048
    d_size = -(-(62 * 32 + 60 * 2 * 32) // csize) * csize         # '.', '..', 60 x (long name + 8.3)
    root_size = csize if layout == "fat32-512" else 512 * 32
    stats = re.findall(r"mode=(0o\d+) nlink=(\d+) size=(\d+) blocks=(\d+)", r.stdout)
    assert stats == [("0o40755", "2", str(d_size), str(d_size // 512)),
                     ("0o40755", "2", str(root_size), str(root_size // 512 if layout == "fat32-512" else 0))], \
        r.stdout


def test_fat_rename_fails_when_the_new_directory_cannot_be_read(tmp_path):
    """A device error while rename() looks the new name up (reading the new
    directory, the first request the rename makes when the old one is
    cached) is that rename's error, EIO, and nothing is renamed."""
    image = fat.layout_image(tmp_path, "fat16")
    plugins = [fat.filesystem_plugin("fat32")]
    fat.run(image, "mount\nmkdir /b\nmkfiles /b 30 other_\nfill /big 300000 1\nmkdir /a\nwrite /a/f x\nunmount\n")
    counts = re.search(r"reads=(\d+) writes=(\d+) .* flushes=(\d+)", fat.run(image, "mount\nls /a\nstats\n").stdout)
    first_of_rename = sum(map(int, counts.groups())) + 1
    r = run_fs_script(plugins, image, "mount\nls /a\n!EIO rename /a/f /b/g\nunmount\n", fail_request=first_of_rename)
    assert r.returncode == 0, r.stdout
    after = fat.run(image, "mount\nls /a\nls /b\nunmount\n").stdout
    assert "\nf f 1\n" in after and "\ng f" not in after, after
    fat.fsck_clean(image)


@pytest.mark.parametrize("layout", ["fat32-512", "fat16"])
def test_fat_contiguous_clusters_go_a_fat_block_at_a_time(tmp_path, layout):
    """Runs of consecutive clusters are handled together, a block of each FAT
    copy at a time: growing a file takes the free clusters that follow the
    first one found in one go (fat_extend), reading finds how many follow each
    other on disk (fat_chain_run), freeing frees a run at once
    (fat_free_chain). For a file of 2000 consecutive clusters (its entries
    fill two or four FAT blocks per copy) each costs its data blocks and a
    few hundred buffer-cache lookups more at most, not several per cluster; afterwards fsck.fat finds nothing and the
    copies agree."""
    image = fat.layout_image(tmp_path, layout)
    size = 2000 * (512 if layout == "fat32-512" else 2048)
    r = fat.run(image, f"mount\nstats\nfill /big {size} 1\nunmount\nmount\nstats\ncheck /big {size} 1\nstats\n"
                       "unlink /big\nstats\nunmount\n")
    h = cache_hits(r.stdout)
    grow, read, free = h[1] - h[0], h[2] - h[1], h[3] - h[2]
    data_blocks = size // 4096                     # the buffer cache's block size on these images
    assert grow < data_blocks + 300 and read < data_blocks + 300 and free < 100, (grow, read, free)
    fat.fsck_clean(image)
    fat.fat_tables_consistent(image)


def test_fat_chain_running_off_the_volume_is_an_error_when_freed(tmp_path):
    """A chain whose last entry points past the volume's last cluster is
    broken (FAT spec: cluster numbers run 2 .. count + 1): unlinking such a
    file frees the clusters that are in range and is EIO -- even when the FAT
    sector's unused tail (the entry just past the last cluster) holds an end
    mark, which is not a FAT entry and is not read as one."""
    import struct
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nwrite /f 4096_bytes_in_two_clusters\nwrite /keep k\nunmount\n")
    raw = bytearray(image.read_bytes())
    bps, spc, resv, nfats = struct.unpack_from("<HBHB", raw, 11)
    root_ent, total, fatsz = struct.unpack_from("<H", raw, 17)[0], struct.unpack_from("<I", raw, 32)[0], \
        struct.unpack_from("<H", raw, 22)[0]
    data_sectors = total - resv - nfats * fatsz - root_ent * 32 // bps
    last = data_sectors // spc + 1                                   # clusters 2 .. last
    assert (last + 2) * 2 <= fatsz * bps                             # the entry past it is in the FAT's tail
    at = raw.index(b"F          ")
    old = struct.unpack_from("<H", raw, at + 26)[0]
    struct.pack_into("<H", raw, at + 26, last - 1)
    struct.pack_into("<I", raw, at + 28, 4096)
    for i in range(nfats):
        fat_at = (resv + i * fatsz) * bps
        struct.pack_into("<H", raw, fat_at + 2 * old, 0)             # its old cluster: free
        struct.pack_into("<HHH", raw, fat_at + 2 * (last - 1), last, last + 1, 0xFFFF)
    image.write_bytes(bytes(raw))
    r = fat.run(image, "mount\nstatfs\n!EIO unlink /f\nstatfs\ncat /keep\nunmount\n")
    free = [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)]
    assert free[1] == free[0] + 2, r.stdout                          # last - 1 and last, not the tail entry


def broken_chain_image(tmp_path, what, how):
    """A FAT16 image (512-byte clusters) with /f (4 clusters) and /d (a directory of
    30 long names: 6 clusters), then `what`'s chain broken after its second cluster
    (how: 'free' -> entry 0, 'reserved' -> entry 1, 'range' -> 0xFFF0, 'past' ->
    the first number past the last cluster, on a device 1 MiB larger than the
    volume, so that cluster's bytes could be read) or, for 'size', /f's size
    made larger than its chain."""
    import struct
    image = fat.mkfs(tmp_path / "b.img", 16, 20, 1)
    fat.run(image, "mount\nfill /f 2048 1\nmkdir /d\nmkfiles /d 30 a_long_file_name_\nunmount\n")
    raw = bytearray(image.read_bytes())
    g = fat.Bpb(raw)
    at = raw.index(b"F          " if what == "f" else b"D          ")
    first = struct.unpack_from("<H", raw, at + 26)[0]
    if how == "size":
        struct.pack_into("<I", raw, at + 28, 4096)
    for i in range(g.nfats):
        fat_at = g.fat_at(i)
        second = struct.unpack_from("<H", raw, fat_at + 2 * first)[0]
        value = {"free": 0, "reserved": 1, "range": 0xFFF0, "past": g.nclusters + 2, "size": None}[how]
        if value is not None:
            struct.pack_into("<H", raw, fat_at + 2 * second, value)
    image.write_bytes(bytes(raw) + (bytes(1 << 20) if how == "past" else b""))
    return image


@pytest.mark.parametrize("how", ["free", "reserved", "range", "past"])
def test_fat_broken_directory_chain_is_eio(tmp_path, how):
    """A directory whose cluster chain is broken after its second cluster (a
    free or reserved entry, or a cluster number past the volume: FAT spec,
    valid links are 2 .. count + 1) is an error when a walk reaches the break
    -- listing it, looking up a name past the break -- not a shorter
    directory; names before the break are still found."""
    image = broken_chain_image(tmp_path, "d", how)
    r = fat.run(image, "mount\ncat /d/a_long_file_name_0\n!EIO ls /d\n!EIO stat /d/a_long_file_name_29\n"
                       "!EIO stat /d/no_such_name\nunmount\n")
    assert "a_long_file_name_0\n" in r.stdout


@pytest.mark.parametrize("how", ["free", "size"])
def test_fat_file_shorter_than_its_size_is_eio(tmp_path, how):
    """A file whose chain ends (or breaks) before its size is covered: reading
    the part past the chain is EIO, never some other cluster's bytes."""
    image = broken_chain_image(tmp_path, "f", how)
    r = fat.run(image, f"mount\n!EIO check /f 2048 1\nunmount\n")
    assert "differs" not in r.stdout, r.stdout


def test_fat_growing_at_the_last_cluster_wraps_to_the_first(tmp_path):
    """A file growing by several clusters at once (truncate) from the volume's
    last free cluster takes that one and continues at the first free clusters
    from cluster 2 on -- never the FAT's unused tail past the last cluster
    (FAT spec: clusters 2 .. count + 1)."""
    import struct
    image = fat.mkfs(tmp_path / "f16.img", 16, 20, 1)       # 40609 clusters of 512 bytes: 2 .. 40610
    fat.run(image, f"mount\nfill /a1 5120 1\nfill /a2 {(40609 - 13) * 512} 2\nunlink /a1\nwrite /c x\n"
                   "truncate /c 3072\nunmount\n")
    raw = image.read_bytes()
    bps, _, resv, _ = struct.unpack_from("<HBHB", raw, 11)
    fat0 = resv * bps
    c, chain = struct.unpack_from("<H", raw, raw.index(b"C          ") + 26)[0], []
    while c < 0xFFF8 and len(chain) < 10:
        chain.append(c)
        c = struct.unpack_from("<H", raw, fat0 + 2 * c)[0]
    assert chain == [40609, 40610, 2, 3, 4, 5], chain           # /a1 had 3 .. 12, /a2 13 .. 40608
    fat.fsck_clean(image)
    assert fat.extract(image, tmp_path / "out")["/c"] == b"x" + bytes(3071)


@pytest.mark.parametrize("layout", ["fat32-512", "fat16"])
def test_fat_size_change_in_a_later_mount_reaches_the_disk(tmp_path, layout):
    """A file's directory entry (size, first cluster, time) is written back
    when only the file changed: appended to, truncated, or given its first
    cluster in a later mount, with nothing else in that directory block
    changed, its new entry is on disk after unmount (mtools reads it)."""
    image = fat.layout_image(tmp_path, layout)
    fat.run(image, "mount\nmkdir /d\nwrite /d/grow abc\nwrite /d/shrink 0123456789\nwrite /d/empty \nunmount\n")
    for script in ["append /d/grow defg", "truncate /d/shrink 4", "append /d/empty xy"]:
        fat.run(image, f"mount\n{script}\nunmount\n")
    seen = fat.extract(image, tmp_path / "out")
    assert (seen["/d/grow"], seen["/d/shrink"], seen["/d/empty"]) == (b"abcdefg", b"0123", b"xy"), seen
    fat.fsck_clean(image)


def test_fat32_fsinfo_written_back_exactly(tmp_path):
    """FSInfo (FAT32 spec): after files are written and the volume unmounted,
    FSI_Free_Count (offset 488) is the free cluster count and FSI_Nxt_Free
    (492) the last cluster allocated (where the next search starts, as
    Linux keeps it); the three signatures and the reserved bytes around
    them are untouched."""
    import struct
    image = fat.layout_image(tmp_path, "fat32-512")
    before = image.read_bytes()
    fat.run(image, "mount\nfill /a 5000 1\nmkdir /d\nfill /d/b 3000 2\nunmount\n")
    raw = image.read_bytes()
    fsinfo = struct.unpack_from("<H", raw, 48)[0] * 512
    at = raw.index(b"B          ")
    first = struct.unpack_from("<H", raw, at + 26)[0] | struct.unpack_from("<H", raw, at + 20)[0] << 16
    fat0 = struct.unpack_from("<H", raw, 14)[0] * 512
    c = first
    while True:                                                 # /d/b is the last file written
        nxt = struct.unpack_from("<I", raw, fat0 + 4 * c)[0] & 0x0FFFFFFF
        if nxt >= 0x0FFFFFF8:
            break
        c = nxt
    assert struct.unpack_from("<I", raw, fsinfo + 492)[0] == c
    fat.fat_tables_consistent(image)                            # the free count
    unchanged = [(0, 488), (496, 512)]
    assert all(raw[fsinfo + a:fsinfo + b] == before[fsinfo + a:fsinfo + b] for a, b in unchanged)


def test_fat_entry_with_a_first_cluster_out_of_range_is_eio(tmp_path):
    """A directory entry whose first cluster is past the volume (or a
    directory entry with none) is refused when the file is opened: EIO for
    stat and cat, and the listing names it with its error."""
    import struct
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nwrite /f data\nmkdir /d\nwrite /ok fine\nunmount\n")
    raw = bytearray(image.read_bytes())
    struct.pack_into("<H", raw, raw.index(b"F          ") + 26, 0xFFF0)
    struct.pack_into("<H", raw, raw.index(b"D          ") + 26, 0)
    image.write_bytes(bytes(raw))
    r = fat.run(image, "mount\n!EIO stat /f\n!EIO cat /f\n!EIO stat /d\n!EIO ls /d\ncat /ok\nls /\nunmount\n")
    assert "f ? lookup:EIO\n" in r.stdout and "d ? lookup:EIO\n" in r.stdout and "fine" in r.stdout, r.stdout


def test_fat_readonly_mount_refuses_every_change(tmp_path):
    """On a read-only device the volume is mounted read-only and every change
    is EROFS at once -- writing or appending to an existing file, truncating,
    creating, removing, renaming -- and the image is left as it was. On
    FAT32 with FSInfo's free count unknown, mount counts the free clusters,
    and that count is not written back (sync and unmount succeed)."""
    import struct
    for layout in ["fat16", "fat32-512"]:
        image = fat.layout_image(tmp_path, layout)
        fat.run(image, "mount\nwrite /f data\nmkdir /d\nunmount\n")
        if layout == "fat32-512":
            fsinfo = struct.unpack_from("<H", image.read_bytes(), 48)[0] * 512
            e2.poke(image, fsinfo + 488, struct.pack("<I", 0xFFFFFFFF))
        before = image.read_bytes()
        r = run_fs_script([fat.filesystem_plugin("fat32")], image,
                          "mount\n!EROFS append /f more\n!EROFS pwrite /f 2 XY\n!EROFS truncate /f 1\n!EROFS write /new x\n"
                          "!EROFS mkdir /e\n!EROFS unlink /f\n!EROFS rmdir /d\n!EROFS rename /f /g\ncat /f\nsync\n"
                          "unmount\n", readonly=True)
        assert r.returncode == 0 and "data" in r.stdout, (layout, r.stdout)
        assert image.read_bytes() == before, layout


def test_fat_rename_to_a_name_fat_cannot_store_is_refused(tmp_path):
    """rename() checks the new name as create() does: characters FAT names
    cannot hold (" * / : < > ? \\ |), a trailing dot (Windows would drop it):
    EINVAL, and the file keeps its name."""
    image = fat.layout_image(tmp_path, "fat16")
    r = fat.run(image, "mount\nwrite /f data\n!EINVAL rename /f /bad:name\n!EINVAL rename /f /what?\n"
                       "!EINVAL rename /f /trailing.\n!EINVAL write /x. y\nls /\nunmount\n")
    assert r.stdout.count(" f ") == 1 and "\nf f 4\n" in r.stdout, r.stdout


def test_fat_long_name_only_characters_become_underscores_in_the_83_name(tmp_path):
    """+ , ; = [ ] may stand in long names but not in 8.3 names (FAT spec): in
    the 8.3 name made for such a name each becomes '_', and the name gets a
    ~N tail (N the smallest unused) and a long name keeping it exact."""
    image = fat.layout_image(tmp_path, "fat16")
    chars = "+,;=[]"
    fat.run(image, "mount\n" + "".join(f"write /X{c}Y.TXT {i}\n" for i, c in enumerate(chars)) + "unmount\n")
    shorts = [name for name, attr in root_entries(image) if attr != 0x0F]
    assert shorts == [f"X_Y~{i + 1}   TXT".encode() for i in range(len(chars))], shorts
    r = fat.run(image, "mount\nls /\nunmount\n")
    assert all(f"X{c}Y.TXT f 1\n" in r.stdout for c in chars), r.stdout
    fat.fsck_clean(image)


def test_fat_looping_chain_gives_no_more_clusters_than_the_volume_has(tmp_path):
    """A file's chain that loops (here a cluster linked to itself, fsck.fat's
    "loop" case) under a size claiming more clusters than the volume holds: no
    file can have more clusters than the volume (FAT spec: clusters 2 ..
    count + 1, each in one chain at most), and fat.h promises a chain walk
    bounded by the cluster count, so reading it is EIO by the volume's
    cluster count at the latest -- never a cluster more."""
    import struct
    image = fat.mkfs(tmp_path / "l.img", 16, 3, 1)
    fat.run(image, "mount\nwrite /f x\nunmount\n")
    raw = bytearray(image.read_bytes())
    g = fat.Bpb(raw)
    nclusters, csize = g.nclusters, g.spc * g.bps
    assert 4085 <= nclusters < 65525                                 # FAT16 by its cluster count
    at = raw.index(b"F          ")
    first = struct.unpack_from("<H", raw, at + 26)[0]
    struct.pack_into("<I", raw, at + 28, (nclusters + 2) * csize)
    for i in range(g.nfats):
        struct.pack_into("<H", raw, g.fat_at(i) + 2 * first, first)
    image.write_bytes(bytes(raw))
    out = tmp_path / "f.out"
    fat.run(image, f"mount\n!EIO get /f {out}\nunmount\n")
    assert out.stat().st_size <= nclusters * csize, (out.stat().st_size, nclusters, csize)


@pytest.fixture(scope="module")
def kept_positions(tmp_path_factory):
    """tests/fs_fat32_positions.c on a FAT32 volume of 512-byte clusters: its
    NAME=VALUE lines (buffer-cache lookups of operations on files and a
    directory kept open, and what a regrown file holds)."""
    tmp_path = tmp_path_factory.mktemp("positions")
    image = fat.layout_image(tmp_path, "fat32-512")
    exe = fat.build_open_test(tmp_path, "fs_fat32_positions.c")
    r = subprocess.run([str(exe), str(image)], capture_output=True, text=True, timeout=120,
                       env={"ASAN_OPTIONS": "detect_leaks=1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
    fat.fsck_clean(image)
    fat.fat_tables_consistent(image)
    return {k: v if k.startswith("regrow") else int(v) for k, v in re.findall(r"^(\w+)=(\S+)$", r.stdout, re.M)}


def test_fat_open_file_walks_its_chain_from_a_kept_position(kept_positions):
    """fat_table.c (fat_chain_at) on a file kept open: a read walks the chain
    one FAT lookup per cluster from the latest position it cached, or from
    the one before its last move when the latest lies past the cluster
    wanted; a read at the latest position itself is no move and keeps the one
    before. In buffer-cache lookups, a 1-byte read being its data block plus
    those FAT entries: cluster 100 of a fresh vnode 1 + 100, then 150 1 + 50,
    150 again 1, then 120 1 + 20 (from 100, not from the start)."""
    p = kept_positions
    assert (p["read_100_fresh"], p["read_150_after_100"], p["read_150_again"], p["read_120_back"]) == \
        (1 + 100, 1 + 50, 1, 1 + 20), p


def test_fat_truncate_of_an_open_file_starts_at_a_kept_position(kept_positions):
    """Truncating a file kept open finds the new last cluster from a position
    it cached before the cut -- the latest one (read at 150, cut to 152
    clusters) or, when the latest lies past the cut, the one before it (reads
    at 140 and 150, cut to 145) -- not by a walk from the file's start: the
    truncate costs a few lookups (those steps, the old link, the end mark in
    both FATs, freeing the tail, the entry), far below the 140-odd clusters
    before the cut; the next read at the new last cluster costs its data block."""
    p = kept_positions
    assert p["truncate_152_after_150"] <= 20 and p["truncate_145_after_140_150"] <= 20, p
    assert p["read_144_after_truncate"] == 1, p


def test_fat_open_file_truncated_to_nothing_writes_into_its_new_cluster(kept_positions):
    """A file kept open (two clusters written one at a time, or one),
    truncated to nothing and written again: the chain positions it cached
    named clusters that are free now, so the new data lands in its new first
    cluster (read back through a fresh vnode: the written bytes), never in a
    freed one."""
    assert kept_positions["regrow0"] == "NN" and kept_positions["regrow1"] == "MM", kept_positions


def test_fat_directory_end_once_known_costs_no_fat_lookup(kept_positions):
    """A directory kept open whose entries fill its one cluster exactly (no
    end marker): a lookup that finds nothing reads to the chain's end, whose
    length the node then knows (fat_chain_at: 'the length is then cached'),
    so it costs the directory's one block and no FAT lookup."""
    p = kept_positions
    assert p["failed_lookup_1"] == 1 and p["failed_lookup_2"] == 1, p


def test_fat_new_file_kept_open_knows_its_chain_length(kept_positions):
    """fat_table.c (fat_chain_at): an empty chain's length (0) is known at
    once and cached, and the first write's cluster extends that cached
    length ('the length is then cached'): a file created empty and kept open,
    written a byte at a time inside its first cluster, has its second write
    cost what its third does -- no walk of the chain to learn its length;
    and so does a file kept open after a truncate (fat_trim leaves the new
    length known), written inside its new last cluster."""
    p = kept_positions
    assert p["write_2_in_first_cluster"] == p["write_3_in_first_cluster"], p
    assert p["write_after_cut"] == p["write_again_after_cut"], p


def test_fat_transfer_runs_end_at_the_last_cluster_moved(kept_positions):
    """fat_table.c (fat_file_io, fat_chain_run): a transfer takes runs of
    adjacent clusters -- as many as the rest of the transfer needs, 4096 at
    most -- and the node's position moves to the last cluster of each run
    ('the node's position moves to the last of them'), so a transfer leaves
    it at the last cluster it moved: a byte of the next cluster costs one FAT
    step and its data block (after a whole cluster read, and after a read
    ending inside a file's second run), and a byte of the cluster before the
    last of a 4097-cluster read costs its data block alone (the previous
    position, where the first run of 4096 ended)."""
    p = kept_positions
    assert (p["read_11_after_whole_10"], p["read_8_after_0_to_7"], p["read_4095_after_4097"]) == (2, 2, 1), p


def test_fat_walk_to_the_chain_end_leaves_the_position_there(kept_positions):
    """fat_chain_at: a walk that finds the chain's end caches the length and
    moves the node's position to the last cluster, so a write inside the
    last cluster of a 100-cluster file, on a fresh vnode, walks the chain
    once (the length: 100 FAT lookups) and writes without walking again: a
    few lookups more than a fresh vnode's 1-byte read there (99 FAT lookups
    and the data block), not another 99."""
    p = kept_positions
    assert p["read_99_fresh"] == 100 and p["write_in_99_fresh"] <= p["read_99_fresh"] + 5, p


def small_fat16(tmp_path, script="mount\nwrite /f x\nunmount\n"):
    """FAT16's smallest volumes (3 MiB, 512-byte clusters: 6063 clusters, a FAT of
    four 4 KiB blocks) after `script`: (image, its bytes, geometry)."""
    import struct
    image = fat.mkfs(tmp_path / "s.img", 16, 3, 1)
    fat.run(image, script)
    raw = bytearray(image.read_bytes())
    bps, spc, resv, nfats = struct.unpack_from("<HBHB", raw, 11)
    fatsz = struct.unpack_from("<H", raw, 22)[0]
    root_ent, total = struct.unpack_from("<HH", raw, 17)
    total = total or struct.unpack_from("<I", raw, 32)[0]
    nclusters = (total - resv - nfats * fatsz - root_ent * 32 // bps) // spc
    assert 4085 <= nclusters < 65525                                 # FAT16 by its cluster count
    fats = [(resv + i * fatsz) * bps for i in range(nfats)]          # byte offset of each FAT copy
    return image, raw, {"nclusters": nclusters, "csize": spc * bps, "fats": fats, "fat_start": resv * bps}


def test_fat16_mount_counts_free_clusters_a_fat_block_at_a_time(tmp_path):
    """FAT16 has no FSInfo, so mount counts the free clusters itself: one
    pass over the FAT entries of clusters 2 .. count + 1 (FAT spec), each FAT
    block looked up once -- the boot sector and those blocks are all a
    mount reads (buffer-cache lookups), and the count is fsck.fat's."""
    image, _, g = small_fat16(tmp_path, "mount\nwrite /f x\nmkdir /d\nunmount\n")
    first_block = (g["fat_start"] + 2 * 2) // 4096
    last_block = (g["fat_start"] + 2 * (g["nclusters"] + 1)) // 4096
    r = fat.run(image, "mount\nstats\nstatfs\nunmount\n")
    lookups = sum(map(int, re.search(r"hits=(\d+) misses=(\d+)", r.stdout).groups()))
    assert lookups == 1 + last_block - first_block + 1, r.stdout
    assert statfs_counts(r.stdout)[:2] == fat_counts(image)


def test_fat16_full_volume_mounts_with_no_free_clusters(tmp_path):
    """A FAT16 volume filled exactly to its last cluster (a file of the free
    space's size): statfs says no cluster is free; mounted again, counting
    finds none either, and statfs says so (0 free, as fsck.fat counts), not
    an unknown count."""
    image, _, g = small_fat16(tmp_path, "mount\nwrite /small x\nunmount\n")
    free = statfs_counts(fat.run(image, "mount\nstatfs\nunmount\n").stdout)[1]
    r = fat.run(image, f"mount\nfill /big {free * g['csize']} 1\nstatfs\n!ENOSPC write /more x\nunmount\n")
    assert statfs_counts(r.stdout)[1] == 0, r.stdout                 # the last free cluster taken: none left
    r = fat.run(image, "mount\nstatfs\n!ENOSPC write /more x\nunmount\n")
    assert statfs_counts(r.stdout)[:2] == fat_counts(image) == (g["nclusters"], 0), r.stdout


def test_fat_chain_looping_through_the_whole_volume_is_eio_when_freed(tmp_path):
    """A file's chain linking every cluster of the volume and then back to its
    first (a loop, no end mark): unlinking it frees every cluster (each in
    the chain once), and is EIO -- a chain longer than the volume is not a
    chain (fat.h: a FAT loop is -EIO) -- leaving a clean volume."""
    import struct
    image, raw, g = small_fat16(tmp_path)
    n = g["nclusters"]
    for base in g["fats"]:
        for c in range(2, n + 1):
            struct.pack_into("<H", raw, base + 2 * c, c + 1)
        struct.pack_into("<H", raw, base + 2 * (n + 1), 2)
    at = raw.index(b"F          ")
    struct.pack_into("<H", raw, at + 26, 2)
    image.write_bytes(bytes(raw))
    r = fat.run(image, "mount\n!EIO unlink /f\nstatfs\n!ENOENT stat /f\nunmount\n")
    assert statfs_counts(r.stdout)[:2] == fat_counts(image) == (n, n), r.stdout


def test_fat_file_running_off_the_volume_by_its_next_cluster_is_eio(tmp_path):
    """A file whose chain goes from the volume's last cluster to the number
    just past it (FAT spec: clusters run 2 .. count + 1) -- on a device
    larger than the volume, so those bytes exist -- reads its last cluster
    and then EIO: the clusters following each other on disk are read
    together, but only while they are clusters of the volume."""
    import struct
    image, raw, g = small_fat16(tmp_path)
    n, cs = g["nclusters"], g["csize"]
    at = raw.index(b"F          ")
    old = struct.unpack_from("<H", raw, at + 26)[0]
    struct.pack_into("<H", raw, at + 26, n + 1)
    struct.pack_into("<I", raw, at + 28, 2 * cs)
    for base in g["fats"]:
        struct.pack_into("<H", raw, base + 2 * old, 0)
        struct.pack_into("<H", raw, base + 2 * (n + 1), n + 2)
    image.write_bytes(bytes(raw) + b"\xAA" * (1 << 20))
    out = tmp_path / "f.out"
    fat.run(image, f"mount\n!EIO get /f {out}\nunmount\n")
    assert out.stat().st_size == cs and b"\xAA" not in out.read_bytes()


def test_fat_write_to_a_file_with_a_broken_chain_is_eio(tmp_path):
    """A write needs the file's chain length (fat_extend: whether to grow),
    and a chain broken by a free entry has none (FAT spec: a chain ends at
    an end mark; fat.h: such a chain is -EIO): a write is EIO even inside
    the clusters before the break, and the data there stays as it was."""
    image = broken_chain_image(tmp_path, "f", "free")
    out = tmp_path / "f.out"
    fat.run(image, f"mount\n!EIO pwrite /f 0 XY\n!EIO pwrite /f 600 XY\n!EIO get /f {out}\nunmount\n")
    assert out.read_bytes() == pattern(2048, 1)[:len(out.read_bytes())] and len(out.read_bytes()) >= 1024


def test_fat_names_at_each_utf8_length_boundary(tmp_path):
    """Names are UTF-8 at the VFS and UTF-16 in long-name entries (VFAT): the
    first and last character of each UTF-8 length (U+0080, U+07FF, U+0800,
    U+0FFF, U+1000, U+FFFD, U+10000) are stored as their UTF-16 units, listed
    and found again; overlong forms (C0 80, C1 BF, E0 80 80, E0 9F BF,
    F0 8F BF BF), lead bytes no character has (F5, FF) and a missing
    continuation byte are not UTF-8: EINVAL (RFC 3629)."""
    image = fat.layout_image(tmp_path, "fat16")
    names = ["a\u0080", "b\u07ff", "c\u0800", "d\u0fff", "e\u1000", "f\ufffd", "g\U00010000"]
    bad = [b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf", b"\xf5\x80\x80\x80",
           b"\xff", b"\xe0\xa0x"]
    script = "".join(f"write /{n} {i}\n" for i, n in enumerate(names)).encode()
    script += b"".join(b"!EINVAL write /h" + b + b" x\n" for b in bad)
    script += "".join(f"cat /{n}\n" for n in names).encode() + b"unmount\n"
    r = fat_raw(image, b"mount\n" + script)
    assert r.returncode == 0, r.stdout
    r = fat_raw(image, b"mount\nls /\nunmount\n")
    listed = {line.rsplit(b" ", 2)[0].decode() for line in r.stdout.splitlines()
              if line.count(b" ") >= 2 and not line.startswith(b"[kernel]")}
    assert listed == set(names), listed
    data = image.read_bytes()
    for name in names:
        assert (name.encode("utf-16-le") + b"\0\0") in data, name
    fat.fsck_clean(image)


def test_fat_83_names_are_upper_case_for_every_letter(tmp_path):
    """FAT spec (DIR_Name): lower-case characters are not allowed in an 8.3
    name, so each of a .. z is stored as A .. Z, and a name with any lower-case
    letter -- 'a' and 'z' alone too -- keeps its case in a long name: listed
    and found as it was created."""
    image = fat.layout_image(tmp_path, "fat16")
    names = ["abcdefgh.ijk", "lmnopqrs.tuv", "wxyz", "a", "z", "A1.z", "Z9.a"]
    fat.run(image, "mount\n" + "".join(f"write /{n} {i}\n" for i, n in enumerate(names)) + "unmount\n")
    short = [name for name, attr in root_entries(image) if attr != 0x0F]
    assert short == [b"ABCDEFGHIJK", b"LMNOPQRSTUV", b"WXYZ       ", b"A          ", b"Z          ",
                     b"A1      Z  ", b"Z9      A  "], short
    fat.fsck_clean(image)
    r = fat.run(image, "mount\nls /\n" + "".join(f"cat /{n}\n" for n in names) + "unmount\n")
    assert "".join(f"{n} f 1\n" for n in names) in r.stdout, r.stdout


@pytest.mark.parametrize("year", [2024, 2025])
def test_fat_timestamps_in_every_month(tmp_path, year):
    """Entry dates (FAT spec: (year - 1980) << 9 | month << 5 | day) on the
    first and the last day of every month of a leap year and a common year:
    stored as that date, and stat's mtime decoded from it is the time written
    (to FAT's two seconds)."""
    import calendar
    import struct
    image = fat.layout_image(tmp_path, "fat16")
    for mo in range(1, 13):
        for d in (1, calendar.monthrange(year, mo)[1]):
            t = calendar.timegm((year, mo, d, 13, 5, 7, 0, 0, 0))
            name = f"M{mo}D{d}"
            r = fat_raw(image, f"mount\nwrite /{name} x\nmtime /{name}\nunmount\n".encode(),
                        PYOS_HARNESS_TIME=str(t))
            assert f"mtime={t - t % 2}".encode() in r.stdout, (name, r.stdout)
            mdate = struct.unpack_from("<H", fat_entry(image, name.encode().ljust(11)), 24)[0]
            assert mdate == (year - 1980) << 9 | mo << 5 | d, name


def test_fat_write_and_truncate_update_the_modification_time(tmp_path):
    """POSIX: a successful write() or truncate() marks the file's last
    modification time; FAT keeps it in the entry's write date and time
    (FAT spec DIR_WrtDate/DIR_WrtTime), which stat's mtime reads: each of
    append, pwrite and truncate, done later, moves mtime to its own time,
    and the creation time stays."""
    import struct
    image = fat.layout_image(tmp_path, "fat16")
    t0 = 1_700_000_000
    steps = [("write /F.TXT first", t0), ("append /F.TXT more", t0 + 3600), ("pwrite /F.TXT 2 X", t0 + 7200),
             ("truncate /F.TXT 3", t0 + 10800), ("truncate /F.TXT 5000", t0 + 14400)]
    created = None
    for op, t in steps:
        r = fat_raw(image, f"mount\n{op}\nmtime /F.TXT\nunmount\n".encode(), PYOS_HARNESS_TIME=str(t))
        assert f"mtime={t}".encode() in r.stdout, (op, r.stdout)
        ctime_cdate = struct.unpack_from("<HH", fat_entry(image, b"F       TXT"), 14)
        assert created in (None, ctime_cdate), op
        created = ctime_cdate


def test_fat_long_name_with_a_trailing_dot_on_disk_is_found_by_it(tmp_path):
    """A long name ending in a dot or a space (which this plugin refuses to
    create, as Windows does, but another system may have written) is listed
    by readdir and found again by that very name (POSIX: what readdir gives
    can be opened)."""
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nwrite /abcx dot\nwrite /defx space\nunmount\n")
    raw = bytearray(image.read_bytes())
    for name, end in [("abc", "."), ("def", " ")]:
        at = raw.index((name + "x").encode("utf-16-le"))             # the long-name entry's first characters
        assert raw[at - 1] & 0x40 and raw[at - 1 + 11] == 0x0F
        raw[at + 6:at + 8] = end.encode("utf-16-le")
    image.write_bytes(bytes(raw))
    r = fat.run(image, "mount\nls /\ncat /abc.\nunmount\n")      # (ls looks each name up; a script line loses its end's space)
    assert "abc. f 3\ndef  f 5\n" in r.stdout and "\ndot" in r.stdout, r.stdout


def test_fat_truncate_to_the_largest_file_size_is_not_efbig(tmp_path):
    """FAT's file size is 32 bits: 2^32 - 1 bytes is a valid size, so a
    truncate to it on a volume too small for it is ENOSPC (and gives the
    clusters back), while 2^32 is EFBIG (POSIX: larger than the file system
    allows). The same for writes: a byte at offset 2^32 - 2 fits (ENOSPC
    here), one at 2^32 - 1 would make the file 2^32 bytes long (EFBIG)."""
    image, _, g = small_fat16(tmp_path)
    r = fat.run(image, "mount\nstatfs\n!ENOSPC truncate /f 4294967295\n!EFBIG truncate /f 4294967296\n"
                       "!ENOSPC pwrite /f 4294967294 y\n!EFBIG pwrite /f 4294967295 y\nstatfs\ncat /f\nunmount\n")
    free = [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)]
    assert free[0] == free[1] and "\nx" in r.stdout, r.stdout
    fat.fsck_clean(image)


def test_fat32_largest_cluster_count_mounts(tmp_path):
    """FAT32 cluster numbers are 28 bits, 0x0FFFFFF7 marking a bad cluster and
    0x0FFFFFF8 up the end of a chain: Microsoft puts the most clusters a
    FAT32 volume can have at 268,435,445 (2^28 - 11: clusters 2 ..
    0x0FFFFFF6). A volume of exactly that many mounts (statfs counts them,
    a file is written and read back); one cluster more is refused. (A sparse
    image of 128 GiB; FSInfo's free count spares mount the count.)"""
    import struct
    base = fat.mkfs(tmp_path / "f32.img", 32, 34, 1).read_bytes()
    resv, nfats = struct.unpack_from("<HB", base, 14)
    for ncl, ok in [(0x0FFFFFF5, True), (0x0FFFFFF6, False)]:
        fatsz = -(-(ncl + 2) * 4 // 512)
        raw = bytearray(base)
        struct.pack_into("<I", raw, 32, resv + nfats * fatsz + ncl)  # total sectors (one sector a cluster)
        struct.pack_into("<I", raw, 36, fatsz)
        image = tmp_path / "big.img"
        image.write_bytes(bytes(raw))
        with open(image, "r+b") as f:
            f.truncate((resv + nfats * fatsz + ncl) * 512)
        r = fat.run(image, "mount\nstatfs\nwrite /f hello\ncat /f\nls /\nunmount\n" if ok else "mount\n",
                    expect_ok=ok)
        if ok:
            assert f"blocks={ncl} " in r.stdout and "hello" in r.stdout and "f f 5\n" in r.stdout, r.stdout
        else:
            assert "not mounting: too many clusters for the FAT type" in r.stdout, r.stdout
        image.unlink()


def test_fat16_largest_cluster_count_mounts(tmp_path):
    """fatgen103: the cluster count alone decides the FAT type, and a volume of
    65525 clusters or more is FAT32: a FAT16 BPB with 65524 clusters mounts
    (a file written and read back), with 65525 it is refused."""
    import struct
    base = fat.mkfs(tmp_path / "f16.img", 16, 20, 1).read_bytes()
    bps, spc, resv, nfats = struct.unpack_from("<HBHB", base, 11)
    root_secs = struct.unpack_from("<H", base, 17)[0] * 32 // bps
    for ncl, ok in [(65524, True), (65525, False)]:
        fatsz = -(-(ncl + 2) * 2 // bps)
        total = resv + nfats * fatsz + root_secs + ncl * spc
        raw = bytearray(base)
        struct.pack_into("<H", raw, 19, 0)
        struct.pack_into("<I", raw, 32, total)
        struct.pack_into("<H", raw, 22, fatsz)
        image = tmp_path / "big16.img"
        image.write_bytes(bytes(raw[:resv * bps]))                      # the boot sector; the FATs' zeros: all free
        with open(image, "r+b") as f:
            f.seek(resv * bps)
            for _ in range(nfats):                                   # entries 0 and 1: media byte and end mark
                f.write(struct.pack("<HH", 0xFF00 | raw[21], 0xFFFF) + bytes(fatsz * bps - 4))
            f.truncate(total * bps)
        r = fat.run(image, "mount\nstatfs\nwrite /f hello\ncat /f\nunmount\n" if ok else "mount\n", expect_ok=ok)
        if ok:
            assert f"blocks={ncl} free={ncl} " in r.stdout and "hello" in r.stdout, r.stdout
        else:
            assert "not mounting: too many clusters for the FAT type" in r.stdout, r.stdout


def test_fat32_fragmented_chains_past_cluster_65535(tmp_path):
    """FAT32 entries are 28-bit cluster numbers (FAT spec: the high 4 bits of
    the 32-bit entry are reserved, the rest is the next cluster): two files
    grown a cluster at a time in turn have interleaved chains (c, c + 2, ...)
    through clusters 65527 (0xFFF7, FAT16's bad mark, an ordinary cluster
    on FAT32) and 65536 (0x10000, whose low 16 bits are 0); each reads back
    whole in a later mount (mtools agrees), and truncating one to two
    clusters frees exactly the rest of its chain, leaving the other intact."""
    import struct
    image = fat.layout_image(tmp_path, "fat32-512")
    steps = "".join(f"pwrite /a {k * 512} A{k}\npwrite /b {k * 512} B{k}\n" for k in range(14))
    fat.run(image, f"mount\nfill /big {(65521 - 3) * 512} 1\n{steps}unmount\n")
    raw = image.read_bytes()
    at = raw.index(b"A          ")
    first = struct.unpack_from("<H", raw, at + 26)[0] | struct.unpack_from("<H", raw, at + 20)[0] << 16
    assert first == 65521, first
    want = {n: b"".join((n.upper() + str(k)).encode().ljust(512 if k < 13 else 3, b"\0") for k in range(14))
            for n in "ab"}
    seen = fat.extract(image, tmp_path / "out")
    assert (seen["/a"], seen["/b"]) == (want["a"], want["b"])
    fat.run(image, f"mount\nget /a {tmp_path / 'a1'}\nunmount\n")
    assert (tmp_path / "a1").read_bytes() == want["a"]
    fat.run(image, f"mount\nget /b {tmp_path / 'b1'}\nunmount\n")
    assert (tmp_path / "b1").read_bytes() == want["b"]
    r = fat.run(image, "mount\nstatfs\ntruncate /a 1024\nstatfs\nunmount\n")
    free = [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)]
    assert free[1] == free[0] + 12, r.stdout
    fat.fsck_clean(image)
    fat.fat_tables_consistent(image)
    seen = fat.extract(image, tmp_path / "out2")
    assert (seen["/a"], seen["/b"]) == (want["a"][:1024], want["b"])


def test_fat16_every_end_mark_ends_a_chain(tmp_path):
    """fatgen103: a FAT16 entry of 0xFFF8 .. 0xFFFF marks the end of a chain
    (another system may write any of them; this plugin writes 0xFFFF), and
    0xFFF7 marks a bad cluster, which no chain may lead to. Files of two
    clusters whose last entry holds each end mark are whole files: one grown
    past its last cluster (the new cluster linked in), one truncated within
    its last cluster, one unlinked (every cluster freed) -- all without error,
    fsck.fat clean; a chain leading to the bad mark is EIO when read."""
    import struct
    marks = range(0xFFF8, 0x10000)
    script = "mount\n" + "".join(f"fill /{op}{m:x} 1000 {i}\n" for i, m in enumerate(marks) for op in "gtu") \
        + "fill /bad 1000 9\nunmount\n"
    image, raw, g = small_fat16(tmp_path, script)
    for i, m in enumerate(marks):
        for op in "gtu":
            at = raw.index(f"{op.upper()}{m:X}".encode().ljust(11))
            first = struct.unpack_from("<H", raw, at + 26)[0]
            for base in g["fats"]:
                assert struct.unpack_from("<HH", raw, base + 2 * first) == (first + 1, 0xFFFF)
                struct.pack_into("<H", raw, base + 2 * (first + 1), m)
    at = raw.index(b"BAD        ")
    first = struct.unpack_from("<H", raw, at + 26)[0]
    for base in g["fats"]:
        struct.pack_into("<H", raw, base + 2 * first, 0xFFF7)
    image.write_bytes(bytes(raw))
    ops = "".join(f"pwrite /g{m:x} 1100 grown\ntruncate /t{m:x} 900\nunlink /u{m:x}\n" for m in marks)
    r = fat.run(image, f"mount\nstatfs\n{ops}statfs\n!EIO get /bad {tmp_path / 'bad'}\nunmount\n")
    free = [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)]
    assert free[1] == free[0] + len(marks), r.stdout         # two freed by each unlink, one taken by each growth
    raw = bytearray(image.read_bytes())
    for base in g["fats"]:                                   # /bad mended for fsck.fat and mtools
        struct.pack_into("<H", raw, base + 2 * first, first + 1)
    image.write_bytes(bytes(raw))
    fat.fsck_clean(image)
    seen = {k.lower(): v for k, v in fat.extract(image, tmp_path / "out").items()}
    assert seen["/bad"] == pattern(1000, 9)
    for i, m in enumerate(marks):
        assert seen[f"/g{m:x}"] == pattern(1000, i) + bytes(100) + b"grown", m
        assert seen[f"/t{m:x}"] == pattern(900, i), m
        assert f"/u{m:x}" not in seen, m


def test_fat32_search_from_the_last_cluster_wraps_before_the_fat_tail(tmp_path):
    """The FAT's last sector usually holds entries past the last cluster
    (fatgen103: clusters 2 .. count + 1; the rest of the sector is not part of
    the FAT and may hold zeros, which are not free clusters). A volume whose
    last 4 KiB FAT block ends one entry past its last cluster (count = 65533),
    every cluster in use but 5 .. 9, and FSInfo's next-free hint (FSI_Nxt_Free)
    at the cluster before the last: a new file's cluster search starts at the
    last cluster, finds it in use, and wraps to cluster 2 -- the file gets
    cluster 5, never the entry past the volume."""
    import struct
    image = fat.layout_image(tmp_path, "fat32-512")
    fat.run(image, "mount\nwrite /b x\nunmount\n")
    raw = bytearray(image.read_bytes())
    g = fat.Bpb(raw)
    ncl = 65533
    assert g.spc == 1 and g.nclusters > ncl and (g.fat_at(0) + 4 * (ncl + 3)) % 4096 == 0
    for boot in (0, struct.unpack_from("<H", raw, 50)[0] * 512):       # the boot sector and its backup
        struct.pack_into("<I", raw, boot + 32, g.resv + g.nfats * g.fatsz + ncl)   # total sectors: ncl clusters
    at = raw.index(b"B          ")
    assert (struct.unpack_from("<H", raw, at + 20)[0], struct.unpack_from("<H", raw, at + 26)[0]) == (0, 3)
    chain = [3, 4] + list(range(10, ncl + 2))
    struct.pack_into("<I", raw, at + 28, len(chain) * 512)
    for i in range(g.nfats):
        for c, nxt in zip(chain, chain[1:] + [0x0FFFFFFF]):
            struct.pack_into("<I", raw, g.fat_at(i) + 4 * c, nxt)
        assert not any(raw[g.fat_at(i) + 4 * (ncl + 2):g.fat_at(i) + 4 * (ncl + 3)])   # the tail entry: zero
    fsinfo = struct.unpack_from("<H", raw, 48)[0] * 512
    struct.pack_into("<II", raw, fsinfo + 488, 5, ncl)
    image.write_bytes(bytes(raw))
    fat.fsck_clean(image)
    r = fat.run(image, "mount\nstatfs\nwrite /c hello\nstatfs\ncat /c\nunmount\n")
    assert [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)] == [5, 4] and "hello" in r.stdout, r.stdout
    raw = image.read_bytes()
    at = raw.index(b"C          ")
    assert (struct.unpack_from("<H", raw, at + 20)[0], struct.unpack_from("<H", raw, at + 26)[0]) == (0, 5)
    fat.fsck_clean(image)
    fat.fat_tables_consistent(image)


def test_fat32_mount_without_a_free_count_counts_every_entry(tmp_path):
    """FSInfo's free count and next-free hint may be unknown (0xFFFFFFFF, FAT32
    spec: 'the count is unknown', 'no hint'): mount then counts the free
    entries of the whole FAT itself -- every entry, not one a block: statfs
    gives fsck.fat's count -- and a new file's cluster search starts at
    cluster 3 and takes the first free entry, a hole left mid-block by an
    unlinked file (cluster 4)."""
    import struct
    image = fat.layout_image(tmp_path, "fat32-512")
    fat.run(image, "mount\nwrite /a x\nfill /b 2560 1\nwrite /c y\nunlink /b\nunmount\n")
    total, free = fat_counts(image)
    raw = bytearray(image.read_bytes())
    fsinfo = struct.unpack_from("<H", raw, 48)[0] * 512
    struct.pack_into("<II", raw, fsinfo + 488, 0xFFFFFFFF, 0xFFFFFFFF)
    image.write_bytes(bytes(raw))
    r = fat.run(image, "mount\nstatfs\nwrite /d hello\nstatfs\nunmount\n")
    assert f"blocks={total} free={free} " in r.stdout, r.stdout
    assert [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)] == [free, free - 1], r.stdout
    raw = image.read_bytes()
    firsts = {n: struct.unpack_from("<H", raw, raw.index(n.ljust(11).encode()) + 26)[0] for n in "ACD"}
    assert firsts == {"A": 3, "C": 9, "D": 4}, firsts
    fat.fsck_clean(image)
    fat.fat_tables_consistent(image)


def first_clusters(image, *names):
    """{8.3 name: first cluster} of root entries, by their 8.3 names (FAT16: the low half)."""
    import struct
    raw = image.read_bytes()
    return {n: struct.unpack_from("<H", raw, raw.index(n.ljust(11).encode()) + 26)[0] for n in names}


def set_size(raw, name, first, size):
    """Give the root entry with 8.3 name `name` (in the image bytes `raw`,
    its first cluster checked to be `first`: the low half) the size `size`."""
    import struct
    at = raw.index(name.ljust(11).encode())
    assert struct.unpack_from("<H", raw, at + 26)[0] == first
    struct.pack_into("<I", raw, at + 28, size)


def test_fat16_new_directory_clusters_follow_the_last_allocated(tmp_path):
    """A new directory's cluster comes from the same next-fit search as file
    data (as Linux allocates): it starts after the cluster allocated last,
    even when that one and the one before were freed since (clusters 3 and
    4 freed: the directory gets 5); from the volume's end it wraps to cluster
    2 (fatgen103: the first data cluster), free on FAT16; and the very last
    free cluster is given to a directory too, leaving statfs's count at 0."""
    image, _, g = small_fat16(tmp_path, "mount\nwrite /a x\nwrite /b x\nunlink /a\nunlink /b\nmkdir /d\nunmount\n")
    assert first_clusters(image, "D") == {"D": 5}
    fat.fsck_clean(image)
    n = g["nclusters"]
    image, _, g = small_fat16(tmp_path, f"mount\nfill /a {8 * 512} 1\nfill /b {(n - 9) * 512} 2\nunlink /a\n"
                                        f"fill /c {8 * 512} 3\nwrite /e x\nunlink /c\nmkdir /f\nunmount\n")
    assert first_clusters(image, "B", "E", "F") == {"B": 11, "E": 10, "F": 2}     # /a 3 .. 10, /c 2 .. 9
    fat.fsck_clean(image)
    r = fat.run(image, f"mount\nfill /g {6 * 512} 4\nstatfs\nmkdir /h\nstatfs\n!ENOSPC mkdir /i\nunmount\n")
    assert [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)] == [1, 0], r.stdout
    fat.fsck_clean(image)


def test_fat32_fsinfo_after_only_a_new_directory(tmp_path):
    """A mount whose only allocation is a new directory's cluster still
    writes FSInfo back (FAT32 spec: FSI_Free_Count one lower, FSI_Nxt_Free
    the cluster just allocated), and the next allocation -- in a later
    mount, a file -- searches on after that cluster, past a free one left
    before it."""
    import struct
    image = fat.layout_image(tmp_path, "fat32-512")
    fat.run(image, "mount\nwrite /a x\nwrite /b x\nwrite /c x\nunmount\n")
    fsinfo = struct.unpack_from("<H", image.read_bytes(), 48)[0] * 512
    free0, next0 = struct.unpack_from("<II", image.read_bytes(), fsinfo + 488)
    fat.run(image, "mount\nunlink /b\nunmount\nmount\nmkdir /d\nunmount\n")
    raw = image.read_bytes()
    free1, next1 = struct.unpack_from("<II", raw, fsinfo + 488)
    d = first_clusters(image, "A", "C", "D")
    assert d == {"A": 3, "C": 5, "D": 6} and (free1, next1) == (free0, 6), (d, free0, next0, free1, next1)
    fat.fat_tables_consistent(image)
    fat.run(image, "mount\nwrite /e x\nunmount\n")
    assert first_clusters(image, "E") == {"E": 7}
    fat.fsck_clean(image)


def test_fat16_file_filling_the_whole_volume_is_freed_whole(tmp_path):
    """A file holding every cluster of the volume (FAT16: the root directory
    is outside the clusters; the chain runs 3 .. count + 1, then wraps to 2)
    is a chain as long as the volume, not a loop: unlinking it frees every
    cluster without error, and so does truncating a second such file to
    one cluster."""
    image, _, g = small_fat16(tmp_path, "mount\nunmount\n")
    n, cs = g["nclusters"], g["csize"]
    r = fat.run(image, f"mount\nfill /big {n * cs} 1\nstatfs\nunlink /big\nstatfs\n"
                       f"fill /big2 {n * cs} 2\nstatfs\ntruncate /big2 {cs}\nstatfs\nunmount\n")
    assert [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)] == [0, n, 0, n - 1], r.stdout
    fat.fsck_clean(image)
    assert fat_counts(image) == (n, n - 1)


def test_fat16_unlinking_broken_chains_frees_exactly_their_clusters(tmp_path):
    """fatgen103: a FAT entry of 0 marks a free cluster, 0xFFF7 a bad one
    (never to be used, so never freed), 1 is not a cluster number. Files
    whose chains break -- at a free entry, at a cluster marked bad, at a link
    to cluster 1 -- are EIO when unlinked, and exactly the clusters the chain
    held up to the break are freed: not the free one (statfs's free count
    stays the FAT's count of free entries), not the bad one (it keeps its
    mark), not the cluster after the break (another file's); a cluster
    linking to 1 is in the chain, and is freed."""
    import struct
    image, raw, g = small_fat16(tmp_path, "mount\nfill /f 2048 1\nfill /g 512 2\nfill /h 1536 3\nfill /r 1024 4\n"
                                          "unmount\n")
    firsts = first_clusters(image, "F", "G", "H", "R")
    assert firsts == {"F": 3, "G": 7, "H": 8, "R": 11}, firsts
    for base in g["fats"]:
        for c, v in [(5, 0), (9, 0xFFF7), (12, 1)]:
            struct.pack_into("<H", raw, base + 2 * c, v)
    image.write_bytes(bytes(raw))
    r = fat.run(image, "mount\nstatfs\n!EIO unlink /f\n!EIO unlink /h\n!EIO unlink /r\nstatfs\ncheck /g 512 2\nunmount\n")
    raw = image.read_bytes()
    fats = [struct.unpack_from(f"<{g['nclusters'] + 2}H", raw, base) for base in g["fats"]]
    assert fats[0] == fats[1]
    assert fats[0][3:13] == (0, 0, 0, 0xFFFF, 0xFFFF, 0, 0xFFF7, 0xFFFF, 0, 0), fats[0][3:13]
    free = [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)]
    assert free == [free[0], free[0] + 5] and free[1] == fats[0][2:].count(0), (r.stdout, fats[0][2:].count(0))


def test_fat32_every_end_mark_ends_a_chain(tmp_path):
    """fatgen103: a FAT32 entry's high 4 bits are reserved (kept, never read as
    part of the cluster number), and 0x?FFFFFF8 .. 0x?FFFFFFF mark the end of
    a chain. Files of two clusters whose last entry holds each end mark (some
    with reserved bits set), and one whose link has reserved bits set, are
    whole files: one grown past its last cluster, one truncated within its
    last cluster, one unlinked (every cluster freed) -- all without error,
    fsck.fat clean."""
    import struct
    marks = list(range(0x0FFFFFF8, 0x10000000)) + [0xFFFFFFF8, 0x1FFFFFFF]
    names = {m: f"{m:08x}"[-1] + ("h" if m >> 28 else "") for m in marks}
    image = fat.layout_image(tmp_path, "fat32-512")
    fat.run(image, "mount\n" + "".join(f"fill /{op}{names[m]} 1000 {i}\n" for i, m in enumerate(marks)
                                       for op in "gtu") + "unmount\n")
    raw = bytearray(image.read_bytes())
    g = fat.Bpb(raw)
    for m in marks:
        for op in "gtu":
            at = raw.index(f"{op}{names[m]}".upper().encode().ljust(11))
            first = struct.unpack_from("<H", raw, at + 26)[0] | struct.unpack_from("<H", raw, at + 20)[0] << 16
            for i in range(g.nfats):
                base = g.fat_at(i)
                assert struct.unpack_from("<II", raw, base + 4 * first) == (first + 1, 0x0FFFFFFF)
                struct.pack_into("<I", raw, base + 4 * (first + 1), m)
                if m >> 28:                                           # the link too: reserved bits set
                    struct.pack_into("<I", raw, base + 4 * first, (m & 0xF0000000) | (first + 1))
    image.write_bytes(bytes(raw))
    fat.fsck_clean(image)
    ops = "".join(f"pwrite /g{names[m]} 1100 grown\ntruncate /t{names[m]} 900\nunlink /u{names[m]}\n" for m in marks)
    r = fat.run(image, f"mount\nstatfs\n{ops}statfs\nunmount\n")
    free = [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)]
    assert free[1] == free[0] + len(marks), r.stdout         # two freed by each unlink, one taken by each growth
    fat.fsck_clean(image)
    seen = {k.lower(): v for k, v in fat.extract(image, tmp_path / "out").items()}
    for i, m in enumerate(marks):
        assert seen[f"/g{names[m]}"] == pattern(1000, i) + bytes(100) + b"grown", m
        assert seen[f"/t{names[m]}"] == pattern(900, i), m
        assert f"/u{names[m]}" not in seen, m


def test_fat32_growth_takes_free_clusters_a_fat_block_at_a_time(tmp_path):
    """fat_extend takes the free clusters that follow the one its search found
    'one FAT block's worth at most' per pass (a 4 KiB block holds 1024 FAT32
    entries): growing a file by 1024 free clusters in one truncate is one
    pass, by 1025 two -- the second costing its own search, its cluster's
    entry in each FAT copy and the link to it from the first run's end in
    each copy (buffer-cache lookups: 1 + 2 x 2 more), the data zeroed alike."""
    image = fat.layout_image(tmp_path, "fat32-512")
    r = fat.run(image, "mount\nwrite /x y\nwrite /z y\nunlink /x\nstats\ntruncate /z 524800\nstats\nunmount\n"
                       "mount\nwrite /w y\nstats\ntruncate /w 525312\nstats\nunmount\n")
    h = [int(a) + int(b) for a, b in re.findall(r"hits=(\d+) misses=(\d+)", r.stdout)]
    assert h[3] - h[2] == h[1] - h[0] + 1 + 2 * 2, h
    fat.fsck_clean(image)
    fat.fat_tables_consistent(image)


def test_fat_directory_grows_into_zeroed_clusters(tmp_path):
    """fatgen103: a directory's entries run until an entry whose first byte is
    0 (the rest of the cluster free), so a cluster added to a directory must
    be zeroed: a directory grown (by 40 long names: about 8 clusters of 512
    bytes) into clusters a deleted file left full of its data lists exactly
    its names, and fsck.fat finds it clean."""
    image, _, _ = small_fat16(tmp_path, "mount\nfill /junk 16384 5\nunlink /junk\nunmount\n")
    r = fat.run(image, "mount\nmkdir /d\nmkfiles /d 40 a_long_file_name_\nls /d\nunmount\n")
    listed = [line for line in r.stdout.splitlines() if re.fullmatch(r"\S+ [fd] \d+", line)]
    assert sorted(listed) == sorted(f"a_long_file_name_{i} f {len(f'a_long_file_name_{i}') + 1}"
                                    for i in range(40)), r.stdout
    fat.fsck_clean(image)
    assert first_clusters(image, "D") == {"D": 3}                 # where /junk began


def test_fat_truncate_of_a_file_with_a_broken_chain_is_eio(tmp_path):
    """Shrinking a file needs its chain up to the new last cluster, and a
    chain broken by a free entry before that is no chain (fatgen103: a chain
    ends at an end mark; fat.h: -EIO): the truncate is EIO, not success."""
    image = broken_chain_image(tmp_path, "f", "free")
    fat.run(image, "mount\n!EIO truncate /f 1500\nunmount\n")


def test_fat32_failed_fat_reads_along_a_scattered_chain_are_errors(tmp_path):
    """A file whose chain jumps between FAT blocks (clusters 3 -> 2000 -> 4000,
    each entry in a block of its own) makes each chain walk read FAT blocks
    not yet cached (and /e, 4 -> 60000, grown in a mount of its own: the link
    from 60000 goes to a block of each copy not read before), and so does a
    cluster search starting in a block of its
    own (FSInfo's next-free hint at 3000): any one of those device requests
    failing -- in the search, the walk of a truncate, the end mark it
    writes, the freeing of the rest, a growth, an unlink -- is an error
    (EIO), never a crash, and a run in which every operation succeeded has
    left a clean volume."""
    import struct
    image = fat.layout_image(tmp_path, "fat32-512")
    fat.run(image, "mount\nwrite /a x\nwrite /e y\nunmount\n")
    raw = bytearray(image.read_bytes())
    g = fat.Bpb(raw)
    set_size(raw, "A", 3, 1536)
    for i in range(g.nfats):
        for c, nxt in [(3, 2000), (2000, 4000), (4000, 0x0FFFFFFF), (4, 60000), (60000, 0x0FFFFFFF)]:
            struct.pack_into("<I", raw, g.fat_at(i) + 4 * c, nxt)
    set_size(raw, "E", 4, 1024)                                      # /e: clusters 4 -> 60000
    fsinfo = struct.unpack_from("<H", raw, 48)[0] * 512
    free = struct.unpack_from("<I", raw, fsinfo + 488)[0]
    struct.pack_into("<II", raw, fsinfo + 488, free - 3, 3000)        # the next search: from 3001, block 2
    image.write_bytes(bytes(raw))
    fat.fsck_clean(image)
    script = ("mount\nwrite /b x\nunmount\nmount\ntruncate /a 1100\nunmount\nmount\ntruncate /a 600\nunmount\n"
              "mount\npwrite /a 1500 more\nunmount\nmount\nunlink /a\nunmount\nmount\npwrite /e 1100 grown\nunmount\n")
    pristine = image.read_bytes()
    io_error_sweep([fat.filesystem_plugin("fat32")], image, script)
    # and a run in which every operation reported success left a clean volume
    image.write_bytes(pristine)
    for r in each_failed_request([fat.filesystem_plugin("fat32")], image, script):
        if "error" not in r.stdout:
            fat.fsck_clean(image)
            fat.fat_tables_consistent(image)


def test_fat16_mount_fails_when_a_fat_block_cannot_be_read(tmp_path):
    """FAT16 has no FSInfo: mount counts the free clusters by reading the FAT,
    and a FAT block that cannot be read leaves no count -- the mount is EIO
    (each of its reads failing in turn), never a volume with a made-up free
    count."""
    image, _, _ = small_fat16(tmp_path)
    plugins = [fat.filesystem_plugin("fat32")]
    clean = run_fs_script(plugins, image, "mount\nstats\n")
    reads = int(re.search(r"reads=(\d+)", clean.stdout).group(1))
    assert reads >= 2, clean.stdout                                  # the boot sector, the FAT (read ahead)
    for n in range(1, reads + 1):
        r = run_fs_script(plugins, image, "mount\nstatfs\n", fail_request=n)
        assert "mount: error EIO" in r.stdout and "type=fat32" not in r.stdout, (n, r.stdout)


def test_fat32_search_of_a_full_volume_from_its_middle_ends(tmp_path):
    """FSInfo's free count is only a hint (FAT32 spec): on a volume with no
    free cluster whose FSInfo claims 5, and whose next-free hint (3000)
    starts the search in the middle, the search runs to the last cluster,
    wraps to cluster 2, stops where it began -- each entry looked at once --
    and the write is ENOSPC, the count now 0."""
    import struct
    image = fat.layout_image(tmp_path, "fat32-512")
    fat.run(image, "mount\nwrite /b x\nunmount\n")
    raw = bytearray(image.read_bytes())
    g = fat.Bpb(raw)
    chain = list(range(3, g.nclusters + 2))
    set_size(raw, "B", 3, len(chain) * 512)
    entries = struct.pack(f"<{len(chain)}I", *(chain[1:] + [0x0FFFFFFF]))
    for i in range(g.nfats):
        raw[g.fat_at(i) + 12:g.fat_at(i) + 12 + len(entries)] = entries
    fsinfo = struct.unpack_from("<H", raw, 48)[0] * 512
    struct.pack_into("<II", raw, fsinfo + 488, 5, 3000)
    image.write_bytes(bytes(raw))
    r = fat.run(image, "mount\nstats\n!ENOSPC write /c x\nstats\nstatfs\nunmount\n", timeout=60)
    h = [int(a) + int(b) for a, b in re.findall(r"hits=(\d+) misses=(\d+)", r.stdout)]
    fat_blocks = -(-(g.nclusters + 2) * 4 // 4096)
    assert h[1] - h[0] < 2 * fat_blocks + 20, (h, fat_blocks)        # the FAT read about once, not over and over
    assert statfs_counts(r.stdout)[1] == 0, r.stdout


def test_fat_mkdir_that_could_not_write_the_fat_is_an_error(tmp_path):
    """A new directory's cluster is marked in every FAT copy; when a copy's
    block cannot be read (each device request of a mkdir failing in turn),
    mkdir is an error -- a mkdir that reports success has left identical
    FAT copies and a clean volume. (FAT32: mount reads no FAT block, so the
    second copy's block is first read by the mkdir itself.)"""
    image = fat.layout_image(tmp_path, "fat32-512")
    assert errors_or_clean_fats(image, "mkdir /d") > 0


def errors_or_clean_fats(image, operation):
    """`operation` (one script line) after a mount, with each device request
    failing in turn: each run reports an error for it (or for the mount), or,
    having reported success, leaves identical FAT copies and a clean volume.
    How many runs reported the error."""
    errors = 0
    for r in each_failed_request([fat.filesystem_plugin("fat32")], image, f"mount\n{operation}\nunmount\n"):
        if f"{operation}: error" in r.stdout or "mount: error" in r.stdout:
            errors += 1
        elif "unmount: error" not in r.stdout:
            fat.fat_tables_consistent(image)
            fat.fsck_clean(image)
    return errors


def test_fat16_search_after_the_last_cluster_starts_at_cluster_2(tmp_path):
    """The cluster search starts after the cluster allocated last; after the
    volume's last cluster that is cluster 2, the first (fatgen103: clusters
    2 .. count + 1), and nothing past the last is looked at, nor is a full
    volume searched at all: a new directory (it gets cluster 2 either way)
    costs one FAT block lookup less when the last allocation took the last
    cluster than when it took the one before it (the search then looks at
    the last cluster's entry, in use, then wraps) -- and so does a new
    file's first cluster; and a mkdir on a volume
    with no free cluster costs no more than a failed lookup of the name."""
    for make in ["mkdir /x", "write /x y"]:
        search_after_the_last_cluster(tmp_path / make[:5], make)
    (tmp_path / "full").mkdir()
    image, _, g = small_fat16(tmp_path / "full", "mount\nunmount\n")
    r = fat.run(image, f"mount\nfill /big {g['nclusters'] * 512} 1\nstats\n!ENOSPC mkdir /x\nstats\n!ENOENT stat /x\n"
                       "stats\nunmount\n")
    h = [int(a) + int(b) for a, b in re.findall(r"hits=(\d+) misses=(\d+)", r.stdout)]
    assert h[1] - h[0] <= h[2] - h[1], h


def search_after_the_last_cluster(tmp_path, make):
    """The lookups of `make` (it gets cluster 2) after the last allocation took
    the last cluster and after it took the one before: they differ by one."""
    tmp_path.mkdir()
    costs = {}
    for case, script in [("after_last", "fill /b {} 1\n"), ("before_last", "fill /b {} 1\nwrite /w x\nwrite /z x\n"
                                                                             "unlink /w\n")]:
        (tmp_path / case).mkdir()
        image, _, g = small_fat16(tmp_path / case, "mount\nunmount\n")
        n = g["nclusters"]
        fill = (n - 2) * 512 if case == "after_last" else (n - 3) * 512
        fat.run(image, "mount\n" + script.format(fill) + "unmount\n")
        r = fat.run(image, f"mount\nwrite /c x\nstats\n{make}\nstats\nunmount\n")
        h = [int(a) + int(b) for a, b in re.findall(r"hits=(\d+) misses=(\d+)", r.stdout)]
        costs[case] = h[1] - h[0]
        assert first_clusters(image, "C", "X") == {"C": n + 1 if case == "after_last" else n, "X": 2}
        fat.fsck_clean(image)
    assert costs["before_last"] == costs["after_last"] + 1, (make, costs)


def test_fat_unlink_that_could_not_free_in_every_fat_copy_is_an_error(tmp_path):
    """Freeing a file's clusters clears their entries in every FAT copy; when
    a copy's block cannot be read (each device request of an unlink failing
    in turn), unlink is an error -- an unlink that reports success has left
    identical FAT copies, FSInfo's free count equal to the free entries, and
    a clean volume."""
    image = fat.layout_image(tmp_path, "fat32-512")
    fat.run(image, "mount\nfill /f 5000 1\nwrite /g x\nunmount\n")
    assert errors_or_clean_fats(image, "unlink /f") > 0


def test_fat_failed_data_reads_and_writes_are_errors_never_wrong_data(tmp_path):
    """A file's data moves through the buffer cache a block at a time; when
    one of those device requests fails (each in turn), the read or write is
    an error or a short count -- never success with bytes that are not the
    file's: a full check that reports no error read the right bytes, and a
    pwrite (into a block not cached: read first, then written) that reports
    success is on disk afterwards."""
    image, _, _ = small_fat16(tmp_path, "mount\nfill /f 20000 1\nunmount\n")
    pristine = image.read_bytes()
    for script in ["mount\ncheck /f 20000 1\nunmount\n", "mount\npwrite /f 9000 WRITTEN\nunmount\n"]:
        image.write_bytes(pristine)
        for n, r in enumerate(each_failed_request([fat.filesystem_plugin("fat32")], image, script), start=1):
            assert "differs" not in r.stdout, (n, r.stdout)
            if "pwrite" in script and "error" not in r.stdout:
                fat.run(image, f"mount\nget /f {tmp_path / 'got'}\nunmount\n")
                assert (tmp_path / "got").read_bytes()[9000:9007] == b"WRITTEN", n


def test_fat_directory_growth_that_could_not_zero_its_cluster_is_an_error(tmp_path):
    """A cluster added to a directory is zeroed before use (fatgen103: a 0
    first byte ends the entries); when that cannot be done (each device
    request of a mkdir and 200 creates failing in turn, into clusters a
    deleted file left full of data), the create is an error -- a run that
    reports no error has left a clean volume."""
    image, _, _ = small_fat16(tmp_path, "mount\nfill /junk 16384 5\nunlink /junk\nunmount\n")
    script = "mount\nmkdir /d\nmkfiles /d 200 a_long_file_name_\nunmount\n"
    for r in each_failed_request([fat.filesystem_plugin("fat32")], image, script):
        if "error" not in r.stdout:
            fat.fsck_clean(image)


# ----------------------- one read failing when fat_table.c first needs a block (C)

@pytest.fixture(scope="module")
def failures_exe(tmp_path_factory):
    """tests/fs_fat32_failures.c, built like the other direct C tests."""
    return fat.build_open_test(tmp_path_factory.mktemp("failures"), "fs_fat32_failures.c")


def failing_read(failures_exe, tmp_path, scenario):
    """fs_fat32_failures.c's `scenario` on a fresh FAT32 volume of 512-byte
    clusters (its checks passed): its stdout."""
    image = fat.layout_image(tmp_path, "fat32-512")
    r = subprocess.run([str(failures_exe), str(image), scenario], capture_output=True, text=True, timeout=120,
                       env={"ASAN_OPTIONS": "detect_leaks=1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and r.stdout.endswith("ok\n"), r.stdout + r.stderr
    assert "past the end of the device" not in r.stdout, r.stdout
    return r.stdout


def test_fat_growth_whose_link_cannot_be_written_in_every_fat_copy_is_eio(failures_exe, tmp_path):
    """Writes go to every FAT copy (fat_table.c's header: the copies stay
    identical): a file growing by a cluster is linked to it from its last
    cluster in each copy, and when the second copy's block holding that
    entry cannot be read (the one request reading it fails, the cache empty
    just before), the write is EIO -- not success with a second FAT copy
    whose chain ends before the new cluster."""
    assert "link_write=-5 failed=1" in failing_read(failures_exe, tmp_path, "link")


def test_fat_truncate_whose_end_mark_cannot_be_written_in_every_fat_copy_is_eio(failures_exe, tmp_path):
    """The same for a shrink: the new last cluster gets the end mark in each
    FAT copy; the second copy's block failing to read makes the truncate EIO
    (not success, with that copy's chain still running through the clusters
    freed)."""
    assert "cut_truncate=-5 failed=1" in failing_read(failures_exe, tmp_path, "cut")


def test_fat_truncate_that_cannot_read_the_new_last_entry_is_eio_and_cuts_nothing(failures_exe, tmp_path):
    """A shrink reads the new last cluster's FAT entry to see whether the
    chain goes on past it; when that entry's block (not the block of the
    entries before it) cannot be read, the truncate is EIO and nothing has
    changed: the file's 1100-cluster chain is whole in both copies, and it
    keeps its size, so fsck.fat finds no entry shorter than its chain."""
    assert "trim_truncate=-5 failed=1" in failing_read(failures_exe, tmp_path, "trim")
    fat.fsck_clean(tmp_path / "fat32-512.img")     # failing_read's image (fat.layout_image)


def test_fat_truncate_whose_cut_off_part_cannot_be_freed_is_eio_with_the_size_of_the_cut_chain(failures_exe,
                                                                                              tmp_path):
    """A shrink cuts the chain (an end mark at the new last cluster), then
    frees the clusters cut off; when a FAT block of that part cannot be read,
    the truncate is EIO, but the chain now ends at the new last cluster and
    the file's size is the new one: an entry never says more than its chain
    holds."""
    assert "free_truncate=-5 failed=1" in failing_read(failures_exe, tmp_path, "free")


def test_fat_directory_growth_whose_cluster_cannot_be_zeroed_is_eio(failures_exe, tmp_path):
    """A directory's new cluster is zeroed before use (fatgen103: a 0 first
    byte ends the entries); with 512-byte clusters in 4 KiB blocks that reads
    the cluster's block first, and when that read fails, the create that
    needed the cluster is EIO -- not a name added to a cluster never zeroed."""
    assert "zero_create=-5 failed=1" in failing_read(failures_exe, tmp_path, "zero")


def test_fat_growth_whose_cluster_search_cannot_read_the_fat_is_eio_at_once(failures_exe, tmp_path):
    """A growth searches the FAT for a free cluster; when the search's FAT
    block cannot be read, the write is EIO at once: that failed request is
    the device's only error, and nothing is asked past the device's end."""
    assert "grow_write=-5 failed=1 errors=1 requests=1" in failing_read(failures_exe, tmp_path, "search")


def test_fat_changes_set_archive_and_keep_the_other_attributes(tmp_path):
    """FAT spec (DIR_Attr): ATTR_ARCHIVE is set whenever a file is created,
    renamed or written to, so backup tools know it changed; the other
    attribute bits (read-only, hidden, system), which another system set,
    are the file's own and a write does not touch them. Files whose entries
    hold hidden|system (and read-only) with the archive bit clear, appended
    to or truncated: afterwards each holds its old bits plus archive, and
    the read-only one still stats as mode 0444."""
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nwrite /A.TXT a\nwrite /B.TXT b\nwrite /C.TXT c\nunmount\n")
    raw = bytearray(image.read_bytes())
    attrs = {b"A       TXT": 0x06, b"B       TXT": 0x07, b"C       TXT": 0x06}     # archive clear
    for name, attr in attrs.items():
        raw[raw.index(name) + 11] = attr
    image.write_bytes(bytes(raw))
    r = fat.run(image, "mount\nappend /A.TXT more\ntruncate /B.TXT 5000\npwrite /C.TXT 0 C\nstat /B.TXT\nunmount\n")
    assert "mode=0o100444" in r.stdout, r.stdout
    assert {n: fat_entry(image, n)[11] for n in attrs} == {n: a | 0x20 for n, a in attrs.items()}
    fat.fsck_clean(image)


def test_fat16_64k_clusters_mount(tmp_path):
    """The largest cluster the plugin takes is 64 KiB (bytes per sector x
    sectors per cluster = 65536, as Windows NT and Linux use on big FAT16
    volumes; fat_mount refuses only what exceeds it): a FAT16 volume of
    128 sectors a cluster mounts, stat gives that cluster size, and a file
    spanning three clusters reads back, mtools and fsck.fat agreeing."""
    image = fat.mkfs(tmp_path / "c64.img", 16, 300, 128)
    r = fat.run(image, "mount\nfill /f 140000 3\nstatdev /f\ncheck /f 140000 3\nstatfs\nunmount\n")
    assert "blksize=65536" in r.stdout and "block_size=65536" in r.stdout, r.stdout
    fat.fsck_clean(image)
    assert fat.extract(image, tmp_path / "out")["/f"] == pattern(140000, 3)


def test_fat32_fsinfo_outside_the_reserved_area_is_not_used(tmp_path):
    """FAT32 spec: BPB_FSInfo is the sector number of FSInfo in the reserved
    area (0 or a number past it: no FSInfo to use). A BPB naming a sector
    past the reserved area -- here a file's data, holding a sector that
    looks like FSInfo with a wrong free count -- is not read as FSInfo and
    never written: mount counts the free clusters itself (statfs gives the
    true count), and after writes and an unmount the file's bytes are
    unchanged. The same for the first sector past the reserved area (FAT
    0's first sector) made to hold FSInfo's signatures and a count."""
    import struct
    image = fat.layout_image(tmp_path, "fat32-512")
    fake = bytearray(512)
    struct.pack_into("<I", fake, 0, 0x41615252)
    struct.pack_into("<III", fake, 484, 0x61417272, 7, 100)
    struct.pack_into("<I", fake, 508, 0xAA550000)
    (tmp_path / "fake").write_bytes(bytes(fake))
    r = fat.run(image, f"mount\nput {tmp_path / 'fake'} /DATA\nstatfs\nunmount\n")
    free = statfs_counts(r.stdout)[1]
    raw = bytearray(image.read_bytes())
    g = fat.Bpb(raw)
    first = first_clusters(image, "DATA")["DATA"]
    sector = g.resv + g.nfats * g.fatsz + (first - 2) * g.spc
    for boot in (0, struct.unpack_from("<H", raw, 50)[0] * 512):      # the boot sector and its backup
        struct.pack_into("<H", raw, boot + 48, sector)
    image.write_bytes(bytes(raw))
    r = fat.run(image, f"mount\nstatfs\nwrite /x y\nstatfs\nunmount\nmount\nget /DATA {tmp_path / 'got'}\nunmount\n")
    assert [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)] == [free, free - 1], r.stdout
    assert (tmp_path / "got").read_bytes() == bytes(fake)
    # the first sector past the reserved area (FAT 0's first), holding the same signatures and count
    raw = bytearray(image.read_bytes())
    for boot in (0, struct.unpack_from("<H", raw, 50)[0] * 512):
        struct.pack_into("<H", raw, boot + 48, g.resv)
    fat0 = g.fat_at(0)
    for off in (0, 484, 488, 492, 508):                      # FAT entries 0, 121, 122, 123, 127 (free ones)
        raw[fat0 + off:fat0 + off + 4] = fake[off:off + 4]
    image.write_bytes(bytes(raw))
    entries = struct.unpack_from(f"<{g.nclusters + 2}I", raw, fat0)
    free = sum(1 for e in entries[2:] if e & 0x0FFFFFFF == 0)
    r = fat.run(image, "mount\nstatfs\nunmount\n")
    assert statfs_counts(r.stdout)[1] == free, r.stdout


def test_fat32_sync_writes_fsinfo_only_when_it_changed(tmp_path):
    """fat_ops.c: the free count and the last-allocated hint are written back
    to FSInfo by sync() -- when they changed since the last write-back: a
    sync after a write writes FSInfo, a second sync with nothing changed
    looks nothing up and writes nothing (device writes and buffer-cache
    lookups unchanged), and neither does unmount after it."""
    image = fat.layout_image(tmp_path, "fat32-512")
    r = fat.run(image, "mount\nwrite /f x\nsync\nstats\nsync\nstats\nunmount\nstats\n")
    counts = [tuple(map(int, m)) for m in re.findall(r"writes=(\d+) .* hits=(\d+) misses=(\d+)", r.stdout)]
    assert counts[0] == counts[1] == counts[2], counts
    fat.fat_tables_consistent(image)


def test_fat_83_names_starting_with_any_high_byte(tmp_path):
    """8.3 names may hold bytes above 0x7F (an OEM code page's letters; this
    plugin shows them as Latin-1), and only a first byte of 0xE5 (deleted)
    or 0 (end of directory) has a meaning of its own (FAT spec, DIR_Name[0];
    0xE5 itself is stored as 0x05). Entries another system wrote whose
    first byte is each of 0x80 .. 0xFF but 0xE5 are listed by that Latin-1
    character and found, stat'ed and read by it."""
    image = fat.layout_image(tmp_path, "fat16")
    highs = [b for b in range(0x80, 0x100) if b != 0xE5]
    fat.run(image, "mount\n" + "".join(f"write /Q{b:X}.TXT {b:x}\n" for b in highs) + "unmount\n")
    raw = bytearray(image.read_bytes())
    for b in highs:
        at = raw.index(f"Q{b:X}".encode().ljust(8) + b"TXT")
        raw[at] = b
    image.write_bytes(bytes(raw))
    names = {b: chr(b) + f"{b:X}.TXT" for b in highs}           # e.g. 0xA7: 'QA7.TXT' -> '§A7.TXT'
    r = fat_raw(image, ("mount\nls /\n" + "".join(f"cat /{n}\n" for n in names.values()) + "unmount\n").encode())
    assert r.returncode == 0, r.stdout
    out = r.stdout.decode()
    for b, n in names.items():
        assert f"\n{n} f {len(f'{b:x}')}\n" in out and f"{b:x}" in out, (hex(b), out[-2000:])


def test_fat_lookup_of_a_name_no_entry_can_have_is_enoent(tmp_path):
    """A name FAT cannot store (a character long names refuse: FAT spec,
    " * / : < > ? \\ |, a control character; or bytes that are not UTF-8)
    names no entry: looking it up -- stat, cat, unlink, rmdir, the old name
    of a rename -- is ENOENT (there is no such file), not EINVAL, which
    only creating such a name is."""
    image = fat.layout_image(tmp_path, "fat16")
    bad = [b"a:b", b"what?", b"x*y", b"pipe|d", b"\xff", b"\xc0\x80", b"ctl\x01"]
    script = b"mount\nwrite /f x\nmkdir /d\n"
    for n in bad:
        script += (b"!ENOENT stat /" + n + b"\n!ENOENT cat /" + n + b"\n!ENOENT unlink /" + n +
                   b"\n!ENOENT rmdir /" + n + b"\n!ENOENT rename /" + n + b" /g\n!ENOENT stat /d/" + n +
                   b"\n!EINVAL mkdir /" + n + b"\n")
    r = fat_raw(image, script + b"unmount\n")
    assert r.returncode == 0, r.stdout


def test_fat_truncate_that_could_not_update_the_entry_is_an_error(tmp_path):
    """A truncate that grows a file ends by writing its new size and first
    cluster into its directory entry (node_update); growing by more than
    the buffer cache holds (1 MiB) pushes the entry's block out, so that
    write reads it again. With each device request of such a truncate
    failing in turn, a truncate that reports success has its size on disk
    (a later mount stats it) and leaves a clean volume; one that cannot
    write its entry is an error."""
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nmkdir /d\nwrite /d/f x\nunmount\n")
    for r in each_failed_request([fat.filesystem_plugin("fat32")], image, "mount\ntruncate /d/f 1500000\nunmount\n"):
        if "error" not in r.stdout:
            assert "size=1500000 " in fat.run(image, "mount\nstat /d/f\nunmount\n").stdout
            fat.fsck_clean(image)


def test_fat_rmdir_of_a_file_is_enotdir(tmp_path):
    """POSIX rmdir(): a name that is not a directory is ENOTDIR, whatever the
    file holds -- nothing, data, or a cluster of zeros that would read as an
    empty directory's entries -- and the file stays, with its data."""
    image = fat.layout_image(tmp_path, "fat16")
    r = fat.run(image, "mount\nwrite /e \nwrite /f data\nwrite /z x\ntruncate /z 0\ntruncate /z 4096\nmkdir /d\n"
                       "write /d/g more\n!ENOTDIR rmdir /e\n!ENOTDIR rmdir /f\n!ENOTDIR rmdir /z\n!ENOTDIR rmdir /d/g\n"
                       "unmount\nmount\nls /\nls /d\nunmount\n")
    assert "e f 0\nf f 4\nz f 4096\nd d 0\n" in r.stdout and "\ng f 4\n" in r.stdout, r.stdout
    fat.fsck_clean(image)


@pytest.mark.parametrize("how", ["range", "not_dotdot", "cycle"])
def test_fat_rename_into_a_directory_with_a_broken_parent_chain_is_eio(tmp_path, how):
    """rename() refuses to move a directory into itself or a descendant, which
    it checks by walking up from the new parent through the '..' entries
    (FAT spec: a directory's second entry, '..', names its parent's first
    cluster, 0 for the root). A walk that meets a '..' naming a cluster past
    the volume, a directory whose second entry is not '..', or '..' entries
    that loop (a -> b -> a) is EIO at once -- never a hang -- and nothing
    moves."""
    import struct
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nmkdir /a\nmkdir /a/b\nmkdir /m\nwrite /m/x y\nunmount\n")
    raw = bytearray(image.read_bytes())
    g = fat.Bpb(raw)
    data = g.fat_at(g.nfats) + g.root_ent * 32
    a_dir = data + (first_clusters(image, "A")["A"] - 2) * g.spc * g.bps
    b = struct.unpack_from("<H", raw, raw.index(b"B          ", a_dir) + 26)[0]
    assert raw[a_dir + 32:a_dir + 43] == b"..         "
    if how == "range":
        struct.pack_into("<H", raw, a_dir + 32 + 26, 0xFFF0)
    elif how == "not_dotdot":
        raw[a_dir + 32:a_dir + 43] = b"XX         "
    else:
        struct.pack_into("<H", raw, a_dir + 32 + 26, b)
    image.write_bytes(bytes(raw))
    r = fat.run(image, "mount\n!EIO rename /m /a/b/m\nls /m\n!ENOENT stat /a/b/m\nunmount\n", timeout=20)
    assert "\nx f 1\n" in r.stdout, r.stdout


def test_fat_rename_into_a_full_directory_is_enospc_and_moves_nothing(tmp_path):
    """FAT16's root directory has a fixed number of entries (BPB_RootEntCnt)
    and cannot grow: renaming a file into a full root is ENOSPC -- over
    another file's name too -- and nothing changes: the file keeps its old
    name and data, the other file stays, fsck.fat finds the volume clean."""
    image = fat.layout_image(tmp_path, "fat16")
    n = fat.Bpb(image.read_bytes()).root_ent
    r = fat.run(image, f"mount\nmkdir /D\nwrite /D/f data\nmkfiles / {n - 1} F\n!ENOSPC write /X y\n"
                       "!ENOSPC rename /D/f /NEW\n!ENOSPC rename /D/f /F0\nunmount\n"
                       "mount\nls /D\ncat /F0\n!ENOENT stat /NEW\nunmount\n")
    assert "\nf f 4\n" in r.stdout and "\nF0\n" in r.stdout, r.stdout
    fat.fsck_clean(image)


def test_fat_rename_walk_up_a_parent_loop_reads_one_parent_per_cluster(tmp_path):
    """The walk up from a rename's new parent (is it inside the directory
    being moved?) is bounded by the cluster count (fat.h: every walk is, so
    a loop is EIO, never a hang), and by no more: each directory has a
    cluster of its own, so once the walk has met one directory more than
    the volume has clusters it has met one twice -- a loop in the '..'
    entries -- and reading another '..' could tell nothing new. On a volume
    whose /a and /a/b name each other in '..', a rename into /a/b costs
    (in buffer-cache lookups, one a '..' entry read) exactly count - 2
    more than the same rename stopped by a '..' out of range after two
    reads."""
    import struct
    costs = {}
    for how in ["range", "cycle"]:
        (tmp_path / how).mkdir()
        image, raw, g = small_fat16(tmp_path / how, "mount\nmkdir /a\nmkdir /a/b\nmkdir /m\nunmount\n")
        b = fat.Bpb(raw)
        data = b.fat_at(b.nfats) + b.root_ent * 32
        a_dir = data + (first_clusters(image, "A")["A"] - 2) * g["csize"]
        b_first = struct.unpack_from("<H", raw, raw.index(b"B          ", a_dir) + 26)[0]
        struct.pack_into("<H", raw, a_dir + 32 + 26, 0xFFF0 if how == "range" else b_first)
        image.write_bytes(bytes(raw))
        r = fat.run(image, "mount\nstats\n!EIO rename /m /a/b/m\nstats\nunmount\n", timeout=20)
        h = [int(a) + int(m) for a, m in re.findall(r"hits=(\d+) misses=(\d+)", r.stdout)]
        costs[how] = h[1] - h[0]
    assert costs["cycle"] - costs["range"] == g["nclusters"] - 2, (costs, g["nclusters"])


def test_fat_dot_names_are_never_an_83_name(tmp_path):
    """A name starting with '.' (other than the '.' and '..' entries) has no
    8.3 form: FAT spec, DIR_Name[0] may not be a space and an 8.3 base may
    not be empty, so such names are long names only. On a volume holding
    an invalid entry whose 8.3 name is all spaces (as a broken system may
    leave it), looking up '.x' or '.profile' does not find that entry: they
    are ENOENT, are created beside it, and read back as themselves."""
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nwrite /BLANK blank\nunmount\n")
    raw = bytearray(image.read_bytes())
    at = raw.index(b"BLANK      ")
    raw[at:at + 11] = b" " * 11
    image.write_bytes(bytes(raw))
    r = fat.run(image, "mount\n!ENOENT stat /.x\n!ENOENT stat /.profile\nwrite /.x dot\nwrite /.profile rc\n"
                       "cat /.x\ncat /.profile\nunmount\n")
    assert "\ndotrc" in r.stdout, r.stdout                   # cat prints no newline


def test_fat_timestamps_around_the_400_year_leap_rules(tmp_path):
    """Entry dates (FAT spec: (year - 1980) << 9 | month << 5 | day) on the
    days the Gregorian calendar's century rules decide: 2000 is a leap year
    (divisible by 400) and 2100 is not; around 2000-03-01, where a 400-year
    cycle of days starts, and 2100's end of February: each day stored as
    that date and stat's mtime decoded to the time written (to FAT's two
    seconds)."""
    import calendar
    import struct
    image = fat.layout_image(tmp_path, "fat16")
    days = [(1999, 12, 31), (2000, 2, 28), (2000, 2, 29), (2000, 3, 1), (2000, 3, 2), (2000, 3, 5), (2000, 3, 6),
            (2000, 12, 31), (2001, 3, 1), (2100, 2, 28), (2100, 3, 1), (2104, 2, 29), (2107, 12, 31)]
    for i, (y, mo, d) in enumerate(days):
        t = calendar.timegm((y, mo, d, 23, 59, 59, 0, 0, 0))
        name = f"D{i}"
        r = fat_raw(image, f"mount\nwrite /{name} x\nmtime /{name}\nunmount\n".encode(), PYOS_HARNESS_TIME=str(t))
        assert f"mtime={t - t % 2}".encode() in r.stdout, ((y, mo, d), r.stdout)
        mdate = struct.unpack_from("<H", fat_entry(image, name.encode().ljust(11)), 24)[0]
        assert mdate == (y - 1980) << 9 | mo << 5 | d, (y, mo, d)


def test_fat_tail_numbers_are_the_smallest_unused_in_that_directory(tmp_path):
    """fat_dir.c: a name that needs a ~N tail gets the smallest N not used by
    an 8.3 name of the same basis in that directory (Microsoft's basis-name
    rule): numbers used in another directory do not count, and a number
    freed by an unlink (or a rename away) is used again."""
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nmkdir /A\nmkdir /B\nwrite /A/a_long_name_1 1\nwrite /A/a_long_name_2 2\n"
                   "write /A/a_long_name_3 3\nwrite /B/a_long_name_4 4\nunlink /A/a_long_name_1\n"
                   "write /A/a_long_name_5 5\nrename /A/a_long_name_2 /B/moved\nwrite /A/a_long_name_6 6\n"
                   "write /A/a_long_name_7 7\nunmount\n")
    r = fat.run(image, "mount\nreaddir /A\nreaddir /B\nunmount\n")
    raw = image.read_bytes()
    shorts = {}
    for line in r.stdout.splitlines():
        m = re.fullmatch(r"(\S+) ino=(\d+) type=\S+", line)
        if m:
            at = int(m.group(2)) * 32
            shorts[m.group(1)] = raw[at:at + 11].decode().rstrip()
    assert shorts == {"a_long_name_3": "A_LONG~3", "a_long_name_5": "A_LONG~1", "a_long_name_6": "A_LONG~2",
                      "a_long_name_7": "A_LONG~4", "a_long_name_4": "A_LONG~1", "moved": "MOVED"}, shorts
    fat.fsck_clean(image)



def test_fat_create_after_a_failed_lookup_in_a_subdirectory_costs_no_rescan(kept_positions):
    """What fat_dir.c promises (struct fat_plan: the scan of a lookup that
    found nothing says where the name would go, so the create that usually
    follows need not scan again) in a subdirectory's cluster chain, kept
    open: creating a name right after its lookup failed costs the same
    buffer-cache lookups in a directory of 40 files as in one of 156."""
    p = kept_positions
    assert p["create_after_lookup_40"] == p["create_after_lookup_156"], p


def test_fat_create_after_an_unlink_takes_the_freed_slot(kept_positions):
    """A name's entries go in the first run of free slots of its directory
    (fat_dir.c, scan_for): a removal frees slots, so it also voids what a
    lookup that found nothing had worked out (fat_plan) -- in a directory
    kept open, a failed lookup of NEWX, an unlink of the directory's first
    file, then the create of NEWX: NEWX's 8.3 entry is where that file's
    was (the same ino), not past the other entries."""
    assert kept_positions["create_after_unlink_in_the_freed_slot"] == 1, kept_positions


# -- the eighth round: survivors of whole-file runs (coverage-selected tests) -----------------

def readdir_names(stdout: str) -> list[str]:
    """The names the harness's `readdir` printed, in order (each line: NAME ino=.. type=..)."""
    return [m.group(1) for m in re.finditer(r"^(.*) ino=\d+ type=\S+$", stdout, re.M)]


def test_fat16_full_root_lists_each_entry_once_and_nothing_past_it(tmp_path):
    """FAT16's root has a fixed number of entries; with every one taken there
    is no end mark, so the scan ends at the root's last entry: a listing
    shows each name once, and nothing of the data area right behind the root
    (here the first cluster: directory D, holding f) is taken for root
    entries."""
    image = fat.layout_image(tmp_path, "fat16")
    n = fat.Bpb(image.read_bytes()).root_ent
    r = fat.run(image, f"mount\nmkdir /D\nwrite /D/f data\nmkfiles / {n - 1} F\nreaddir /\n!ENOENT stat /f\n"
                       "unmount\n")
    names = readdir_names(r.stdout)
    assert sorted(names) == sorted(["D", *(f"F{i}" for i in range(n - 1))]), names[-5:]


def test_fat_longest_long_name_is_found_and_listed(tmp_path):
    """A long name of FAT_LFN_MAX (255) characters -- 20 long-name entries,
    the last one holding 8 -- is read back whole: found by lookup, listed by
    that name, after a remount too."""
    image = fat.layout_image(tmp_path, "fat16")
    name = "n" * 254 + "x"
    r = fat.run(image, f"mount\nmkdir /d\nwrite /d/{name} max\nunmount\nmount\nreaddir /d\ncat /d/{name}\n"
                       f"unlink /d/{name}\n!ENOENT stat /d/{name}\nunmount\n")
    assert "max" in r.stdout and readdir_names(r.stdout) == [name], r.stdout
    fat.fsck_clean(image)


def test_fat_modes_follow_the_directory_and_read_only_attributes(tmp_path):
    """FAT has no permissions: stat gives a directory (the root too) 0755, a
    file 0644, and a file with the read-only attribute (set by mattrib) 0444."""
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nmkdir /d\nwrite /f x\nwrite /r y\nunmount\n")
    subprocess.run(["mattrib", "+r", "-i", str(image), "::/R"], check=True, env=fat.MTOOLS_ENV, capture_output=True)
    r = fat.run(image, "mount\nstat /\nstat /d\nstat /f\nstat /r\nunmount\n")
    assert re.findall(r"mode=(0o\d+)", r.stdout) == ["0o40755", "0o40755", "0o100644", "0o100444"], r.stdout


def test_fat16_entries_keep_the_high_cluster_word_zero(tmp_path):
    """On FAT16 an entry's high word of the first cluster (bytes 20-21,
    DIR_FstClusHI) must be 0 (fatgen103); the plugin ignores it when
    reading, so only the image shows it: files written and truncated,
    directories made, their '.' and '..' entries, and a directory moved
    into another (its '..' rewritten)."""
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nmkdir /D\nmkdir /E\nwrite /F x\nwrite /D/G y\ntruncate /D/G 5000\n"
                   "rename /E /D/E\nunmount\n")
    data = image.read_bytes()
    entries = [fat_entry(image, name) for name in (b"D          ", b"F          ", b"G          ", b"E          ")]
    dots = [data[at:at + 32] for at in range(0, len(data), 32) if data[at:at + 11] in (b".          ", b"..         ")]
    assert len(dots) == 4 and all(e[20:22] == b"\0\0" for e in entries + dots), [e[20:22] for e in entries + dots]


def test_fat_volumes_with_larger_sectors_mount(tmp_path):
    """BPB_BytsPerSec may be 512, 1024, 2048 or 4096 (fatgen103): volumes
    made with each by mkfs.fat mount, take a file and stay clean."""
    for bps in (1024, 2048, 4096):
        image = tmp_path / f"s{bps}.img"
        with open(image, "wb") as f:
            f.truncate(32 << 20)
        subprocess.run(["mkfs.fat", "-F", "16", "-S", str(bps), "-s", "1", str(image)], check=True, capture_output=True)
        r = fat.run(image, "mount\nwrite /f sectors\nunmount\nmount\ncat /f\nunmount\n")
        assert "sectors" in r.stdout, (bps, r.stdout)
        fat.fsck_clean(image)


def test_fat_devices_not_a_whole_number_of_4k_blocks(tmp_path):
    """fat_mount's block size (fat.h): 4096 bytes when the device is a whole
    number of them, else the largest of 2048, 1024, 512 that divides it (but
    never below the sector size), so that no block reaches past the
    device's end. FAT16 volumes on devices of 3 MiB and 512, 1024 or 2048
    bytes, filled to their last cluster: every cluster is written and read
    back, nothing is asked past the end, the volume stays clean, and the
    mount says the block size. A volume of 4096-byte sectors on a device
    with 512 bytes more keeps blocks of 4096 (its sectors)."""
    for extra, bsize in [(512, 512), (1024, 1024), (2048, 2048)]:
        image = tmp_path / f"odd{extra}.img"
        with open(image, "wb") as f:
            f.truncate((3 << 20) + extra)
        subprocess.run(["mkfs.fat", "-F", "16", "-s", "1", str(image)], check=True, capture_output=True)
        free = statfs_counts(fat.run(image, "mount\nstatfs\nunmount\n").stdout)[1]
        r = fat.run(image, f"mount\nfill /all {free * 512} 4\nstatfs\nunmount\nmount\ncheck /all {free * 512} 4\n"
                           "unmount\n")
        assert f"block size {bsize}\n" in r.stdout and "past the end" not in r.stdout, (extra, r.stdout)
        assert statfs_counts(r.stdout)[1] == 0, (extra, r.stdout)
        fat.fsck_clean(image)
    image = tmp_path / "s4096.img"
    with open(image, "wb") as f:
        f.truncate((32 << 20) + 512)
    subprocess.run(["mkfs.fat", "-F", "16", "-S", "4096", "-s", "1", str(image)], check=True, capture_output=True)
    r = fat.run(image, "mount\nwrite /f sectors\nunmount\nmount\ncat /f\nunmount\n")
    assert "block size 4096\n" in r.stdout and "sectors" in r.stdout, r.stdout
    fat.fsck_clean(image)


def test_fat32_fsinfo_is_used_only_with_its_three_signatures(tmp_path):
    """FSInfo (FAT32 spec) is known by three signatures: FSI_LeadSig
    0x41615252 at offset 0, FSI_StrucSig 0x61417272 at 484, FSI_TrailSig
    0xAA550000 at 508. With any one of them wrong the sector is not FSInfo:
    its free count (here a wrong one) is not used -- mount counts the free
    clusters itself, statfs gives the true count before and after a write --
    and nothing of the reserved area (boot sector, that sector, the backup)
    is written: its bytes are the same after the unmount.
    With all three right the count is trusted when it is plausible, that is
    at most the cluster count (as Linux takes it; here every cluster said
    free); a count past the cluster count is counted instead, and the
    counted value written back at unmount though nothing else changed,
    with FSI_Nxt_Free then the cluster the plugin's searches start after
    (2) when FSInfo gave no hint (0xFFFFFFFF: unknown)."""
    import struct
    image = fat.layout_image(tmp_path, "fat32-512")
    fat.run(image, "mount\nwrite /a x\nmkdir /d\nunmount\n")
    total, free = fat_counts(image)
    good = image.read_bytes()
    fsinfo = struct.unpack_from("<H", good, 48)[0] * 512
    assert fat.Bpb(good).nclusters == total
    for sig in (0, 484, 508):
        raw = bytearray(good)
        struct.pack_into("<I", raw, fsinfo + 488, 7)
        raw[fsinfo + sig] ^= 0x01
        image.write_bytes(bytes(raw))
        r = fat.run(image, "mount\nstatfs\nwrite /x y\nstatfs\nunmount\n")
        assert [int(x) for x in re.findall(r"\bfree=(\d+)", r.stdout)] == [free, free - 1], (sig, r.stdout)
        reserved = struct.unpack_from("<H", good, 14)[0] * 512     # boot sector, FSInfo, backup: none written
        assert image.read_bytes()[:reserved] == raw[:reserved], sig
    for count, seen, after in [(total, total, total), (total + 1, free, free)]:
        raw = bytearray(good)
        struct.pack_into("<II", raw, fsinfo + 488, count, 0xFFFFFFFF)
        image.write_bytes(bytes(raw))
        r = fat.run(image, "mount\nstatfs\nunmount\n")
        assert statfs_counts(r.stdout)[1] == seen, (count, r.stdout)
        # written back when counted: the count, and with no hint given, the search's start (cluster 2)
        assert struct.unpack_from("<II", image.read_bytes(), fsinfo + 488) == \
            ((after, 0xFFFFFFFF) if count == total else (after, 2)), count


@pytest.mark.parametrize("layout", ["fat32-512", "fat16"])
def test_fat_statfs_fills_every_field(tmp_path, layout):
    """statfs fills every field (fs.h; the harness poisons the struct first):
    the type is the plugin's name, blocks are clusters (their size, their
    count, the free ones as fsck.fat counts them), and FAT has no inode
    table, so files and files_free are 0, as fs.h says for a filesystem
    with no such limit."""
    image = fat.layout_image(tmp_path, layout)
    r = fat.run(image, "mount\nwrite /f x\nstatfs\nunmount\n")
    total, free = fat_counts(image)
    g = fat.Bpb(image.read_bytes())
    assert f"type=fat32 block_size={g.bps * g.spc} blocks={total} free={free} files=0 files_free=0\n" in r.stdout, \
        r.stdout


def test_fat_files_in_a_directory_in_the_volumes_last_cluster(tmp_path):
    """Every cluster of the volume may hold a directory, the last one
    (nclusters + 1) too: on a FAT16 volume whose clusters 3 .. n are taken
    by a file, a new directory gets cluster n + 1, the last, and a file in it
    (its entry in that cluster) is found, stat'ed and read back after a
    remount, and unlinked, leaving a clean volume."""
    image, _, g = small_fat16(tmp_path, "mount\nunmount\n")
    n = g["nclusters"]
    r = fat.run(image, f"mount\nfill /big {(n - 2) * 512} 1\nmkdir /d\nwrite /d/f hello\nunmount\n"
                       "mount\nstat /d/f\ncat /d/f\nunmount\n")
    assert first_clusters(image, "D") == {"D": n + 1}
    assert "size=5 " in r.stdout and "hello" in r.stdout, r.stdout
    fat.fsck_clean(image)
    fat.run(image, "mount\nunlink /d/f\nrmdir /d\nunmount\n")
    fat.fsck_clean(image)


def lfn_checksum(short_name: bytes) -> int:
    """The checksum a long name's entries carry of their 8.3 name (FAT spec, VFAT)."""
    s = 0
    for c in short_name:
        s = (((s & 1) << 7) + (s >> 1) + c) & 0xFF
    return s


def test_fat_only_the_first_name_byte_and_the_attribute_mark_an_entry_unused(tmp_path):
    """FAT spec (DIR_Name, DIR_Attr): a 0 or 0xE5 first name byte marks an entry
    free, and the attribute byte a long-name entry or a volume label;
    nothing else does. Entries another system may leave -- an 8.3 name with
    0xE5 ('å') as its second byte, with 0x01 as its first or 0 as its second
    (reached by their long names, whose checksums match), one with every low
    bit set in the NT reserved byte (DIR_NTRes, offset 12) -- are files:
    found, stat'ed and read."""
    image = fat.layout_image(tmp_path, "fat16")
    fat.run(image, "mount\nwrite /QXB.TXT one\nwrite /NTRES.TXT two\nwrite /first_byte_one three\n"
                   "write /second_byte_zero four\nunmount\n")
    raw = bytearray(image.read_bytes())
    raw[raw.index(b"QXB     TXT") + 1] = 0xE5
    raw[raw.index(b"NTRES   TXT") + 12] = 0x0F                   # 0x08: the base shown in lower case
    for short, at_byte, value in [(b"FIRST_~1   ", 0, 0x01), (b"SECOND~1   ", 1, 0x00)]:
        at = raw.index(short)
        raw[at + at_byte] = value
        k = at - 32
        while raw[k + 11] == 0x0F:                                # its long-name entries, before it
            raw[k + 13] = lfn_checksum(bytes(raw[at:at + 11]))
            k -= 32
        assert k < at - 32
    image.write_bytes(bytes(raw))
    r = fat_raw(image, "mount\nstat /QåB.TXT\ncat /QåB.TXT\nstat /ntres.TXT\ncat /ntres.txt\n"
                       "stat /first_byte_one\ncat /first_byte_one\nstat /second_byte_zero\ncat /second_byte_zero\n"
                       "unmount\n".encode())
    assert r.returncode == 0, r.stdout
    sizes = [int(x) for x in re.findall(rb"mode=0o100644 nlink=1 size=(\d+)", r.stdout)]
    assert sizes == [3, 3, 5, 4] and all(t in r.stdout for t in (b"one", b"two", b"three", b"four")), r.stdout


@pytest.mark.parametrize("layout", ["fat32-512", "fat16"])
def test_fat_root_directory_has_no_modification_time(tmp_path, layout):
    """FAT keeps a file's times in its directory entry, and the root directory
    has none: stat gives the root an mtime of 0, which fs.h defines as
    'unknown' (the harness fills the struct with other bytes first), while a
    file has its entry's time."""
    image = fat.layout_image(tmp_path, layout)
    r = fat.run(image, "mount\nwrite /f x\nmtime /\nmtime /f\nunmount\n")
    times = [int(t) for t in re.findall(r"mtime=(\d+)", r.stdout)]
    assert times[0] == 0 and times[1] > 0, r.stdout


def test_fat_stat_of_a_file(tmp_path):
    """stat of a file: one link, its size, and blocks (512-byte units) for the
    whole clusters its size needs -- none for an empty file, one cluster for
    1 byte and for exactly a cluster, two for a byte more -- with st_dev the
    mount's index (the harness mounts as 3) and st_blksize the cluster size."""
    image = fat.layout_image(tmp_path, "fat16")
    csize = fat.Bpb(image.read_bytes()).spc * 512
    sizes = [0, 1, csize, csize + 1]
    r = fat.run(image, "mount\n" + "".join(f"fill /f{s} {s} 1\nstat /f{s}\n" for s in sizes) + "statdev /f1\nunmount\n")
    stats = re.findall(r"nlink=(\d+) size=(\d+) blocks=(\d+)", r.stdout)
    assert stats == [("1", str(s), str(-(-s // csize) * csize // 512)) for s in sizes], r.stdout
    assert f"dev=3 blksize={csize}\n" in r.stdout, r.stdout


def test_fat_writes_at_and_past_the_end_of_a_file_with_data(tmp_path):
    """POSIX write(): bytes between a file's old end and a write past it read
    as zeros, and the file's own bytes stay -- for a hole after 1000 bytes of
    data (the zeros run from byte 1000 to 5000, no further); and a write
    that overwrites a file's last bytes where its data fills its last cluster
    exactly (no hole at all) is an ordinary overwrite. The zeros go where
    the hole is and nowhere else: in a file cut from 3000 bytes to 1000
    (its first cluster keeping the old bytes past the cut, as FAT leaves
    them), a write at 1500 zeroes 1000 .. 1499 only, the cluster's bytes
    past the new end are not written."""
    import struct
    image = fat.layout_image(tmp_path, "fat16")
    csize = fat.Bpb(image.read_bytes()).spc * 512
    fat.run(image, f"mount\nfill /h 1000 3\npwrite /h 5000 Z\nfill /full {csize} 4\npwrite /full {csize - 2} YZ\n"
                   "fill /cut 3000 5\ntruncate /cut 1000\npwrite /cut 1500 Z\nunmount\n")
    seen = fat.extract(image, tmp_path / "out")
    assert seen["/h"] == pattern(1000, 3) + bytes(4000) + b"Z"
    assert seen["/full"] == pattern(csize - 2, 4) + b"YZ"
    old = pattern(3000, 5)
    assert seen["/cut"] == old[:1000] + bytes(500) + b"Z"
    raw = image.read_bytes()
    g = fat.Bpb(raw)
    at = g.fat_at(g.nfats) + g.root_ent * 32 + (first_clusters(image, "CUT")["CUT"] - 2) * csize
    assert raw[at + 1501:at + csize] == old[1501:csize]
    fat.fsck_clean(image)


def test_fat_write_that_finds_no_space_changes_nothing(tmp_path):
    """A write with not one byte of room (ENOSPC: the volume full and the
    offset at the end of the file's last cluster) changes nothing: the file
    keeps its size and data, and its entry its modification time (the
    harness's clock moved on in between)."""
    image, _, g = small_fat16(tmp_path, "mount\nunmount\n")
    t0 = 1700000000
    r = fat_raw(image, f"mount\nwrite /f x\nstatfs\nunmount\n".encode(), PYOS_HARNESS_TIME=str(t0))
    free = statfs_counts(r.stdout.decode())[1]
    fat_raw(image, f"mount\nfill /big {free * 512} 1\nunmount\n".encode(), PYOS_HARNESS_TIME=str(t0))
    r = fat_raw(image, b"mount\n!ENOSPC pwrite /f 512 y\nmtime /f\nstat /f\ncat /f\nunmount\n",
                PYOS_HARNESS_TIME=str(t0 + 3600))
    assert r.returncode == 0 and f"mtime={t0}".encode() in r.stdout and b"size=1 " in r.stdout, r.stdout
    fat.fsck_clean(image)
