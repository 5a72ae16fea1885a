"""The filesystem plugins (ext2, fat32) on fixed, repeatable workloads, judged
by the host's own tools: the tests `python -m mutation fs` runs for every
mutant (the random-seeded workloads of test_fs_ext2.py / test_fs_fat32.py are
too long and not repeatable for that).

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
from . import test_fs_fat32 as fat
from vmm.harness.fs import pattern

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


# ------------------------------------------------------------------ ext2

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
