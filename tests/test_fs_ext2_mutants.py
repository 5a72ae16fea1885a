"""The ext2 plugin on fixed, repeatable workloads, judged by the host's own
tools: the tests `python -m mutation fs` runs for every mutant of ext2.c
(the random-seeded workloads of test_fs_ext2.py are too long and not
repeatable for that). A compile-time check and the broad workloads come first, since the mutation
run stops at the first failure.

ext2 runs on small block groups (mke2fs -g), so the group arithmetic of the
block and inode allocators (the goal's group, the next group when one is
full, a short last group) is used on every run; e2fsck -fn checks every
bitmap, count, link count and directory; the free counts statfs reports
must be e2fsck's; debugfs must extract exactly the model's tree.
"""

from __future__ import annotations

import random
import re
import subprocess

import pytest

from . import test_fs_ext2 as e2
from vmm.harness.fs import pattern, run_fs_script

E2FSCK_SUMMARY = re.compile(r": (\d+)/(\d+) files \(.*\), (\d+)/(\d+) blocks")
STATFS = re.compile(r"type=\w+ block_size=(\d+) blocks=(\d+) free=(\d+) files=(\d+) files_free=(\d+)")


def e2fsck_counts(image):
    """(blocks, free blocks, inodes, free inodes) as e2fsck counts them from the bitmaps."""
    out = e2.fsck_clean(image)
    used_i, inodes, used_b, blocks = map(int, E2FSCK_SUMMARY.search(out).groups())
    return blocks, blocks - used_b, inodes, inodes - used_i


def statfs_counts(stdout):
    """The last statfs line: (blocks, free, files, files_free)."""
    bs, blocks, free, files, ffree = map(int, STATFS.findall(stdout)[-1])
    return blocks, free, files, ffree


# A compile-time check first: the quickest to fail.
def test_ext2_functions_all_return_a_value():
    """Every path of a non-void function returns a value (falling off the end is
    undefined behaviour in C, whatever a given build happens to return):
    the plugin compiles with -Werror=return-type."""
    from vmm.harness.fs import return_type_errors
    assert return_type_errors(e2.filesystem_plugin("ext2")) == ""


# ------------------------------------------------------------------ workloads first

def small_groups_image(tmp_path, src, bsize=1024, size_kib=6144, per_group=1024, inodes=384):
    """Six block groups (the last one short) of 1024 blocks, 64 inodes each."""
    return e2.mkfs(tmp_path / "g.img", src, bsize, 128, size_kib, "-g", str(per_group), "-N", str(inodes))


def small_source(tmp_path):
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "b" / "deep").write_bytes(b"deep\n" * 50)
    (src / "double").write_bytes(random.Random(3).randbytes((12 + 256 + 2) * 1024 + 77))
    for i in range(30):
        (src / "a" / f"s-{i:02d}").write_bytes(bytes([i]) * (i * 97))
    return src


@pytest.mark.parametrize("seed", [16, 17])
def test_ext2_small_groups_workload(tmp_path, seed):
    """A fixed workload over many small groups: files spill from a full group into
    the next ones, directories spread, everything is freed again; afterwards the
    image is clean, holds exactly the model's tree, and statfs agreed with e2fsck."""
    plugins = [e2.filesystem_plugin("ext2")]
    src = small_source(tmp_path)
    image = small_groups_image(tmp_path, src)
    model = e2.Model(e2.host_tree(src))
    script = ["mount", "mkfiles /a 70 m"]      # more inodes than the parent's group has
    for i in range(70):
        model.tree[f"/a/m{i}"] = bytearray(f"m{i}\n".encode())
    big = 1_300_000                            # more than a group's blocks: spills over
    script += [f"fill /a/b/big {big} 5", f"check /a/b/big {big} 5", "truncate /a/b/big 300000"]
    model.tree["/a/b/big"] = bytearray(pattern(big, 5)[:300000])
    script += e2.generate(model, random.Random(seed), 200, 2_500_000)
    script += ["tree /", "statfs", "unmount"]
    result = e2.harness(plugins, image, "\n".join(script))
    assert e2.harness_tree(result.stdout) == e2.tree_lines(model.frozen())
    assert statfs_counts(result.stdout) == e2fsck_counts(image)
    assert e2.rdump(image, tmp_path / "out") == model.frozen()


def requests_so_far(stdout):
    """Device requests (reads, writes, flushes) at the last `stats` line."""
    return sum(map(int, re.findall(r"reads=(\d+) writes=(\d+) .* flushes=(\d+)", stdout)[-1]))


def io_error_sweep(plugins, image, script):
    """Run `script` once per device request, failing that request: every run
    must end in errors (EIO) or success, never a crash, a sanitizer report or a hang."""
    pristine = image.read_bytes()
    clean = run_fs_script(plugins, image, script + "stats\n")
    assert clean.returncode == 0, clean.stdout
    requests = requests_so_far(clean.stdout)
    failed = sum(result.returncode == 1 for result in
                 _each_failing(plugins, image, pristine, script, "fail_request", requests))
    assert failed > 0                        # the errors were noticed


def each_failed_request(plugins, image, script):
    """The script's run with each device request failing in turn (as
    io_error_sweep's), each on a fresh copy of the image as it is now, for
    a test's own checks of each result."""
    pristine = image.read_bytes()
    clean = run_fs_script(plugins, image, script + "stats\n")
    requests = requests_so_far(clean.stdout)
    return _each_failing(plugins, image, pristine, script, "fail_request", requests)


def _each_failing(plugins, image, pristine, script, option, count, first=1):
    """The script's run on a fresh copy of the image with the n-th request or
    allocation failing (option fail_request / fail_alloc = n), for n = first..count;
    each must end in errors or success, never a crash or a sanitizer report."""
    for n in range(first, count + 1):
        image.write_bytes(pristine)
        result = run_fs_script(plugins, image, script, timeout=60, **{option: n})
        out = result.stdout + result.stderr
        assert result.returncode in (0, 1), f"{option} {n}: status {result.returncode}\n{out[-3000:]}"
        assert "Sanitizer" not in out and "runtime error" not in out, f"{option} {n}\n{out[-3000:]}"
        yield result


IO_SCRIPT = """mount
ls /
cat /d/f3
write /d/new hello
mkdir /d/sub
fill /d/big 300000 1
truncate /d/big 10
rename /d/f2 /g
unlink /d/f4
rmdir /d/sub
fill /more 400000 2
sync
unmount
"""


def alloc_failure_sweep(plugins, image, script, allocations=40):
    """Run `script` once for each of its first `allocations` kmalloc calls, that
    one failing (the harness's --fail-alloc): every run must end in errors or
    success, never a crash or a sanitizer report, and the plugin's own
    allocations (the mount's state: the first ones after the buffer cache's)
    must come back as ENOMEM."""
    outcomes = set()
    for result in _each_failing(plugins, image, image.read_bytes(), script, "fail_alloc", allocations):
        outcomes.update(re.findall(r"^mount: error (\w+)", result.stdout, re.M))
    assert "ENOMEM" in outcomes, outcomes


ALLOC_SCRIPT = "mount\nmkdir /d\nwrite /d/a hello\nls /d\ncat /d/a\nrename /d/a /b\nunlink /b\nrmdir /d\nunmount\n"


def test_ext2_allocation_failures_never_crash(tmp_path):
    """Any one failed kernel allocation (the mount's state, its group
    descriptors, a vnode's) is an error (ENOMEM, or the error of the operation
    that needed it), never a crash."""
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    alloc_failure_sweep([e2.filesystem_plugin("ext2")], image, ALLOC_SCRIPT)


def test_ext2_io_errors_never_crash(tmp_path):
    """A failed read or write of any one request, anywhere in mount, lookups,
    allocation, truncation, sync and unmount, comes back as an error."""
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(6):
        (src / "d" / f"f{i}").write_bytes(bytes([i]) * (i * 700))
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    io_error_sweep(plugins, image, IO_SCRIPT)


def ext2_blocks(image, path):
    """The blocks debugfs lists for a file, in file order (indirect blocks included)."""
    out = subprocess.run(["debugfs", "-R", f"blocks {path}", str(image)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_ext2_block_allocation_goals(tmp_path):
    """Where a new block goes (ext2.c alloc_block/bmap): the block after the file's
    last one when free; when that group is full, the first free block of the
    *next* group, counted from the group's first block (bit 0 included: with
    flex_bg a group may start with data); a goal past the end of the disk is no
    goal, so the search starts at group 0; a file extended later continues after
    its own last block even when a block before it came free; and blocks
    allocated one after another by one write follow each other, also across a
    group boundary while the group left behind has free blocks.

    The image: six groups of 1024 blocks (flex_bg: groups 2 and 4 have no
    metadata at all), filled by files of sizes chosen to end on group edges."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "g.img", None, 1024, 128, 6144, "-g", "1024", "-N", "384", "-O", "flex_bg")
    K = 1024
    files = [("/z0", 20), ("/p0", 732), ("/m", 50), ("/p1", 776), ("/g2", 100), ("/r1a", 1734), ("/s", 12),
             ("/r1b", 1019), ("/g5", 50)]
    script = ["mount"] + [f"fill {name} {n * K} {i}" for i, (name, n) in enumerate(files)]
    # the disk full: a file's first block, a new double-indirect tree: ENOSPC, nothing changed
    result = e2.harness(plugins, image, "\n".join(script + ["!ENOSPC fill /rest 10000000 8", "stat /rest",
                                                             "!ENOSPC write /none x", "!ENOSPC pwrite /z0 307200 x",
                                                             "stat /none", "stat /z0", "statfs", "unmount"]))
    assert re.search(r"\bfree=0 ", result.stdout)
    assert re.search(r"size=0 blocks=0\n", result.stdout)                    # /none
    assert re.search(rf"size={20 * K} blocks={21 * 2}\n", result.stdout)    # /z0
    # the layout the sizes were chosen for: files one after the other, group by group
    spans = {name: (min(ext2_blocks(image, name)), max(ext2_blocks(image, name))) for name, _ in files + [("/rest", 0)]}
    assert spans == {"/z0": (268, 288), "/p0": (289, 1024), "/m": (1218, 1268), "/p1": (1269, 2048),
                     "/g2": (2049, 2149), "/r1a": (2150, 4084), "/s": (4085, 4096), "/r1b": (4097, 5120),
                     "/g5": (5314, 5364), "/rest": (5365, 6143)}
    rest_size = int(re.search(r"size=(\d+)", result.stdout).group(1))
    # free a run in group 0, the start of group 2 and a run in group 5, then extend
    e2.harness(plugins, image, f"""
        mount
        unlink /z0
        unlink /g2
        unlink /g5
        pwrite /m {50 * K} m
        pwrite /rest {rest_size} r
        write /p p
        write /x x
        unlink /p
        pwrite /x {K} y
        unmount
    """)
    e2.fsck_clean(image)
    # /m's group 1 is full: the next group's first block, not group 0's free run
    assert ext2_blocks(image, "/m")[-1] == 2049
    # /rest ends at the last block: its goal is past the end, so group 0 first
    assert ext2_blocks(image, "/rest")[-1] == 268
    # /p took 269 and /x 270; /p's block came free, but /x goes on after its own last block
    assert ext2_blocks(image, "/x") == [270, 271]
    # /p1 ends at 2048, group 1's last block; /m's blocks in group 1 come free: /p1's two new
    # blocks (one write) are 2049, group 2's first, and the block after it, not one back in group 1
    e2.harness(plugins, image, f"mount\nunlink /m\npwrite /p1 {776 * K} {'q' * 2 * K}\nunmount\n")
    assert ext2_blocks(image, "/p1")[-2:] == [2049, 2050]
    # the same for a new indirect block: /s's twelve direct blocks end at 4096, group 3's last;
    # with groups 3 and 4 emptied, its single-indirect block goes to 4097 and its data to 4098
    e2.harness(plugins, image, f"mount\nunlink /r1a\nunlink /r1b\npwrite /s {12 * K} q\nunmount\n")
    assert sorted(ext2_blocks(image, "/s"))[-2:] == [4097, 4098]


def test_ext2_double_free_is_refused_and_not_counted(tmp_path):
    """A block the bitmap already says is free is not freed again: the plugin
    reports it, stops freeing that file (e2fsck can sort out the rest) and does
    not count the block as free a second time."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    e2.harness(plugins, image, "mount\nfill /f 3000 1\nunmount\n")
    blocks = ext2_blocks(image, "/f")
    assert len(blocks) == 3
    subprocess.run(["debugfs", "-w", "-R", f"freeb {blocks[-1]}", str(image)], check=True, capture_output=True)
    result = e2.harness(plugins, image, "mount\nstatfs\nunlink /f\nstatfs\nunmount\n")
    assert f"freeing block {blocks[-1]}, which is already free" in result.stdout
    before, after = (int(m) for m in re.findall(r"\bfree=(\d+)", result.stdout))
    assert after - before == 2
    # under an indirect block: the 12 direct blocks and the two before the bad one are freed, then it stops
    e2.harness(plugins, image, "mount\nfill /g 20480 1\nunmount\n")
    blocks = ext2_blocks(image, "/g")
    assert len(blocks) == 21                              # 12 direct, the indirect block, 8 under it
    subprocess.run(["debugfs", "-w", "-R", f"freeb {blocks[15]}", str(image)], check=True, capture_output=True)
    result = e2.harness(plugins, image, "mount\nstatfs\nunlink /g\nstatfs\nunmount\n")
    assert f"freeing block {blocks[15]}, which is already free" in result.stdout
    before, after = (int(m) for m in re.findall(r"\bfree=(\d+)", result.stdout))
    assert after - before == 14


def test_ext2_truncate_leaves_the_kept_blocks_alone(tmp_path):
    """Truncating to exactly the end of the single-indirect range keeps that whole
    range as it is: its indirect block is not even read, so a damaged pointer to it
    does not fail the truncate (the double-indirect tree after it is freed)."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    end = (12 + 256) * 1024
    e2.harness(plugins, image, f"mount\nfill /f {end + 3000} 1\nunmount\n")
    bsize, isize, ipg, bb, ib, it = e2.layout(image)
    ino = int(re.search(r"ino=(\d+)", e2.harness(plugins, image, "mount\nstat /f\nunmount\n").stdout).group(1))
    e2.poke(image, it * bsize + (ino - 1) * isize + 40 + 12 * 4, (0xFFFFFF).to_bytes(4, "little"))
    result = e2.harness(plugins, image, f"mount\ntruncate /f {end}\nstat /f\nunmount\n")
    assert f"size={end}" in result.stdout


@pytest.mark.parametrize("extra,seed", [(("-O", "^filetype"), 16), (("-r", "0"), 17)], ids=["no-filetype", "revision-0"])
def test_ext2_older_layouts_fixed_workload(tmp_path, extra, seed):
    """Directory entries without a file type byte (it is the high byte of a
    16-bit name length there: new entries must leave it 0) and revision 0
    (128-byte inodes, no features), on a fixed workload."""
    plugins = [e2.filesystem_plugin("ext2")]
    src = small_source(tmp_path)
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 8192, *extra)
    model = e2.Model(e2.host_tree(src))
    script = ["mount"] + e2.generate(model, random.Random(seed), 150, 2_000_000) + ["tree /", "unmount"]
    result = e2.harness(plugins, image, "\n".join(script))
    assert e2.harness_tree(result.stdout) == e2.tree_lines(model.frozen())
    e2.fsck_clean(image)
    assert e2.rdump(image, tmp_path / "out") == model.frozen()


SB = 1024      # the superblock's offset; its fields below by their offsets in it
BAD_SUPERBLOCKS = [
    (24, "<I", 3, "block size"),                     # 8 KiB blocks
    (24, "<I", 22, "block size"), (24, "<I", 32, "block size"),   # 1024 << 22 wraps to 0; << 32 is undefined
    (76, "<I", 2, "revision level above 1"),
    (88, "<H", 64, "inode size"), (88, "<H", 2048, "inode size"), (88, "<H", 192, "inode size"),
    (20, "<I", 0, "first data block"),               # 1 KiB blocks: the superblock's block is 1
    (32, "<I", 0, "blocks per group"), (32, "<I", 8 * 1024 + 8, "blocks per group"),
    (32, "<I", 1001, "blocks per group"),
    (40, "<I", 0, "inodes per group"), (40, "<I", 8 * 1024 + 8, "inodes per group"),
    (4, "<I", 3, "block count"),
    (0, "<I", 0, "inode count"), (0, "<I", 257, "inode count"),
    (0, "<I", 1, "first inode"),                     # a count of 1 is one: it is the first inode (11) that does not fit
    (84, "<I", 2, "first inode"), (84, "<I", 257, "first inode"),
]


def test_ext2_superblock_checks(tmp_path):
    """Each superblock field the plugin relies on is range-checked at mount: a
    value out of range is EINVAL with the field named; the edge values are
    accepted (first_ino may be the last inode)."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048, "-N", "256")
    good = image.read_bytes()
    assert struct.unpack_from("<II", good, SB) == (256, 2048)       # inodes, blocks: one group
    for offset, fmt, value, why in BAD_SUPERBLOCKS:
        image.write_bytes(good)
        e2.poke(image, SB + offset, struct.pack(fmt, value))
        result = e2.harness(plugins, image, "!EINVAL mount\n")
        assert f"bad superblock: {why}" in result.stdout, (offset, value, result.stdout)
    # the edge values pass their own check (the image, made for other values, may then fail a
    # later one): 8 blocks per group, e2fsck's smallest (and 24: bit 3 set); 8 x 1024 inodes per
    # group, the most a bitmap block holds; a block count of first data block + 3
    for offset, value, field in ((32, 8, "blocks per group"), (32, 24, "blocks per group"),
                                 (40, 8 * 1024, "inodes per group"), (4, 4, "block count")):
        image.write_bytes(good)
        e2.poke(image, SB + offset, struct.pack("<I", value))
        out = run_fs_script(plugins, image, "mount\n").stdout
        assert f"bad superblock: {field}" not in out, (field, value, out)
    image.write_bytes(good)
    e2.poke(image, SB + 84, struct.pack("<I", 256))
    e2.harness(plugins, image, "mount\nls /\nunmount\n")
    # six groups of 64 inodes: the inode count must leave the last group at least one
    groups = small_groups_image(tmp_path, None)
    e2.poke(groups, SB, struct.pack("<I", 5 * 64))
    assert "bad superblock: inode count" in run_fs_script(plugins, groups, "!EINVAL mount\n").stdout
    # an inode as large as a block (mke2fs -I 1024 with 1 KiB blocks) is the largest, and fine
    big = e2.mkfs(tmp_path / "big-inodes.img", None, 1024, 1024, 2048)
    e2.harness(plugins, big, "mount\nmkdir /d\nwrite /d/f hello\ncat /d/f\nunmount\n")
    e2.fsck_clean(big)


def test_ext2_failed_indirect_block_is_given_back(tmp_path):
    """A disk whose writes fail fills the buffer cache with dirty buffers it
    cannot evict, until no buffer is left for a new block. When that happens
    while a file grows a double-indirect tree -- for the tree's root, for the
    indirect block under it, or for the data block -- the write is EIO and
    the file owns exactly the blocks the free count lost: a block that could
    not be given a buffer (the data block too) is freed and not linked, and no buffer stays held (the
    harness counts the references at unmount, whose sync then fails with EIO).
    The amount written first decides where the cache runs out; every stage
    is reached by one of them."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    good = image.read_bytes()
    stages = set()
    for kib in range(240, 252):
        image.write_bytes(good)
        result = run_fs_script(plugins, image, f"mount\nfailwrites\nfill /a {kib * 1024} 1\nwrite /f x\n"
                                                f"stat /f\nstatfs\npwrite /f 274432 x\nstat /f\nstatfs\n"
                                                f"unmount\n")
        out = result.stdout
        assert "AddressSanitizer" not in out + result.stderr and "runtime error" not in out + result.stderr, out
        if "pwrite /f 274432 x: error EIO" not in out:
            continue
        before, after = (int(b) // 2 for b in re.findall(r"ino=\d+ .* blocks=(\d+)\n", out))
        free_before, free_after = (int(f) for f in re.findall(r"\bfree=(\d+)", out))
        assert after - before == free_before - free_after, (kib, out)
        assert "unmount: error EIO" in out and "still held" not in out, (kib, out)
        stages.add(after - before)
    assert stages == {0, 1, 2}, stages       # failed at the root, at the indirect block, at the data block


def test_ext2_file_size_limit_without_large_file(tmp_path):
    """Without the large_file feature (revision 0 has no features) a file ends
    below 2 GiB: a write stops at 2^31 - 1 (what fits is written, then EFBIG);
    one starting there, or a truncate past it, is EFBIG. With large_file, 4 GiB and more is fine."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "r0.img", None, 1024, 128, 2048, "-r", "0")
    result = e2.harness(plugins, image, """
        mount
        !EFBIG pwrite /f 2147483647 x
        !EFBIG truncate /f 2147483648
        !EFBIG pwrite /f 2147483646 xyz
        stat /f
        truncate /f 2147483647
        unmount
    """)
    assert "size=2147483647 " in result.stdout
    image = e2.mkfs(tmp_path / "r1.img", None, 1024, 128, 2048)
    result = e2.harness(plugins, image, "mount\npwrite /f 4294967296 big\nstat /f\nunmount\n")
    assert "size=4294967299 " in result.stdout


def test_ext2_mount_refuses_inconsistent_metadata(tmp_path):
    """Group descriptors that count more free inodes than the superblock says
    exist, and a root inode that is not a directory, are EIO at mount, named."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None)          # six groups of 64 inodes
    good = image.read_bytes()
    # 383 inodes still needs six groups; every group then claims 64 free (384 > 383)
    e2.poke(image, SB, struct.pack("<I", 383))
    e2.poke(image, 2048 + 14, struct.pack("<H", 64))   # group 0's free inodes count
    result = e2.harness(plugins, image, "!EIO mount\n")
    assert "group descriptors count more free blocks or inodes than exist" in result.stdout
    image.write_bytes(good)
    bsize, isize, ipg, bb, ib, it = e2.layout(image)
    e2.poke(image, it * bsize + isize, struct.pack("<H", 0o100644))      # inode 2: a regular file
    result = e2.harness(plugins, image, "!EIO mount\n")
    assert "the root inode is not a directory" in result.stdout


def test_ext2_truncate_to_the_same_size_writes_only_the_inode(tmp_path):
    """Truncating a file to the size it has changes only its times: the inode's
    block is written back, no data block is read or written (a shorter size
    reads and rewrites the last block, whose tail it zeroes)."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    e2.harness(plugins, image, "mount\nfill /f 1500 1\nunmount\n")
    result = e2.harness(plugins, image, "mount\nstat /f\nsync\nstats\ntruncate /f 1500\nsync\nstats\n"
                                        "truncate /f 1400\nsync\nstats\nunmount\n")
    stats = [tuple(int(x) for x in m) for m in
             re.findall(r"reads=(\d+) writes=(\d+) sectors_read=\d+ sectors_written=(\d+)", result.stdout)]
    (r0, w0, s0), (r1, w1, s1), (r2, w2, s2) = stats
    assert (r1 - r0, w1 - w0, s1 - s0) == (0, 1, 2)          # the inode table block
    assert (r2 - r1, w2 - w1, s2 - s1) == (1, 2, 4)          # the last data block too
    e2.fsck_clean(image)


def inode_offset(image, ino):
    bsize, isize, ipg, bb, ib, it = e2.layout(image)      # one group
    return it * bsize + (ino - 1) * isize


def harness_ino(plugins, image, path):
    out = e2.harness(plugins, image, f"mount\nstat {path}\nunmount\n").stdout
    return int(re.search(r"ino=(\d+)", out).group(1))


def debugfs_links(image, path):
    out = subprocess.run(["debugfs", "-R", f"stat {path}", str(image)], capture_output=True, text=True).stdout
    return int(re.search(r"Links: (\d+)", out).group(1))


def record_at(image, path, name):
    """Where in the (1 KiB-block) image the record `name` of directory `path`'s first block starts."""
    blk = ext2_blocks(image, path)[0]
    [off] = [r[0] for r in dirents(image, blk) if r[5] == name]
    return blk * 1024 + off


def dirs_image(tmp_path, *dirs):
    """A 1 KiB-block ext2 image of 2048 blocks holding these (empty) directories."""
    src = tmp_path / "src"
    src.mkdir()
    for d in dirs:
        (src / d).mkdir(parents=True)
    return e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)


def test_ext2_directory_link_limit(tmp_path):
    """A directory at EXT2_LINK_MAX (65000) links takes no more subdirectories
    from elsewhere (EMLINK); renaming within it needs no new link and works;
    moving a subdirectory out of it leaves its count alone (past the limit the
    count no longer says how many there are: dir_nlink)."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "full/x", "full/y", "full/z", "full/w", "a/sub")
    full = harness_ino(plugins, image, "/full")
    e2.poke(image, inode_offset(image, full) + 26, struct.pack("<H", 65000))
    a_links = debugfs_links(image, "/a")
    e2.harness(plugins, image, """
        mount
        !EMLINK rename /a/sub /full/sub
        rename /full/x /full/x2
        rename /full/y /a/y
        rmdir /full/z
        rename /full/w /full/x2
        unmount
    """)
    assert debugfs_links(image, "/full") == 65000
    assert debugfs_links(image, "/a") == a_links + 1
    assert debugfs_links(image, "/a/sub") == 2 and debugfs_links(image, "/full/x2") == 2


def test_ext2_rename_onto_an_unusable_entry_is_eio(tmp_path):
    """A rename whose target name points at an inode that cannot be used (a
    reserved one: 5, below the first ordinary inode) fails with EIO and changes
    nothing."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(b"a")
    (src / "b").write_bytes(b"b")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    blk = e2.root_dir_block(image)
    data = bytearray(e2.peek(image, blk * 1024, 1024))
    off = 0
    while data[off + 8:off + 8 + data[off + 6]] != b"b":
        off += struct.unpack_from("<H", data, off + 4)[0]
    struct.pack_into("<I", data, off, 5)
    e2.poke(image, blk * 1024, bytes(data))
    result = e2.harness(plugins, image, "mount\n!EIO rename /a /b\ncat /a\nunmount\n")
    assert result.stdout.splitlines()[-1].endswith("a")


def test_ext2_sparse_files_read_back_exactly(tmp_path):
    """Holes read as zeros and only holes do: data written just past a missing
    indirect tree (the first block of the double- and triple-indirect ranges,
    and a few blocks into them) reads back exactly, whatever offset the reads
    (64 KiB at a time) start from inside the hole before it."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 8192)
    K, apb = 1024, 256
    files = {"/d0": [(12 + apb) * K], "/d5": [(12 + apb + 5) * K + 7],
             "/t0": [(12 + apb + apb * apb) * K], "/t3": [3, (12 + apb + apb * apb + 3 * apb + 2) * K + 100]}
    script = ["mount"]
    want = {}
    for name, offsets in files.items():
        data = bytearray()
        for i, off in enumerate(offsets):
            text = f"data{i}-{name[1:]}"
            script.append(f"pwrite {name} {off} {text}")
            data += bytes(max(0, off + len(text) - len(data)))
            data[off:off + len(text)] = text.encode()
        want[name] = bytes(data)
    script += ["unmount", "mount"] + [f"get {name} {tmp_path / name[1:]}" for name in files] + ["unmount"]
    e2.harness(plugins, image, "\n".join(script))
    for name, data in want.items():
        assert (tmp_path / name[1:]).read_bytes() == data, name
    e2.fsck_clean(image)


def test_ext2_times_past_2106_are_clamped(tmp_path):
    """ext2 keeps times in 32-bit seconds: a clock at or past 2^32 s (in 2106)
    is stored as 2^32 - 1, the last time ext2 can hold, never wrapped to 1970."""
    from vmm.harness.fs import build_fs_harness
    exe = build_fs_harness([e2.filesystem_plugin("ext2")])
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    for now, want in [(2**32 - 1, 2**32 - 1), (2**32, 2**32 - 1), (2**40, 2**32 - 1)]:
        r = subprocess.run([str(exe), str(image), "-"], input=f"mount\nwrite /t{now} x\nmtime /t{now}\nunmount\n",
                           capture_output=True, text=True, timeout=60,
                           env={"ASAN_OPTIONS": "detect_leaks=1", "PATH": "/usr/bin:/bin",
                                "PYOS_HARNESS_TIME": str(now)})
        assert r.returncode == 0 and f"mtime={want}\n" in r.stdout, (now, r.stdout + r.stderr)


def test_ext2_hole_inside_an_indirect_block_reads_as_zeros(tmp_path):
    """A hole whose indirect block exists (blocks 12 and 20 written through the
    single-indirect block, 13-19 left out) reads as zeros, and reading it
    holds no buffer afterwards (unmount's leak check)."""
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    plugins = [e2.filesystem_plugin("ext2")]
    e2.harness(plugins, image, "mount\npwrite /s 12288 A\npwrite /s 20480 B\nunmount\n")
    r = e2.harness(plugins, image, f"mount\nget /s {tmp_path / 's.out'}\nunmount\n")
    assert r.returncode == 0
    want = bytearray(20481)
    want[12288], want[20480] = ord("A"), ord("B")
    assert (tmp_path / "s.out").read_bytes() == bytes(want)


# ------------------------------------------------------------------ round 5 (e2)

def ea_block_of(image, path):
    out = subprocess.run(["debugfs", "-R", f"stat {path}", str(image)], capture_output=True, text=True).stdout
    return int(re.search(r"File ACL: (\d+)", out).group(1))


def test_ext2_extended_attribute_blocks_are_shared_and_freed_by_reference_count(tmp_path):
    """An inode's i_file_acl names an extended-attribute block whose header
    (magic 0xEA020000, then h_refcount) counts the inodes sharing it. Removing
    one of two sharers only lowers the count to 1 (the block stays, with its
    attributes); removing the last one frees the block. e2fsck checks the
    count and the bitmap after each step."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    host = tmp_path / "data"
    host.write_bytes(b"data\n")
    for name in ["f", "g", "h"]:
        subprocess.run(["debugfs", "-w", "-R", f"write {host} {name}", str(image)], check=True, capture_output=True)
    for name in ["f", "g"]:
        subprocess.run(["debugfs", "-w", "-R", f"ea_set /{name} user.note value-of-{name}", str(image)],
                       check=True, capture_output=True)
    shared = ea_block_of(image, "/g")
    assert shared and shared != ea_block_of(image, "/f")
    # /h shares /g's block: its i_file_acl and i_blocks, and the block's h_refcount 2
    ino_h = harness_ino(plugins, image, "/h")
    off = inode_offset(image, ino_h)
    blocks = struct.unpack("<I", e2.peek(image, off + 28, 4))[0]
    e2.poke(image, off + 28, struct.pack("<I", blocks + 2))
    e2.poke(image, off + 104, struct.pack("<I", shared))
    assert struct.unpack("<II", e2.peek(image, shared * 1024, 8)) == (0xEA020000, 1)
    e2.poke(image, shared * 1024 + 4, struct.pack("<I", 2))
    e2.fsck_clean(image)
    free0 = e2fsck_counts(image)[1]

    ino_g = harness_ino(plugins, image, "/g")
    e2.harness(plugins, image, "mount\nunlink /g\nunmount\n")
    e2.fsck_clean(image)
    assert struct.unpack("<II", e2.peek(image, shared * 1024, 8)) == (0xEA020000, 1)
    # the deleted inode names no attribute block (as Linux leaves it) and counts no block, that one included
    assert e2.peek(image, inode_offset(image, ino_g) + 104, 4) == bytes(4)
    assert e2.peek(image, inode_offset(image, ino_g) + 28, 4) == bytes(4)
    assert e2fsck_counts(image)[1] == free0 + 1                   # /g's data block only
    out = subprocess.run(["debugfs", "-R", "ea_get /h user.note", str(image)], capture_output=True, text=True)
    assert "value-of-g" in out.stdout + out.stderr

    e2.harness(plugins, image, "mount\nunlink /f\nunlink /h\nstatfs\nunmount\n")
    e2.fsck_clean(image)
    assert e2fsck_counts(image)[1] == free0 + 1 + 4               # two data blocks, two EA blocks


def test_ext2_a_directory_entry_may_name_the_last_inode(tmp_path):
    """Inode numbers run from 1 to s_inodes_count inclusive: a file given the
    last inode (16 of 16) is listed, found and read like any other, and with
    every inode in use the next create is ENOSPC."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048, "-N", "16")
    script = ["mount"] + [f"write /f{i} file{i}" for i in range(1, 6)] + ["!ENOSPC write /f6 x", "statfs",
                                                                          "unmount", "mount", "ls /",
                                                                          "stat /f5", "cat /f5", "unmount"]
    result = e2.harness(plugins, image, "\n".join(script))
    assert "ino=16 " in result.stdout and "files=16 files_free=0" in result.stdout
    assert result.stdout.rstrip().endswith("file5")
    e2.fsck_clean(image)


def test_ext2_new_entry_fills_its_blocks_slack_exactly(tmp_path):
    """A directory record needs 8 bytes plus its name, rounded up to 4: a name
    of 8 bytes takes 16. When the last record's slack is exactly what the new
    record needs, the record goes there and the directory keeps its one block
    (1024 = 12 for ".", 12 for "..", two 4-byte names of 12, sixty-one 8-byte
    names of 16)."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    names = ["aaaa", "bbbb"] + [f"n{i:07d}" for i in range(61)]
    script = ["mount", "mkdir /d"] + [f"write /d/{n} x" for n in names] + ["stat /d", "unmount"]
    result = e2.harness(plugins, image, "\n".join(script))
    assert re.search(r"size=1024 ", result.stdout), result.stdout[-500:]
    e2.fsck_clean(image)
    result = e2.harness(plugins, image, "mount\nwrite /d/c x\nstat /d\nunmount\n")
    assert re.search(r"size=2048 ", result.stdout)
    e2.fsck_clean(image)
    # the first block is full: the next names go into the second block's slack, no third block
    result = e2.harness(plugins, image, "mount\nwrite /d/c2 x\nmkdir /d/c3\nstat /d\nunmount\n")
    assert re.search(r"size=2048 ", result.stdout)
    e2.fsck_clean(image)


def run_at(image, script, now):
    """The harness with its clock fixed at `now` (PYOS_HARNESS_TIME)."""
    from vmm.harness.fs import build_fs_harness
    exe = build_fs_harness([e2.filesystem_plugin("ext2")])
    r = subprocess.run([str(exe), str(image), "-"], input=script, capture_output=True, text=True, timeout=60,
                       env={"ASAN_OPTIONS": "detect_leaks=1", "PATH": "/usr/bin:/bin", "PYOS_HARNESS_TIME": str(now)})
    assert r.returncode == 0 and "Sanitizer" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r.stdout


def test_ext2_truncate_and_write_refuse_what_is_not_a_regular_file(tmp_path):
    """truncate of, or a write to, a FIFO or a fast symbolic link (its target
    kept in i_block, not block numbers) is EINVAL, and leaves the image as it
    was."""
    import os
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    src.mkdir()
    (src / "target").write_bytes(b"t")
    os.symlink("target", src / "link")
    os.mkfifo(src / "fifo")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    before = image.read_bytes()
    e2.harness(plugins, image, "mount\n!EINVAL truncate /fifo 0\n!EINVAL truncate /link 0\n"
                               "!EINVAL truncate /link 5000\n!EINVAL pwrite /fifo 0 x\n!EINVAL pwrite /link 0 x\n"
                               "unmount\n")
    assert image.read_bytes() == before


def test_ext2_growing_a_file_reads_zeros_past_the_old_end(tmp_path):
    """Bytes past a file's end in its last block may hold anything (another
    implementation, a crash): truncate to a larger size, or a write past the
    end, zeroes them, so the file reads as its old bytes and then zeros."""
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"a" * 100)
    (src / "g").write_bytes(b"b" * 100)
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    for name in "fg":
        blk = ext2_blocks(image, f"/{name}")[0]
        e2.poke(image, blk * 1024 + 100, b"\xee" * 924)
    e2.harness(plugins, image, f"mount\ntruncate /f 3000\nget /f {tmp_path / 'f'}\npwrite /g 500 x\n"
                               f"get /g {tmp_path / 'g'}\nunmount\n")
    assert (tmp_path / "f").read_bytes() == b"a" * 100 + bytes(2900)
    assert (tmp_path / "g").read_bytes() == b"b" * 100 + bytes(400) + b"x"
    e2.fsck_clean(image)


def test_ext2_unlink_rmdir_and_rename_without_memory_for_the_vnode_are_enomem(tmp_path):
    """unlink, rmdir or rename of a name whose vnode is not in memory yet: when the
    allocation for it fails the call is ENOMEM (nothing is dereferenced, no
    crash), and run again it succeeds. (The first 36 or so allocations are the
    mount's and the buffer cache's: the failures tried start at the 30th.)"""
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    (src / "d" / "sub").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"x")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    pristine = image.read_bytes()
    for op in ("unlink /d/f", "rmdir /d/sub", "rename /d/f /g"):
        script = f"mount\n{op}\nunmount\n"
        outs = [r.stdout for r in _each_failing(plugins, image, pristine, script, "fail_alloc", 60, first=30)]
        assert any(f"{op}: error ENOMEM" in out for out in outs), (op, outs)
    image.write_bytes(pristine)
    e2.harness(plugins, image, "mount\nunlink /d/f\nrmdir /d/sub\nunmount\n")
    e2.fsck_clean(image)


def debugfs_times(image, path):
    """{"atime": seconds, "ctime": .., "mtime": ..} of PATH's inode as debugfs reads them."""
    out = subprocess.run(["debugfs", "-R", f"stat {path}", str(image)], capture_output=True, text=True).stdout
    return {k: int(v, 16) for k, v in re.findall(r"\b([acm]time): 0x([0-9a-f]+)", out)}


def test_ext2_a_new_file_or_directory_has_all_three_times_of_its_creation(tmp_path):
    """A created inode's atime, ctime and mtime are the time of the create call."""
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    run_at(image, "mount\ncreate /f 0100644\ncreate /d 040755\nunmount\n", 1234567)
    for path in ("/f", "/d"):
        assert debugfs_times(image, path) == {"atime": 1234567, "ctime": 1234567, "mtime": 1234567}, path


def test_ext2_unlink_and_rename_over_a_name_mark_the_files_ctime(tmp_path):
    """Removing one of a file's two names -- by unlink, or by renaming another
    file over it -- changes its link count, so its ctime (read through the
    other name) becomes the time of that call; so does the renamed file's."""
    import os
    src = tmp_path / "src"
    src.mkdir()
    for name in ("one", "three"):
        (src / name).write_bytes(b"shared")
        os.link(src / name, src / f"{name}-link")
    (src / "other").write_bytes(b"o")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    run_at(image, "mount\nunlink /one\nunmount\n", 2345678)
    run_at(image, "mount\nrename /other /three\nunmount\n", 2345999)
    assert debugfs_times(image, "/one-link")["ctime"] == 2345678
    assert debugfs_times(image, "/three-link")["ctime"] == 2345999
    assert debugfs_times(image, "/three")["ctime"] == 2345999      # the renamed file: POSIX allows, Linux does


def test_ext2_a_removed_directorys_inode_keeps_the_time_of_its_removal(tmp_path):
    """rmdir changes the directory's link count (to 0) at that moment: its
    freed inode, as debugfs reads it, has ctime and dtime of the rmdir."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "gone")
    ino = harness_ino(plugins, image, "/gone")
    run_at(image, "mount\nrmdir /gone\nunmount\n", 3456789)
    out = subprocess.run(["debugfs", "-R", f"stat <{ino}>", str(image)], capture_output=True, text=True).stdout
    times = {k: int(v, 16) for k, v in re.findall(r"\b([cd]time): 0x([0-9a-f]+)", out)}
    assert times == {"ctime": 3456789, "dtime": 3456789}, out


def test_ext2_a_directory_removed_while_held_is_written_with_no_links_until_let_go(tmp_path):
    """rmdir of a directory someone still holds (a process's open directory or
    working directory): the name goes at once and a sync writes the inode with
    0 links, but the inode and its block are freed only when the last holder
    lets go; then e2fsck finds the image clean."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "gone")
    ino = harness_ino(plugins, image, "/gone")
    synced = tmp_path / "synced.img"
    e2.harness(plugins, image, f"mount\nhold /gone\nrmdir /gone\nsync\nsnapshot {synced}\n!ENOENT stat /gone\n"
                               "release\nunmount\n")

    def inode(img):
        return subprocess.run(["debugfs", "-R", f"stat <{ino}>", str(img)], capture_output=True, text=True).stdout
    held, freed = inode(synced), inode(image)
    assert "Links: 0" in held and "dtime" not in held, held       # written, not yet freed
    assert "Links: 0" in freed and "dtime" in freed, freed
    e2.fsck_clean(image)


def test_ext2_a_bad_record_met_on_the_dotdot_walk_names_its_directory(tmp_path):
    """Moving a directory below another walks ".." up from the target; a
    nonsense record met on the way is EIO, and the kernel's message names the
    directory inode it was found in."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "a/b", "c")
    b = harness_ino(plugins, image, "/a/b")
    blk = ext2_blocks(image, "/a/b")[0]
    e2.poke(image, blk * 1024 + 4, struct.pack("<H", 5))      # ".": rec_len 5, shorter than any record
    out = e2.harness(plugins, image, "mount\n!EIO rename /c /a/b/c\nunmount\n").stdout
    assert f"directory inode {b} block 0: bad entry at 0" in out, out


def test_ext2_nothing_is_created_or_moved_into_a_removed_directory(tmp_path):
    """A directory removed while held (a process's working directory) takes no
    new names: create, mkdir and rename into it are ENOENT, and the file that
    was to be moved stays where it was."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "d")
    out = e2.harness(plugins, image, "mount\nwrite /f x\nhold /d\nrmdir /d\n!ENOENT create @0/new 0100644\n"
                                     "!ENOENT mkdir @0/sub\n!ENOENT rename /f @0/f\nrelease\ncat /f\nunmount\n").stdout
    assert "\nx" in out
    e2.fsck_clean(image)


def test_ext2_a_file_in_the_dotdot_chain_is_eio(tmp_path):
    """The ".." walk that keeps a directory from moving into itself stops with
    EIO at an inode that is not a directory -- even one whose bytes would read
    as a directory block leading up to the root -- and nothing moves."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "c").mkdir()
    (src / "fake").write_bytes(b"z" * 1024)
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    fake = harness_ino(plugins, image, "/fake")
    fake_blk = ext2_blocks(image, "/fake")[0]
    e2.poke(image, fake_blk * 1024, struct.pack("<IHBB", fake, 12, 1, 2) + b".\0\0\0"
            + struct.pack("<IHBB", 2, 1012, 2, 2) + b"..\0\0")          # ".." -> the root
    e2.poke(image, record_at(image, "/a/b", b".."), struct.pack("<I", fake))  # /a/b's ".." -> the file
    out = e2.harness(plugins, image, "mount\n!EIO rename /c /a/b/c\nls /\nunmount\n").stdout
    assert re.search(r"^c d ", out, re.M), out


def test_ext2_a_directory_linked_into_itself_is_not_renamed_over_its_own_entry(tmp_path):
    """A corrupt directory with an entry naming the directory itself: renaming
    that entry over an (empty) sibling directory would move the directory into
    itself, and is EINVAL; nothing changes."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "d/x", "d/y")
    d = harness_ino(plugins, image, "/d")
    e2.poke(image, record_at(image, "/d", b"x"), struct.pack("<I", d))
    before = image.read_bytes()
    e2.harness(plugins, image, "mount\n!EINVAL rename /d/x /d/y\nunmount\n")
    assert image.read_bytes() == before


def test_ext2_a_directory_size_that_is_not_whole_blocks_is_eio(tmp_path):
    """A directory's size is a whole number of blocks, all allocated; one that
    is not (here 1000 bytes of a 1 KiB-block directory, or 2048 with one
    block allocated) is corrupt: loading its inode is EIO (with a message
    saying why), so readdir and lookups in it are EIO and nothing of it is
    read."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "d/sub", "two")
    e2.poke(image, inode_offset(image, harness_ino(plugins, image, "/d")) + 4, struct.pack("<I", 1000))
    e2.poke(image, inode_offset(image, harness_ino(plugins, image, "/two")) + 4, struct.pack("<I", 2048))
    out = e2.harness(plugins, image, "mount\n!EIO readdir /d\n!EIO stat /d/sub\n!EIO readdir /two\n!EIO stat /two\n"
                                     "unmount\n").stdout
    assert "sub ino=" not in out, out       # refused before any entry is read
    assert "has size 1000 with 2 sectors allocated" in out, out
    assert "has size 2048 with 2 sectors allocated" in out, out   # two blocks' size, one block allocated


def test_ext2_a_sync_with_nothing_changed_writes_nothing(tmp_path):
    """A sync right after mount, and a second sync after one that has
    written the changed group descriptors and superblock, with nothing
    changed in between, write no block at all."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "d")
    out = e2.harness(plugins, image, "mount\nsync\nstats\nwrite /d/f hello\nsync\nstats\nsync\nstats\n"
                                     "unmount\n").stdout
    w0, w1, w2 = map(int, re.findall(r"\bwrites=(\d+)", out))      # device write requests so far
    assert w0 == 0 and w1 > 0 and w2 == w1, out


def test_ext2_entries_naming_unusable_inodes_are_eio_and_say_why(tmp_path):
    """A directory entry naming a reserved inode (below first_ino, not the
    root), or an inode that is not in use (no links, or no mode), is EIO at
    lookup, with a message naming the inode and what is wrong with it. (A
    number past the inode table makes the record itself bad: dirent_at.)"""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for name in "bce":
        (src / "d" / name).write_bytes(name.encode())
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    inos = {n: harness_ino(plugins, image, f"/d/{n}") for n in "ce"}
    e2.poke(image, inode_offset(image, inos["c"]) + 26, struct.pack("<H", 0))     # no links
    e2.poke(image, inode_offset(image, inos["e"]), struct.pack("<H", 0))          # no mode
    e2.poke(image, inode_offset(image, 5), struct.pack("<H", 0o100644))            # reserved, yet looks like a file
    e2.poke(image, inode_offset(image, 5) + 26, struct.pack("<H", 1))
    e2.poke(image, record_at(image, "/d", b"b"), struct.pack("<I", 5))
    out = e2.harness(plugins, image, "mount\n" + "".join(f"!EIO stat /d/{n}\n" for n in "bce") + "unmount\n").stdout
    for why in ("inode number 5 is out of range", f"inode {inos['c']} is not in use",
                f"inode {inos['e']} is not in use"):
        assert why in out, (why, out)


def test_ext2_a_fast_symlink_filling_all_of_i_block_reads_back_whole(tmp_path):
    """A fast symbolic link (no data block: the target kept in the inode's 60
    bytes of block pointers) may fill all 60; reading it gives all of them.
    One claiming more than 60 bytes without a block is EINVAL."""
    import os
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    src.mkdir()
    os.symlink("t" * 59, src / "link")
    os.symlink("u" * 59, src / "long")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    for name, size in (("link", 60), ("long", 61)):
        at = inode_offset(image, harness_ino(plugins, image, f"/{name}"))
        e2.poke(image, at + 4, struct.pack("<I", size))
        e2.poke(image, at + 40 + 59, b"!")
    out = e2.harness(plugins, image, f"mount\nget /link {tmp_path / 'got'}\n!EINVAL cat /long\nunmount\n").stdout
    assert (tmp_path / "got").read_bytes() == b"t" * 59 + b"!", out


def test_ext2_a_zero_length_write_writes_nothing_and_gives_0(tmp_path):
    """write(fd, buf, 0): 0, and the file (even one past whose end the offset
    lies, or past the largest size ext2 can address) keeps its size and
    contents."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path)
    out = e2.harness(plugins, image, "mount\nwrite /f abc\npwrite /f 1\npwrite /f 5000\n"
                                     f"pwrite /f {1 << 60}\nstat /f\ncat /f\nunmount\n").stdout
    assert "size=3 " in out and "\nabc" in out, out


def test_ext2_a_moved_inode_of_no_known_type_gets_file_type_unknown(tmp_path):
    """An inode whose mode has a file type ext2 does not know (0o170000): a
    rename writes its new entry with file type 0 (EXT2_FT_UNKNOWN), not a
    guess, and readdir then gives no type for it."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    src.mkdir()
    (src / "odd").write_bytes(b"?")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    e2.poke(image, inode_offset(image, harness_ino(plugins, image, "/odd")), struct.pack("<H", 0o170644))
    out = e2.harness(plugins, image, "mount\nrename /odd /moved\nreaddir /\nunmount\n").stdout
    assert re.search(r"^moved ino=\d+ type=0o0$", out, re.M), out
    [ft] = [e[4] for e in dirents(image, e2.root_dir_block(image)) if e[5] == b"moved"]
    assert ft == 0


def test_ext2_a_dotdot_naming_a_reserved_inode_is_eio(tmp_path):
    """The ".." walk of a move stops with EIO at a ".." that names a reserved
    inode (here inode 1, the bad-blocks inode, made to look like a directory
    whose own ".." is the root), as a lookup of that inode would: the walk
    does not go through it, and nothing moves."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "a/b", "c", "x")
    c_blk = ext2_blocks(image, "/c")[0]
    one = inode_offset(image, 1)
    e2.poke(image, one, struct.pack("<H", 0o40755))
    e2.poke(image, one + 4, struct.pack("<I", 1024))
    e2.poke(image, one + 26, struct.pack("<HI", 2, 2))                 # links 2, i_blocks 2
    e2.poke(image, one + 40, struct.pack("<I", c_blk))                 # /c's block: its ".." is the root
    e2.poke(image, record_at(image, "/a/b", b".."), struct.pack("<I", 1))
    out = e2.harness(plugins, image, "mount\n!EIO rename /x /a/b/x\nls /\nmkdir /lost+found/sub\n"
                                     "rename /c /lost+found/sub/c\nunmount\n").stdout
    assert re.search(r"^x d ", out, re.M), out
    # lost+found, the first inode past the reserved ones, is an ordinary directory on the walk


def test_ext2_statfs_and_the_superblock_after_a_sync(tmp_path):
    """statfs gives the block size and the block count mke2fs wrote; a sync
    that wrote anything stamps the superblock's write time."""
    import time
    image = dirs_image(tmp_path)
    out = run_at(image, "mount\nstatfs\nwrite /f x\nsync\nunmount\n", 4567890)
    assert re.search(r"type=ext2 block_size=1024 blocks=2048 ", out), out
    stats = subprocess.run(["debugfs", "-R", "stats", str(image)], capture_output=True, text=True).stdout
    wtime = time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(4567890))
    assert re.search(rf"Last write time:\s+{re.escape(wtime)}", stats), (wtime, stats[:1500])


def test_ext2_a_file_larger_than_ext2_can_address_is_eio(tmp_path):
    """A regular file whose size (with i_size_high) is past what the block
    map can address is corrupt: EIO at lookup, with the reason."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"f")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    e2.poke(image, inode_offset(image, harness_ino(plugins, image, "/f")) + 108, struct.pack("<I", 0x7fffffff))
    out = e2.harness(plugins, image, "mount\n!EIO stat /f\nunmount\n").stdout
    assert "more than ext2 can address" in out, out


def test_ext2_creating_and_removing_names_updates_the_directorys_mtime(tmp_path):
    """POSIX: a call that adds or removes a directory entry marks the
    directory's st_mtime (and st_ctime) for update -- whether the new record
    fits an existing block or needs a new one, and for mkdir, rename and
    unlink alike."""
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    run_at(image, "mount\nmkdir /d\nmkdir /e\nunmount\n", 1000)
    steps = [("write /d/f x", "/d"), ("mkdir /d/sub", "/d"), ("rename /d/f /e/g", "/e"),
             ("rename /d/f2 /d/f3", "/d"), ("unlink /e/g", "/e"), ("rmdir /d/sub", "/d")]
    run_at(image, "mount\nwrite /d/f2 y\nunmount\n", 1500)
    # /full: its one block filled exactly (see the slack test), so the next name needs a new block
    names = ["aaaa", "bbbb"] + [f"n{i:07d}" for i in range(61)]
    run_at(image, "\n".join(["mount", "mkdir /full"] + [f"write /full/{n} x" for n in names] + ["unmount"]), 1700)
    steps.append(("write /full/new x", "/full"))
    for i, (op, d) in enumerate(steps):
        now = 2000 + 100 * i
        out = run_at(image, f"mount\n{op}\nmtime {d}\nstat {d}\nunmount\n", now)
        assert f"mtime={now}\n" in out, (op, out)
    assert "size=2048 " in out                            # /full did get its second block
    e2.fsck_clean(image)


def test_ext2_double_free_of_an_inode_is_refused_and_not_counted(tmp_path):
    """An inode the bitmap already says is free is not freed again: the plugin
    reports it by number and does not count it as free a second time."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    e2.harness(plugins, image, "mount\nmkfiles / 6 m\nunmount\n")
    good = image.read_bytes()
    for name in ["m0", "m5"]:                       # inodes 12 and 17: bitmap bytes 1 and 2
        image.write_bytes(good)
        ino = harness_ino(plugins, image, f"/{name}")
        subprocess.run(["debugfs", "-w", "-R", f"freei /{name}", str(image)], check=True, capture_output=True)
        result = e2.harness(plugins, image, f"mount\nstatfs\nunlink /{name}\nstatfs\nunmount\n")
        assert f"freeing inode {ino}, which is already free" in result.stdout
        before, after = (int(m) for m in re.findall(r"files_free=(\d+)", result.stdout))
        assert after == before
    assert ino == 17


def test_ext2_io_errors_in_another_group_never_crash(tmp_path):
    """Reading a sparse file through its double-indirect tree, then unlinking
    files, in block group 2 (far from the blocks the mount reads ahead, so its
    indirect blocks and bitmaps are requests of their own): a failed read of
    an indirect block, of the block bitmap or of the inode bitmap, or of any
    other request, is an error, never a crash."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None)
    e2.harness(plugins, image, f"mount\nmkdir /d\nfill /d/f 5000 1\nwrite /d/e \npwrite /d/s {300 * 1024} s\n"
                                "unmount\n")
    assert harness_ino(plugins, image, "/d/f") > 128          # group 2 (64 inodes a group)
    assert min(ext2_blocks(image, "/d/f")) > 2048 and min(ext2_blocks(image, "/d/s")) > 2048
    io_error_sweep(plugins, image, f"mount\nget /d/s {tmp_path / 's.out'}\nunlink /d/e\nunlink /d/f\nunmount\n")


def test_ext2_reading_a_hole_under_an_existing_double_indirect_block_skips_whole_subtrees(tmp_path):
    """A hole where an existing double-indirect block has no indirect block
    (file blocks 268-1035: its entries 0-2 are zero, data at 1036 under entry 3)
    reads as zeros a missing subtree (256 blocks) at a time: the
    double-indirect block is looked up once per read call and subtree, not
    once per block."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    last = 12 + 256 + 3 * 256
    e2.harness(plugins, image, f"mount\npwrite /s 0 A\npwrite /s {last * 1024} B\nunmount\n")
    out = e2.harness(plugins, image, f"mount\nstat /s\nstats\nget /s {tmp_path / 's.out'}\nstats\nunmount\n").stdout
    (h0, m0), (h1, m1) = [tuple(map(int, m)) for m in re.findall(r"hits=(\d+) misses=(\d+)", out)]
    assert (h1 + m1) - (h0 + m0) <= 40, out
    want = bytearray(last * 1024 + 1)
    want[0], want[last * 1024] = ord("A"), ord("B")
    assert (tmp_path / "s.out").read_bytes() == bytes(want)


def test_ext2_largest_file_is_what_the_block_map_addresses(tmp_path):
    """With 1 KiB blocks and large_file, a file's last byte is the last one the
    12 direct, single-, double- and triple-indirect pointers reach
    ((12 + 256 + 256^2 + 256^3) KiB; i_blocks could count more): a write of
    that byte and a truncate to that size work, one byte further is EFBIG."""
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    largest_file_is(image, (12 + 256 + 256 ** 2 + 256 ** 3) * 1024)


def largest_file_is(image, limit):
    """On `image`: a write of byte limit - 1 and a truncate to `limit` work and
    one byte further is EFBIG (both ways), the two sizes are still there after
    a remount, and e2fsck finds the volume clean."""
    result = e2.harness([e2.filesystem_plugin("ext2")], image, f"""
        mount
        !EFBIG pwrite /f {limit} x
        pwrite /f {limit - 1} z
        write /g x
        !EFBIG truncate /g {limit + 1}
        truncate /g {limit}
        unmount
        mount
        stat /f
        stat /g
        unmount
    """)
    assert result.stdout.count(f"size={limit} ") == 2, result.stdout
    e2.fsck_clean(image)


def test_ext2_new_inodes_carry_the_superblocks_extra_isize(tmp_path):
    """With inodes larger than 128 bytes, a new inode's i_extra_isize (the
    first field past the 128-byte core) is the superblock's s_want_extra_isize
    (32 as mke2fs writes it; or s_min_extra_isize when larger), or 32 when
    the superblock names none or a size that does not fit or is not a
    multiple of 4, as the kernel's ext4 sets it; the rest of the extra space is zero, and the
    inode after it (in use) untouched."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 256, 2048)
    root_extra = image.read_bytes()[inode_offset(image, 2) + 128:inode_offset(image, 2) + 256]
    # /c takes /a's freed inode, right before /b's: its fresh extra space is reset, nothing past it
    e2.harness(plugins, image, "mount\nwrite /f x\nmkdir /d\nwrite /a 1\nwrite /b 2\nunlink /a\nwrite /c 3\n"
                               "unmount\n")
    for path in ["/f", "/d", "/c"]:
        out = subprocess.run(["debugfs", "-R", f"stat {path}", str(image)], capture_output=True, text=True).stdout
        assert "Size of extra inode fields: 32" in out, out
        at = inode_offset(image, harness_ino(plugins, image, path))
        assert image.read_bytes()[at + 130:at + 256] == bytes(126), path     # the rest of it zero
    assert e2.harness(plugins, image, "mount\ncat /b\nunmount\n").stdout.rstrip().endswith("2")
    # the root, changed (new names) but not new, keeps what mke2fs put in its extra space (i_crtime...)
    assert image.read_bytes()[inode_offset(image, 2) + 128:inode_offset(image, 2) + 256] == root_extra
    e2.fsck_clean(image)
    # a superblock naming no size (s_min_extra_isize = s_want_extra_isize = 0, older mke2fs):
    # the kernel's default, the 32 bytes of its extra fields
    e2.poke(image, SB + 348, bytes(4))
    e2.harness(plugins, image, "mount\nwrite /g x\nunmount\n")
    out = subprocess.run(["debugfs", "-R", "stat /g", str(image)], capture_output=True, text=True).stdout
    assert "Size of extra inode fields: 32" in out, out
    # (s_min_extra_isize, s_want_extra_isize): the larger of the two, when it fits the 128 extra
    # bytes and is a multiple of 4; otherwise the default 32
    import struct
    for i, (least, want, size) in enumerate([(16, 28, 28), (28, 16, 28), (0, 128, 128), (0, 132, 32), (0, 2, 32),
                                             (0, 6, 32)]):
        e2.poke(image, SB + 348, struct.pack("<HH", least, want))
        e2.harness(plugins, image, f"mount\nwrite /x{i} x\nunmount\n")
        out = subprocess.run(["debugfs", "-R", f"stat /x{i}", str(image)], capture_output=True, text=True).stdout
        assert f"Size of extra inode fields: {size}\n" in out, (least, want, out)


def test_ext2_groups_of_eight_inodes_mount_and_fill(tmp_path):
    """The smallest inode groups mke2fs makes (8 inodes, one inode-table
    block of 1 KiB; s_inodes_per_group may be as small as the inodes of one
    block) mount: the reserved inodes 1-10 then reach into group 1 (first_ino
    11 > 8), and new inodes start after them there, spreading over the groups
    until every inode is used (then ENOSPC); e2fsck finds the image clean."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None, inodes=48)
    sb = e2.peek(image, SB, 96)
    assert (int.from_bytes(sb[40:44], "little"), int.from_bytes(sb[84:88], "little")) == (8, 11)
    result = e2.harness(plugins, image, "mount\nmkdir /a\nmkfiles /a 36 m\n!ENOSPC write /x y\nstatfs\n"
                                        "unmount\nmount\ncat /a/m35\nstat /a/m35\nunmount\n")
    assert "files=48 files_free=0" in result.stdout
    assert "\nm35\n" in result.stdout
    e2.fsck_clean(image)
    assert sorted(e2.rdump(image, tmp_path / "out")) == sorted(["/a"] + [f"/a/m{i}" for i in range(36)])


def dirents(image, block, bsize=1024):
    """(offset, inode, rec_len, name_len, file_type, name) of each record of a directory block."""
    import struct
    data = e2.peek(image, block * bsize, bsize)
    off, out = 0, []
    while off < bsize:
        ino, rl, nl, ft = struct.unpack_from("<IHBB", data, off)
        out.append((off, ino, rl, nl, ft, data[off + 8:off + 8 + nl]))
        off += rl
    return out


def dir_with_one_file(tmp_path, bsize, nblocks):
    """An image with /d holding one file, f: (image, /d's block, f's record: the block's
    last, as dirents() gives it)."""
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"x")
    image = e2.mkfs(tmp_path / "e.img", src, bsize, 128, nblocks)
    blk = ext2_blocks(image, "/d")[0]
    return image, blk, dirents(image, blk, bsize)[-1]


def test_ext2_readdir_gives_each_entrys_file_type(tmp_path):
    """With the filetype feature, readdir's type comes from the entry's file
    type byte (1 regular, 2 directory, 5 FIFO, 7 symbolic link) without
    reading the inode; 0 (EXT2_FT_UNKNOWN) and values past 7 are no type
    (0), which tells the caller to stat. The contents of a fast symlink
    (kept in i_block) read back as its target."""
    import os
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    (src / "dir").mkdir(parents=True)
    (src / "hello").write_bytes(b"hi\n")
    (src / "unknown").write_bytes(b"?")
    os.symlink("hello", src / "link")
    os.mkfifo(src / "fifo")
    os.mkfifo(src / "odd")
    os.mkfifo(src / "odder")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    blk = e2.root_dir_block(image)
    poked = {b"unknown": 0, b"odd": 8, b"odder": 255}   # 8: the first past the table's end
    for off, ino, rl, nl, ft, name in dirents(image, blk):
        if name in poked:
            e2.poke(image, blk * 1024 + off + 7, bytes([poked[name]]))
    out = e2.harness(plugins, image, "mount\nreaddir /\ncat /link\nunmount\n").stdout
    types = dict(re.findall(r"^(\S+) ino=\d+ type=(0o\d+)$", out, re.M))
    assert types == {"lost+found": "0o40000", "dir": "0o40000", "hello": "0o100000", "link": "0o120000",
                     "fifo": "0o10000", "unknown": "0o0", "odd": "0o0", "odder": "0o0"}, out
    assert "\nhello" in out


def test_ext2_readdir_without_the_filetype_feature_gives_no_type(tmp_path):
    """Without the filetype feature the byte after name_len is the name length's
    high byte, not a type: readdir gives type 0 for every entry (stat tells)."""
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    (src / "dir").mkdir(parents=True)
    (src / "hello").write_bytes(b"hi\n")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048, "-O", "^filetype")
    out = e2.harness(plugins, image, "mount\nreaddir /\nunmount\n").stdout
    types = dict(re.findall(r"^(\S+) ino=\d+ type=(0o\d+)$", out, re.M))
    assert types == {"lost+found": "0o0", "dir": "0o0", "hello": "0o0"}, out


def test_ext2_stat_gives_the_mounts_device_and_block_size(tmp_path):
    """stat's st_dev is the mount's index (the harness mounts as 3) and
    st_blksize the filesystem's block size."""
    plugins = [e2.filesystem_plugin("ext2")]
    for bsize in (1024, 4096):
        image = e2.mkfs(tmp_path / f"e{bsize}.img", None, bsize, 128, 4096)
        out = e2.harness(plugins, image, "mount\nwrite /f x\nstatdev /f\nstatdev /\nunmount\n").stdout
        assert out.count(f"dev=3 blksize={bsize}\n") == 2, out


def test_ext2_read_only_mount_never_writes(tmp_path):
    """A read-only mount writes nothing, not even the superblock's free
    counts it finds stale (they differ from the group descriptors' sums):
    sync and unmount succeed and leave the image byte for byte as it was."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    free = struct.unpack("<I", e2.peek(image, SB + 12, 4))[0]
    e2.poke(image, SB + 12, struct.pack("<I", free - 5))
    before = image.read_bytes()
    e2.harness(plugins, image, "mount\nls /\nstatfs\nsync\nunmount\n", readonly=True)
    assert image.read_bytes() == before


def test_ext2_full_bitmap_behind_a_nonzero_free_count(tmp_path):
    """A group descriptor that counts free blocks (or inodes) in a group whose
    bitmap is full: the plugin says so, names the group, and takes the block
    (or inode) from the next group instead; nothing is written past the bitmap."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None)
    bsize, isize, ipg, bb, ib, it = e2.layout(image)
    good = image.read_bytes()
    e2.poke(image, bb * bsize, b"\xff" * 128)           # group 0: 1024 blocks, all in use
    out = e2.harness(plugins, image, "mount\nwrite /f hello\ncat /f\nstat /f\nunmount\n").stdout
    assert "ext2: group 0: free block count" in out and "but its bitmap is full" in out
    assert "\nhello" in out
    assert int(re.search(r"ino=(\d+)", out).group(1)) <= 64         # its inode in group 0 ...
    assert min(ext2_blocks(image, "/f")) > 1024                      # ... its block in group 1
    image.write_bytes(good)
    e2.poke(image, ib * bsize, b"\xff" * 8)             # group 0: 64 inodes, all in use
    out = e2.harness(plugins, image, "mount\nwrite /f hello\ncat /f\nstat /f\nunmount\n").stdout
    assert "ext2: group 0: free inode count" in out and "but its bitmap is full" in out
    assert "\nhello" in out
    assert int(re.search(r"ino=(\d+)", out).group(1)) > 64


def test_ext2_any_first_inode_leaves_every_later_inode_usable(tmp_path):
    """Revision 1's s_first_ino may be any value: with 8 (the first inode of
    group 1 is 9) a new file takes the lowest free inode of group 1 (12: mke2fs
    used 9-11) and every free inode can be used before ENOSPC."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None, inodes=48)       # 8 inodes a group
    e2.poke(image, SB + 84, struct.pack("<I", 8))
    out = e2.harness(plugins, image, "mount\nwrite /a x\nstat /a\nmkfiles / 36 m\n!ENOSPC write /z x\n"
                                     "statfs\nunmount\n").stdout
    assert "ino=12 " in out and "files_free=0" in out, out
    assert "bitmap is full" not in out


def test_ext2_blocks_under_an_indirect_block_follow_it_in_a_fresh_mount(tmp_path):
    """A new block under an existing indirect block (the file's vnode fresh
    from disk, no goal remembered) goes after the previous slot's block, or,
    that slot being empty, right after the indirect block itself -- in the
    file's group, never back at the start of the disk."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None)
    K = 1024
    e2.harness(plugins, image, f"mount\nmkdir /d\npwrite /d/s {20 * K} a\nunmount\n")
    e2.harness(plugins, image, f"mount\npwrite /d/s {30 * K} b\nunmount\n")      # slot 17 empty
    e2.harness(plugins, image, f"mount\npwrite /d/s {12 * K} c\nunmount\n")      # slot 0: no previous slot
    e2.harness(plugins, image, f"mount\npwrite /d/s {31 * K} d\nunmount\n")      # after slot 18's block
    out = subprocess.run(["debugfs", "-R", "stat /d/s", str(image)], capture_output=True, text=True).stdout
    ind = int(re.search(r"\(IND\):(\d+)", out).group(1))
    where = {int(a): int(b) for a, b in re.findall(r"\((\d+)\):(\d+)", out)}
    assert ind > 2048 and where == {20: ind + 1, 30: ind + 2, 12: ind + 3, 31: ind + 4}, out
    e2.fsck_clean(image)


def test_ext2_a_file_crossing_a_group_end_continues_in_the_next_group(tmp_path):
    """Blocks allocated one after another (by one write) under an indirect
    block: after the last block of a group the next one is the next group's
    first free block, even when an earlier block of the group left behind has
    come free."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None)
    K = 1024
    script = ["mount", "mkdir /d", "fill /d/h 10240 1", f"fill /d/big {992 * K} 2", "unlink /d/h"]
    script += [f"pwrite /d/big {992 * K} {'x' * 8100}"]    # one write: blocks 992-999, the group's end in between
    e2.harness(plugins, image, "\n".join(script + ["unmount"]))
    blocks = ext2_blocks(image, "/d/big")
    assert max(blocks) > 3072                              # it did cross into group 3
    assert not [b for b in blocks if b < 2070], blocks      # not back into /d/h's old blocks
    e2.fsck_clean(image)


def test_ext2_block_pointer_out_of_range_inside_an_indirect_block_is_eio(tmp_path):
    """A pointer inside an indirect block that names no data block (block 1,
    the superblock's; a block past the end) is EIO for a read through it and
    for a write to it, and the operation holds no buffer afterwards."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    for bad in (1, 0xFFFFFF):
        image = e2.mkfs(tmp_path / f"e{bad}.img", None, 1024, 128, 2048)
        e2.harness(plugins, image, "mount\nfill /f 20480 1\nunmount\n")
        ind = ext2_blocks(image, "/f")[12]
        e2.poke(image, ind * 1024 + 3 * 4, struct.pack("<I", bad))
        e2.harness(plugins, image, f"mount\n!EIO pwrite /f {15 * 1024} x\n!EIO check /f 20480 1\n"
                                   f"!EIO get /f {tmp_path / 'out'}\nunmount\n")


def test_ext2_growing_a_file_whose_last_block_is_a_hole_touches_nothing_else(tmp_path):
    """Growing a file whose size ends inside a hole (no block to zero the tail
    of), by a write past the end or by truncate, changes nothing outside the
    file: with 4 KiB blocks block 0 holds the superblock, which stays intact."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 4096, 128, 8192)
    e2.harness(plugins, image, "mount\nwrite /g hello\ntruncate /g 12388\npwrite /g 20000 y\n"
                               "write /h hi\ntruncate /h 50000\ntruncate /h 12388\ntruncate /h 30000\n"
                               "unmount\nmount\nstat /g\nunmount\n")
    e2.fsck_clean(image)
    out = tmp_path / "out"
    e2.harness(plugins, image, f"mount\nget /g {out}\nunmount\n")
    assert out.read_bytes() == b"hello" + bytes(20000 - 5) + b"y"


def test_ext2_create_in_a_directory_block_shared_with_the_inode_table(tmp_path):
    """A hostile image: a directory's block is the inode-table block that the
    new inode lands in. Writing the new inode breaks the record the name
    would go into, so the create is EIO -- and gives back every buffer it
    took (unmount's leak check)."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    assert harness_ino(plugins, image, "/d") == 12
    bsize, isize, ipg, bb, ib, it = e2.layout(image)
    blk = it + 1                                          # inodes 9-16: 12 at 384, the next free (13) at 512
    base = blk * 1024

    def record(off, ino, rl, name):
        e2.poke(image, base + off, struct.pack("<IHBB", ino, rl, len(name), 1))
        e2.poke(image, base + off + 8, name)
    record(0, 2, 256, b"a" * 248)                         # full records up to inode 12's end ...
    e2.poke(image, base + 256, struct.pack("<IHBB", 2, 256, 248, 1))   # ... its name is inode 12 itself
    record(512, 0, 512, b"")                              # an unused record where inode 13 goes
    e2.poke(image, base + 384 + 40, struct.pack("<I", blk))           # /d's block 0
    result = e2.harness(plugins, image, "mount\n!EIO write /d/x y\nunmount\n")
    assert "unmount: error" not in result.stdout


def test_ext2_failed_create_keeps_the_directorys_new_block_on_disk(tmp_path):
    """A create that needs a new directory block past the direct ones gets the
    indirect block but no data block (ENOSPC): the directory keeps the
    indirect block, on disk too -- no block allocated and owned by nobody."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    long = lambda i: f"{i:03d}" + "n" * 197                # 200 bytes: four records a block
    script = ["mount", "mkdir /d"] + [f"write /d/{long(i)} x" for i in range(48)]
    script += ["stat /d", "write /one x", "!ENOSPC fill /big 3000000 1", "unlink /one", "statfs",
               f"!ENOSPC write /d/{long(48)} x", "statfs", "unmount"]
    result = e2.harness(plugins, image, "\n".join(script))
    assert re.search(r"size=12288 ", result.stdout)
    assert [int(f) for f in re.findall(r"\bfree=(\d+)", result.stdout)] == [1, 0]
    e2.fsck_clean(image)


def test_ext2_a_directory_without_dotdot_is_eio_at_once(tmp_path):
    """Moving a directory below another walks ".." up from the target to make
    sure it does not go into itself; a directory on the way that has no ".."
    entry is EIO, found with one look at that directory (a bounded number of
    buffer lookups), and nothing moves. Moving that directory itself to another
    parent is EIO as well."""
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "c").mkdir()
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    e2.poke(image, record_at(image, "/a/b", b"..") + 8, b"xx")     # the name: no ".." any more
    out = e2.harness(plugins, image, "mount\nstats\n!EIO rename /c /a/b/c\nstats\n!EIO rename /a/b /c/b\nls /\nunmount\n").stdout
    (h0, m0), (h1, m1) = [tuple(map(int, m)) for m in re.findall(r"hits=(\d+) misses=(\d+)", out)]
    assert (h1 + m1) - (h0 + m0) <= 20, out
    assert re.search(r"^c d 0$", out, re.M)
    # Moving the directory without ".." itself to another parent: EIO too (its ".." could not be repointed)
    listing = {d: subprocess.run(["debugfs", "-R", f"ls {d}", str(image)], capture_output=True, text=True).stdout.split()
               for d in ("/a", "/c")}
    assert "b" in listing["/a"] and "b" not in listing["/c"], listing


def test_ext2_create_reports_a_directory_inode_it_could_not_store(tmp_path):
    """A create succeeds only when the directory's inode (its new mtime) was
    stored: with /d larger than the buffer cache, the create's scans evict
    /d's inode-table block, and failing any one of the create's last requests
    -- the re-read of that block among them -- either fails the create (EIO)
    or leaves /d's new mtime on disk."""
    from vmm.harness.fs import build_fs_harness
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 8192, "-N", "2048")
    run_at(image, "mount\nmkdir /d\nmkfiles /d 1200 " + "p" * 200 + "\nunmount\n", 1000)
    pristine = image.read_bytes()
    exe = build_fs_harness(plugins)
    script = "mount\nstats\nwrite /d/new x\nstats\nunmount\n"

    def run(n):
        image.write_bytes(pristine)
        args = [str(exe)] + (["--fail-request", str(n)] if n else []) + [str(image), "-"]
        r = subprocess.run(args, input=script, capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "PYOS_HARNESS_TIME": "5000", "ASAN_OPTIONS": "detect_leaks=1"})
        assert r.returncode in (0, 1) and "Sanitizer" not in r.stdout + r.stderr, r.stdout + r.stderr
        return r.stdout

    counts = [sum(map(int, m)) for m in re.findall(r"reads=(\d+) writes=(\d+) .* flushes=(\d+)", run(0))]
    assert counts[1] - counts[0] > 300                        # the scans read /d's blocks again and again
    failed = 0
    for n in range(counts[1] - 9, counts[1] + 1):             # the create's last requests: /d's inode among them
        out = run(n)
        if "write /d/new x: error" in out:
            failed += 1
            continue
        stat = subprocess.run(["debugfs", "-R", "stat /d", str(image)], capture_output=True, text=True).stdout
        assert re.search(r"mtime: 0x0*1388 ", stat), (n, out, stat)      # 5000
    assert failed


def test_ext2_a_record_shorter_than_twelve_bytes_is_eio(tmp_path):
    """A directory record is at least 12 bytes (EXT2_DIR_REC_LEN(1)): an
    8-byte unused record ending a block is what e2fsck calls "directory
    corrupted" and Linux's ext2_check_page "rec_len is smaller than minimal":
    a lookup, listing or create in that directory is EIO."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image, blk, (off, ino, rl, nl, ft, name) = dir_with_one_file(tmp_path, 1024, 2048)
    assert name == b"f" and off + rl == 1024
    e2.poke(image, blk * 1024 + off + 4, struct.pack("<H", rl - 8))
    e2.poke(image, blk * 1024 + 1016, struct.pack("<IHBB", 0, 8, 0, 0))
    e2.harness(plugins, image, "mount\n!EIO ls /d\n!EIO cat /d/g\n!EIO write /d/g y\nunmount\n")


INCOMPAT_FEATURES = {0x0001: "compression", 0x0004: "needs_recovery", 0x0008: "journal_dev", 0x0010: "meta_bg",
                     0x0040: "extent", 0x0080: "64bit", 0x0100: "mmp", 0x0400: "ea_inode", 0x1000: "dirdata",
                     0x2000: "metadata_csum_seed", 0x4000: "large_dir", 0x8000: "inline_data",
                     0x10000: "encrypt", 0x20000: "casefold"}
RO_COMPAT_FEATURES = {0x0004: "btree_dir", 0x0008: "huge_file", 0x0010: "uninit_bg", 0x0080: "snapshot",
                      0x0100: "quota", 0x0200: "bigalloc", 0x0400: "metadata_csum", 0x0800: "replica",
                      0x1000: "read-only", 0x2000: "project", 0x4000: "shared_blocks", 0x8000: "verity",
                      0x10000: "orphan_present"}


def test_ext2_each_unsupported_feature_is_named(tmp_path):
    """Each incompatible feature the plugin does not support (the names
    e2fsprogs' lib/e2p/feature.c gives the s_feature_incompat bits) refuses
    the mount (ENOSYS) naming it; each unsupported read-only-compatible one
    refuses a writable mount (EROFS) naming it."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    good = image.read_bytes()
    incompat, ro = struct.unpack("<II", e2.peek(image, SB + 96, 8))
    for offset, features, base, err, kind in [(96, INCOMPAT_FEATURES, incompat, "ENOSYS", "incompatible"),
                                              (100, RO_COMPAT_FEATURES, ro, "EROFS", "read-only compatible")]:
        for bit, name in features.items():
            image.write_bytes(good)
            e2.poke(image, SB + offset, struct.pack("<I", base | bit))
            out = e2.harness(plugins, image, f"!{err} mount\n").stdout
            said = re.findall(r"ext2: unsupported (.*) feature '(.*)'", out)
            assert said == [(kind, name)] and "unknown" not in out, (hex(bit), out)


def test_ext2_group_descriptor_pointing_at_the_superblock_is_corrupt(tmp_path):
    """A group descriptor whose block bitmap, inode bitmap or inode table is
    the superblock's own block (s_first_data_block: 1 with 1 KiB blocks, 0
    with 4 KiB ones) or one before it, or lies past the last block, is
    corrupt: the mount is EIO and names the descriptor (the plugin would
    otherwise write bitmap bits or inodes over the superblock)."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    for bsize, fdb in [(1024, 1), (4096, 0)]:
        image = e2.mkfs(tmp_path / f"e{bsize}.img", None, bsize, 128, 8192)
        good = image.read_bytes()
        blocks = 8192 * 1024 // bsize
        itb = struct.unpack("<I", e2.peek(image, SB + 40, 4))[0] * 128 // bsize     # inode-table blocks
        for field in range(3):                  # block bitmap, inode bitmap, inode table
            last = blocks - itb + 1 if field == 2 else blocks       # the first value past the end
            for value in {fdb, max(fdb - 1, 0), last}:
                image.write_bytes(good)
                e2.poke(image, (fdb + 1) * bsize + 4 * field, struct.pack("<I", value))
                out = e2.harness(plugins, image, "!EIO mount\n").stdout
                assert "ext2: group descriptor 0 is corrupt" in out, (bsize, field, value, out)


def test_ext2_filesystem_larger_than_its_device_is_refused(tmp_path):
    """A superblock counting more blocks than the device holds (an image cut
    short) is refused at mount (EINVAL), saying how many blocks it claims and
    how many sectors there are."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    with open(image, "r+b") as f:
        f.truncate(2047 * 1024)
    out = e2.harness(plugins, image, "!EINVAL mount\n").stdout
    assert "the filesystem has 2048 blocks of 1024 bytes but" in out and "holds only 4094 sectors" in out, out


def test_ext2_reading_a_file_without_data_blocks_is_einval(tmp_path):
    """Only regular files, directories and symbolic links have contents:
    reading a FIFO (whose inode claims a size) is EINVAL, and so is reading a
    fast symlink (no blocks: its target kept in the 60 bytes of i_block) whose
    size claims more than those 60 bytes; a fast symlink of 60 bytes reads back."""
    import os
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "fifo")
    os.symlink("t" * 59, src / "long")
    os.symlink("u" * 60, src / "full")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    for name, size in [("fifo", 5), ("long", 61)]:
        e2.poke(image, inode_offset(image, harness_ino(plugins, image, f"/{name}")) + 4, struct.pack("<I", size))
    out = e2.harness(plugins, image, "mount\n!EINVAL cat /fifo\n!EINVAL cat /long\ncat /full\nunmount\n").stdout
    assert "u" * 60 in out


def test_ext2_rmdir_in_a_directory_whose_link_count_is_unknown(tmp_path):
    """dir_nlink: a directory's link count of 1 means "not counted" (more
    subdirectories than EXT2_LINK_MAX once had): removing a subdirectory, or
    moving one to another parent, leaves it at 1 -- it is not lowered to 0,
    which would mean the directory is gone -- and files can be created in it
    (a count of 0 would mean removed)."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    (src / "a" / "sub").mkdir(parents=True)
    (src / "a" / "moved").mkdir()
    (src / "a" / "f").write_bytes(b"f")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    e2.poke(image, inode_offset(image, harness_ino(plugins, image, "/a")) + 26, struct.pack("<H", 1))
    out = e2.harness(plugins, image, "mount\nrmdir /a/sub\nrename /a/moved /moved\nunmount\nmount\nls /a\n"
                                     "stat /a\nwrite /a/g x\nunmount\n").stdout
    assert "f f 1" in out and "nlink=1 " in out
    assert debugfs_links(image, "/a") == 1


def test_ext2_records_that_stop_short_of_the_block_end_are_eio(tmp_path):
    """A directory block's records tile it exactly. With 4 KiB blocks, a last
    record ending 4 bytes before the block's end leaves no room for the
    8-byte header of another record: the directory is EIO, and nothing is
    read past the block (the buffer is exactly one block: AddressSanitizer)."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image, blk, (off, ino, rl, nl, ft, name) = dir_with_one_file(tmp_path, 4096, 8192)
    assert name == b"f" and off + rl == 4096
    e2.poke(image, blk * 4096 + off + 4, struct.pack("<H", rl - 4))
    e2.harness(plugins, image, "mount\n!EIO ls /d\n!EIO cat /d/g\n!EIO write /d/g y\nunmount\n")


def test_ext2_without_filetype_a_name_length_over_255_is_eio(tmp_path):
    """Without the filetype feature a record's name length is 16 bits (the
    byte that is file_type otherwise is its high byte): a record whose high
    byte is set names more than 255 bytes, more than its record holds: EIO."""
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048, "-O", "^filetype")
    blk = e2.root_dir_block(image)
    [(off, ino, rl, nl, ft, name)] = [r for r in dirents(image, blk) if r[5] == b"f"]
    assert ft == 0
    e2.poke(image, blk * 1024 + off + 7, b"\x01")
    e2.harness(plugins, image, "mount\n!EIO cat /f\n!EIO ls /\nunmount\n")


def test_ext2_moved_special_files_keep_their_file_type(tmp_path):
    """A renamed block device, character device, FIFO, socket or symbolic
    link gets the file type byte of its mode in its new entry (4, 3, 5, 6, 7):
    readdir says so and e2fsck, which checks every entry's type against its
    inode, finds the image clean."""
    import socket
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    (src / "to").mkdir(parents=True)
    (src / "link").symlink_to("somewhere")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(src / "sock"))
    s.close()
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    for cmd in ["mknod bdev b 8 1", "mknod cdev c 4 64", "mknod pipe p"]:
        subprocess.run(["debugfs", "-w", "-R", cmd, str(image)], check=True, capture_output=True)
    names = ["bdev", "cdev", "pipe", "sock", "link"]
    script = ["mount"] + [f"rename /{n} /to/{n}2" for n in names] + ["readdir /to", "unmount"]
    out = e2.harness(plugins, image, "\n".join(script)).stdout
    types = dict(re.findall(r"^(\S+) ino=\d+ type=(0o\d+)$", out, re.M))
    assert types == {"bdev2": "0o60000", "cdev2": "0o20000", "pipe2": "0o10000", "sock2": "0o140000",
                     "link2": "0o120000"}, out
    e2.fsck_clean(image)


def test_ext2_read_only_mount_refuses_every_change(tmp_path):
    """A read-only mount refuses every change with EROFS -- create, write,
    truncate, mkdir, rmdir, unlink and rename -- and the image stays byte for
    byte as it was; reading works."""
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    (src / "d" / "sub").mkdir(parents=True)
    (src / "f").write_bytes(b"file\n")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    before = image.read_bytes()
    e2.harness(plugins, image, """
        mount
        !EROFS write /new x
        !EROFS write /f x
        !EROFS append /f x
        !EROFS pwrite /f 3 x
        !EROFS truncate /f 1
        !EROFS mkdir /e
        !EROFS rmdir /d/sub
        !EROFS unlink /f
        !EROFS rename /f /g
        !EROFS rename /d /e
        cat /f
        ls /d
        unmount
    """, readonly=True)
    assert image.read_bytes() == before


def three_block_dir(tmp_path):
    """A 1 KiB-block image whose /d holds 60 long names: three directory blocks."""
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(60):
        (src / "d" / f"file-with-a-long-name-{i:03d}").write_bytes(b"x")
    return e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)


def test_ext2_readdir_over_a_directory_hole_is_eio(tmp_path):
    """Directories have no holes: readdir over a directory whose first block
    pointer is 0 is EIO -- block 0 (boot code, or the superblock's block) is
    never read as the directory's, even when its bytes look like a record --
    and so is rmdir (its check that the directory is empty); the image is
    left as it was (no block is allocated for the hole)."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = three_block_dir(tmp_path)
    out = e2.harness(plugins, image, "mount\nstat /d\nunmount\n").stdout
    assert "size=3072 " in out or "size=2048 " in out, out
    e2.poke(image, inode_offset(image, harness_ino(plugins, image, "/d")) + 40, bytes(4))     # i_block[0] = 0
    e2.poke(image, 0, struct.pack("<IHBB", 2, 1024, 4, 2) + b"boot")
    before = image.read_bytes()
    e2.harness(plugins, image, "mount\n!EIO readdir /d\n!EIO cat /d/boot\n!EIO rmdir /d\nunmount\n")
    assert image.read_bytes() == before      # reading, or rmdir's emptiness check, fills no hole: nothing written


def test_ext2_readdir_goes_on_past_a_block_with_no_entries_left(tmp_path):
    """readdir of a three-block directory whose middle block has had all its
    names removed (one empty record spanning the block) still lists every
    name of the third block: it steps on to the next block, not back."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = three_block_dir(tmp_path)
    blocks = ext2_blocks(image, "/d")
    assert len(blocks) == 3, blocks
    names = [[e[5].decode() for e in dirents(image, b) if e[1] and e[5] not in (b".", b"..")] for b in blocks]
    assert all(names), names
    script = ["mount", *(f"unlink /d/{n}" for n in names[1]), "unmount", "mount", "readdir /d", "unmount"]
    out = e2.harness(plugins, image, "\n".join(script)).stdout
    listed = re.findall(r"^(file-with-a-long-name-\d+) ino=", out, re.M)
    assert sorted(listed) == sorted(names[0] + names[2])
    # At the end the cookie (the directory's offset) is the directory's size, as in Linux's
    # ext2, also when the last blocks hold no names any more
    script = ["mount", "dirend /d", *(f"unlink /d/{n}" for n in names[2]), "dirend /d", "unmount"]
    out = e2.harness(plugins, image, "\n".join(script)).stdout
    assert re.findall(r"^end=(\d+)$", out, re.M) == ["3072", "3072"], out


# ------------------------------------------------------------------ round 6 (e3)

def test_ext2_a_group_counted_full_is_passed_over(tmp_path):
    """A group whose descriptor counts no free block is full: a new block whose
    goal lies there comes from the next group, and the allocator has nothing
    to say about the full group's bitmap (the image is consistent: the
    "free block count but its bitmap is full" complaint is for a descriptor
    that counts free blocks its bitmap does not have)."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None)
    out = e2.harness(plugins, image, "mount\nfill /big 1300000 1\nstatfs\nwrite /f x\nstat /f\nunmount\n").stdout
    assert "bitmap is full" not in out, out
    assert int(re.search(r"ino=(\d+)", out).group(1)) <= 64          # /f's inode in group 0 ...
    assert min(ext2_blocks(image, "/f")) > 1024                       # ... which is full: its block further on
    e2.fsck_clean(image)


def test_ext2_the_first_ordinary_inode_is_used_once_free(tmp_path):
    """s_first_ino (11) is the first inode a file may have, not a reserved one:
    mke2fs gives it to lost+found; once lost+found is removed, the next new
    file gets inode 11, the lowest free inode of its group (as Linux's
    ext2_new_inode does)."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    assert harness_ino(plugins, image, "/lost+found") == 11
    out = e2.harness(plugins, image, "mount\nrmdir /lost+found\nwrite /f x\nstat /f\nunmount\n").stdout
    assert "ino=11 " in out, out
    e2.fsck_clean(image)


def test_ext2_io_errors_while_truncating_inside_indirect_trees_never_crash(tmp_path):
    """Truncates that keep part of the single-, double- and triple-indirect
    trees (so the indirect blocks are read and partly cleared), in a fresh
    mount, so every indirect block is a request of its own: any one failed
    request is an error, never a crash."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 4096)
    K, apb = 1024, 256
    e2.harness(plugins, image, f"mount\nfill /s {40 * K} 1\npwrite /d {(12 + apb + apb + 30) * K} d\n"
                               f"pwrite /t {(12 + apb + apb * apb + apb + 30) * K} t\nunmount\n")
    io_error_sweep(plugins, image, f"mount\ntruncate /s {20 * K}\ntruncate /d {(12 + apb + apb + 10) * K}\n"
                                   f"truncate /t {(12 + apb + apb * apb + apb + 10) * K}\nunmount\n")


def test_ext2_moving_a_directory_below_one_whose_ancestor_has_a_partial_block_is_eio(tmp_path):
    """A directory's size is a whole number of blocks (e2fsck; Linux's
    ext2_check_page calls a partial last block corrupt). Moving a directory
    below /a/b walks ".." up from /a/b to make sure it does not go into
    itself; when b's ".." leads to a directory whose size ends inside a block
    (never looked up by name), that directory is EIO and nothing moves."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "a/b", "c", "x")
    c = harness_ino(plugins, image, "/c")
    e2.poke(image, record_at(image, "/a/b", b".."), struct.pack("<I", c))
    coff = inode_offset(image, c)
    e2.poke(image, coff + 4, struct.pack("<I", 1524))                 # i_size: a block and a half
    e2.poke(image, coff + 28, struct.pack("<I", 4))                   # i_blocks: two blocks' sectors
    out = e2.harness(plugins, image, "mount\n!EIO rename /x /a/b/x\nls /\nls /a/b\nunmount\n").stdout
    assert re.search(r"^x d ", out, re.M), out


def test_ext2_a_read_at_or_past_the_end_of_a_file_gives_nothing(tmp_path):
    """A read is short at the end of the file (fs.h): one starting at the
    end, or past it, returns 0 bytes; one starting before the end returns
    the bytes up to it -- for a file with blocks and for a fast symlink."""
    import os
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    src.mkdir()
    os.symlink("target", src / "link")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    out = e2.harness(plugins, image, "mount\nwrite /f hello\npread /f 5 10\npread /f 6 10\npread /f 5000 10\n"
                                     "pread /f 3 10\npread /link 6 4\npread /link 2 100\nunmount\n").stdout
    assert re.findall(r"^n=(-?\d+)$", out, re.M) == ["0", "0", "0", "2", "0", "4"], out
    assert "n=2\nlo\n" in out and "n=4\nrget\n" in out, out


def test_ext2_more_groups_than_one_descriptor_block_holds(tmp_path):
    """With 1 KiB blocks a block holds 32 group descriptors: a filesystem of
    40 groups has two descriptor blocks, read one after the other into one
    table at mount. Directories spread to the emptiest groups and a large
    file runs into the groups the second block describes; e2fsck finds every bitmap and
    count right, and the free counts statfs gives (the sum over all
    descriptors) are e2fsck's. (Without resize_inode: mke2fs would use
    meta_bg for groups this small, which the plugin does not support.)"""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 40 * 256, "-g", "256", "-N", "640", "-O", "^resize_inode")
    out = e2.harness(plugins, image, "mount\nstatfs\nunmount\n").stdout
    assert statfs_counts(out) == e2fsck_counts(image)
    script = ["mount"] + [f"mkdir /d{i}" for i in range(40)] + [f"write /d{i}/f {i}" for i in range(40)]
    script += ["fill /big 8800000 3", "check /big 8800000 3", "statfs", "unmount"]
    out = e2.harness(plugins, image, "\n".join(script)).stdout
    assert statfs_counts(out) == e2fsck_counts(image)
    assert max(ext2_blocks(image, "/big")) > 33 * 256                  # groups of the second descriptor block


def test_ext2_rmdir_when_the_parents_block_was_pushed_out_of_the_cache(tmp_path):
    """rmdir of an empty directory larger than the buffer cache (256
    buffers): checking it is empty reads all its blocks, which pushes the
    parent's block (found just before) out of the cache, so removing the
    name reads it again. Any one of the rmdir's last requests failing, that
    re-read among them, is an error (EIO) and never a crash; when the rmdir
    succeeds, the image is clean."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 8192, "-N", "2048")
    name = "p" * 200
    script = ["mount", "mkdir /d", f"mkfiles /d 1200 {name}"] + [f"unlink /d/{name}{i}" for i in range(1200)]
    out = e2.harness(plugins, image, "\n".join(script + ["stat /d", "unmount"])).stdout
    assert int(re.search(r"size=(\d+)", out).group(1)) > 256 * 1024, out
    pristine = image.read_bytes()
    script = "mount\nstats\nrmdir /d\nstats\n"
    counts = [sum(map(int, m)) for m in re.findall(r"reads=(\d+) writes=(\d+) .* flushes=(\d+)",
                                                   run_fs_script(plugins, image, script).stdout)]
    assert counts[1] - counts[0] > 256                          # /d's blocks, and the parent's again
    outcomes = set()
    for n in range(counts[1] - 6, counts[1] + 1):
        image.write_bytes(pristine)
        result = run_fs_script(plugins, image, script + "unmount\n", fail_request=n)
        out = result.stdout + result.stderr
        assert result.returncode in (0, 1) and "Sanitizer" not in out and "runtime error" not in out, (n, out)
        outcomes.add("rmdir /d: error EIO" in out)
    assert outcomes == {True, False}


def test_ext2_mkdir_without_a_buffer_for_its_first_block_is_eio(tmp_path):
    """mkdir needs a buffer for the new directory's first block (its "."
    and ".." records). On a disk whose writes fail, the buffer cache fills
    with dirty buffers it cannot evict; a mkdir that finds no buffer left
    is EIO and gives back the block and the inode it took: the free counts
    are as before, and the name does not exist."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    out = run_fs_script(plugins, image, "mount\nfailwrites\n!EIO fill /a 400000 1\nstatfs\n!EIO mkdir /d\n"
                                        "statfs\n!ENOENT stat /d\n").stdout
    for line in ["!EIO fill /a 400000 1: error EIO", "!EIO mkdir /d: error EIO", "!ENOENT stat /d: error ENOENT"]:
        assert f"{line} (expected)" in out, out[-3000:]
    first, second = (statfs_counts(m.group(0)) for m in re.finditer(r"type=.*", out))
    assert first == second, out


def test_ext2_replacing_an_empty_directory_in_one_at_the_link_limit(tmp_path):
    """A directory at EXT2_LINK_MAX (65000) links no longer counts its
    subdirectories (dir_nlink). Moving a directory over an empty one in it
    takes no new link (the replaced directory's ".." goes as the moved one's
    comes), so it is allowed, and the count stays 65000 -- neither lowered
    for the removed ".." nor raised past the limit for the new one -- while
    the directory the moved one left loses its link."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "full/t", "a/sub")
    full = harness_ino(plugins, image, "/full")
    e2.poke(image, inode_offset(image, full) + 26, struct.pack("<H", 65000))
    a_links = debugfs_links(image, "/a")
    out = e2.harness(plugins, image, "mount\nrename /a/sub /full/t\nstat /full\nls /full\nunmount\n").stdout
    assert "nlink=65000 " in out, out
    assert debugfs_links(image, "/full") == 65000
    assert debugfs_links(image, "/a") == a_links - 1
    assert debugfs_links(image, "/full/t") == 2


def test_ext2_truncate_marks_the_files_times(tmp_path):
    """POSIX truncate/ftruncate: a successful call that changes the size marks
    st_mtime and st_ctime for update -- shrinking and growing alike (the
    plugin also does so for an unchanged size, where POSIX leaves it open)."""
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    run_at(image, "mount\nfill /f 5000 1\nunmount\n", 1000)
    for now, size in [(2000, 3000), (3000, 20000)]:
        out = run_at(image, f"mount\ntruncate /f {size}\nmtime /f\nstat /f\nunmount\n", now)
        assert f"mtime={now}\n" in out and f"size={size} " in out, out
        stat = subprocess.run(["debugfs", "-R", "stat /f", str(image)], capture_output=True, text=True).stdout
        assert re.search(rf"ctime: 0x0*{now:x} ", stat), stat
    e2.fsck_clean(image)


def test_ext2_rename_over_an_empty_directory_in_one_whose_link_count_is_unknown(tmp_path):
    """dir_nlink: a directory's link count of 1 means "not counted". Moving a
    directory over an empty one in the same directory drops the replaced
    one's ".." but leaves the count at 1 -- never 0, which would mean the
    directory is gone -- and files can still be created in it."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "a/x", "a/t")
    e2.poke(image, inode_offset(image, harness_ino(plugins, image, "/a")) + 26, struct.pack("<H", 1))
    out = e2.harness(plugins, image, "mount\nrename /a/x /a/t\nstat /a\nwrite /a/g x\nunmount\n"
                                     "mount\nls /a\nunmount\n").stdout
    assert "nlink=1 " in out and re.search(r"^g f 1$", out, re.M), out
    assert debugfs_links(image, "/a") == 1


def test_ext2_an_empty_name_looks_up_nothing(tmp_path):
    """A lookup of the empty name is ENOENT, even in a directory holding a
    (corrupt: e2fsck's "zero-length name") record of name length 0 for a
    live inode: readdir hands that record out as it is, and the harness's
    ls, looking each listed name up, finds nothing under it."""
    plugins = [e2.filesystem_plugin("ext2")]
    image, blk, (off, ino, rl, nl, ft, name) = dir_with_one_file(tmp_path, 1024, 2048)
    assert name == b"f"
    e2.poke(image, blk * 1024 + off + 6, b"\x00")
    out = e2.harness(plugins, image, "mount\nreaddir /d\nls /d\nunmount\n").stdout
    assert re.search(rf"^ ino={ino} ", out, re.M), out                  # readdir gives it
    assert re.search(r"^ \? lookup:ENOENT$", out, re.M), out             # the empty name finds nothing


def test_ext2_mkdir_with_exactly_one_full_block_of_group_descriptors(tmp_path):
    """32 groups of 256 blocks with 1 KiB blocks: the descriptor table is
    exactly one block (32 descriptors of 32 bytes), the table in memory
    exactly that size: mount looks up three blocks, the superblock, that one
    descriptor block and the root inode's, not the block after the table.
    New directories go to the group with the most free blocks among the 32
    -- none past the last -- and the image stays clean."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 32 * 256, "-g", "256", "-N", "512", "-O", "^resize_inode")
    out = e2.harness(plugins, image, "mount\nstats\nunmount\n").stdout
    hits, misses = map(int, re.search(r"hits=(\d+) misses=(\d+)", out).groups())
    assert hits + misses == 3, out
    out = e2.harness(plugins, image, "mount\nstatfs\n" + "".join(f"mkdir /d{i}\nwrite /d{i}/f x\n" for i in range(8))
                     + "statfs\nunmount\n").stdout
    assert statfs_counts(out)[0] == 8192                 # blocks 1-8191 after the boot block: 32 groups
    assert statfs_counts(out) == e2fsck_counts(image)


def test_ext2_the_bits_past_a_groups_inodes_are_not_inodes(tmp_path):
    """An inode bitmap block has room for more bits than the group has
    inodes; the bits past them are padding (mke2fs sets them), never inodes,
    even when clear: a group whose 64 inodes are all in use but whose
    descriptor counts free ones is full -- the plugin says so and takes the
    inode from the next group."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None)
    bsize, isize, ipg, bb, ib, it = e2.layout(image)
    assert ipg == 64
    e2.poke(image, ib * bsize, b"\xff" * 8 + bytes(bsize - 8))     # inodes 1-64 in use, the padding clear
    out = e2.harness(plugins, image, "mount\nwrite /f hello\nstat /f\nunmount\n").stdout
    assert "ext2: group 0: free inode count" in out and "but its bitmap is full" in out, out
    assert int(re.search(r"ino=(\d+)", out).group(1)) > 64


def test_ext2_largest_file_with_4k_blocks_is_what_i_blocks_counts(tmp_path):
    """With 4 KiB blocks the block map would address more than i_blocks (32
    bits of 512-byte sectors) can count: the largest file is 2^32 - 1
    sectors in 4 KiB blocks, less the indirect blocks a full tree needs
    (1 + (1 + 1024) + (1 + 1024 + 1024^2)), as Linux's ext2_max_size has it:
    535,820,284 blocks. A truncate to that size and a write of its last byte
    work; one byte further is EFBIG."""
    image = e2.mkfs(tmp_path / "e.img", None, 4096, 128, 8192)
    limit = ((2 ** 32 - 1) // 8 - (1 + 1 + 1024 + 1 + 1024 + 1024 ** 2)) * 4096
    assert limit == 535_820_284 * 4096
    largest_file_is(image, limit)


def test_ext2_free_counts_up_to_the_blocks_that_exist_are_taken_at_mount(tmp_path):
    """The mount takes the descriptors' free counts as they are (as Linux's
    ext2 does: it sums them without checking them against the bitmaps), as
    long as they do not claim more than exists: with 4 KiB blocks (block 0
    is the superblock's, s_first_data_block 0) one group of 2048 blocks may
    claim all 2048 free; statfs says so. More than the group has is corrupt."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 4096, 128, 8192)
    good = image.read_bytes()
    e2.poke(image, 4096 + 12, struct.pack("<H", 2048))              # group 0's free blocks count
    out = e2.harness(plugins, image, "mount\nstatfs\nunmount\n").stdout
    assert statfs_counts(out)[:2] == (2048, 2048), out
    image.write_bytes(good)
    e2.poke(image, 4096 + 12, struct.pack("<H", 2049))
    out = e2.harness(plugins, image, "!EIO mount\n").stdout
    assert "ext2: group descriptor 0 is corrupt" in out, out


def test_ext2_a_create_in_a_corrupt_directory_changes_nothing(tmp_path):
    """A create or mkdir in a directory whose records are corrupt (the last
    one stopping 4 bytes short of the block end) is EIO before anything is
    allocated: after unmount the image is byte for byte what it was."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image, blk, (off, ino, rl, nl, ft, name) = dir_with_one_file(tmp_path, 4096, 8192)
    e2.poke(image, blk * 4096 + off + 4, struct.pack("<H", rl - 4))
    before = image.read_bytes()
    e2.harness(plugins, image, "mount\n!EIO write /d/g y\n!EIO mkdir /d/h\nunmount\n")
    assert image.read_bytes() == before


def test_ext2_mkdir_in_a_directory_at_the_link_limit_is_emlink(tmp_path):
    """A directory at EXT2_LINK_MAX (65000) links takes no new subdirectory
    (its ".." would be one link more): mkdir there is EMLINK and changes
    nothing, while a new file, which links nothing to it, is fine."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    (src / "full").mkdir(parents=True)
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    e2.poke(image, inode_offset(image, harness_ino(plugins, image, "/full")) + 26, struct.pack("<H", 65000))
    out = e2.harness(plugins, image, "mount\nstatfs\n!EMLINK mkdir /full/d\nstatfs\nwrite /full/f x\n"
                                     "ls /full\nunmount\n").stdout
    first, second = (statfs_counts(m.group(0)) for m in re.finditer(r"type=.*", out))
    assert first == second and not re.search(r"^d d", out, re.M), out
    assert debugfs_links(image, "/full") == 65000


def test_ext2_a_fast_symlink_with_an_attribute_block_reads_its_target(tmp_path):
    """A fast symlink keeps its target in i_block; an extended-attribute
    block adds one block's sectors to i_blocks without making it a slow
    symlink (Linux's ext2_inode_is_fast_symlink subtracts the EA block):
    the link still reads back its target."""
    import os
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    src.mkdir()
    os.symlink("target", src / "link")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    subprocess.run(["debugfs", "-w", "-R", "ea_set /link user.note hello", str(image)], check=True, capture_output=True)
    assert ea_block_of(image, "/link")
    out = e2.harness(plugins, image, "mount\npread /link 0 100\nunmount\n").stdout
    assert "n=6\ntarget\n" in out, out


def test_ext2_a_new_block_under_an_indirect_block_follows_the_previous_slots_block(tmp_path):
    """In a fresh mount (no goal remembered), a new block in slot 1 of the
    single-indirect block goes right after slot 0's block, wherever that is
    -- not after the indirect block, even when that block is free."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    K = 1024
    e2.harness(plugins, image, f"mount\nmkdir /d\npwrite /d/s {13 * K} a\nunmount\n")     # slot 1: I + 1
    e2.harness(plugins, image, f"mount\npwrite /d/s {12 * K} b\nunmount\n")               # slot 0: I + 2
    e2.harness(plugins, image, f"mount\ntruncate /d/s {13 * K}\nunmount\n")               # I + 1 free again
    e2.harness(plugins, image, f"mount\npwrite /d/s {13 * K} c\nunmount\n")
    out = subprocess.run(["debugfs", "-R", "stat /d/s", str(image)], capture_output=True, text=True).stdout
    ind = int(re.search(r"\(IND\):(\d+)", out).group(1))
    assert f"(12-13):{ind + 2}-{ind + 3}\n" in out, out             # blocks 12 and 13 at I + 2, I + 3
    e2.fsck_clean(image)


def test_ext2_freeing_blocks_of_an_undercounted_inode_leaves_i_blocks_at_zero(tmp_path):
    """i_blocks counts a file's sectors; freeing blocks lowers it, but never
    below 0: a file whose i_blocks says less than its blocks (corrupt, 0
    here) truncated to nothing has i_blocks 0 -- what e2fsck wants of a file
    without blocks."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    e2.harness(plugins, image, "mount\nfill /f 3000 1\nunmount\n")
    e2.poke(image, inode_offset(image, harness_ino(plugins, image, "/f")) + 28, struct.pack("<I", 0))
    out = e2.harness(plugins, image, "mount\ntruncate /f 0\nstat /f\nunmount\n").stdout
    assert "size=0 blocks=0\n" in out, out
    e2.fsck_clean(image)


def test_ext2_a_mount_refused_for_its_root_keeps_no_vnode(tmp_path):
    """A mount refused because the root inode is not a directory gives back
    the root's vnode: none stays in use afterwards."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    bsize, isize, ipg, bb, ib, it = e2.layout(image)
    e2.poke(image, it * bsize + isize, struct.pack("<H", 0o100644))      # inode 2: a regular file
    out = e2.harness(plugins, image, "!EIO mount\nstats\n").stdout
    assert "the root inode is not a directory" in out and re.search(r"vnodes=0\n", out), out


def test_ext2_write_marks_the_files_times_and_rename_over_a_name_the_directorys(tmp_path):
    """POSIX: a successful write marks the file's st_mtime and st_ctime for
    update; a rename that replaces an existing name changes that entry, so
    it marks the new directory's st_mtime too."""
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    run_at(image, "mount\nmkdir /d\nmkdir /e\nwrite /d/a a\nwrite /e/b b\nwrite /f x\nunmount\n", 1000)
    out = run_at(image, "mount\npwrite /f 5000 y\nmtime /f\nunmount\n", 2000)
    assert "mtime=2000\n" in out, out
    stat = subprocess.run(["debugfs", "-R", "stat /f", str(image)], capture_output=True, text=True).stdout
    assert re.search(r"ctime: 0x0*7d0 ", stat), stat                           # 2000
    out = run_at(image, "mount\nrename /d/a /e/b\nmtime /e\nunmount\n", 3000)
    assert "mtime=3000\n" in out, out
    e2.fsck_clean(image)


def deep_dotdot_chain(tmp_path, fakes):
    """An image whose /a/b's ".." leads through `fakes` more directories (made
    by hand: each a directory inode with one block of "." and "..") to the
    root, and a directory /x to move below /a/b."""
    import struct
    src = tmp_path / "src"
    for d in ["a/b", "x"]:
        (src / d).mkdir(parents=True)
    image = e2.mkfs(tmp_path / "deep.img", src, 1024, 128, 81920, "-N", "70000")
    plugins = [e2.filesystem_plugin("ext2")]
    b_ino = harness_ino(plugins, image, "/a/b")
    dump = subprocess.run(["dumpe2fs", str(image)], capture_output=True, text=True).stdout
    free = []
    for m in re.finditer(r"^  Free blocks: (.*)$", dump, re.M):
        for part in filter(None, (p.strip() for p in m.group(1).split(","))):
            lo, _, hi = part.partition("-")
            free.extend(range(int(lo), int(hi or lo) + 1))
    ipg = struct.unpack("<I", e2.peek(image, SB + 40, 4))[0]
    ngroups = (struct.unpack("<I", e2.peek(image, SB + 4, 4))[0] - 1 + 8191) // 8192
    gd = e2.peek(image, 2048, 32 * ngroups)
    tables = [struct.unpack_from("<I", gd, 32 * g + 8)[0] for g in range(ngroups)]
    inos = list(range(100, 100 + fakes))
    assert len(free) > fakes + 10 and inos[-1] < 70000
    chain = inos + [2]
    with open(image, "r+b") as f:
        for k, ino in enumerate(inos):
            blk = free[k]
            f.seek(blk * 1024)
            f.write(struct.pack("<IHBB", ino, 12, 1, 2) + b".\0\0\0" + struct.pack("<IHBB", chain[k + 1], 1012, 2, 2) + b"..")
            g, i = divmod(ino - 1, ipg)
            inode = bytearray(128)
            struct.pack_into("<HHI", inode, 0, 0o40755, 0, 1024)
            struct.pack_into("<HHI", inode, 26 - 2, 0, 2, 2)       # gid, links_count, i_blocks
            struct.pack_into("<I", inode, 40, blk)
            f.seek(tables[g] * 1024 + i * 128)
            f.write(inode)
    e2.poke(image, record_at(image, "/a/b", b".."), struct.pack("<I", inos[0]))
    return plugins, image


def test_ext2_a_dotdot_walk_gives_up_after_65536_directories(tmp_path):
    """Moving a directory below /a/b walks ".." up from /a/b until the root
    (or the moved directory: EINVAL). The walk is bounded, so that a ".."
    cycle on a corrupt image ends: after 65536 directories -- /a/b and 65535
    more -- without reaching the root it is EIO, and nothing moves. One
    directory fewer on the way, the 65536th is the root and the move works."""
    plugins, image = deep_dotdot_chain(tmp_path / "long", 65535)
    out = e2.harness(plugins, image, "mount\n!EIO rename /x /a/b/x\nls /\nunmount\n").stdout
    assert re.search(r"^x d ", out, re.M), out
    plugins, image = deep_dotdot_chain(tmp_path / "short", 65534)
    out = e2.harness(plugins, image, "mount\nrename /x /a/b/x\nls /a/b\nunmount\n").stdout
    assert re.search(r"^x d ", out, re.M), out


def debugfs_mode(image, path):
    """(file type, permission bits) of PATH's inode as debugfs reads it from the image."""
    out = subprocess.run(["debugfs", "-R", f"stat {path}", str(image)], capture_output=True, text=True).stdout
    kind, mode = re.search(r"Type: (\w+)\s+Mode:\s+(\d+)", out).groups()
    return kind, int(mode, 8)


# (mode passed to create, (type, permission bits) on disk); permissions 0 get the defaults
CREATE_MODES = {"/f": (0o100600, ("regular", 0o600)), "/g": (0o100000, ("regular", 0o644)),
                "/s": (0o104000, ("regular", 0o4644)), "/x": (0o106755, ("regular", 0o6755)),
                "/d": (0o40700, ("directory", 0o700)), "/e": (0o40000, ("directory", 0o755)),
                "/t": (0o41000, ("directory", 0o1755))}


def test_ext2_create_stores_the_callers_mode_or_the_default_permissions(tmp_path):
    """create keeps the type and all twelve permission bits it is given (setuid,
    setgid and sticky included); a mode with no rwx bits gets 0644 for a file,
    0755 for a directory, its other bits kept. Read back by debugfs, after a
    remount through the plugin's stat, and e2fsck finds nothing wrong."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path)
    script = ["mount", *(f"create {path} {mode:#o}" for path, (mode, _) in CREATE_MODES.items()),
              "!EINVAL create /c 0o20644", "unmount", "mount", *(f"stat {path}" for path in CREATE_MODES), "unmount"]
    out = e2.harness(plugins, image, "\n".join(script).replace("0o", "0")).stdout
    stats = [int(m, 8) for m in re.findall(r"mode=0o([0-7]+)", out)]
    types = {"regular": 0o100000, "directory": 0o40000}
    assert stats == [types[kind] | perm for _, (kind, perm) in CREATE_MODES.values()]
    for path, (_, want) in CREATE_MODES.items():
        assert debugfs_mode(image, path) == want, path
    e2.fsck_clean(image)


def test_ext2_mkdir_on_a_full_disk_gives_its_inode_back_as_a_directory(tmp_path):
    """mkdir when no block is left for the new directory's first block: ENOSPC,
    and the inode it had taken is given back with the group's directory count
    (e2fsck checks used_dirs_count), so the image stays clean."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = dirs_image(tmp_path, "a")
    e2.harness(plugins, image, "mount\n!ENOSPC fill /huge 100000000 3\n!ENOSPC mkdir /a/new\nunmount\n")
    e2.fsck_clean(image)
    out = subprocess.run(["debugfs", "-R", "stats", str(image)], capture_output=True, text=True).stdout
    used_dirs = re.search(r"Group  0: [^\n]*\n\s+\d+ free blocks, \d+ free inodes, (\d+) used directories", out)
    assert used_dirs.group(1) == "3", out     # the root, lost+found and /a

# -- the eighth round: survivors of whole-file runs (coverage-selected tests) -----------------

def first_blocks(image, paths):
    """Each file's first block, as debugfs lists them (one debugfs run for all)."""
    out = subprocess.run(["debugfs", "-f", "-", str(image)], input="".join(f"blocks {p}\n" for p in paths),
                         capture_output=True, text=True).stdout
    listed = [line for line in out.splitlines() if line.strip() and not line.startswith("debugfs")]
    return dict(zip(paths, (int(line.split()[0]) for line in listed)))


def test_ext2_free_blocks_at_either_end_of_a_64_bit_word_are_found(tmp_path):
    """find_zero skips a bitmap's 64-bit words (aligned) only when every bit
    is set. Two files' blocks are freed around a word otherwise full: the
    block just past it is what the file before it gets when it grows (the
    search starts right after that file's block, the word's first bit), and
    the block at the word's first bit is what a new file gets (the search
    from the inode table's end finds every block before it used)."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    e2.harness(plugins, image, "mount\nmkfiles / 200 f\nunmount\n")
    where = first_blocks(image, [f"/f{i}" for i in range(200)])
    at = {b: p for p, b in where.items()}
    block = next(b for b in sorted(at) if (b - 1) % 64 == 0 and all(b + k in at for k in range(1, 65)))
    e2.harness(plugins, image, f"mount\nunlink {at[block + 64]}\npwrite {at[block]} 1024 y\nunmount\n")
    assert ext2_blocks(image, at[block]) == [block, block + 64]
    e2.harness(plugins, image, f"mount\nunlink {at[block]}\nwrite /g x\nunmount\n")
    assert first_blocks(image, ["/g"]) == {"/g": block}
    e2.fsck_clean(image)


def test_ext2_block_pointer_just_past_the_last_block_is_never_freed(tmp_path):
    """A block pointer equal to the block count names no block (blocks run
    from first_data_block to blocks_count - 1): reading through it is EIO,
    and unlinking the file frees nothing for it -- the bitmap's padding bit
    past the last block stays set, the free count stays what it was."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    e2.harness(plugins, image, "mount\nwrite /f x\nunmount\n")
    e2.poke(image, inode_offset(image, harness_ino(plugins, image, "/f")) + 40, struct.pack("<I", 2048))
    r = e2.harness(plugins, image, "mount\nstatfs\n!EIO cat /f\nunlink /f\nstatfs\nunmount\n")
    before, after = [int(free) for _, _, free, _, _ in STATFS.findall(r.stdout)]
    assert after == before, r.stdout


def test_ext2_every_bitmap_full_behind_nonzero_counts_is_enospc_after_one_pass(tmp_path):
    """Every group's descriptor counts free blocks (inodes), every block
    (inode) bitmap is full: an allocation looks at each group once (one
    message for each), then gives up with ENOSPC. The short last group's bitmap has its padding
    bit (for the block past the last) clear: not a block, never handed out."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None)
    bsize = 1024
    groups = -(-(6144 - 1) // 1024)
    for g in range(groups):
        bitmap = struct.unpack_from("<I", image.read_bytes(), 2 * bsize + 32 * g)[0]
        e2.poke(image, bitmap * bsize, b"\xff" * 128 if g < groups - 1 else b"\xff" * 127 + b"\x7f")
    out = e2.harness(plugins, image, "mount\n!ENOSPC write /f hello\nunmount\n").stdout
    assert [out.count(f"ext2: group {g}: free block count") for g in range(groups)] == [1] * groups, out
    for g in range(groups):      # the same for inodes: every inode bitmap full
        e2.poke(image, struct.unpack_from("<I", image.read_bytes(), 2 * bsize + 32 * g + 4)[0] * bsize, b"\xff" * 8)
    out = e2.harness(plugins, image, "mount\n!ENOSPC write /g x\nunmount\n").stdout
    assert [out.count(f"ext2: group {g}: free inode count") for g in range(groups)] == [1] * groups, out


def test_ext2_new_inode_goes_to_the_group_of_its_directory_even_the_last_inodes(tmp_path):
    """A new file's inode is taken from its directory's group first, also
    for a directory that is its group's last inode (64, or 384: the
    volume's last, of 6 groups of 64): with a free inode there and in
    another group, the file gets the one in the directory's group."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None)
    pristine = image.read_bytes()
    # every inode taken (f0..f372: inodes 12..384), then one freed for the directory, one in its group
    # and one in the next (or, for the last group, in group 0) for the file
    for d_ino, other in ((384, 12), (64, 65)):
        image.write_bytes(pristine)
        r = e2.harness(plugins, image, f"mount\nmkfiles / 373 f\nunlink /f{d_ino - 12}\nmkdir /d\nstat /d\n"
                                       f"unlink /f{other - 12}\nunlink /f{d_ino - 13}\nwrite /d/x y\nstat /d/x\n"
                                       "unmount\n")
        assert re.findall(r"ino=(\d+)", r.stdout) == [str(d_ino), str(d_ino - 1)], r.stdout[-500:]
        e2.fsck_clean(image)


def test_ext2_new_directories_go_to_the_first_group_with_the_most_free_blocks(tmp_path):
    """Directories are spread: a new one takes its inode from the group whose
    descriptor counts the most free blocks, the first such group on a tie
    (a fresh image of six groups: groups 2 and 4, 1014 each: group 2), and
    group 0 when it counts the most (the other descriptors made to count
    100)."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None)
    e2.harness(plugins, image, "mount\nmkdir /d\nunmount\n")
    assert (harness_ino(plugins, image, "/d") - 1) // 64 == 2
    for g in range(1, 6):
        e2.poke(image, 2 * 1024 + 32 * g + 12, struct.pack("<H", 100))
    e2.harness(plugins, image, "mount\nmkdir /e\nunmount\n")
    assert (harness_ino(plugins, image, "/e") - 1) // 64 == 0


def test_ext2_inodes_past_a_short_inode_count_are_never_handed_out(tmp_path):
    """s_inodes_count may stop short of the last group's inode table (mount
    accepts any count past the other groups'): with 374 of 6 x 64 inodes,
    files take inodes up to 374, then ENOSPC; the first free inode after
    lost+found is first_ino itself once lost+found is gone (11)."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None)
    sb = image.read_bytes()[1024:1024 + 20]
    count, _, _, _, free = struct.unpack_from("<5I", sb)
    e2.poke(image, 1024, struct.pack("<I", count - 10))
    e2.poke(image, 1024 + 16, struct.pack("<I", free - 10))
    r = e2.harness(plugins, image, f"mount\nmkfiles / {free - 10} f\n!ENOSPC write /g x\nrmdir /lost+found\n"
                                   f"write /h y\nstat /h\nstat /f{free - 11}\nunmount\n")
    assert re.findall(r"ino=(\d+)", r.stdout) == ["11", str(count - 10)], r.stdout[-400:]


def each_request_of_a_line_failing(plugins, image, before, line):
    """`line` run after `before` once per device request it makes, that request
    failing (on a fresh copy of the image each time): the runs' results. The
    line's own requests are counted from a clean run first (two `stats`)."""
    pristine = image.read_bytes()
    out = run_fs_script(plugins, image, f"{before}stats\n{line}\nstats\n").stdout
    stats = re.findall(r"^reads=.*", out, re.M)
    start, end = requests_so_far(stats[-2]), requests_so_far(stats[-1])
    image.write_bytes(pristine)
    assert end > start, f"{line!r} made no device request:\n{out[-2000:]}"
    return list(_each_failing(plugins, image, pristine, f"{before}!EIO {line}\n", "fail_request", end, first=start + 1))


def evicting_image(tmp_path):
    """A 1 KiB-block image holding /big: 300 KiB of pattern 1, which
    `check /big 300000 1` reads through the 256-buffer cache, pushing out
    every clean buffer read before it."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(pattern(300000, 1))
    return e2.mkfs(tmp_path / "e.img", src, 1024, 128, 4096)


def test_ext2_a_sync_whose_group_descriptor_block_cannot_be_read_is_eio_and_retried(tmp_path):
    """sync copies the changed group descriptors into their block, which it
    reads first: when that block has left the cache (evicted by reading
    /big) and its read fails, sync is EIO (as is the failure of any other
    request it makes), and the descriptors stay changed: the next sync
    writes them, and the image is clean."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = evicting_image(tmp_path)
    before = "mount\nwrite /new hello\ncheck /big 300000 1\n"
    results = each_request_of_a_line_failing(plugins, image, before, "sync")
    for result in results:
        assert result.returncode == 0, result.stdout[-2000:]
    # The first failed read is the descriptor block's: the retry afterwards makes the image whole.
    pristine = image.read_bytes()
    out = run_fs_script(plugins, image, before + "stats\n").stdout
    image.write_bytes(pristine)
    result = run_fs_script(plugins, image, before + "!EIO sync\nsync\nunmount\n", fail_request=requests_so_far(out) + 1)
    assert result.returncode == 0, result.stdout[-2000:]
    e2.fsck_clean(image)
    assert e2.rdump(image, tmp_path / "out")["/new"] == b"hello"


def test_ext2_a_write_whose_block_read_fails_is_eio(tmp_path):
    """A write into part of an existing block reads that block first, and a
    write past the end of a file zeroes the rest of its last block, which it
    reads too: when either block has left the cache (evicted by reading
    /big, while `stat` keeps the directory and inode blocks cached) and any
    read the write makes fails, the write is EIO."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = evicting_image(tmp_path)
    # /small's block after a 64 KiB spacer: out of the read-ahead window of /big's last blocks.
    e2.harness(plugins, image, f"mount\nfill /spacer 65536 2\nwrite /small {'s' * 100}\nunmount\n")
    before = "mount\ncheck /big 300000 1\nstat /small\n"
    for line in ("pwrite /small 10 yy", "pwrite /small 5000 x"):
        results = each_request_of_a_line_failing(plugins, image, before, line)
        for result in results:
            assert result.returncode == 0, (line, result.stdout[-2000:])
        assert len(results) >= 1


def test_ext2_a_truncate_whose_indirect_block_read_fails_is_eio(tmp_path):
    """Truncating a file reads its indirect block to free what it points
    to: when that block has left the cache (evicted by reading /big) and any
    read the truncate makes fails, the truncate is EIO, never a crash."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = evicting_image(tmp_path)
    e2.harness(plugins, image, "mount\nfill /spacer 65536 2\nfill /f 20000 1\nunmount\n")
    results = each_request_of_a_line_failing(plugins, image, "mount\ncheck /big 300000 1\nstat /f\n", "truncate /f 0")
    for result in results:
        assert result.returncode == 0, result.stdout[-2000:]


def test_ext2_a_write_without_a_buffer_for_its_new_block_gives_the_block_back(tmp_path):
    """A new block gets a zeroed buffer before the file points at it. On a
    disk whose writes fail, the buffer cache fills with dirty buffers it
    cannot evict; a write that then finds no buffer for a new block (a new
    file's first, a block after an existing one, one under a new indirect
    block) is EIO and gives the block back: the free count and the file's
    blocks are as before. (Kept, such a block would join the file with
    whatever it held before, for a later partial write to read back.)"""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    e2.harness(plugins, image, "mount\nwrite /old o\nfill /ind 12288 3\nunmount\n")
    out = run_fs_script(plugins, image, "mount\nfailwrites\n!EIO fill /a 400000 1\nstatfs\n"
                                        "!EIO write /b hello\n!EIO pwrite /old 1024 p\n!EIO pwrite /ind 12288 i\n"
                                        "statfs\nstat /b\nstat /old\nstat /ind\n").stdout
    for line in ["!EIO write /b hello", "!EIO pwrite /old 1024 p", "!EIO pwrite /ind 12288 i"]:
        assert f"{line}: error EIO (expected)" in out, out[-3000:]
    first, second = (statfs_counts(m.group(0)) for m in re.finditer(r"type=.*", out))
    assert first[1] == second[1], out            # free blocks (/b's inode was taken: its create worked)
    assert re.findall(r" size=\d+ blocks=\d+", out) == [" size=0 blocks=0", " size=1 blocks=2", " size=12288 blocks=24"], out


def test_ext2_after_a_remount_new_blocks_follow_the_files_own_and_cross_group_ends_forward(tmp_path):
    """With no goal remembered (a fresh mount), a file's next direct block
    goes after its previous one, and the first slot of an existing indirect
    block after that indirect block; a block at a group's last block is
    followed, within the same write, by the next group's first free block.
    Never back into a run freed earlier in the group left behind (group 0's
    /z0 or /h here), as a search from the file's own block would wrap to.

    The image: groups of 1024 blocks with flex_bg; /z0 and /p0 fill group 0
    up to block 1022; group 1's first free block is 1218."""
    plugins = [e2.filesystem_plugin("ext2")]
    K = 1024

    def image(name):
        return e2.mkfs(tmp_path / name, None, 1024, 128, 6144, "-g", "1024", "-N", "384", "-O", "flex_bg")

    direct = image("d.img")
    e2.harness(plugins, direct, f"mount\nfill /z0 {20 * K} 0\nfill /p0 {730 * K} 1\nwrite /t t\nunmount\n")
    assert max(ext2_blocks(direct, "/p0")) == 1022 and ext2_blocks(direct, "/t") == [1023]
    e2.harness(plugins, direct, "mount\nunlink /z0\nunmount\n")
    e2.harness(plugins, direct, f"mount\npwrite /t {K} {'u' * 2 * K}\nunmount\n")
    assert ext2_blocks(direct, "/t") == [1023, 1024, 1218]
    e2.fsck_clean(direct)

    indirect = image("i.img")
    e2.harness(plugins, indirect, f"mount\nfill /z0 {20 * K} 0\nfill /p0 {730 * K} 1\nwrite /h h\n"
                                  f"pwrite /s {17 * K} s\nunmount\n")
    assert ext2_blocks(indirect, "/h") == [1023] and ext2_blocks(indirect, "/s") == [1024, 1218]  # (IND) 1024
    e2.harness(plugins, indirect, "mount\nunlink /h\nunmount\n")
    e2.harness(plugins, indirect, f"mount\npwrite /s {12 * K} t\nunmount\n")
    assert sorted(ext2_blocks(indirect, "/s")) == [1024, 1218, 1219]
    e2.fsck_clean(indirect)


def test_ext2_a_new_files_first_block_goes_to_its_inodes_group_also_for_the_groups_last_inodes(tmp_path):
    """A new file's first block is sought from the end of its inode's group's
    inode table: for the last inodes of group 0 (63, 64) that is group 0,
    for the first of group 1 (65, once group 0 has no inode left) group 1,
    at the first block after that group's inode table. (Six groups of 1024 blocks and 64 inodes; f0..f54 take inodes 12..66.)"""
    plugins = [e2.filesystem_plugin("ext2")]
    image = small_groups_image(tmp_path, None)
    e2.harness(plugins, image, "mount\nmkfiles / 55 f\nunmount\n")
    for name, ino, group in (("f51", 63, 0), ("f52", 64, 0), ("f53", 65, 1)):
        assert harness_ino(plugins, image, f"/{name}") == ino
        first = ext2_blocks(image, f"/{name}")[0]
        assert (first - 1) // 1024 == group, (name, ino, first)
    # group 1 holds no directory: its first free block is the one right after its inode table
    # (8 blocks: 64 inodes of 128 bytes), and that is where f53's first block went
    tables = re.findall(r"Inode table at (\d+)-(\d+)", subprocess.run(["dumpe2fs", str(image)], capture_output=True,
                                                                      text=True).stdout)
    assert ext2_blocks(image, "/f53")[0] == int(tables[1][1]) + 1, tables
    e2.fsck_clean(image)


def test_ext2_truncate_frees_exactly_the_block_map_it_no_longer_needs(tmp_path):
    """The block map after a truncate to a size that ends exactly where the
    direct blocks (12 KiB) or the single-indirect range (12 + 256 KiB) end:
    the indirect tree past it goes whole, its top block included; the
    inode's i_generation (just past the 15 block pointers) is no pointer
    and stays as it was; nothing is written into the blocks freed (a
    truncate to a whole block has no partial block to zero); and the next
    block written after the new end goes after the file's last kept block
    -- even when the file had just grown past it in the same open -- not to
    the first free block of the volume (a block freed before it by another
    file)."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 4096)
    K = 1024
    e2.harness(plugins, image, f"mount\nwrite /a a\nfill /f {300 * K} 1\nfill /g {20 * K} 2\nunmount\n")
    ino_f = harness_ino(plugins, image, "/f")
    e2.poke(image, inode_offset(image, ino_f) + 100, struct.pack("<I", 0x5A5A1234))
    a_block = ext2_blocks(image, "/a")[0]
    f_blocks = ext2_blocks(image, "/f")
    f268 = f_blocks[12 + 1 + 256 + 2]                         # /f's block 268 (after the IND, its 256, DIND, IND)
    f268_bytes = e2.peek(image, f268 * K, K)
    out = e2.harness(plugins, image, f"mount\nunlink /a\ntruncate /f {268 * K}\nstat /f\nhold /g\n"   # (/g's vnode stays)
                                     f"pwrite /g {25 * K} z\n"      # (a new block: its goal now past its end)
                                     f"truncate /g {12 * K}\nstat /g\npwrite /g {12 * K - 1} gg\nrelease\nunmount\n").stdout
    assert re.findall(r"size=\d+ blocks=\d+", out) == [f"size={268 * K} blocks={(268 + 1) * 2}",
                                                       f"size={12 * K} blocks={12 * 2}"], out
    assert e2.peek(image, inode_offset(image, ino_f) + 100, 4) == struct.pack("<I", 0x5A5A1234)
    g = ext2_blocks(image, "/g")
    # 12 direct blocks, then a new indirect block and block 12 right after them, where the old ones were
    assert g == list(range(g[0], g[0] + 14)) and a_block not in g, (g, a_block)
    # a truncate to a whole block writes nothing into the blocks it frees: /f's old block 268 holds
    # what it held
    assert f268 not in ext2_blocks(image, "/f") + g and e2.peek(image, f268 * K, K) == f268_bytes
    assert ext2_blocks(image, "/f") == f_blocks[:269]
    e2.fsck_clean(image)


def test_ext2_a_deleted_inode_is_written_as_linux_leaves_one(tmp_path):
    """The inode of a removed file, as it stays on disk: no links, no size,
    no blocks, and i_dtime the time of the removal (e2fsck and debugfs's
    lsdel tell deleted inodes by it). With a clock that says 0 (unknown) or
    anything below s_inodes_count, dtime is s_inodes_count: 0 would mean
    "not deleted", and a smaller value is a link of ext3's orphan list to
    e2fsck, which then reports a corrupt list. The fields past the first 128
    bytes of a 256-byte inode (i_extra_isize, i_crtime, ...) are left as
    they were. The same for a file whose create failed (its directory full,
    no block left for it) after its inode was written."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 256, 2048)
    e2.harness(plugins, image, f"mount\nfill /f {300 * 1024} 1\nwrite /g g\nwrite /h h\nunmount\n")
    inodes = e2fsck_counts(image)[2]

    def deleted(img, off, dtime, name):
        size, dt = struct.unpack("<I12xI", e2.peek(img, off + 4, 20))
        links, blocks = struct.unpack("<HI", e2.peek(img, off + 26, 6))
        size_high = struct.unpack("<I", e2.peek(img, off + 108, 4))[0]
        assert (size, size_high, dt, links, blocks) == (0, 0, dtime, 0, 0), name

    for name, now, dtime in (("/f", 1_700_000_000, 1_700_000_000), ("/g", 0, inodes), ("/h", inodes - 1, inodes)):
        off = inode_offset(image, harness_ino(plugins, image, name))
        e2.poke(image, off + 144, struct.pack("<I", 0x6A000000))          # i_crtime
        extra = e2.peek(image, off + 128, 128)
        run_at(image, f"mount\nunlink {name}\nunmount\n", now)
        deleted(image, off, dtime, name)
        assert e2.peek(image, off + 128, 128) == extra, name
    e2.fsck_clean(image)

    # /d's one block exactly full (50 records of 20 bytes after . and ..), then no block left
    full = e2.mkfs(tmp_path / "full.img", None, 1024, 128, 2048)
    e2.harness(plugins, full, "mount\nmkdir /d\nmkfiles /d 50 abcdefgh\n!ENOSPC fill /huge 10000000 1\nunmount\n")
    assert ext2_blocks(full, "/d") == ext2_blocks(full, "/d")[:1]
    ino = harness_ino(plugins, full, "/huge") + 1
    run_at(full, "mount\n!ENOSPC write /d/x x\nunmount\n", 1_700_000_000)
    off = inode_offset(full, ino)
    assert struct.unpack("<H", e2.peek(full, off, 2))[0] == 0o100644       # it was written, then let go
    deleted(full, off, 1_700_000_000, "/d/x")
    e2.fsck_clean(full)


def test_ext2_names_that_only_look_like_dot_entries_are_entries(tmp_path):
    """'.' and '..' are the only names readdir leaves out and rmdir's
    emptiness check passes over: a directory holding only '.a', 'a.' or
    'a.b' is not empty (ENOTEMPTY), and readdir gives the name; one holding
    only '.' and '..' is empty, and readdir gives nothing."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    names = [".a", "a.", "a.b", "..."]
    script = ["mount"]
    for i, name in enumerate(names):
        script += [f"mkdir /d{i}", f"write /d{i}/{name} x", f"!ENOTEMPTY rmdir /d{i}", f"readdir /d{i}"]
    script += ["mkdir /e", "readdir /e", "rmdir /e"]           # and one with '.' and '..' only: empty
    out = e2.harness(plugins, image, "\n".join(script + ["unmount"])).stdout
    listed = re.findall(r"^(\S+) ino=\d+ type=0o\d+$", out, re.M)
    assert listed == names, out
    e2.fsck_clean(image)


def test_ext2_a_new_name_takes_an_unused_record_from_its_start(tmp_path):
    """A record with inode 0 (a block's first record once its name is
    removed) is free space from its first byte: a new name that fits goes
    there whole, at the block's offset 0, not split off after it. Here the
    middle block of /d has lost all its names, and the first block has no
    room for one more long name."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = three_block_dir(tmp_path)
    blocks = ext2_blocks(image, "/d")
    middle = [e[5].decode() for e in dirents(image, blocks[1]) if e[1]]
    new = "file-with-a-long-name-999"
    e2.harness(plugins, image, "\n".join(["mount", *(f"unlink /d/{n}" for n in middle), "unmount"]))
    assert [(e[0], e[1], e[2]) for e in dirents(image, blocks[1])] == [(0, 0, 1024)]
    e2.harness(plugins, image, f"mount\nwrite /d/{new} z\nunmount\n")
    assert [(e[0], e[2], e[5]) for e in dirents(image, blocks[1])] == [(0, 1024, new.encode())]
    e2.fsck_clean(image)


def test_ext2_a_name_of_255_bytes_is_a_name(tmp_path):
    """FS_NAME_MAX (255, ext2's name_len is a byte) is the longest name, and a
    valid one: a file and a directory of that name are created, found,
    listed and removed."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    f, d = "f" * 255, "d" * 255
    out = e2.harness(plugins, image, f"mount\nwrite /{f} x\nmkdir /{d}\nwrite /{d}/{f} y\nreaddir /\ncat /{d}/{f}\n"
                                     "unmount\n").stdout
    assert re.findall(r"^([fd]+) ino=", out, re.M) == [f, d] and "\ny" in out, out
    e2.fsck_clean(image)
    e2.harness(plugins, image, f"mount\nunlink /{d}/{f}\nrmdir /{d}\nunlink /{f}\nunmount\n")
    e2.fsck_clean(image)


def test_ext2_a_symlink_counting_any_block_is_a_slow_one(tmp_path):
    """Whether a symlink keeps its target in a block or in i_block is told,
    as Linux's ext2_inode_is_fast_symlink tells it, by i_blocks beyond an
    attribute block: any count at all, even a (corrupt) 1, means a block, so
    the target is read from there."""
    import os
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    src.mkdir()
    target = "t" * 100                     # too long for i_block's 60 bytes: a slow symlink
    os.symlink(target, src / "link")
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    off = inode_offset(image, harness_ino(plugins, image, "/link"))
    assert struct.unpack("<I", e2.peek(image, off + 28, 4))[0] == 2
    e2.poke(image, off + 28, struct.pack("<I", 1))
    out = e2.harness(plugins, image, "mount\ncat /link\nunmount\n").stdout
    assert f"\n{target}" in out, out


def test_ext2_the_superblocks_block_is_never_handed_out(tmp_path):
    """Group 0's first bitmap bit is the superblock's own block. A bitmap
    that says it is free (corrupt) does not make it free: a file that fills
    the disk, its search wrapping round to the group's start, ends with
    ENOSPC, and the superblock is intact (the next mount reads the file
    back); the plugin never writes file data over it."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    for bsize in (1024, 4096):
        image = e2.mkfs(tmp_path / f"e{bsize}.img", None, bsize, 128, 4096)
        bitmap = e2.layout(image)[3]
        first = e2.peek(image, bitmap * bsize, 1)[0]
        assert first & 1
        e2.poke(image, bitmap * bsize, bytes([first & ~1]))
        sb_block = 1024 // bsize                                          # 1 with 1 KiB blocks, else 0
        gd = (sb_block + 1) * bsize                                       # the descriptors: the block after it
        for at, fmt in ((1024 + 12, "<I"), (gd + 12, "<H")):               # and the free counts that agree with it
            e2.poke(image, at, struct.pack(fmt, struct.unpack(fmt, e2.peek(image, at, struct.calcsize(fmt)))[0] + 1))
        sb = e2.peek(image, 1024, 1024)
        out = e2.harness(plugins, image, "mount\n!ENOSPC fill /big 100000000 5\nstat /big\nunmount\n").stdout
        size = int(re.search(r"size=(\d+)", out).group(1))
        assert e2.peek(image, 1024, 1024)[56:58] == sb[56:58] == b"\x53\xef", bsize     # the magic
        assert sb_block not in ext2_blocks(image, "/big")
        e2.harness(plugins, image, f"mount\ncheck /big {size} 5\nunmount\n")


def test_ext2_a_volume_of_whole_groups_has_no_extra_group(tmp_path):
    """The group count is the blocks after the first data block divided by
    blocks per group, rounded up: a volume that ends exactly at a group's
    end (1 + 4 x 1024 blocks of 1 KiB) has four groups, not five, and
    mounts, fills and stays clean."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 4097, "-g", "1024", "-N", "256")
    out = e2.harness(plugins, image, "mount\n!ENOSPC fill /f 5000000 1\nstatfs\nunmount\n").stdout
    assert statfs_counts(out) == e2fsck_counts(image)


def test_ext2_two_descriptor_blocks_with_4k_blocks(tmp_path):
    """With 4 KiB blocks (the superblock in block 0, the descriptors from
    block 1) a block holds 128 descriptors: 140 groups of 256 blocks need
    two. It mounts, a file reaches the groups the second block describes,
    and e2fsck agrees with the counts."""
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 4096, 128, 140 * 256 * 4, "-g", "256", "-N", "1120",
                    "-O", "^resize_inode")
    script = ["mount", "fill /big 140000000 3", "check /big 140000000 3", "statfs", "unmount"]
    out = e2.harness(plugins, image, "\n".join(script)).stdout
    assert statfs_counts(out) == e2fsck_counts(image)
    assert max(ext2_blocks(image, "/big")) > 128 * 256                 # groups of the second descriptor block


def test_ext2_mount_takes_the_descriptors_counts_and_corrects_the_superblocks(tmp_path):
    """The group descriptors' free counts are the truth at mount; the
    superblock's, when either differs (blocks alone, or inodes alone), is
    rewritten at the first sync. Their edges pass: an inode table ending on
    the volume's last block, and descriptors that count every inode free. A
    volume not marked cleanly unmounted mounts with a word to run e2fsck."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048, "-N", "256")
    good = image.read_bytes()
    true_free = struct.unpack_from("<II", good, SB + 12)             # s_free_blocks_count, s_free_inodes_count
    for at in (SB + 12, SB + 16):
        image.write_bytes(good)
        e2.poke(image, at, struct.pack("<I", struct.unpack_from("<I", good, at)[0] - 5))
        e2.harness(plugins, image, "mount\nsync\nunmount\n")
        assert struct.unpack("<II", e2.peek(image, SB + 12, 8)) == true_free, at
    gd = 2 * 1024
    bsize, isize, ipg, bb, ib, it = e2.layout(image)
    # the inode table moved to the volume's end (a copy of it: the same inodes)
    image.write_bytes(good)
    itb = ipg * isize // bsize
    e2.poke(image, (2048 - itb) * bsize, e2.peek(image, it * bsize, itb * bsize))
    e2.poke(image, gd + 8, struct.pack("<I", 2048 - itb))
    assert "lost+found" in e2.harness(plugins, image, "mount\nls /\nunmount\n").stdout
    # every inode counted free (group 0 holds all 256)
    image.write_bytes(good)
    e2.poke(image, gd + 14, struct.pack("<H", 256))
    assert "lost+found" in e2.harness(plugins, image, "mount\nls /\nunmount\n").stdout
    # s_state without EXT2_VALID_FS (not cleanly unmounted): mounted, with a word to run e2fsck
    for state, warned in ((1, False), (0, True), (2, True)):
        image.write_bytes(good)
        e2.poke(image, SB + 58, struct.pack("<H", state))
        out = e2.harness(plugins, image, "mount\nunmount\n").stdout
        assert ("was not cleanly unmounted; run e2fsck" in out) == warned, (state, out)


def test_ext2_a_file_flagged_for_extents_or_inline_data_is_eio(tmp_path):
    """i_flags naming ext4's extent tree (EXT4_EXTENTS_FL) or inline data
    (EXT4_INLINE_DATA_FL) mean i_block is no block map: reading or writing
    such a file is EIO, even when its i_block happens to hold valid block
    numbers (here: an ordinary file given the flag)."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"data\n" * 100)
    image = e2.mkfs(tmp_path / "e.img", src, 1024, 128, 2048)
    good = image.read_bytes()
    off = inode_offset(image, harness_ino(plugins, image, "/f"))
    for flag in (0x00080000, 0x10000000):
        image.write_bytes(good)
        e2.poke(image, off + 32, struct.pack("<I", flag))
        e2.harness(plugins, image, "mount\n!EIO cat /f\n!EIO pwrite /f 0 x\nunmount\n")


def test_ext2_block_pointers_to_the_superblock_name_no_block(tmp_path):
    """Blocks run from first_data_block + 1 (with 1 KiB blocks the
    superblock's block, 1, is no file's): a direct pointer, an indirect
    block's pointer or a pointer inside an indirect block that names block 1
    is EIO to read, and unlink or truncate frees nothing for it -- the
    superblock's bit stays set, and no "pointer" read out of the superblock
    is freed."""
    import struct
    plugins = [e2.filesystem_plugin("ext2")]
    image = e2.mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    # /a first: blocks 256 and 102 (s_inodes_count and s_r_blocks_count: the superblock's words
    # read as pointers) in use, so that freeing them would show
    e2.harness(plugins, image, "mount\nfill /a 300000 3\nwrite /f x\nfill /g 20000 1\nfill /h 20000 2\n"
                               "fill /k 20000 4\nunmount\n")
    assert {102, 256} <= set(ext2_blocks(image, "/a"))   # and 102 (s_r_blocks_count, the third)
    f, g, h, k = (inode_offset(image, harness_ino(plugins, image, p)) for p in ("/f", "/g", "/h", "/k"))
    e2.poke(image, f + 40, struct.pack("<I", 1))                         # i_block[0]
    for at in (g, k):
        e2.poke(image, at + 40 + 12 * 4, struct.pack("<I", 1))           # i_block[12]: the indirect block
    ind = struct.unpack("<I", e2.peek(image, h + 40 + 12 * 4, 4))[0]
    e2.poke(image, ind * 1024, struct.pack("<I", 1))                     # its first pointer
    r = e2.harness(plugins, image, "mount\nstatfs\n!EIO cat /f\n!EIO check /g 20000 1\n!EIO check /h 20000 2\n"
                                   "unlink /f\n!EIO truncate /g 0\n!EIO truncate /h 0\n!EIO truncate /k 14336\n"
                                   "statfs\nunmount\n")
    before, after = [int(free) for _, _, free, _, _ in STATFS.findall(r.stdout)]
    assert after - before == 12 + 12, r.stdout      # /g's and /h's direct blocks, freed before the bad pointer
    assert e2.peek(image, e2.layout(image)[3] * 1024, 1)[0] & 1    # the superblock's bit


def test_ext2_within_one_open_file_the_goal_follows_each_new_block_across_a_group_end(tmp_path):
    """While a file stays open (held), each block it gets -- a data block
    under an indirect block, or a direct block filling a hole -- moves its
    goal to the block after it; when that block is its group's last, the
    next one in the same write is the next group's first free block, not a
    block freed earlier in the group left behind (/z0's). Groups of 1024
    blocks with flex_bg: /z0 and /p0 fill group 0 up to the block named;
    group 1's first free block is 1218."""
    plugins = [e2.filesystem_plugin("ext2")]
    K = 1024

    def image(name, p0_kib):
        img = e2.mkfs(tmp_path / name, None, 1024, 128, 6144, "-g", "1024", "-N", "384", "-O", "flex_bg")
        e2.harness(plugins, img, f"mount\nfill /z0 {20 * K} 0\nfill /p0 {p0_kib * K} 1\nunmount\n")
        return img

    # under an indirect block: /s's direct blocks end at 1022, its indirect block is 1023
    under = image("s.img", 718)
    e2.harness(plugins, under, f"mount\nfill /s {12 * K} 2\nhold /s\nunlink /z0\npwrite /s {12 * K} {'b' * 2 * K}\n"
                               "release\nunmount\n")
    assert sorted(ext2_blocks(under, "/s")) == list(range(1011, 1025)) + [1218]
    e2.fsck_clean(under)
    # a direct hole: /u's indirect block and its one data block are 1022 and 1023
    direct = image("u.img", 729)
    e2.harness(plugins, direct, f"mount\ncreate /u 0100644\nhold /u\npwrite /u {12 * K} x\nunlink /z0\n"
                                f"pwrite /u 0 {'c' * 2 * K}\nrelease\nunmount\n")
    assert sorted(ext2_blocks(direct, "/u")) == [1022, 1023, 1024, 1218]
    e2.fsck_clean(direct)
