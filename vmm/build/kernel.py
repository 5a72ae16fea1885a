"""Build the guest kernel ELF: the core in guest_kernel/ plus the chosen plugins.

The result is cached by content: the key hashes every source and header, the
linker script, the flags, the plugins chosen and the compiler's version, so a
second launch with nothing changed does not rebuild, and any change does.

Before linking, pyelftools checks that each plugin's objects define the ops
structure its subsystem requires; after linking, that the structure carries
the interface version the kernel expects. A wrong plugin fails here, with its
name, rather than as a crash in the guest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import KernelError
from ..paths import GUEST_KERNEL_DIR, GUEST_INCLUDE
from .cache import cached_build, content_key, tool_version

# Kernel code runs emulated on PVM-style hosts, where SSE, xsave and
# cmpxchg16b cannot be emulated at CPL0: -mgeneral-regs-only keeps the
# compiler from using them. -mcmodel=kernel: we live in the top 2 GiB.
# -g, -fno-omit-frame-pointer and -fno-optimize-sibling-calls: functions keep
# a frame and every caller a return address (no tail calls), so crash reports
# and gdb walk the stack by frame pointers (vmm/symbols.py) with no caller
# missing. (gcc still builds small leaves without a frame; symbols.py copes.)
# -mpreferred-stack-boundary=3: with no SSE in kernel code nothing needs a
# 16-byte aligned stack (fxsave buffers are aligned by their declarations), so
# assembly calls C with the stack as the CPU left it, as Linux does: two
# emulated instructions fewer per system call on PVM hosts (arch/x86_64/isr.S).
CFLAGS = [
    "-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-Werror=implicit-function-declaration",
    "-ffreestanding", "-fno-pic", "-fno-pie", "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables", "-fno-omit-frame-pointer",
    "-fno-optimize-sibling-calls",
    "-mcmodel=kernel", "-mno-red-zone", "-mgeneral-regs-only", "-mpreferred-stack-boundary=3",
    "-fcf-protection=none", "-mno-tls-direct-seg-refs",
]
LDFLAGS = ["-nostdlib", "-static", "-z", "max-page-size=0x1000", "--no-warn-rwx-segments"]

SOURCE_DIRS = ["arch/x86_64", "kernel", "drivers", "lib"]  # guest_kernel/user/ is built by user.py
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
    return tool_version(tool)  # remembered by the binary's metadata (build/cache.py)


def build_key(units: list[tuple[Path, tuple[str, ...]]], include_dirs: list[Path], labels: list[str]) -> str:
    settings = (CFLAGS, LDFLAGS, labels, _tool_version(_tool("gcc")), _tool_version(_tool("ld")),
                [(str(path), flags) for path, flags in units])
    headers = sorted(h for d in include_dirs for h in d.rglob("*.h"))
    return content_key(settings, [*(path for path, _ in units), *headers, LINKER_SCRIPT])


def _compile(gcc: str, source: Path, obj: Path, include_dirs: list[Path], extra_flags):
    cmd = [gcc, *CFLAGS, *extra_flags, *(f"-I{d}" for d in include_dirs), "-c", str(source), "-o", str(obj)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise KernelError(f"compiling {source} failed:\n{result.stderr.strip()}",
                          "fix the error above; the kernel is rebuilt on the next launch")


def _defines_object(obj: Path, symbol: str) -> bool:
    from elftools.elf.elffile import ELFFile  # only when building: not on a cached launch
    with open(obj, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        for sym in symtab.get_symbol_by_name(symbol) or [] if symtab else []:
            if (sym["st_info"]["bind"] == "STB_GLOBAL" and sym["st_info"]["type"] == "STT_OBJECT"
                    and sym["st_shndx"] != "SHN_UNDEF"):
                return True
    return False


def read_symbol(elf_path: Path, symbol: str, size: int) -> tuple[int, bytes]:
    """The address of `symbol` in a linked ELF and the first `size` bytes there."""
    from ..boot.elf64 import NotElf64, open_elf
    try:
        elf = open_elf(elf_path)
    except (OSError, NotElf64) as e:
        raise KernelError(f"cannot read symbols of {elf_path}: {e}") from None
    address = elf.symbols().get(symbol)
    if address is None:
        raise KernelError(f"{elf_path} has no symbol {symbol}")
    return address, elf.bytes_at(address, size) if size else b""  # b"" in .bss: zero until the kernel runs


def check_plugin_objects(plugin, objects: list[Path]):
    from ..plugins import SUBSYSTEMS
    subsystem = SUBSYSTEMS[plugin.subsystem]
    symbol = subsystem.symbol_for(plugin.name)
    if not any(_defines_object(o, symbol) for o in objects):
        symbol = subsystem.symbol if subsystem.renamed else symbol   # what its sources must define
        raise KernelError(
            f"{plugin.subsystem} plugin '{plugin.name}' (from {plugin.provider or 'its package'}) does not define "
            f"{symbol}", f"its sources must define `const struct ... {symbol}` as "
            f"guest_kernel/include/{SUBSYSTEMS[plugin.subsystem].header} describes")


def check_interface_versions(elf: Path, plugins):
    from ..plugins import SUBSYSTEMS
    for plugin in plugins:
        subsystem = SUBSYSTEMS[plugin.subsystem]
        symbol = subsystem.symbol_for(plugin.name)
        _, data = read_symbol(elf, symbol, 4)
        version = int.from_bytes(data, "little") if len(data) == 4 else None
        if version != subsystem.interface_version:
            raise KernelError(
                f"{plugin.subsystem} plugin '{plugin.name}': {symbol}.interface_version is {version}, "
                f"the kernel expects {subsystem.interface_version}",
                f"set .interface_version from the header's constant (see {subsystem.header})")


def plugin_table_source(plugins, subsystem_key: str = "filesystems") -> str:
    """C for the table of a `multiple` subsystem's plugins (fs_plugins[]), NULL-terminated."""
    from ..plugins import SUBSYSTEMS
    subsystem = SUBSYSTEMS[subsystem_key]
    symbols = [subsystem.symbol_for(p.name) for p in plugins if p.subsystem == subsystem_key]
    lines = [f"/* Generated by vmm/build/kernel.py: the {subsystem_key} plugins linked in. */",
             f"#include <{subsystem.header}>"]
    lines += [f"extern const struct fs_ops {s};" for s in symbols]
    lines.append("const struct fs_ops *const fs_plugins[] = {" + "".join(f"&{s}, " for s in symbols) + "0};")
    return "\n".join(lines) + "\n" + sched_table_source(plugins)


def sched_table_source(plugins) -> str:
    """C for sched_plugins[]: every scheduler linked in, the first the default (kernel/task.c).

    Each scheduler's sources are compiled with -Dsched_plugin=sched_plugin_<name>,
    so plugins keep defining `sched_plugin` and several can be linked side by side."""
    symbols = [f"sched_plugin_{p.name}" for p in plugins if p.subsystem == "scheduler"]
    lines = ["#include <pyos/sched.h>"]
    lines += [f"extern const struct sched_ops {s};" for s in symbols]
    lines.append("const struct sched_ops *const sched_plugins[] = {" + "".join(f"&{s}, " for s in symbols) + "0};")
    return "\n".join(lines) + "\n"


def default_plugins():
    from ..plugins.manager import select
    return select({})


def build_kernel(plugins=None, extra_sources: list[Path] = ()) -> Path:
    """Return the path of a kernel ELF built from the current sources (cached).

    plugins: the selected vmm.plugins.Plugin list (default: each subsystem's default).
    The user programs are built first and embedded (vmm/build/user.py).
    """
    from .user import build_programs
    from ..plugins import SUBSYSTEMS
    plugins = default_plugins() if plugins is None else list(plugins)
    units: list[tuple[Path, tuple[str, ...]]] = [(src, ()) for src in
                                                 [*core_sources(), build_programs(), *extra_sources]]
    owners: dict[int, object] = {}
    includes = [GUEST_INCLUDE]
    for plugin in plugins:
        flags = plugin.cflags
        subsystem = SUBSYSTEMS[plugin.subsystem]
        if subsystem.renamed:   # several schedulers side by side: sched_plugin -> sched_plugin_<name>
            flags = (*flags, f"-D{subsystem.symbol}={subsystem.symbol_for(plugin.name)}")
        for src in plugin.sources:
            owners[len(units)] = plugin
            units.append((src, flags))
        includes += [d for d in plugin.include_dirs if d not in includes]
    labels = [f"{p.subsystem}={p.name}" for p in plugins]
    table_text = plugin_table_source(plugins)
    gcc, ld = _tool("gcc"), _tool("ld")

    def build(staged: Path, scratch: Path, final: Path):
        objects = [scratch / f"{i:03d}_{src.stem}.o" for i, (src, _) in enumerate(units)]
        table = scratch / "fs_plugins.c"   # labels (in the key) determine its text
        table.write_text(table_text)
        objects.append(scratch / "fs_plugins.o")
        from concurrent.futures import ThreadPoolExecutor  # only for a build: a cached launch skips the import
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            for f in [pool.submit(_compile, gcc, src, obj, includes, flags)
                      for (src, flags), obj in zip([*units, (table, ())], objects)]:
                f.result()
        for plugin in plugins:
            check_plugin_objects(plugin, [objects[i] for i, p in owners.items() if p is plugin])
        linked = staged / "kernel.elf"
        result = subprocess.run([ld, *LDFLAGS, "-T", str(LINKER_SCRIPT), "-o", str(linked),
                                 *map(str, objects)], capture_output=True, text=True)
        if result.returncode != 0:
            raise KernelError(f"linking the kernel ({', '.join(labels)}) failed:\n{result.stderr.strip()}",
                              "a plugin may call a function the kernel does not provide "
                              "(see guest_kernel/include/pyos/mm_env.h for what it offers)")
        check_interface_versions(linked, plugins)

    return cached_build("kernels", build_key(units, includes, [*labels, table_text]), build) / "kernel.elf"
