"""A minimal ELF64 reader for the start-up path: headers, loadable segments, symbols.

Creating a Machine needs three things from the kernel ELF: its PT_LOAD
segments and entry point (boot/elf.py), and the address of one or two
symbols (pyos_counters, for guest_counters.py). pyelftools parses every
symbol through its construct library (~50 ms for this kernel, ~45 ms more to
import it); this reads the fixed-size ELF64 little-endian records with
struct and builds a name → value map of .symtab in one pass. The parsed
file is kept per (path, size, mtime), so creating many Machines for the same
kernel reads it once. pyelftools stays for DWARF (symbols.py) and the
build's plugin checks.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
SHDR = struct.Struct("<IIQQQQIIQQ")
SYM = struct.Struct("<IBBHQQ")
PT_LOAD, SHT_SYMTAB, SHT_PROGBITS, SHT_NOBITS = 1, 2, 1, 8
EM_X86_64 = 62


class NotElf64(Exception):
    """Not a 64-bit little-endian x86_64 ELF file (the message says what it is)."""


@dataclass(frozen=True)
class Segment:
    paddr: int
    memsz: int
    filesz: int
    offset: int


@dataclass(frozen=True)
class Section:
    name_offset: int
    type: int
    addr: int
    offset: int
    size: int


class Elf64:
    def __init__(self, data: bytes):
        if len(data) < EHDR.size or data[:4] != b"\x7fELF":
            raise NotElf64("Magic number does not match")
        ident = data[:16]
        if ident[4] != 2 or ident[5] != 1:
            bits = {1: 32, 2: 64}.get(ident[4], "?")
            raise NotElf64(f"a {bits}-bit {'little' if ident[5] == 1 else 'big'}-endian ELF")
        (_, _, self.machine, _, self.entry, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
         _) = EHDR.unpack_from(data)
        self.data = data
        self.segments = [Segment(p[4], p[6], p[5], p[2]) for p in
                         (PHDR.unpack_from(data, phoff + i * phentsize) for i in range(phnum))
                         if p[0] == PT_LOAD]
        self.sections = [Section(s[0], s[1], s[3], s[4], s[5]) for s in
                         (SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum))]
        self._links = [SHDR.unpack_from(data, shoff + i * shentsize)[6] for i in range(shnum)]
        self._symbols = None

    def segment_data(self, seg: Segment) -> bytes:
        return self.data[seg.offset:seg.offset + seg.filesz]

    def symbols(self) -> dict[str, int]:
        """name → value of every named symbol in .symtab (the first of a name wins)."""
        if self._symbols is None:
            table: dict[str, int] = {}
            data = self.data
            for index, sec in enumerate(self.sections):
                if sec.type != SHT_SYMTAB:
                    continue
                strtab = self.sections[self._links[index]]
                strings = data[strtab.offset:strtab.offset + strtab.size]
                for name, _, _, _, value, _ in SYM.iter_unpack(data[sec.offset:sec.offset + sec.size]):
                    if name:
                        end = strings.index(b"\0", name)
                        table.setdefault(strings[name:end].decode(errors="replace"), value)
            self._symbols = table
        return self._symbols

    def bytes_at(self, address: int, size: int) -> bytes:
        """`size` bytes of the section (PROGBITS) holding virtual `address`; b"" in .bss or none."""
        for sec in self.sections:
            if sec.type == SHT_PROGBITS and sec.addr <= address < sec.addr + sec.size:
                start = sec.offset + address - sec.addr
                return self.data[start:start + size]
        return b""


_cache: dict[str, tuple[tuple[int, int], Elf64]] = {}


def open_elf(path) -> Elf64:
    """The parsed ELF at `path`, reused while its size and mtime are unchanged.
    OSError if it cannot be read, NotElf64 if it is not a 64-bit ELF."""
    key = os.fspath(path)
    st = os.stat(key)
    stamp = (st.st_size, st.st_mtime_ns)
    hit = _cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    with open(key, "rb") as f:
        elf = Elf64(f.read())
    if len(_cache) > 16:
        _cache.clear()
    _cache[key] = (stamp, elf)
    return elf
