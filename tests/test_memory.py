"""The memory plugins in the guest (every combination) and natively in the host harness."""

from __future__ import annotations

import itertools
import re
import textwrap

import pytest

from vmm.harness import run_harness
from vmm.plugins import Plugin
from vmm.plugins.manager import select

from .conftest import boot, write_config

COMBINATIONS = list(itertools.product(["buddy", "bitmap"], ["slab", "freelist"], ["direct", "recursive"]))


def _config(tmp_path, frames, heap, paging, memory_mib=32):
    return write_config(tmp_path, f'[machine]\nmemory_mib = {memory_mib}\n[kernel]\nframe_allocator = "{frames}"\n'
                                  f'heap = "{heap}"\npaging = "{paging}"\n[serial]\ninput = "none"\n')


@pytest.mark.parametrize("frames, heap, paging", COMBINATIONS)
def test_memory_selftest_in_guest(tmp_path, frames, heap, paging):
    result = boot("--cmdline", "selftest=memory", "--stats", config=_config(tmp_path, frames, heap, paging))
    console = result.console
    assert f"frame allocator '{frames}', heap '{heap}', paging '{paging}'" in console
    assert "selftest memory: 42 passed, 0 failed" in console, console
    assert result.status == 0, result.stderr
    # The VMM read the same plugins' counters from guest memory, without an exit.
    stats = dict(re.findall(r"subsystem=(frame_alloc|heap|paging),name=(\w+)", result.stderr))
    assert stats == {"frame_alloc": frames, "heap": heap, "paging": paging}

    def frames_metric(name):  # --stats line: "pyos_guest_frames_free  plugin=buddy 32000"
        return int(re.search(rf"^{name}  plugin={frames} (\d+)$", result.stderr, re.M).group(1))
    assert 0 < frames_metric("pyos_guest_frames_free") <= frames_metric("pyos_guest_frames_managed")
    # the self-test went through them all
    assert frames_metric("pyos_guest_frames_allocs_total") > frames_metric("pyos_guest_frames_managed")
    assert frames_metric("pyos_guest_frames_merges_total") > 0 and frames_metric("pyos_guest_frames_splits_total") > 0


def test_guard_page_hit_is_reported(tmp_path):
    result = boot("--cmdline", "crash=stack-overflow", config=_config(tmp_path, "buddy", "slab", "recursive"))
    assert result.status == 3
    assert "CPU EXCEPTION: #DF double fault (vector 8)" in result.console
    assert re.search(r"kernel stack overflow: 0xffffc000000\w+ is in the guard area below a kernel stack",
                     result.console)


def _page_sizes(stdout: str) -> dict[str, int]:
    """The harness's report of how init() mapped things: {"RAM start": KiB, ...}."""
    return {what: int(kib) for what, kib in re.findall(r"^harness: page size at ([\w ]+): (\d+) KiB$", stdout, re.M)}


def _direct_map_covers_ram(stdout: str) -> bool:
    """paging_stats.direct_map_bytes, what init() mapped, is the RAM it was given rounded up to
    2 MiB pages (the self-test takes that figure for RAM's end, so it is checked here)."""
    ram, covered = (int(x, 16) for x in re.search(r"RAM ends at (0x[0-9a-f]+); the direct map covers (0x[0-9a-f]+)",
                                                    stdout).groups())
    return covered == -(-ram // (2 << 20)) * (2 << 20)


def _expected_page_sizes(paging: str, stdout: str, ram_mib: int) -> dict[str, int]:
    """direct maps a whole aligned GiB (RAM's first, the MMIO window) as one 1 GiB page when
    cpu_has_1g_pages() says yes (the harness reports its answer), 2 MiB pages elsewhere;
    recursive always uses 2 MiB pages."""
    gib = paging == "direct" and "1 GiB pages: yes" in stdout
    one_g, two_m = 1 << 20, 2 << 10
    return {"RAM start": one_g if gib and ram_mib >= 1024 else two_m, "RAM end": two_m,
            "RAM second GiB": (one_g if gib and ram_mib >= 2048 else two_m) if ram_mib >= 1024 else 0,
            "MMIO window": one_g if gib else two_m, "kernel image": two_m}


@pytest.mark.parametrize("frames, heap, paging", COMBINATIONS)
def test_memory_selftest_in_host_harness(frames, heap, paging):
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "selftest", 64)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selftest memory: 41 passed, 0 failed" in result.stdout
    assert _page_sizes(result.stdout) == _expected_page_sizes(paging, result.stdout, 64)
    assert _direct_map_covers_ram(result.stdout)
    # init() took both regions, and only them (the array's third entry, the reserved hole
    # between them, is past the count it was given), with its counters up to date; nothing
    # was handed out of the hole.
    held, total, free, largest = map(int, re.search(
        r"the regions hold (\d+) frames; the allocator has (\d+), (\d+) free, the largest block (\d+)",
        result.stdout).groups())
    assert held == total == free
    assert largest == 1024  # 4 MiB: 64 MiB of RAM has 4 MiB-aligned free blocks from the start
    # What each allocator's header comment says it needs: buddy one byte per frame; bitmap one
    # bit per frame and one per 64-frame word, each level in whole 64-bit words.
    metadata = {int(n): int(b) for n, b in re.findall(r"^harness: metadata for (\d+) frames: (\d+) bytes$",
                                                     result.stdout, re.M)}
    words = lambda n: -(-n // 64)  # noqa: E731
    assert metadata == {n: n if frames == "buddy" else (words(n) + words(words(n))) * 8
                        for n in (1, 64, 65, 4096, 4097, 262144, 262145)}
    assert "bytes written in the reserved hole: 0\n" in result.stdout
    # init() was given exactly metadata_bytes() bytes: the rest of that frame is not its own
    assert re.search(r"^harness: bytes written past the metadata asked for: 0 of \d+$", result.stdout, re.M)
    # paging_stats.tables_allocated: the page-table pages taken from the frame allocator
    taken, tables = map(int, re.search(r"paging init took (\d+) frames; tables_allocated (\d+)", result.stdout).groups())
    assert taken == tables > 0


@pytest.mark.parametrize("frames, heap, paging",
                         [("buddy", "slab", "direct"), ("bitmap", "slab", "direct"), ("buddy", "slab", "recursive")])
def test_frames_in_an_odd_sized_host_harness(frames, heap, paging):
    """41 MiB: a frame count that is not a multiple of 4096 (the bitmap's level-0 words
    then end inside a word), RAM ending on a 2 MiB boundary and a kernel image that does
    too (so no page is mapped past either: the image's 2 MiB rounding adds nothing to a
    size that is already whole pages); every check holds there too."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "selftest", 41,
                         image_end=0x200000)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selftest memory: 41 passed, 0 failed" in result.stdout
    assert _direct_map_covers_ram(result.stdout)
    assert re.search(r"^harness: bytes written past the metadata asked for: 0 of \d+$", result.stdout, re.M)


def _selftest_passed_all_free_after_init(result):
    """The harness self-test passed, and right after init every frame of the regions
    was the allocator's and free, a 4 MiB block the largest."""
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selftest memory: 41 passed, 0 failed" in result.stdout
    held, total, free, largest = map(int, re.search(
        r"the regions hold (\d+) frames; the allocator has (\d+), (\d+) free, the largest block (\d+)",
        result.stdout).groups())
    assert held == total == free and largest == 1024


@pytest.mark.parametrize("frames, heap, paging", [("buddy", "slab", "direct"), ("bitmap", "slab", "direct")])
def test_frames_managed_from_an_aligned_first_frame_in_host_harness(frames, heap, paging):
    """frame_alloc.h puts the metadata wherever the early allocator had room: here at the
    top of RAM, so the first managed frame is the arena's first, 4 MiB aligned, and free
    blocks start at the very first frame the allocator manages. 257 MiB: 1028 of the
    bitmap's 64-frame words, so its last level-0 word covers only four of them. Counters
    right after init (everything free, a 4 MiB block the largest), every self-test check,
    and nothing written past the metadata asked for."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "selftest", 257,
                         metadata_last=True)
    _selftest_passed_all_free_after_init(result)
    assert re.search(r"^harness: bytes written past the metadata asked for: 0 of \d+$", result.stdout, re.M)


@pytest.mark.parametrize("frames, heap, paging", [("buddy", "slab", "direct"), ("bitmap", "slab", "direct")])
def test_frames_in_a_ragged_layout_in_host_harness(frames, heap, paging):
    """Regions as firmware may leave them: the first 325 frames after the metadata held
    back (so the first managed frame is neither 64-frame nor 4 MiB aligned, and blocks
    must still be aligned in physical memory), and a third region of five frames inside
    the reserved hole, all inside one 64-frame word that the first region's last frames
    share. Every check holds; nothing outside the regions is handed out or written."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "selftest", 64,
                         reserve_low=325, island=True)
    _selftest_passed_all_free_after_init(result)
    assert "bytes written in the reserved hole: 0\n" in result.stdout
    assert "bytes written in the 325 frames held back low: 0\n" in result.stdout


@pytest.mark.parametrize("gib_pages", [True, False], ids=["1g", "no1g"])
@pytest.mark.parametrize("frames, heap, paging", [("buddy", "slab", "direct"), ("buddy", "slab", "recursive")])
def test_paging_beyond_2_gib_in_host_harness(frames, heap, paging, gib_pages):
    """RAM past 2 GiB: two whole GiB (1 GiB pages where the CPU has them and the plugin
    uses them), then a third page directory of 2 MiB pages; the paging self-test checks
    RAM's last byte and not a page further, the MMIO window and the flags there. Without
    1 GiB pages everything is 2 MiB pages, the MMIO window's 512 of them too."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "paging", 2100,
                         gib_pages=gib_pages)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selftest memory: 12 passed, 0 failed" in result.stdout
    if not gib_pages:
        assert "1 GiB pages: no" in result.stdout
    assert _page_sizes(result.stdout) == _expected_page_sizes(paging, result.stdout, 2100)
    assert _direct_map_covers_ram(result.stdout)


FRAME_MISUSE = ["free-order-too-big", "free-misaligned-block", "free-inside-a-frame", "free-below-the-regions",
                "free-straddling-the-start", "free-past-the-regions", "free-straddling-the-end", "double-free"]


@pytest.mark.parametrize("case", FRAME_MISUSE)
@pytest.mark.parametrize("frames, heap, paging", [("buddy", "slab", "direct"), ("bitmap", "slab", "direct")])
def test_frame_free_misuse_panics_in_host_harness(frames, heap, paging, case):
    """frame_alloc.h: free() of a block alloc() cannot have handed out (an order above the
    maximum, misaligned for its order, not frame-aligned, outside the regions' span or
    partly so) panics, and so does freeing a free block: silently accepting one would
    hand the same frames out twice, or the allocator's own metadata."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "misuse", 64,
                         case=case)
    assert result.returncode == 99, result.stdout + result.stderr
    says = "double free" if case == "double-free" else "not a block this allocator handed out"
    assert f"PANIC: {frames}: " in result.stderr and says in result.stderr, result.stderr
    if case == "double-free":  # and names the frame
        assert re.search(r"freeing (0x[0-9a-f]+) twice", result.stdout).group(1) in result.stderr


@pytest.mark.parametrize("frames, heap, paging, case, says", [
    ("buddy", "slab", "direct", "kfree-inside-a-block", "not a pointer kmalloc returned"),
    ("buddy", "slab", "direct", "kfree-inside-a-freed-block", "not a pointer kmalloc returned"),
    ("buddy", "freelist", "direct", "kfree-inside-a-block", "not a pointer kmalloc returned"),
    ("buddy", "freelist", "direct", "kfree-inside-a-freed-block", "double free"),
    ("buddy", "freelist", "direct", "kfree-twice", "double free"),
])
def test_kfree_misuse_panics_in_host_harness(frames, heap, paging, case, says):
    """heap.h: kfree() of a pointer kmalloc did not return panics, even one into freed
    memory whose old contents look like an in-use header; freelist, whose headers say
    whether a block is free, also panics on a double free, and says which it was (a free
    block's header, which the split of a free block writes too, marks a double free)."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "misuse", 64,
                         case=case)
    assert result.returncode == 99, result.stdout + result.stderr
    assert f"PANIC: {heap}: kfree(" in result.stderr and says in result.stderr, result.stderr


def test_harness_catches_a_broken_allocator(tmp_path):
    """A frame allocator that never takes frames back fails the harness's checks."""
    source = tmp_path / "leaky.c"
    source.write_text(textwrap.dedent("""
        #include <pyos/frame_alloc.h>
        #include <pyos/mm_env.h>
        static uint64_t next, end;
        static struct frame_alloc_stats *st;
        static uint64_t meta(uint64_t f, uint64_t n) { (void)f; (void)n; return 0; }
        static void init(const struct frame_region *r, uint32_t n, void *m, struct frame_alloc_stats *s)
        {
            (void)n; (void)m; st = s; next = r[0].base; end = r[0].base + r[0].length;
            st->total_frames = st->free_frames = r[0].length / FRAME_SIZE;
            st->largest_free_frames = 1;
        }
        static uint64_t alloc(unsigned order)
        {
            uint64_t size = FRAME_SIZE << order, at = (next + size - 1) & ~(size - 1);
            if (at + size > end) { st->failures++; return 0; }
            next = at + size; st->free_frames -= 1UL << order; st->allocs++;
            return at;
        }
        static void release(uint64_t p, unsigned o) { (void)p; (void)o; st->frees++; }
        const struct frame_alloc_ops frame_alloc_plugin = {1, "leaky", meta, init, alloc, release, 0};
    """))
    plugins = [p for p in select({}) if p.subsystem != "frame_allocator"]
    plugins.append(Plugin("frame_allocator", "leaky", "0", 1, [source], provider="test"))
    result = run_harness(plugins, "selftest", 16)
    assert result.returncode != 0
    # the first check that gives everything back and takes it again sees the frames gone
    assert "the same blocks after coalescing: FAIL" in result.stdout


@pytest.mark.parametrize("frames, heap, paging", [("buddy", "slab", "direct"), ("buddy", "slab", "recursive")])
def test_access_after_unmap_faults_in_host_harness(frames, heap, paging):
    """After unmap() the page is gone for the MMU too: the harness's TLB keeps a translation
    until invlpg drops it, as the CPU's does, so an unmap that forgot it would still work."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "misuse", 64,
                         case="touch-after-unmap")
    assert result.returncode != 0 and "harness: page fault: 0xffffd00000000000 is not mapped" in result.stderr


@pytest.mark.parametrize("frames, heap, paging", [("buddy", "slab", "direct"), ("buddy", "slab", "recursive")])
def test_paging_tables_zeroed_on_dirty_ram_in_host_harness(frames, heap, paging):
    """RAM the paging plugin gets is not zeroed (the frames held garbage whose bit 0, the
    present bit, is set): every table init, map and new_space build is cleared by the
    plugin, so no stray entry appears (the kernel's lower half empty, a new space's too,
    the kernel half walked by every MMU path); every check holds."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "selftest", 64,
                         dirty=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selftest memory: 41 passed, 0 failed" in result.stdout


@pytest.mark.parametrize("frames, heap, paging", [("buddy", "slab", "recursive")])
def test_recursive_window_is_not_mappable_in_host_harness(frames, heap, paging):
    """recursive.c: PML4 slot 510 is the recursive window, mapped by init (its pages are the
    page tables). map() there is refused (paging.h: -1 for a mapped page), and so is unmap()
    (a 4 KiB "page" of the window is a table entry: unmapping the root seen through the
    window would take the window itself away); the root stays as it was."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "misuse", 64,
                         case="the-recursive-window")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("harness: in the recursive window: map -1, unmap -1, the root unchanged, translate of the root right"
            in result.stdout)


# What paging.h promises, each checked by one `harness misuse` case that prints what it saw.
PAGING_PROMISES = [
    # with no frame left, new_space() returns 0 and a map that needs a new table -1
    ("paging-without-memory", "harness: with no free frame: new_space 0, map -1"),
    # new_space() fills its own root frame and nothing past it
    ("new-space-in-its-frame", "harness: new space at the free frame, 0 bytes changed after it"),
    # switch_space() makes the space current for the MMU too (loads CR3): a page mapped there is written through
    ("write-in-a-new-space", "harness: written through the new space: 0xfeed"),
    # map() answers -1 for a page that is mapped already, a direct-map page inside a large page
    # included, and unmap() -1 for it (not a 4 KiB page of its own)
    ("map-over-the-direct-map",
     "harness: over the direct map: map -1, unmap -1, translate unchanged, RAM unchanged"),
]


@pytest.mark.parametrize("case, says", PAGING_PROMISES, ids=[case for case, _ in PAGING_PROMISES])
@pytest.mark.parametrize("frames, heap, paging", [("buddy", "slab", "direct"), ("buddy", "slab", "recursive")])
def test_paging_promise_in_host_harness(frames, heap, paging, case, says):
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "misuse", 64,
                         case=case)
    assert result.returncode == 0, result.stdout + result.stderr
    assert says in result.stdout


@pytest.mark.parametrize("mib", [64, 2100])
@pytest.mark.parametrize("frames, heap, paging", [("buddy", "slab", "direct"), ("buddy", "slab", "recursive")])
def test_paging_init_out_of_memory_panics_in_host_harness(frames, heap, paging, mib):
    """With one frame left for init's tables (the root), init says it ran out, by a panic,
    whether its first table after the root is for 2 MiB pages or (2100 MiB, direct) a 1 GiB page."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "misuse", mib,
                         case="paging-init-with-one-frame")
    assert result.returncode == 99, result.stdout + result.stderr
    assert "PANIC: paging: out of memory building the kernel page tables" in result.stderr


@pytest.mark.parametrize("frames, heap, paging", [("buddy", "slab", "direct"), ("bitmap", "slab", "direct")])
def test_largest_block_at_the_top_in_host_harness(frames, heap, paging):
    """frame_alloc.h: a free aligned block of the largest order is handed out wherever it
    lies, the last 4 MiB of the managed frames included (found after they came back one
    frame at a time, with nothing else free)."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "misuse", 64,
                         case="largest-block-at-the-top")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "harness: the last 4 MiB block: found" in result.stdout


@pytest.mark.parametrize("frames, heap, paging", [("bitmap", "slab", "direct")])
def test_bitmap_next_fit_in_host_harness(frames, heap, paging):
    """bitmap.c's next fit: a search starts in the 4096-frame group (level-0 word) where
    the last one succeeded, for single frames and for whole 64-frame words alike, rather
    than at the lowest free frame."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "misuse", 64,
                         case="next-fit")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("harness: next fit: the only free frame taken, then order 0 from group 3, order 6 from group 3"
            in result.stdout)


@pytest.mark.parametrize("frames, heap, paging", [("buddy", "slab", "direct"), ("bitmap", "slab", "direct")])
def test_largest_block_follows_a_free_in_host_harness(frames, heap, paging):
    """frame_alloc.h: after refresh_stats(), largest_free_frames is what alloc could hand
    out, also when only frees happened since the last refresh."""
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "misuse", 64,
                         case="largest-after-a-free")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "harness: largest free block: 0 when none is free, 1 after one frame came back" in result.stdout
