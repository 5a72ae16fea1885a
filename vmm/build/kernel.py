"""Build the guest kernel ELF from guest_kernel/ with gcc and ld.

The result is cached by content: the key hashes every source and header, the
linker script, the flags and the compiler's version, so a second launch with
nothing changed does not rebuild, and any change does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import KernelError
from ..paths import GUEST_KERNEL_DIR, GUEST_INCLUDE, cache_dir

# Kernel code runs emulated on PVM-style hosts, where SSE, xsave and
# cmpxchg16b cannot be emulated at CPL0: -mgeneral-regs-only keeps the
# compiler from using them. -mcmodel=kernel: we live in the top 2 GiB.
CFLAGS = [
    "-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-Werror=implicit-function-declaration",
    "-ffreestanding", "-fno-pic", "-fno-pie", "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables", "-fno-omit-frame-pointer",
    "-mcmodel=kernel", "-mno-red-zone", "-mgeneral-regs-only",
    "-fcf-protection=none", "-mno-tls-direct-seg-refs",
]
LDFLAGS = ["-nostdlib", "-static", "-z", "max-page-size=0x1000", "--no-warn-rwx-segments"]

SOURCE_DIRS = ["arch/x86_64", "kernel", "drivers", "lib"]
LINKER_SCRIPT = GUEST_KERNEL_DIR / "arch" / "x86_64" / "linker.ld"


def core_sources() -> list[Path]:
    sources: list[Path] = []
    for sub in SOURCE_DIRS:
        sources += sorted((GUEST_KERNEL_DIR / sub).rglob("*.c"))
        sources += sorted((GUEST_KERNEL_DIR / sub).rglob("*.S"))
    return sources


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise KernelError(f"'{name}' not found: it is needed to build the guest kernel",
                          "install gcc and binutils (apt-get install gcc binutils), "
                          "or set [kernel] path to a prebuilt kernel ELF")
    return path


def _tool_version(tool: str) -> str:
    return subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def build_key(sources: list[Path], include_dirs: list[Path], extra_flags: list[str]) -> str:
    digest = hashlib.sha256()
    for part in (CFLAGS, LDFLAGS, extra_flags):
        digest.update(repr(part).encode())
    digest.update(_tool_version(_tool("gcc")).encode())
    digest.update(_tool_version(_tool("ld")).encode())
    headers = sorted(h for d in include_dirs for h in d.rglob("*.h"))
    for path in [*sources, *headers, LINKER_SCRIPT]:
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def _compile(gcc: str, source: Path, obj: Path, include_dirs: list[Path], extra_flags: list[str]):
    cmd = [gcc, *CFLAGS, *extra_flags, *(f"-I{d}" for d in include_dirs), "-c", str(source), "-o", str(obj)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise KernelError(f"compiling {source} failed:\n{result.stderr.strip()}",
                          "fix the error above; the kernel is rebuilt on the next launch")


def build_kernel(extra_sources: list[Path] = (), extra_flags: list[str] = (),
                 include_dirs: list[Path] = ()) -> Path:
    """Return the path of a kernel ELF built from the current sources (cached)."""
    sources = core_sources() + list(extra_sources)
    includes = [GUEST_INCLUDE, *include_dirs]
    key = build_key(sources, includes, list(extra_flags))
    out_dir = cache_dir() / "kernels" / key
    elf = out_dir / "kernel.elf"
    if elf.exists():
        return elf

    gcc, ld = _tool("gcc"), _tool("ld")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent) as tmp:
        tmp_dir = Path(tmp)
        objects = [tmp_dir / f"{i:03d}_{src.stem}.o" for i, src in enumerate(sources)]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            for f in [pool.submit(_compile, gcc, s, o, includes, list(extra_flags))
                      for s, o in zip(sources, objects)]:
                f.result()
        linked = tmp_dir / "kernel.elf"
        result = subprocess.run([ld, *LDFLAGS, "-T", str(LINKER_SCRIPT), "-o", str(linked),
                                 *map(str, objects)], capture_output=True, text=True)
        if result.returncode != 0:
            raise KernelError(f"linking the kernel failed:\n{result.stderr.strip()}")
        # Publish atomically: parallel launches may build the same key.
        staged = tmp_dir / "out"
        staged.mkdir()
        os.replace(linked, staged / "kernel.elf")
        try:
            os.replace(staged, out_dir)
        except OSError:
            if not elf.exists():
                raise
    return elf
