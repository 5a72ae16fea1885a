"""Load the guest kernel ELF at its physical load addresses (boot/elf64.py reads it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import KernelError
from .elf64 import EM_X86_64, NotElf64, open_elf


@dataclass
class LoadedKernel:
    path: Path
    entry: int        # virtual entry point (e_entry)
    phys_start: int   # lowest physical byte loaded
    phys_end: int     # one past the highest (bss included)


def load_kernel(path: Path, memory) -> LoadedKernel:
    try:
        elf = open_elf(path)
    except OSError as e:
        raise KernelError(f"cannot read kernel {path}: {e.strerror}",
                          "check [kernel] path, or leave it empty to build guest_kernel/") from None
    except NotElf64 as e:
        if str(e).startswith("Magic"):
            raise KernelError(f"{path} is not an ELF file ({e})", "point [kernel] path at a kernel ELF") from None
        raise KernelError(f"{path} is {e}, not x86_64", "build the kernel for x86_64 (64-bit)") from None
    if elf.machine != EM_X86_64:
        raise KernelError(f"{path} is a 64-bit ELF for machine {elf.machine}, not x86_64",
                          "build the kernel for x86_64 (64-bit)")
    segments = [s for s in elf.segments if s.memsz]
    if not segments:
        raise KernelError(f"{path} has no loadable segments")
    for seg in segments:
        paddr, memsz, filesz = seg.paddr, seg.memsz, seg.filesz
        if not memory.contains(paddr, memsz):
            raise KernelError(
                f"{path}: segment at physical {paddr:#x}-{paddr + memsz:#x} does not fit in "
                f"{memory.size // (1 << 20)} MiB of guest RAM",
                "raise [machine] memory_mib or link the kernel lower")
        memory.write(paddr, elf.segment_data(seg))
        if memsz > filesz:
            memory.write(paddr + filesz, bytes(memsz - filesz))
    return LoadedKernel(
        path=Path(path),
        entry=elf.entry,
        phys_start=min(s.paddr for s in segments),
        phys_end=max(s.paddr + s.memsz for s in segments),
    )
