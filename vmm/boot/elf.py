"""Load the guest kernel ELF (pyelftools) at its physical load addresses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..errors import KernelError


@dataclass
class LoadedKernel:
    path: Path
    entry: int        # virtual entry point (e_entry)
    phys_start: int   # lowest physical byte loaded
    phys_end: int     # one past the highest (bss included)


def load_kernel(path: Path, memory) -> LoadedKernel:
    try:
        stream = open(path, "rb")
    except OSError as e:
        raise KernelError(f"cannot read kernel {path}: {e.strerror}",
                          "check [kernel] path, or leave it empty to build guest_kernel/") from None
    with stream:
        try:
            elf = ELFFile(stream)
        except ELFError as e:
            raise KernelError(f"{path} is not an ELF file ({e})", "point [kernel] path at a kernel ELF") from None
        if elf.elfclass != 64 or elf["e_machine"] != "EM_X86_64":
            raise KernelError(f"{path} is a {elf.elfclass}-bit {elf['e_machine']} ELF, not x86_64",
                              "build the kernel for x86_64 (64-bit)")
        segments = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD" and s["p_memsz"]]
        if not segments:
            raise KernelError(f"{path} has no loadable segments")
        for seg in segments:
            paddr, memsz, filesz = seg["p_paddr"], seg["p_memsz"], seg["p_filesz"]
            if not memory.contains(paddr, memsz):
                raise KernelError(
                    f"{path}: segment at physical {paddr:#x}-{paddr + memsz:#x} does not fit in "
                    f"{memory.size // (1 << 20)} MiB of guest RAM",
                    "raise [machine] memory_mib or link the kernel lower")
            memory.write(paddr, seg.data()[:filesz])
            memory.write(paddr + filesz, bytes(memsz - filesz))
        return LoadedKernel(
            path=Path(path),
            entry=elf["e_entry"],
            phys_start=min(s["p_paddr"] for s in segments),
            phys_end=max(s["p_paddr"] + s["p_memsz"] for s in segments),
        )
