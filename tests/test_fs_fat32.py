"""The fat32 filesystem plugin (FAT32 and FAT16) in the host fs harness, judged by the host's own tools.

Images come from mkfs.fat and mtools (mcopy/mmd); after the plugin has
written, `fsck.fat -n` must find nothing to say (its output is checked, not
only its status), the FAT copies must be identical, FSInfo's free count
exact, and `mcopy -s` must extract exactly the tree a Python model of the
operations expects: names (long, upper/lower case, Unicode), contents, empty
directories. Random workloads and the fuzz run print their seed; set
PYOS_FAT_SEED to replay one.
"""

from __future__ import annotations

import os
import random
import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from vmm.harness.fs import filesystem_plugin, pattern, run_fs_script

MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C.UTF-8"}
SEED = int(os.environ.get("PYOS_FAT_SEED", "20261123"))

# (FAT bits, image MiB, sectors per cluster or None for mkfs.fat's choice)
LAYOUTS = {
    "fat32-4k": (32, 300, 8),     # 4 KiB clusters, block size 4096 (sparse image)
    "fat32-512": (32, 48, 1),     # 512-byte clusters: clusters smaller than a block
    "fat16": (16, 64, None),
}


# ------------------------------------------------------------------ host side

def mkfs(image: Path, bits: int, mib: int, spc: int | None = None) -> Path:
    image.unlink(missing_ok=True)
    with open(image, "wb") as f:
        f.truncate(mib << 20)
    args = ["mkfs.fat", "-F", str(bits), "-i", "12345678"] + (["-s", str(spc)] if spc else []) + [str(image)]
    subprocess.run(args, check=True, capture_output=True)
    return image


def layout_image(tmp_path: Path, layout: str) -> Path:
    return mkfs(tmp_path / f"{layout}.img", *LAYOUTS[layout])


def mcopy_in(image: Path, folder: Path):
    items = [str(p) for p in sorted(folder.iterdir())]
    subprocess.run(["mcopy", "-s", "-i", str(image), *items, "::/"], check=True, env=MTOOLS_ENV,
                   capture_output=True)


def extract(image: Path, dest: Path) -> dict:
    """What mtools sees: {path: bytes or None for a directory}."""
    dest.mkdir()
    listing = subprocess.run(["mdir", "-b", "-i", str(image), "::/"], env=MTOOLS_ENV,
                             capture_output=True, text=True)
    if listing.stdout.strip():
        subprocess.run(["mcopy", "-s", "-n", "-i", str(image), "::/*", str(dest)], check=True, env=MTOOLS_ENV,
                       capture_output=True)
    return host_tree(dest)


def host_tree(root: Path) -> dict:
    tree = {}
    for p in sorted(root.rglob("*")):
        rel = "/" + p.relative_to(root).as_posix()
        tree[rel] = None if p.is_dir() else p.read_bytes()
    return tree


def fsck_clean(image: Path):
    r = subprocess.run(["fsck.fat", "-n", str(image)], capture_output=True, text=True)
    lines = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    assert r.returncode == 0 and len(lines) == 2 and lines[0].startswith("fsck.fat") and \
        re.fullmatch(r".*: \d+ files, \d+/\d+ clusters", lines[1]), "fsck.fat -n:\n" + r.stdout + r.stderr


class Bpb:
    """A FAT volume's geometry from its boot sector (the BPB fields at their spec offsets)."""

    def __init__(self, boot: bytes):
        self.bps, self.spc, self.resv, self.nfats = struct.unpack_from("<HBHB", boot, 11)
        self.root_ent, tot16 = struct.unpack_from("<HH", boot, 17)
        self.total = tot16 or struct.unpack_from("<I", boot, 32)[0]
        self.fatsz = struct.unpack_from("<H", boot, 22)[0] or struct.unpack_from("<I", boot, 36)[0]
        meta = self.resv + self.nfats * self.fatsz + self.root_ent * 32 // self.bps
        self.nclusters = (self.total - meta) // self.spc    # data clusters 2 .. nclusters + 1

    def fat_at(self, i: int) -> int:
        """The byte offset of FAT copy i."""
        return (self.resv + i * self.fatsz) * self.bps


def fat_tables_consistent(image: Path):
    """Every FAT copy identical; for FAT32, FSInfo's free count equals the free entries."""
    with open(image, "rb") as f:
        boot = f.read(512)
        bps, spc, resv, nfats = struct.unpack_from("<HBHB", boot, 11)
        root_ent, tot16, _, fat16 = struct.unpack_from("<HHBH", boot, 17)
        tot = tot16 or struct.unpack_from("<I", boot, 32)[0]
        fatsz = fat16 or struct.unpack_from("<I", boot, 36)[0]
        f.seek(resv * bps)
        fats = [f.read(fatsz * bps) for _ in range(nfats)]
        assert all(fat == fats[0] for fat in fats), "the FAT copies differ"
        if fat16:
            return
        ncl = (tot - resv - nfats * fatsz) // spc
        entries = struct.unpack_from(f"<{ncl + 2}I", fats[0])
        free = sum(1 for e in entries[2:] if e & 0x0FFFFFFF == 0)
        fsinfo = struct.unpack_from("<H", boot, 48)[0]
        f.seek(fsinfo * bps + 488)
        recorded, _next = struct.unpack("<II", f.read(8))
        assert recorded == free, f"FSInfo free count {recorded}, the FAT has {free} free clusters"


# --------------------------------------------------------------- harness side

def run(image: Path, script: str, timeout: float = 300, expect_ok: bool = True):
    result = run_fs_script([filesystem_plugin("fat32")], image, script, timeout=timeout)
    assert "Sanitizer" not in result.stderr and "runtime error" not in result.stderr, result.stderr[-4000:]
    if expect_ok:
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return result


def harness_tree(stdout: str) -> dict:
    """The harness's `tree /` lines: {path: (type, size, crc32)}."""
    tree = {}
    for line in stdout.splitlines():
        if line.startswith("/"):
            path, kind, size, crc = line.rsplit(" ", 3)
            tree[path] = (kind, int(size), int(crc, 16)) if kind == "f" else ("d",)
    return tree


def summary(model: dict) -> dict:
    return {p: ("d",) if c is None else ("f", len(c), zlib.crc32(c)) for p, c in model.items()}


# ----------------------------------------------------------------- read tests

def host_folder(root: Path) -> Path:
    rnd = random.Random(SEED)
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "emptydir").mkdir()
    (root / "many").mkdir()
    (root / "hello.txt").write_bytes(b"hello\n")
    (root / "A long file name with spaces.txt").write_bytes(b"spaces\n")
    (root / "Ünïcødé ファイル.txt").write_bytes("unicode\n".encode())
    (root / ("n" * 200 + ".txt")).write_bytes(b"long\n")
    (root / "MiXeD.Txt").write_bytes(b"mixed\n")
    (root / "sub" / "big.bin").write_bytes(rnd.randbytes(300_001))
    (root / "sub" / "empty").write_bytes(b"")
    (root / "sub" / "deeper" / "UPPER.TXT").write_bytes(b"upper\n")
    for i in range(60):
        (root / "many" / f"item-{i:03d}.dat").write_bytes(rnd.randbytes(rnd.randrange(0, 9000)))
    return root


@pytest.mark.parametrize("layout", LAYOUTS)
def test_host_files_read_byte_exact(tmp_path, layout):
    src = host_folder(tmp_path / "src")
    image = layout_image(tmp_path, layout)
    mcopy_in(image, src)
    out = tmp_path / "big.out"
    r = run(image, f"mount\ntree /\nget /sub/big.bin {out}\ncat /hello.txt\ncat /HELLO.TXT\n"
                   f"stat /sub/big.bin\nls /many\nunmount\n")
    expected = summary(host_tree(src))
    assert harness_tree(r.stdout) == expected
    assert out.read_bytes() == (src / "sub" / "big.bin").read_bytes()
    assert r.stdout.count("hello\n") == 2            # the 8.3 name matches case-insensitively
    assert "size=300001" in r.stdout
    assert len([l for l in r.stdout.splitlines() if l.startswith("item-")]) == 60


# ---------------------------------------------------------------- write tests

NAME_STYLES = [
    lambda i: f"F{i}.TXT",                               # an 8.3 name as it is
    lambda i: f"lower{i}.txt",                           # lower case: needs a long name
    lambda i: f"Quarterly_report_for_region_{i}.xlsx",   # shared prefix: ~N tails
    lambda i: f"café_naïve_{i}.données",                 # Unicode
    lambda i: f"x{i}",
    lambda i: f"dotted.name.{i}.tar.gz",
    lambda i: "long" * 30 + str(i),                      # 120+ characters: 10 long-name entries
]


class Workload:
    """Random operations as a harness script, and the tree they must leave (model)."""

    def __init__(self, seed: int):
        self.rnd = random.Random(seed)
        self.model = {"/": None}
        self.lines = []
        self.counter = 0

    def dirs(self):       # script words cannot hold spaces: leave such host names alone
        return [p for p, c in self.model.items() if c is None and " " not in p]

    def files(self):
        return [p for p, c in self.model.items() if c is not None and " " not in p]

    def children(self, d):
        prefix = d.rstrip("/") + "/"
        return [p for p in self.model if p != d and p.startswith(prefix) and "/" not in p[len(prefix):]]

    def fresh(self, d):
        self.counter += 1
        name = self.rnd.choice(NAME_STYLES)(self.counter)
        return d.rstrip("/") + "/" + name

    def move(self, old: str, new: str):
        """The model after `rename old new`: old and everything under it."""
        for p in sorted(self.model):
            if p == old or p.startswith(old + "/"):
                self.model[new + p[len(old):]] = self.model.pop(p)

    def remounted_halfway(self, *tail: str) -> str:
        """The script: mount, the first half of the lines, unmount and mount again
        (what was written must come back from the image), the rest, tail, unmount."""
        half = len(self.lines) // 2
        return "\n".join(["mount", *self.lines[:half], "unmount", "mount", *self.lines[half:], *tail,
                          "unmount"]) + "\n"

    def op(self):
        rnd, files, dirs = self.rnd, self.files(), self.dirs()
        kind = rnd.choices(["mkdir", "write", "append", "fill", "pwrite", "truncate", "rename", "renamedir",
                            "unlink", "rmdir"], [4, 10, 5, 2, 3, 4, 5, 2, 4, 2])[0]
        if kind == "mkdir" or (not files and kind != "write"):
            path = self.fresh(rnd.choice(dirs))
            self.lines.append(f"mkdir {path}")
            self.model[path] = None
        elif kind == "write":
            path = self.fresh(rnd.choice(dirs))
            text = rnd.choice("abc") + "".join(rnd.choices("abcdef XYZ", k=rnd.randrange(0, 300)))
            self.lines.append(f"write {path} {text}")
            self.model[path] = text.encode()
        elif kind == "append":
            path = rnd.choice(files)
            text = "".join(rnd.choices("0123456789", k=rnd.randrange(1, 5000)))
            self.lines.append(f"append {path} {text}")
            self.model[path] += text.encode()
        elif kind == "fill":
            path, size, seed = rnd.choice(files), rnd.randrange(0, 200_000), rnd.randrange(256)
            self.lines.append(f"fill {path} {size} {seed}")
            self.model[path] = pattern(size, seed)
        elif kind == "pwrite":
            path = rnd.choice(files)
            off = rnd.randrange(0, len(self.model[path]) + 20_000)
            text = "".join(rnd.choices("pqrs", k=rnd.randrange(1, 100)))
            self.lines.append(f"pwrite {path} {off} {text}")
            old = self.model[path].ljust(off, b"\0")
            self.model[path] = old[:off] + text.encode() + old[off + len(text):]
        elif kind == "truncate":
            path = rnd.choice(files)
            size = rnd.randrange(0, len(self.model[path]) * 2 + 10_000)
            self.lines.append(f"truncate {path} {size}")
            self.model[path] = self.model[path][:size].ljust(size, b"\0")
        elif kind == "rename":
            old = rnd.choice(files)
            if rnd.random() < 0.3 and len(files) > 1:
                new = rnd.choice([f for f in files if f != old])     # replaces an existing file
            else:
                new = self.fresh(rnd.choice(dirs))
            self.lines.append(f"rename {old} {new}")
            self.model[new] = self.model.pop(old)
        elif kind == "renamedir":
            movable = [d for d in dirs if d != "/"]
            if not movable:
                return
            old = rnd.choice(movable)
            targets = [d for d in dirs if d != old and not d.startswith(old + "/")]
            new = self.fresh(rnd.choice(targets))
            self.lines.append(f"rename {old} {new}")
            self.move(old, new)
        elif kind == "unlink":
            path = rnd.choice(files)
            self.lines.append(f"unlink {path}")
            del self.model[path]
        elif kind == "rmdir":
            candidates = [d for d in dirs if d != "/"]
            if not candidates:
                return
            d = rnd.choice(candidates)
            if self.children(d):
                self.lines.append(f"!ENOTEMPTY rmdir {d}")
            else:
                self.lines.append(f"rmdir {d}")
                del self.model[d]


def check_image(image: Path, model: dict, tmp_path: Path):
    r = run(image, "mount\ntree /\nunmount\n")
    assert harness_tree(r.stdout) == summary({p: c for p, c in model.items() if p != "/"})
    fsck_clean(image)
    fat_tables_consistent(image)
    seen = extract(image, tmp_path / "extracted")
    want = {p: c for p, c in model.items() if p != "/"}
    assert sorted(seen) == sorted(want)
    bad = [p for p in want if seen[p] != want[p]]
    assert not bad, f"mcopy extracts different contents for {bad[:5]}"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_workload_leaves_exactly_the_expected_tree(tmp_path, layout):
    print(f"seed {SEED} (PYOS_FAT_SEED)")
    src = host_folder(tmp_path / "src")
    image = layout_image(tmp_path, layout)
    mcopy_in(image, src)
    w = Workload(SEED)
    w.model.update({p: c for p, c in host_tree(src).items()})
    w.lines += ["mkdir /hundreds", "mkfiles /hundreds 300 file_with_a_long_name_",
                "mkdir /hundreds/nested", "mkdir /hundreds/nested/deeper", "mkdir /hundreds/nested/deeper/still",
                "fill /hundreds/nested/deeper/still/huge.bin 1500000 9",
                "append /sub/big.bin tail-of-an-existing-file",
                "truncate /many/item-001.dat 0", "truncate /many/item-002.dat 70000",
                "rename /sub /hundreds/nested/sub_moved",          # a directory across directories: '..' fixed
                "rename /hello.txt /Hello.TXT",                    # only the case changes
                "!ENOTEMPTY rmdir /hundreds", "!EISDIR unlink /many", "!ENOTDIR rmdir /Hello.TXT",
                "!EEXIST mkdir /many", "!EEXIST mkdir /MANY", "!ENOENT unlink /nothing"]
    for i in range(300):
        w.model[f"/hundreds/file_with_a_long_name_{i}"] = f"file_with_a_long_name_{i}\n".encode()
    for d in ["/hundreds", "/hundreds/nested", "/hundreds/nested/deeper", "/hundreds/nested/deeper/still"]:
        w.model[d] = None
    w.model["/hundreds/nested/deeper/still/huge.bin"] = pattern(1_500_000, 9)
    w.model["/sub/big.bin"] += b"tail-of-an-existing-file"
    w.model["/many/item-001.dat"] = b""
    w.model["/many/item-002.dat"] = w.model["/many/item-002.dat"][:70000].ljust(70000, b"\0")
    w.move("/sub", "/hundreds/nested/sub_moved")
    w.move("/hello.txt", "/Hello.TXT")
    for _ in range(400):
        w.op()
    run(image, w.remounted_halfway())
    check_image(image, w.model, tmp_path)


def test_short_names_unique_and_long_names_exact(tmp_path):
    image = layout_image(tmp_path, "fat32-4k")
    lines = ["mount", "mkdir /d"]
    names = [f"Annual_Report_{i}.document" for i in range(150)] + \
            [f"annual_report_x{i}.doc" for i in range(20)] + ["README.TXT", "readme.md", "Readme.txt.bak",
                                                               ".hidden", "..dots", "a.b.c", "UPPER", "ü"]
    for n in names:
        lines.append(f"write /d/{n} {n}")
    lines += ["!EEXIST mkdir /d/readme.txt", "!EINVAL write /d/bad:name x", "!EINVAL write /d/trailing. x",
              "!EINVAL write /d/star* x", "!ENAMETOOLONG write /d/" + "x" * 256 + " x",
              "write /d/" + "y" * 255 + " max", "cat /d/ANNUAL~1.DOC", "unmount"]
    run(image, "\n".join(lines) + "\n")
    fsck_clean(image)                      # also catches duplicate 8.3 names
    fat_tables_consistent(image)
    listing = subprocess.run(["mdir", "-i", str(image), "::/d"], env=MTOOLS_ENV, capture_output=True,
                             text=True, check=True).stdout
    shorts = [l[:12] for l in listing.splitlines()[4:] if l[:1].strip() and not l.startswith((".", " "))]
    assert len(shorts) == len(set(shorts))
    seen = extract(image, tmp_path / "out")
    want = {"/d": None, **{f"/d/{n}": n.encode() for n in names}, "/d/" + "y" * 255: b"max"}
    assert seen == want


@pytest.mark.parametrize("layout", ["fat32-512", "fat16"])
def test_full_disk_gives_enospc_and_stays_clean(tmp_path, layout):
    """Each FAT type's smallest volume for its cluster size: FAT32 needs 65525
    clusters (34 MiB of 512-byte ones); FAT16 with 2 KiB clusters (mkfs.fat's
    choice at 20 MiB) from 4085 clusters: 9 MiB gives 4589, a FAT of three blocks."""
    bits, _, spc = LAYOUTS[layout]
    image = mkfs(tmp_path / "small.img", bits, 34, spc) if bits == 32 else mkfs(tmp_path / "small.img", 16, 9, 4)
    r = run(image, "mount\nstatfs\nmkdir /d\nwrite /d/keep kept\n!ENOSPC fill /big 60000000 3\n"
                   "!ENOSPC mkdir /nospace\nappend /d/keep more\nstat /big\n"
                   "!ENOSPC truncate /d/keep 9000000\ncat /d/keep\nstatfs\nunmount\n")
    size = int(re.search(r"\bsize=(\d+)", r.stdout).group(1))
    frees = re.findall(r"free=(\d+)", r.stdout)
    assert frees[-1] == "0" and int(frees[0]) > 0
    assert r.stdout.count("keptmore") == 1
    fsck_clean(image)
    fat_tables_consistent(image)
    seen = extract(image, tmp_path / "out")
    assert seen["/d/keep"] == b"keptmore" and seen["/big"] == pattern(size, 3)
    # Space comes back after a delete.
    run(image, "mount\nunlink /big\nmkdir /nospace\nfill /nospace/f 100000 1\ncheck /nospace/f 100000 1\n"
               "unmount\n")
    fsck_clean(image)
    fat_tables_consistent(image)


def test_fat16_root_directory_fills_up(tmp_path):
    image = mkfs(tmp_path / "f16.img", 16, 20)
    lines = ["mount"] + [f"write /longer_name_number_{i} x" for i in range(170)] + \
            ["!ENOSPC write /one_more_long_name x", "unmount"]
    run(image, "\n".join(lines) + "\n")
    fsck_clean(image)


def test_not_fat_is_einval(tmp_path):
    zeros = tmp_path / "zeros.img"
    zeros.write_bytes(bytes(1 << 20))
    assert "mount: error EINVAL" in run(zeros, "mount\n", expect_ok=False).stdout
    floppy = mkfs(tmp_path / "fat12.img", 12, 1)
    r = run(floppy, "mount\n", expect_ok=False)
    assert "mount: error EINVAL" in r.stdout and "FAT12 is not supported" in r.stdout


# ------------------------------------------------------------------- fuzzing

FUZZ_SCRIPT = """mount
tree /
cat /dir/file1
check /big 70000 4
write /new hello
append /dir/file2 more
mkdir /dir/newdir
rename /dir/file1 /moved
rename /dir /dir2
unlink /big
truncate /dir2/file2 100000
rmdir /dir2/newdir
fill /after 30000 2
tree /
statfs
unmount
mount
tree /
unmount
"""


def fuzz_base(tmp_path: Path, bits: int) -> bytes:
    image = mkfs(tmp_path / f"base{bits}.img", bits, 8 if bits == 32 else 4, 1)
    run(image, "mount\nmkdir /dir\nwrite /dir/file1 one\nwrite /dir/file2 two\nfill /big 70000 4\n"
               "mkfiles /dir 40 a_long_file_name_\nunmount\n")
    return image.read_bytes()


def corrupt(data: bytearray, rnd: random.Random, bits: int):
    bps, spc, resv, nfats = struct.unpack_from("<HBHB", data, 11)
    fatsz = struct.unpack_from("<H", data, 22)[0] or struct.unpack_from("<I", data, 36)[0]
    fat = resv * bps
    meta_end = fat + nfats * fatsz * bps + (32 * 1024 if bits == 16 else 0) + 64 * 1024
    for _ in range(rnd.randrange(1, 8)):
        where = rnd.random()
        if where < 0.2:        # boot sector / BPB fields
            off = rnd.randrange(11, 90)
        elif where < 0.3:      # FSInfo
            off = bps + rnd.choice([0, 484, 488, 489, 492, 508, 510])
        elif where < 0.65:     # FAT entries: loops, out of range, free in a chain
            entry = rnd.randrange(0, 200)
            off = fat + entry * (bits // 8)
            value = rnd.choice([0, 1, entry, entry - 1, 0xFFFF, 0x0FFFFFF7, 0x0FFFFFFF, rnd.getrandbits(32)])
            struct.pack_into("<I" if bits == 32 else "<H", data, off, value & (0xFFFFFFFF if bits == 32 else 0xFFFF))
            continue
        else:                  # directory entries (the root, the first directories' clusters)
            off = rnd.randrange(fat + nfats * fatsz * bps, meta_end)
        data[off] = rnd.getrandbits(8)


@pytest.mark.parametrize("bits", [32, 16])
def test_corrupted_images_never_crash_or_hang(tmp_path, bits):
    print(f"seed {SEED} (PYOS_FAT_SEED)")
    base = fuzz_base(tmp_path, bits)
    rnd = random.Random(SEED * 100 + bits)
    image = tmp_path / "fuzz.img"
    for case in range(150):
        data = bytearray(base)
        corrupt(data, rnd, bits)
        image.write_bytes(data)
        try:
            r = run(image, FUZZ_SCRIPT, timeout=60, expect_ok=False)
        except subprocess.TimeoutExpired:
            pytest.fail(f"case {case} (seed {SEED}): the harness hung")
        assert r.returncode in (0, 1), f"case {case} (seed {SEED}): status {r.returncode}\n{r.stdout[-3000:]}"


# ------------------------------------------------------- files kept open (C)

def build_open_test(tmp_path: Path, source: str = "fs_fat32_open.c") -> Path:
    """tests/fs_fat32_open.c (or another such test) linked like the harness: plugin + block.c + vnode.c + the host environment
    (each unit's object from the harness's build cache)."""
    from vmm.harness import fs as harness
    plugin = filesystem_plugin("fat32")
    exe = tmp_path / Path(source).stem
    flags = harness.CFLAGS + (harness.SANITIZE if harness._sanitizers_work("gcc") else [])
    includes = [harness.GUEST_INCLUDE, *plugin.include_dirs]
    # the test's own unit also sees tests/include (fs_fat32_direct.h: what these tests share)
    objects = [harness.compile_object("gcc", flags, Path(__file__).with_name(source), (),
                                      [*includes, Path(__file__).with_name("include")])]
    objects += [harness.compile_object("gcc", flags, src, (), includes) for src in harness.SOURCES[1:]]
    objects += [harness.compile_object("gcc", flags, src, plugin.cflags, includes) for src in plugin.sources]
    subprocess.run(["gcc", *flags, "-o", str(exe), *map(str, objects)], check=True, capture_output=True, text=True)
    return exe


@pytest.mark.parametrize("layout", ["fat32-4k", "fat16"])
def test_open_files_unlinked_renamed_and_removed(tmp_path, layout):
    image = layout_image(tmp_path, layout)
    exe = build_open_test(tmp_path)
    r = subprocess.run([str(exe), str(image)], capture_output=True, text=True, timeout=120,
                       env={"ASAN_OPTIONS": "detect_leaks=1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
    fsck_clean(image)
    fat_tables_consistent(image)
    seen = extract(image, tmp_path / "out")
    assert seen["/dir_two/y"] == b"moved!" and seen["/open_then_unlinked.txt"] == b""
    assert sorted(seen) == sorted(["/open_then_unlinked.txt", "/dir_one", "/dir_one/inner", "/dir_two",
                                   "/dir_two/y"] + [f"/dir_two/Entry number {i} with a long name" for i in range(40)])
