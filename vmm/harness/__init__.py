"""Host-side harness: memory plugins' C compiled for the host and run natively.

The same plugin sources and the same self-test file the guest runs
(guest_kernel/kernel/mm_selftest.c), built with -DPYOS_HARNESS against
harness.c, which stands in for the kernel (an arena for physical memory, a
software MMU). Plugin authors use it through `pyos-vmm harness`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..build.cache import cached_build, content_key
from ..errors import KernelError
from ..paths import GUEST_INCLUDE, GUEST_KERNEL_DIR

HARNESS_C = Path(__file__).with_name("harness.c")
SELFTEST_C = GUEST_KERNEL_DIR / "kernel" / "mm_selftest.c"
PAGE_TABLES_C = GUEST_KERNEL_DIR / "kernel" / "page_tables.c"  # helpers mm_env.h offers plugins
MEMORY_SUBSYSTEMS = ("frame_allocator", "heap", "paging")
HOST_CFLAGS = ["-O2", "-g", "-std=gnu11", "-Wall", "-Wno-format", "-DPYOS_HARNESS"]


def build_harness(plugins) -> Path:
    """Compile the harness with the given plugins (one per memory subsystem); cached."""
    gcc = shutil.which("gcc")
    if not gcc:
        raise KernelError("gcc not found: it builds the host harness", "apt-get install gcc")
    sources = [HARNESS_C, SELFTEST_C, PAGE_TABLES_C]
    flags = list(HOST_CFLAGS)
    includes = [GUEST_INCLUDE]
    plugins = [p for p in plugins if p.subsystem in MEMORY_SUBSYSTEMS]
    for plugin in plugins:
        sources += list(plugin.sources)
        flags += [f for f in plugin.cflags if f not in flags]
        includes += list(plugin.include_dirs)
    key = content_key((flags, [str(d) for d in includes]), [*sources, *sorted(GUEST_INCLUDE.rglob("*.h"))])

    def build(staged: Path, scratch: Path, final: Path):
        result = subprocess.run([gcc, *flags, *(f"-I{d}" for d in includes), "-o", str(staged / "harness"),
                                 *map(str, sources)], capture_output=True, text=True)
        if result.returncode != 0:
            raise KernelError(f"building the host harness failed:\n{result.stderr.strip()}",
                              "plugin code must only use what guest_kernel/include/pyos/mm_env.h offers")

    return cached_build("harness", key, build) / "harness"


def run_harness(plugins, mode: str = "selftest", memory_mib: int = 64, iterations: int = 1_000_000, *,
                case: str = "", gib_pages: bool = True, image_end: int | None = None,
                metadata_last: bool = False, reserve_low: int = 0, island: bool = False,
                dirty: bool = False):
    """Run the harness: `selftest`, `paging` (its checks only), `bench` (`iterations`) or
    `misuse` (`case`: one call the interfaces say panics). gib_pages=False makes
    cpu_has_1g_pages() answer no; image_end sets kernel_image_end_phys(); metadata_last puts
    the frame allocator's metadata at the top of RAM, not its start; reserve_low holds back
    that many frames at RAM's start; island adds a region of five frames inside the hole;
    dirty fills the free frames with garbage before the paging plugin starts."""
    exe = build_harness(plugins)
    extra = {"bench": [str(iterations)], "misuse": [case]}.get(mode, [])
    options = ([] if gib_pages else ["--no-1g-pages"]) + ([] if image_end is None else ["--image-end", str(image_end)])
    options += (["--metadata-last"] if metadata_last else []) + (["--island"] if island else [])
    options += ["--reserve-low", str(reserve_low)] if reserve_low else []
    options += ["--dirty"] if dirty else []
    args = [str(exe), *options, mode, str(memory_mib), *extra]
    return subprocess.run(args, capture_output=True, text=True)
