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
    assert "selftest memory: 24 passed, 0 failed" in console, console
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


@pytest.mark.parametrize("frames, heap, paging", COMBINATIONS)
def test_memory_selftest_in_host_harness(frames, heap, paging):
    result = run_harness(select({"frame_allocator": frames, "heap": heap, "paging": paging}), "selftest", 64)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selftest memory: 23 passed, 0 failed" in result.stdout


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
    assert "random-order free restores the free count: FAIL" in result.stdout
