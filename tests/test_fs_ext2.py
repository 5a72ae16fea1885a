"""The ext2 plugin (plugins/fs_ext2/) natively in the host fs harness.

Images come from the real mke2fs (-d from a host folder); afterwards the
host's own tools judge the result: `e2fsck -fn` must report nothing but its
five passes (it exits 0 even on a wrong free-blocks count, so its output is
checked line by line) and `debugfs -R "rdump / DIR"` must extract exactly the
tree a Python model of the same operations expects.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from .conftest import boot, write_config
from vmm.harness.fs import build_fs_harness, filesystem_plugin, pattern, run_fs_script

GEOMETRIES = [(1024, 128), (1024, 256), (4096, 128), (4096, 256)]
FSCK_OK = re.compile(r"^(e2fsck [\d.]+ \(.*\)|Pass [1-5]: .*|\S+: \d+/\d+ files \(.*\), \d+/\d+ blocks)$")


@pytest.fixture(scope="module")
def ext2():
    return [filesystem_plugin("ext2")]


def harness(plugins, image, script, expect_status=0, **kw):
    result = run_fs_script(plugins, image, script, **kw)
    out = result.stdout + result.stderr
    assert "AddressSanitizer" not in out and "runtime error" not in out, out[-6000:]
    assert result.returncode == expect_status, out[-6000:]
    return result


def mkfs(image: Path, src: Path | None, bsize: int, isize: int, size_kib: int, *extra: str) -> Path:
    args = ["mke2fs", "-q", "-F", "-t", "ext2", "-b", str(bsize), "-I", str(isize), *extra]
    if src is not None:
        args += ["-d", str(src)]
    subprocess.run([*args, str(image), f"{size_kib}k"], check=True, capture_output=True)
    return image


def fsck_clean(image: Path) -> str:
    """e2fsck -fn: exit 0 and no line beyond the passes and the summary."""
    r = subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True, text=True)
    out = r.stdout + r.stderr
    stray = [line for line in out.splitlines() if line.strip() and not FSCK_OK.match(line.strip())]
    assert r.returncode == 0 and not stray, out
    return out


def rdump(image: Path, dest: Path) -> dict[str, bytes | None]:
    """The tree debugfs extracts: path -> bytes (None for a directory), lost+found left out."""
    dest.mkdir()
    r = subprocess.run(["debugfs", "-R", f"rdump / {dest}", str(image)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tree: dict[str, bytes | None] = {}
    for root, dirs, files in os.walk(dest):
        rel = "/" + os.path.relpath(root, dest).replace(os.sep, "/").lstrip("./")
        rel = "" if rel == "/" else rel
        for d in dirs:
            tree[f"{rel}/{d}"] = None
        for f in files:
            tree[f"{rel}/{f}"] = Path(root, f).read_bytes()
    return {p: v for p, v in tree.items() if not p.startswith("/lost+found")}


def host_tree(src: Path) -> dict[str, bytes | None]:
    tree: dict[str, bytes | None] = {}
    for p in sorted(src.rglob("*")):
        tree["/" + p.relative_to(src).as_posix()] = None if p.is_dir() else p.read_bytes()
    return tree


def tree_lines(tree: dict[str, bytes | None]) -> list[str]:
    """What the harness's `tree /` prints for a tree."""
    return sorted(f"{p} d 0 0" if v is None else f"{p} f {len(v)} {zlib.crc32(v):08x}" for p, v in tree.items())


def harness_tree(stdout: str) -> list[str]:
    return sorted(line for line in stdout.splitlines()
                  if re.match(r"^/\S* [df] \d+ [0-9a-f]+$", line) and not line.startswith("/lost+found"))


def source_folder(root: Path, bsize: int) -> Path:
    """Files below, at and past each indirect level's start, a sparse one, nested dirs, a big directory."""
    rng = random.Random(bsize)
    apb = bsize // 4
    src = root / "src"
    (src / "a" / "b" / "c").mkdir(parents=True)
    (src / "many").mkdir()
    (src / "empty").write_bytes(b"")
    (src / "one").write_bytes(b"x")
    for name, blocks in [("direct", 12), ("single", 12 + 1), ("single_end", 12 + apb),
                         ("double", 12 + apb + 3)]:
        (src / name).write_bytes(rng.randbytes(blocks * bsize - rng.randrange(1, bsize)))
    (src / "a" / "b" / "c" / "deep.txt").write_bytes(b"deep\n" * 100)
    for i in range(150):
        (src / "many" / f"file-{i:03d}-{'x' * (i % 40)}").write_bytes(rng.randbytes(rng.randrange(0, 3000)))
    with open(src / "sparse", "wb") as f:     # a hole, then data in the double-indirect range
        f.seek((12 + apb + 5) * bsize + 17)
        f.write(b"after the hole")
    return src


# ---------------------------------------------------------------- reading

@pytest.mark.parametrize("bsize,isize", GEOMETRIES)
def test_reads_what_mke2fs_wrote_byte_exact(ext2, tmp_path, bsize, isize):
    src = source_folder(tmp_path, bsize)
    image = mkfs(tmp_path / "e.img", src, bsize, isize, 16384)
    expected = host_tree(src)
    got = tmp_path / "got"
    got.mkdir()
    script = ["mount", "tree /"] + [f"get {p} {got / p.strip('/').replace('/', '__')}"
                                    for p, v in expected.items() if v is not None] + ["unmount"]
    result = harness(ext2, image, "\n".join(script))
    assert harness_tree(result.stdout) == tree_lines(expected)
    for p, v in expected.items():
        if v is not None:
            assert (got / p.strip("/").replace("/", "__")).read_bytes() == v, p
    fsck_clean(image)


def test_indexed_directories_read_and_changed_as_linear_ones(ext2, tmp_path):
    """e2fsck -D builds htree indexes (dir_index); reading, adding and removing keep the fs clean."""
    src = source_folder(tmp_path, 1024)
    image = mkfs(tmp_path / "e.img", src, 1024, 256, 16384)
    subprocess.run(["e2fsck", "-fyD", str(image)], capture_output=True)
    dump = subprocess.run(["debugfs", "-R", "stat /many", str(image)], capture_output=True, text=True).stdout
    assert "Flags: 0x1000" in dump, dump        # really indexed
    expected = host_tree(src)
    script = ["mount", "tree /"]
    for i in range(0, 150, 3):
        name = f"/many/file-{i:03d}-{'x' * (i % 40)}"
        script.append(f"unlink {name}")
        del expected[name]
    for i in range(60):
        script.append(f"write /many/new{i} n{i}")
        expected[f"/many/new{i}"] = f"n{i}".encode()
    result = harness(ext2, image, "\n".join(script + ["unmount"]))
    assert harness_tree(result.stdout) == tree_lines(host_tree(src))
    fsck_clean(image)
    assert rdump(image, tmp_path / "out") == expected


# ---------------------------------------------------------------- writing

class Model:
    """What the tree should hold after the generated operations."""

    def __init__(self, tree):
        self.tree: dict[str, bytearray | None] = {p: (None if v is None else bytearray(v)) for p, v in tree.items()}

    def dirs(self):
        return ["/"] + [p for p, v in self.tree.items() if v is None]

    def files(self):
        return [p for p, v in self.tree.items() if v is not None]

    def children(self, d):
        prefix = d.rstrip("/") + "/"
        return [p for p in self.tree if p.startswith(prefix) and "/" not in p[len(prefix):]]

    def frozen(self):
        return {p: (None if v is None else bytes(v)) for p, v in self.tree.items()}


def generate(model: Model, rng: random.Random, steps: int, budget: int, remount: bool = True) -> list[str]:
    """A seeded mix of valid operations, applied to the model as they are generated."""
    ops, serial = [], [0]

    def fresh(d):
        serial[0] += 1
        return f"{d.rstrip('/')}/{rng.choice(['f', 'file', 'a-much-longer-name-for-variety', 'z'])}{serial[0]}"

    def used():
        return sum(len(v) for v in model.tree.values() if v is not None)

    def word():
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randrange(1, 60)))

    for _ in range(steps):
        kind = rng.choices(["mkdir", "write", "fill", "append", "pwrite", "truncate", "rename", "rename_dir",
                            "unlink", "rmdir", "remount"],
                           [8, 14, 6, 8, 5, 8, 8, 4, 8, 4, 1])[0]
        files, dirs = model.files(), model.dirs()
        if kind == "mkdir":
            parent = rng.choice(dirs)
            if parent.count("/") < 7:
                p = fresh(parent)
                ops.append(f"mkdir {p}")
                model.tree[p] = None
        elif kind == "write":
            p, text = fresh(rng.choice(dirs)), word()
            ops.append(f"write {p} {text}")
            model.tree[p] = bytearray(text.encode())
        elif kind == "fill":
            size = rng.choice([rng.randrange(0, 5000), rng.randrange(5000, 300_000), rng.randrange(1_100_000, 1_600_000)])
            if used() + size < budget:
                p, seed = fresh(rng.choice(dirs)), rng.randrange(256)
                ops.append(f"fill {p} {size} {seed}")
                model.tree[p] = bytearray(pattern(size, seed))
        elif kind == "append" and files:
            p, text = rng.choice(files), word()
            ops.append(f"append {p} {text}")
            model.tree[p] += text.encode()
        elif kind == "pwrite" and files:
            p, text = rng.choice(files), word()
            off = rng.randrange(0, len(model.tree[p]) + 70_000)
            if off + len(text) + used() < budget:
                ops.append(f"pwrite {p} {off} {text}")
                data = model.tree[p]
                if off > len(data):
                    data += bytes(off - len(data))
                data[off:off + len(text)] = text.encode()
        elif kind == "truncate" and files:
            p = rng.choice(files)
            n = len(model.tree[p])
            size = rng.choice([0, rng.randrange(0, n + 1), n + rng.randrange(0, 100_000)])
            ops.append(f"truncate {p} {size}")
            data = model.tree[p]
            del data[size:]
            data += bytes(size - len(data))
        elif kind == "rename" and files:
            p = rng.choice(files)
            # a new name, or an existing file replaced
            q = rng.choice(files) if rng.random() < 0.3 else fresh(rng.choice(dirs))
            if q != p:
                ops.append(f"rename {p} {q}")
                model.tree[q] = model.tree.pop(p)
        elif kind == "rename_dir" and len(dirs) > 1:
            d = rng.choice(dirs[1:])
            targets = [t for t in dirs if t != d and not t.startswith(d + "/") and t.count("/") < 7]
            if targets:
                new = fresh(rng.choice(targets))
                empty = [t for t in dirs[1:] if not model.children(t) and t != d and not t.startswith(d + "/")
                         and not d.startswith(t + "/")]
                if empty and rng.random() < 0.3:
                    new = rng.choice(empty)        # replace an empty directory
                ops.append(f"rename {d} {new}")
                moved = {p: v for p, v in model.tree.items() if p == d or p.startswith(d + "/")}
                for p in moved:
                    del model.tree[p]
                model.tree.pop(new, None)
                for p, v in moved.items():
                    model.tree[new + p[len(d):]] = v
        elif kind == "unlink" and files:
            p = rng.choice(files)
            ops.append(f"unlink {p}")
            del model.tree[p]
        elif kind == "rmdir":
            empty = [d for d in dirs[1:] if not model.children(d)]
            if empty:
                p = rng.choice(empty)
                ops.append(f"rmdir {p}")
                del model.tree[p]
        elif kind == "remount" and remount:
            ops += ["unmount", "mount"]
    return ops


@pytest.mark.parametrize("bsize,isize", GEOMETRIES)
def test_writes_leave_a_clean_fs_holding_exactly_the_expected_tree(ext2, tmp_path, bsize, isize):
    src = source_folder(tmp_path, bsize)
    image = mkfs(tmp_path / "e.img", src, bsize, isize, 32768)
    model = Model(host_tree(src))
    seed = random.randrange(1 << 30)
    print(f"operation seed {seed}")
    rng = random.Random(seed)
    script = ["mount"]
    # fixed cases first: hundreds of files, nested directories, a file over
    # 1 MiB written, truncated into each indirect level and grown with holes
    script.append("mkfiles /many 250 g")
    for i in range(250):
        model.tree[f"/many/g{i}"] = bytearray(f"g{i}\n".encode())
    nested = "/n1/n2/n3/n4/n5"
    for i in range(1, 6):
        script.append(f"mkdir {nested[:nested.index('/n' + str(i)) + 3]}")
        model.tree[nested[:nested.index('/n' + str(i)) + 3]] = None
    big = 12 * bsize + (bsize // 4) * bsize + 700_000
    script += [f"fill {nested}/big {big} 9", f"check {nested}/big {big} 9"]
    data = bytearray(pattern(big, 9))
    for size in [big - 1, 12 * bsize + (bsize // 4) * bsize + 5, 12 * bsize + 3, 5 * bsize, 1]:
        script.append(f"truncate {nested}/big {size}")
        del data[size:]
    script += [f"truncate {nested}/big {big + 50_000}", f"pwrite {nested}/big {big + 60_000} tail"]
    data += bytes(big + 50_000 - len(data))
    data += bytes(60_000 - 50_000) + b"tail"
    model.tree[f"{nested}/big"] = data
    script += [f"rename /a/b/c {nested}/c", f"rename /many/g0 {nested}/g0"]
    model.tree[f"{nested}/c"] = model.tree.pop("/a/b/c")
    model.tree[f"{nested}/c/deep.txt"] = model.tree.pop("/a/b/c/deep.txt")
    model.tree[f"{nested}/g0"] = model.tree.pop("/many/g0")
    script += generate(model, rng, 900, 12_000_000)
    script += ["tree /", "unmount"]
    result = harness(ext2, image, "\n".join(script))
    assert harness_tree(result.stdout) == tree_lines(model.frozen()), f"seed {seed}"
    fsck_clean(image)
    got = rdump(image, tmp_path / "out")
    want = model.frozen()
    assert sorted(got) == sorted(want), f"seed {seed}"
    for p in want:
        assert got[p] == want[p], f"{p} differs (seed {seed})"


@pytest.mark.parametrize("extra", [("-O", "^filetype"), ("-r", "0")], ids=["no-filetype", "revision-0"])
def test_older_layouts_written_too(ext2, tmp_path, extra):
    """Directory entries without a type byte (16-bit name_len); revision 0 (128-byte inodes, no features)."""
    src = source_folder(tmp_path, 1024)
    image = mkfs(tmp_path / "e.img", src, 1024, 128, 16384, *extra)
    model = Model(host_tree(src))
    seed = random.randrange(1 << 30)
    print(f"operation seed {seed}")
    script = ["mount"] + generate(model, random.Random(seed), 400, 4_000_000) + ["tree /", "unmount"]
    result = harness(ext2, image, "\n".join(script))
    assert harness_tree(result.stdout) == tree_lines(model.frozen()), f"seed {seed}"
    fsck_clean(image)
    assert rdump(image, tmp_path / "out") == model.frozen(), f"seed {seed}"


def test_errors_of_the_namespace_operations(ext2, tmp_path):
    image = mkfs(tmp_path / "e.img", None, 1024, 128, 4096)
    harness(ext2, image, """
        mount
        mkdir /d
        mkdir /d/sub
        write /d/sub/f x
        !EEXIST mkdir /d/sub
        !ENOTEMPTY rmdir /d/sub
        !EINVAL rename /d /d/sub/inside
        !EINVAL rename /d /d/sub
        write /d/g z
        !ENOTDIR rename /d/sub /d/g
        !EISDIR rename /d/sub/f /d
        !EISDIR unlink /d/sub
        !ENOTDIR rmdir /d/sub/f
        !ENOTDIR readdir /d/g
        !ENOENT unlink /d/nothing
        !ENOENT rmdir /d/nothing
        !ENOENT rename /d/nothing /d/something
        !ENOTDIR mkdir /d/sub/f/x
        mkdir /e
        mkdir /e/keep
        write /e/keep/k y
        !ENOTEMPTY rename /d/sub /e/keep
        rename /d/sub /e/other
        stat /e
        stat /d
        unmount
    """)
    fsck_clean(image)
    r = subprocess.run(["debugfs", "-R", "stat /d", str(image)], capture_output=True, text=True).stdout
    assert "Links: 2" in r, r
    r = subprocess.run(["debugfs", "-R", "stat /e", str(image)], capture_output=True, text=True).stdout
    assert "Links: 4" in r, r
    r = subprocess.run(["debugfs", "-R", "cat /e/other/f", str(image)], capture_output=True).stdout
    assert r == b"x"


def test_unlinked_while_open_and_hard_links_keep_counts(ext2, tmp_path):
    """A file mke2fs made with two links: unlinking one keeps the data; renaming one over the other is a no-op."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "one").write_bytes(b"shared" * 1000)
    os.link(src / "one", src / "two")
    image = mkfs(tmp_path / "e.img", src, 1024, 256, 4096)
    harness(ext2, image, """
        mount
        rename /one /two
        unlink /one
        cat /two
        unmount
    """)
    fsck_clean(image)
    assert rdump(image, tmp_path / "out") == {"/two": b"shared" * 1000}


@pytest.mark.parametrize("bsize", [1024, 4096])
def test_full_disk_gives_enospc_and_stays_clean(ext2, tmp_path, bsize):
    image = mkfs(tmp_path / "e.img", None, bsize, 128, 2048)
    result = harness(ext2, image, "mount\nstatfs\nunmount\n")
    before = re.search(r"free=(\d+) files=\d+ files_free=(\d+)", result.stdout).groups()
    result = harness(ext2, image, """
        mount
        mkdir /d
        fill /d/small 5000 1
        !ENOSPC fill /d/huge 100000000 3
        !ENOSPC mkfiles /d 100000 x
        statfs
        unmount
    """)
    assert re.search(r"free=0 ", result.stdout), result.stdout
    fsck_clean(image)
    # everything back: free counts return to what mke2fs left
    result = harness(ext2, image, """
        mount
        unlink /d/huge
        unlink /d/small
        statfs
        unmount
    """)
    fsck_clean(image)
    listing = subprocess.run(["debugfs", "-R", "ls -p /d", str(image)], capture_output=True, text=True).stdout
    names = [line.split("/")[5] for line in listing.splitlines() if line.count("/") >= 6]
    script = ["mount"] + [f"unlink /d/{n}" for n in names if n not in (".", "..")] + ["rmdir /d", "statfs", "unmount"]
    result = harness(ext2, image, "\n".join(script))
    after = re.search(r"free=(\d+) files=\d+ files_free=(\d+)", result.stdout).groups()
    assert after == before
    fsck_clean(image)


def test_triple_indirect_sparse_file(ext2, tmp_path):
    """1 KiB blocks: data past 64 MiB lives under the triple-indirect block."""
    image = mkfs(tmp_path / "e.img", None, 1024, 128, 8192)
    off = (12 + 256 + 256 * 256 + 1000) * 1024 + 3
    harness(ext2, image, f"""
        mount
        pwrite /sparse {off} triple
        pwrite /sparse 5 start
        stat /sparse
        unmount
    """)
    fsck_clean(image)
    r = subprocess.run(["debugfs", "-R", "stat /sparse", str(image)], capture_output=True, text=True).stdout
    assert "TIND" in r or "(TIND)" in r, r
    dump = tmp_path / "out.bin"
    subprocess.run(["debugfs", "-R", f"dump /sparse {dump}", str(image)], capture_output=True, check=True)
    data = dump.read_bytes()
    assert len(data) == off + 6 and data[off:] == b"triple" and data[5:10] == b"start"
    assert data.count(0) == len(data) - 11
    harness(ext2, image, "mount\ntruncate /sparse 100\nunmount\n")
    fsck_clean(image)
    r = subprocess.run(["debugfs", "-R", "stat /sparse", str(image)], capture_output=True, text=True).stdout
    assert "TIND" not in r and "IND" not in r, r


# ---------------------------------------------------------------- refusing

def poke(image: Path, offset: int, data: bytes):
    with open(image, "r+b") as f:
        f.seek(offset)
        f.write(data)


def peek(image: Path, offset: int, n: int) -> bytes:
    with open(image, "rb") as f:
        f.seek(offset)
        return f.read(n)


def test_unknown_incompatible_feature_is_refused_by_name(ext2, tmp_path):
    image = mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    features = struct.unpack("<I", peek(image, 1024 + 96, 4))[0]
    poke(image, 1024 + 96, struct.pack("<I", features | 0x40))      # extent
    result = harness(ext2, image, "!ENOSYS mount\n")
    assert "unsupported incompatible feature 'extent'" in result.stdout + result.stderr
    assert "ext2: refusing to mount " in result.stdout      # the reason, then the verdict, in the kernel log
    poke(image, 1024 + 96, struct.pack("<I", features | 0x40000000))
    result = harness(ext2, image, "!ENOSYS mount\n")
    assert "unknown incompatible feature bits 0x40000000" in result.stdout + result.stderr
    # ro_compat metadata_csum: refused for writing, fine read-only
    poke(image, 1024 + 96, struct.pack("<I", features))
    ro = struct.unpack("<I", peek(image, 1024 + 100, 4))[0]
    poke(image, 1024 + 100, struct.pack("<I", ro | 0x400))
    result = harness(ext2, image, "!EROFS mount\n")
    assert "unsupported read-only compatible feature 'metadata_csum'" in result.stdout + result.stderr
    harness(ext2, image, "mount\nls /\n!EROFS write /x y\nunmount\n", readonly=True)


def test_not_ext2_is_einval_so_other_plugins_are_tried(ext2, tmp_path):
    image = tmp_path / "zero.img"
    image.write_bytes(bytes(1 << 20))
    harness(ext2, image, "!EINVAL mount\n")
    image = mkfs(tmp_path / "e.img", None, 1024, 128, 2048)
    poke(image, 1024 + 56, b"\x00\x00")
    harness(ext2, image, "!EINVAL mount\n")


# ---------------------------------------------------------------- corruption

def layout(image: Path):
    sb = peek(image, 1024, 1024)
    bsize = 1024 << struct.unpack_from("<I", sb, 24)[0]
    fdb, ipg = struct.unpack_from("<I", sb, 20)[0], struct.unpack_from("<I", sb, 40)[0]
    isize = struct.unpack_from("<H", sb, 88)[0]
    gd = peek(image, (fdb + 1) * bsize, 32)
    bb, ib, it = struct.unpack_from("<III", gd, 0)
    return bsize, isize, ipg, bb, ib, it


def root_dir_block(image: Path) -> int:
    bsize, isize, ipg, bb, ib, it = layout(image)
    inode = peek(image, it * bsize + isize, 128)        # inode 2
    return struct.unpack_from("<I", inode, 40)[0]


FUZZ_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=98", "PATH": "/usr/bin:/bin"}
FIRST_LOOK = "mount\nls /\nls /d\nstatfs\nunmount\n"
CORRUPT_SCRIPT = """
    mount
    {reads}
    write /d/new hello
    mkdir /d/sub
    fill /d/big 20000 1
    truncate /d/big 10
    rename /d/f2 /g
    rename /d /e
    unlink /e/f3
    rmdir /e/sub
    mkfiles /e 30 z
    sync
    unmount
    mount
    ls /
    unmount
"""


def corruptible_image(tmp_path: Path, bsize=1024) -> Path:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for i in range(20):
        (src / "d" / f"f{i}").write_bytes(bytes([i]) * (i * 700))
    (src / "d" / "big").write_bytes(os.urandom(300_000))
    return mkfs(tmp_path / "e.img", src, bsize, 128, 1024)


def test_directory_entry_pointing_past_the_inode_table_is_eio(ext2, tmp_path):
    image = corruptible_image(tmp_path)
    blk = root_dir_block(image)
    bsize = layout(image)[0]
    # the third record of / is lost+found or d: point every record past . and .. far away
    data = bytearray(peek(image, blk * bsize, bsize))
    off = 12 + 12
    struct.pack_into("<I", data, off, 10_000_000)
    poke(image, blk * bsize, bytes(data))
    result = harness(ext2, image, "mount\nls /\n", expect_status=1)
    assert "error EIO" in result.stdout


def test_nonsense_rec_len_and_block_pointers_are_eio(ext2, tmp_path):
    image = corruptible_image(tmp_path)
    blk = root_dir_block(image)
    bsize, isize, ipg, bb, ib, it = layout(image)
    good = peek(image, 0, 1 << 20)
    poke(image, blk * bsize + 12 + 4, struct.pack("<H", 0))          # ".." rec_len 0
    result = harness(ext2, image, "mount\n!EIO ls /\n!EIO write /x y\nunmount\n")
    image.write_bytes(good)
    poke(image, blk * bsize + 12 + 4, struct.pack("<H", 5000))       # runs off the block
    harness(ext2, image, "mount\n!EIO ls /\nunmount\n")
    image.write_bytes(good)
    poke(image, it * bsize + isize + 40, struct.pack("<I", 0xFFFFFF))  # root's first block past the end
    harness(ext2, image, "mount\n!EIO ls /\nunmount\n")
    image.write_bytes(good)
    poke(image, 1024 + 40, struct.pack("<I", 0))                     # inodes per group 0
    result = harness(ext2, image, "!EINVAL mount\n")
    assert "bad superblock" in result.stdout + result.stderr


def test_corrupted_images_fuzz_never_crash_or_hang(ext2, tmp_path):
    """Random bytes over the superblock, descriptors, bitmaps, inode table and directories."""
    image = corruptible_image(tmp_path)
    pristine = image.read_bytes()
    bsize, isize, ipg, bb, ib, it = layout(image)
    itable = (it * bsize, it * bsize + ipg * isize)
    dirs = [root_dir_block(image) * bsize]
    regions = [(1024, 2048), (2048, 2048 + 64), (bb * bsize, bb * bsize + 64), (ib * bsize, ib * bsize + 64),
               itable, (itable[0] + isize, itable[0] + 40 * isize), (dirs[0], dirs[0] + bsize)]
    # the directory /d's first block too
    d_ino = None
    blk = peek(image, dirs[0], bsize)
    off = 0
    while off < bsize:
        ino, rec_len, name_len = struct.unpack_from("<IHB", blk, off)
        if blk[off + 8: off + 8 + name_len] == b"d":
            d_ino = ino
        off += max(rec_len, 12)
    d_inode = peek(image, itable[0] + (d_ino - 1) * isize, 128)
    d_blk = struct.unpack_from("<I", d_inode, 40)[0]
    regions.append((d_blk * bsize, d_blk * bsize + bsize))
    seed = int(os.environ.get("EXT2_FUZZ_SEED") or random.randrange(1 << 30))
    print(f"fuzz seed {seed} (EXT2_FUZZ_SEED={seed} repeats it)")
    rng = random.Random(seed)
    outcomes = {}
    exe = build_fs_harness(ext2)
    for case in range(300):
        data = bytearray(pristine)
        for _ in range(rng.choice([1, 2, 4, 16])):
            lo, hi = rng.choice(regions)
            at = rng.randrange(lo, hi)
            width = rng.choice([1, 1, 2, 4])
            data[at:at + width] = rng.randbytes(width)
        image.write_bytes(data)
        # a first look says which files are small enough to read whole (a
        # corrupted size can make a legal sparse file of gigabytes)
        reads = []
        for script in (FIRST_LOOK, None):
            if script is None:
                script = CORRUPT_SCRIPT.format(reads="\n".join(reads[:6]))
            try:
                result = subprocess.run([str(exe), str(image), "-"], input=script.encode(), capture_output=True,
                                        timeout=60, env=FUZZ_ENV)
            except subprocess.TimeoutExpired:
                shutil.copy(image, tmp_path / "hang.img")
                raise AssertionError(f"seed {seed} case {case}: the harness hung on {tmp_path / 'hang.img'}")
            out = (result.stdout + result.stderr).decode("utf-8", "replace")
            if result.returncode not in (0, 1) or "AddressSanitizer" in out or "runtime error" in out:
                break
            listed = re.findall(r"^([\w.+-]+) f (\d+)$", out, re.M)
            reads = [f"cat /d/{name}" for name, size in listed if int(size) < 1_000_000 and name.isascii()]
        assert result.returncode in (0, 1), f"seed {seed} case {case}: status {result.returncode}\n{out[-4000:]}"
        assert "AddressSanitizer" not in out and "runtime error" not in out, f"seed {seed} case {case}\n{out[-4000:]}"
        outcomes[result.returncode] = outcomes.get(result.returncode, 0) + 1
    print(f"outcomes: {outcomes}")
    assert outcomes.get(1, 0) > 0       # the corruption was noticed somewhere


# ---------------------------------------------------------------- in the guest

@pytest.mark.parametrize("bsize,isize", [(1024, 256), (4096, 128)])
def test_guest_kernel_runs_the_plugin_to_the_same_result(tmp_path, bsize, isize):
    """The same kind of workload through the guest's system calls (fstest), judged by e2fsck and debugfs."""
    src = tmp_path / "src"
    (src / "docs").mkdir(parents=True)
    (src / "docs" / "readme").write_bytes(b"read me\n" * 300)
    (src / "data.bin").write_bytes(random.Random(5).randbytes(300_000))     # double indirect, 1 KiB blocks
    model = Model(host_tree(src))
    seed = random.randrange(1 << 30)
    print(f"operation seed {seed}")
    ops = ["mkfiles /docs 120 g"]
    for i in range(120):
        model.tree[f"/docs/g{i}"] = bytearray(f"g{i}\n".encode())
    ops += generate(model, random.Random(seed), 150, 400_000, remount=False)
    ops += ["sync"]
    script = "\n".join(ops) + "\n"
    (src / "ops.txt").write_text(script)
    model.tree["/ops.txt"] = bytearray(script.encode())
    image = mkfs(tmp_path / "g.img", src, bsize, isize, 16384)
    config = write_config(tmp_path, f"""
[kernel]
filesystems = ["ext2"]
[serial]
input = "none"
[[disk]]
path = "{image}"
""")
    result = boot("--cmdline", "-- fstest run /ops.txt", config=config, timeout=900)
    assert result.status == 0, result.console[-3000:] + result.stderr[-2000:]
    assert "vfs: hda (ext2) mounted on /" in result.console
    fsck_clean(image)
    got, want = rdump(image, tmp_path / "out"), model.frozen()
    assert sorted(got) == sorted(want), f"seed {seed}"
    for p in want:
        assert got[p] == want[p], f"{p} differs (seed {seed})"
