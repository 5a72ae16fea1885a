"""Host fs harness: filesystem plugins natively against an image file.

The plugin's C, the kernel's buffer cache (kernel/block.c) and vnode cache
(kernel/vnode.c) are compiled for the host with fs_env_host.c standing in for
the rest of the kernel (a block device over the image file) and fs_harness.c
reading a script of operations (its comment lists them). Built with
AddressSanitizer and UBSan when the compiler has them, so a plugin that
reads past a buffer on a corrupted image fails loudly here, not quietly in
the guest.

PYOS_FS_COVERAGE=1 (set by `python -m mutation` for its per-test coverage,
with a build cache of its own) builds every unit at -O0 with --coverage:
each run adds its line counts to a .gcda file under that build cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from ..build.cache import cached_build, content_key, tool_version
from ..errors import ConfigError, KernelError
from ..paths import GUEST_INCLUDE, GUEST_KERNEL_DIR

HERE = Path(__file__).parent
SOURCES = [HERE / "fs_harness.c", HERE / "fs_env_host.c",
           GUEST_KERNEL_DIR / "kernel" / "block.c", GUEST_KERNEL_DIR / "kernel" / "vnode.c"]
COVERAGE = os.environ.get("PYOS_FS_COVERAGE") == "1"
CFLAGS = ["-O0" if COVERAGE else "-O1", "-g", "-std=gnu11", "-Wall", "-Wno-format", "-DPYOS_HARNESS",
          "-fno-omit-frame-pointer", *(["--coverage"] if COVERAGE else [])]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
# fs_harness.c counts the buffer references the plugin holds (a leak is reported at unmount)
WRAP = ["-Wl,--wrap=bread,--wrap=brelse,--wrap=bget_zero"]


@lru_cache(maxsize=1)
def _sanitizers_work(gcc: str) -> bool:
    probe = subprocess.run([gcc, *SANITIZE, "-x", "c", "-", "-o", "/dev/null"], input="int main(void){return 0;}",
                           capture_output=True, text=True)
    return probe.returncode == 0


def _headers(includes) -> list[Path]:
    """Every header a unit may include: the guest's and the plugins' include folders (their own headers too)."""
    return sorted({h for d in includes for h in Path(d).rglob("*.h")})


def compile_object(gcc: str, flags, src: Path, extra=(), includes=()) -> Path:
    """src compiled with these flags (cached by its content and every header it may include): the .o path.

    One object per unit, so a changed plugin file (an edit, or a mutant under
    `python -m mutation`) recompiles that file alone, not the harness and
    the kernel's buffer and vnode caches with it."""
    gcc = shutil.which(gcc) or gcc
    argv = [gcc, *flags, *extra, *(f"-I{d}" for d in includes)]
    key = content_key((argv, tool_version(gcc), src.name), [src, *_headers(includes)])

    def build(staged: Path, scratch: Path, final: Path):
        result = subprocess.run([*argv, "-c", str(src), "-o", str(staged / "unit.o")], capture_output=True, text=True)
        if result.returncode != 0:
            raise KernelError(f"building the host fs harness: compiling {src} failed:\n{result.stderr.strip()}",
                              "plugin code must only use what guest_kernel/include/pyos/fs_env.h offers")

    return cached_build("fs_harness_obj", key, build) / "unit.o"


def build_fs_harness(plugins, sanitize: bool = True) -> Path:
    """The harness executable with these filesystem plugins linked in (cached, and each unit's object too)."""
    from ..build.kernel import plugin_table_source
    gcc = shutil.which("gcc")
    if not gcc:
        raise KernelError("gcc not found: it builds the host fs harness", "apt-get install gcc")
    plugins = [p for p in plugins if p.subsystem == "filesystems"]
    flags = list(CFLAGS) + (SANITIZE if sanitize and _sanitizers_work(gcc) else [])
    includes = [GUEST_INCLUDE]
    table = plugin_table_source(plugins)
    objects = [compile_object(gcc, flags, src, (), includes) for src in SOURCES]
    objects += [compile_object(gcc, flags, src, p.cflags, [GUEST_INCLUDE, *p.include_dirs])
                for p in plugins for src in p.sources]
    key = content_key((flags, WRAP, table), objects)

    def build(staged: Path, scratch: Path, final: Path):
        (scratch / "fs_plugins.c").write_text(table)
        table_obj = scratch / "fs_plugins.o"
        result = subprocess.run([gcc, *flags, *(f"-I{d}" for d in includes), "-c", str(scratch / "fs_plugins.c"),
                                 "-o", str(table_obj)], capture_output=True, text=True)
        if result.returncode != 0:
            raise KernelError(f"building the host fs harness: compiling its plugin table failed:\n"
                              f"{result.stderr.strip()}", "")
        result = subprocess.run([gcc, *flags, *WRAP, "-o", str(staged / "fs_harness"), *map(str, objects),
                                 str(table_obj)], capture_output=True, text=True)
        if result.returncode != 0:
            raise KernelError(f"linking the host fs harness failed:\n{result.stderr.strip()}",
                              "plugin code must only call what guest_kernel/include/pyos/fs_env.h offers")

    return cached_build("fs_harness", key, build) / "fs_harness"


def filesystem_plugin(name: str):
    """The installed filesystem plugin `name`, or a ConfigError listing them."""
    from ..plugins.manager import discover
    installed = discover()["filesystems"]
    if name not in installed:
        raise ConfigError(f"--fs {name}: no such filesystem plugin is installed",
                          "installed: " + (", ".join(sorted(installed)) or "none") + " (see pyos-vmm plugins)")
    return installed[name]


def return_type_errors(plugin) -> str:
    """gcc's -Werror=return-type over each of a filesystem plugin's sources (harness
    build): "" when every path of every non-void function returns a value, else
    gcc's messages. Falling off the end is undefined behaviour, whatever one build
    happens to return; the quickest check the fs mutation tests run first."""
    errors = []
    for src in plugin.sources:
        r = subprocess.run(["gcc", "-c", "-o", "/dev/null", "-std=gnu11", "-Werror=return-type", "-DPYOS_HARNESS",
                            f"-I{GUEST_INCLUDE}", *(f"-I{d}" for d in plugin.include_dirs), str(src)],
                           capture_output=True, text=True)
        if r.returncode:
            errors.append(r.stderr)
    return "".join(errors)


def run_fs_script(plugins, image: Path, script: str, readonly: bool = False, fail_request: int = 0,
                  timeout: float = 600, sanitize: bool = True, fail_alloc: int = 0) -> subprocess.CompletedProcess:
    """Run a script (its text) against `image`; the CompletedProcess has stdout/stderr/returncode."""
    exe = build_fs_harness(plugins, sanitize)
    args = [str(exe)] + (["--readonly"] if readonly else []) + \
        (["--fail-request", str(fail_request)] if fail_request else []) + \
        (["--fail-alloc", str(fail_alloc)] if fail_alloc else []) + [str(image), "-"]
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=98", "PATH": "/usr/bin:/bin"}
    return subprocess.run(args, input=script, capture_output=True, text=True, timeout=timeout, env=env)


def pattern(size: int, seed: int = 0) -> bytes:
    """The bytes the harness's fill/check commands write and expect."""
    return bytes((((i ^ (i >> 8) ^ (i >> 16)) * 131 + seed) & 0xFF) for i in range(size))
