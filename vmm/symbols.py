"""Addresses → function, file:line, and frame-pointer backtraces (pyelftools).

A SymbolTable is built from one ELF: its function symbols (.symtab) and its
DWARF line table (.debug_line), plus the inlined-call records in .debug_info
so that code gcc inlined at -O2 is still named after the function it came
from ("crash, inlined into main"). The kernel ELF carries the core and every
plugin linked into it; the user programs are separate ELFs, embedded in the
kernel image by vmm/build/user.py, and read back from there
(embedded_programs), so a report always uses exactly the binaries the guest
runs, even with a prebuilt --kernel.

Backtraces follow the frame-pointer chain: the kernel, its plugins and the
user programs are built with -fno-omit-frame-pointer, so in every frame
[rbp] is the caller's rbp and [rbp+8] the return address. The walk reads
guest memory through a callable (vaddr, length) → bytes | None, so it works
on any address space (vmm/inspect.py walks the page tables of a given CR3).
gcc keeps no frame in small leaf functions even so; for the faulting frame
the walk then takes the caller from the stack top, if what is there really
is a return address (it follows a call instruction). Limits, said plainly:
assembly code without a frame (isr.S, entry.S) shows only where it called.

Tables are built lazily and cached per (path, mtime): building the kernel's
takes a fraction of a second, and most runs never need it.
"""

from __future__ import annotations

import bisect
import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path

# pyelftools is imported when a table is first built (a crash report, gdb),
# not when a Machine is created: most runs never need it.

from .paths import GUEST_KERNEL_DIR, SOURCE_TREE

MAX_FRAMES = 32
KERNEL_HALF = 0xFFFF_8000_0000_0000


@dataclass(frozen=True)
class Location:
    address: int
    function: str | None      # the symbol the address is in
    offset: int               # address - function start
    file: str | None
    line: int | None
    inlined: str | None = None  # the function gcc inlined there, if any

    @property
    def where(self) -> str:
        """`func+0x12`, or `inner (inlined into func+0x12)`."""
        if not self.function:
            return "??"
        text = f"{self.function}+{self.offset:#x}"
        return f"{self.inlined} (inlined into {text})" if self.inlined else text

    def describe(self) -> str:
        """`func+0x12 at guest_kernel/kernel/crash.c:42` (what is known of it)."""
        return self.where + (f" at {self.file}:{self.line}" if self.file else "")


def _display_path(name: str) -> str:
    """A source path as a person wants to read it: relative to the source tree
    (guest_kernel/kernel/crash.c), or to the installed kernel sources' parent."""
    for root in (SOURCE_TREE, GUEST_KERNEL_DIR.parent):
        try:
            return str(Path(name).resolve().relative_to(root))
        except (ValueError, OSError):
            continue
    return name


class SymbolTable:
    """Functions and source lines of one ELF."""

    def __init__(self, elf, label: str):
        self.label = label
        self._funcs: list[tuple[int, int, str]] = []  # (start, end, name), sorted
        self._lines: list[tuple[int, str | None, int]] = []  # (address, file, line); file None ends a sequence
        self._inlined: list[tuple[int, int, str, int]] = []  # (low, high, name, depth)
        self.struct_members: dict[str, dict[str, int]] = {}  # struct name → member → offset
        self.symbols_all: dict[str, int] = {}  # every named symbol (data too) → address
        self._load_symbols(elf)
        if elf.has_dwarf_info():
            dwarf = elf.get_dwarf_info()
            self._load_lines(dwarf)
            self._load_inlined(dwarf)
        self._func_starts = [f[0] for f in self._funcs]
        self._line_addrs = [r[0] for r in self._lines]
        self.symbols = {name: start for start, _, name in self._funcs}

    @classmethod
    def from_path(cls, path: Path) -> "SymbolTable":
        from elftools.elf.elffile import ELFFile
        with open(path, "rb") as f:
            return cls(ELFFile(f), str(path))

    @classmethod
    def from_bytes(cls, data: bytes, label: str) -> "SymbolTable":
        from elftools.elf.elffile import ELFFile
        return cls(ELFFile(io.BytesIO(data)), label)

    # -- building ----------------------------------------------------------------
    def _load_symbols(self, elf):
        symtab = elf.get_section_by_name(".symtab")
        if symtab is None:
            return
        text = [(s["sh_addr"], s["sh_addr"] + s["sh_size"]) for s in elf.iter_sections()
                if s["sh_flags"] & 0x4 and s["sh_size"]]  # SHF_EXECINSTR
        found = {}
        for sym in symtab.iter_symbols():
            kind = sym["st_info"]["type"]
            value = sym["st_value"]
            if sym["st_shndx"] == "SHN_UNDEF" or not sym.name or sym.name.startswith(".L"):
                continue
            if kind in ("STT_OBJECT", "STT_FUNC", "STT_NOTYPE"):
                self.symbols_all.setdefault(sym.name, value)
            if kind == "STT_FUNC" or (kind == "STT_NOTYPE" and any(lo <= value < hi for lo, hi in text)):
                # Prefer a sized function symbol over an assembly label at the same address.
                if value not in found or (sym["st_size"] and not found[value][1]):
                    found[value] = (sym.name, sym["st_size"])
        starts = sorted(found)
        for i, start in enumerate(starts):
            name, size = found[start]
            if size:
                end = start + size
            else:  # an assembly label: up to the next symbol, within its section
                end = starts[i + 1] if i + 1 < len(starts) else start + 1
                for lo, hi in text:
                    if lo <= start < hi:
                        end = min(end, hi)
            self._funcs.append((start, end, name))

    def _load_lines(self, dwarf):
        rows = []
        for cu in dwarf.iter_CUs():
            program = dwarf.line_program_for_CU(cu)
            if program is None:
                continue
            header = program.header
            files = header["file_entry"]
            dirs = header["include_directory"]
            version = header["version"]

            def file_name(index, files=files, dirs=dirs, version=version):
                i = index if version >= 5 else index - 1  # DWARF 5 numbers files from 0
                if not 0 <= i < len(files):
                    return None
                entry = files[i]
                name = entry.name.decode(errors="replace")
                if not os.path.isabs(name) and entry.dir_index < len(dirs):
                    name = os.path.join(dirs[entry.dir_index].decode(errors="replace"), name)
                return _display_path(name)

            names = {}
            for entry in program.get_entries():
                state = entry.state
                if state is None:
                    continue
                if state.end_sequence:
                    rows.append((state.address, None, 0))
                    continue
                if state.file not in names:
                    names[state.file] = file_name(state.file)
                rows.append((state.address, names[state.file], state.line))
        # Stable sort: at one address the last row of a sequence end and the
        # first of the next both appear; the non-terminating one must win.
        rows.sort(key=lambda r: (r[0], r[1] is not None))
        self._lines = rows

    def _load_inlined(self, dwarf):
        """Inlined calls: address ranges and the inlined function's name."""
        out = []
        for cu in dwarf.iter_CUs():
            try:
                top = cu.get_top_DIE()
            except Exception:  # a CU pyelftools cannot parse: lines still work
                continue
            stack = [(top, 0)]
            while stack:
                die, depth = stack.pop()
                for child in die.iter_children():
                    if child.tag == "DW_TAG_inlined_subroutine":
                        name = _origin_name(child)
                        for low, high in _die_ranges(dwarf, cu, child):
                            out.append((low, high, name, depth))
                        stack.append((child, depth + 1))
                    elif child.tag in ("DW_TAG_subprogram", "DW_TAG_lexical_block"):
                        stack.append((child, depth))
                    elif child.tag == "DW_TAG_structure_type" and "DW_AT_name" in child.attributes:
                        self._note_struct(child)
        self._inlined = sorted(out)

    def _note_struct(self, die):
        name = die.attributes["DW_AT_name"].value.decode(errors="replace")
        members = {}
        for m in die.iter_children():
            loc = m.attributes.get("DW_AT_data_member_location")
            if m.tag == "DW_TAG_member" and "DW_AT_name" in m.attributes and loc and isinstance(loc.value, int):
                members[m.attributes["DW_AT_name"].value.decode(errors="replace")] = loc.value
        if members:
            self.struct_members.setdefault(name, members)

    # -- lookups -----------------------------------------------------------------
    def function(self, address: int) -> tuple[str, int] | None:
        i = bisect.bisect_right(self._func_starts, address) - 1
        if i < 0:
            return None
        start, end, name = self._funcs[i]
        return (name, address - start) if address < end else None

    def line(self, address: int) -> tuple[str, int] | None:
        i = bisect.bisect_right(self._line_addrs, address) - 1
        if i < 0:
            return None
        _, file, line = self._lines[i]
        return (file, line) if file is not None else None

    def inlined(self, address: int) -> str | None:
        """The innermost inlined function containing address, if any."""
        best = None
        for low, high, name, depth in self._inlined:
            if low > address:
                break
            if address < high and (best is None or depth >= best[1]):
                best = (name, depth)
        return best[0] if best else None

    def contains(self, address: int) -> bool:
        return self.function(address) is not None

    def locate(self, address: int) -> Location:
        func = self.function(address)
        line = self.line(address)
        name, offset = func if func else (None, 0)
        inl = self.inlined(address) if name else None
        return Location(address, name, offset, line[0] if line else None, line[1] if line else None,
                        inl if inl != name else None)

    def address_of(self, name: str) -> int | None:
        return self.symbols.get(name)


def _origin_name(die) -> str:
    seen = 0
    while die is not None and seen < 8:
        if "DW_AT_name" in die.attributes:
            return die.attributes["DW_AT_name"].value.decode(errors="replace")
        ref = die.attributes.get("DW_AT_abstract_origin") or die.attributes.get("DW_AT_specification")
        if ref is None:
            break
        die = die.get_DIE_from_attribute(ref.name)
        seen += 1
    return "?"


def _die_ranges(dwarf, cu, die):
    attrs = die.attributes
    if "DW_AT_low_pc" in attrs and "DW_AT_high_pc" in attrs:
        low = attrs["DW_AT_low_pc"].value
        high = attrs["DW_AT_high_pc"]
        end = high.value if high.form == "DW_FORM_addr" else low + high.value
        return [(low, end)]
    if "DW_AT_ranges" in attrs:
        try:
            ranges = dwarf.range_lists()
            if ranges is None:
                return []
            base = cu.get_top_DIE().attributes.get("DW_AT_low_pc")
            base = base.value if base else 0
            out = []
            for entry in ranges.get_range_list_at_offset(attrs["DW_AT_ranges"].value, cu=cu):
                if hasattr(entry, "base_address"):  # DW_RLE_base_address(x): the base for what follows
                    base = entry.base_address
                elif hasattr(entry, "begin_offset"):
                    if getattr(entry, "is_absolute", False):
                        out.append((entry.begin_offset, entry.end_offset))
                    else:
                        out.append((base + entry.begin_offset, base + entry.end_offset))
            return out
        except Exception:  # DWARF 5 range forms pyelftools may not know: skip that inline record
            return []
    return []


# -- the kernel and its embedded user programs ---------------------------------------
_cache: dict[tuple, object] = {}


def kernel_symbols(kernel_elf: Path) -> SymbolTable | None:
    """The (cached) symbol table of a kernel ELF, or None if it cannot be read."""
    try:
        key = ("kernel", str(kernel_elf), os.stat(kernel_elf).st_mtime_ns)
    except OSError:
        return None
    if key not in _cache:
        from elftools.common.exceptions import ELFError
        try:
            _cache[key] = SymbolTable.from_path(Path(kernel_elf))
        except (OSError, ELFError):
            return None
    return _cache[key]


def embedded_programs(kernel_elf: Path) -> dict[str, bytes]:
    """The user programs' ELFs embedded in the kernel image: name → ELF bytes.

    vmm/build/user.py emits a table `user_programs` of {name, start, end}
    quads in .rodata, followed by the names and the ELFs themselves.
    """
    key = ("programs", str(kernel_elf), os.stat(kernel_elf).st_mtime_ns)
    if key in _cache:
        return _cache[key]
    programs = {}
    from elftools.elf.elffile import ELFFile
    with open(kernel_elf, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        found = symtab.get_symbol_by_name("user_programs") if symtab else None
        if found:
            table = found[0]["st_value"]
            for section in elf.iter_sections():
                start, size = section["sh_addr"], section["sh_size"]
                if section["sh_type"] != "SHT_PROGBITS" or not start <= table < start + size:
                    continue
                data = section.data()

                def at(addr, length, start=start, data=data):
                    off = addr - start
                    return data[off:off + length] if 0 <= off and off + length <= len(data) else b""

                entry = table
                while True:
                    raw = at(entry, 24)
                    if len(raw) < 24:
                        break
                    name_ptr, lo, hi = struct.unpack("<QQQ", raw)
                    if not name_ptr:
                        break
                    name = at(name_ptr, 64).split(b"\0", 1)[0].decode(errors="replace")
                    programs[name] = at(lo, hi - lo)
                    entry += 24
                break
    _cache[key] = programs
    return programs


def program_symbols(kernel_elf: Path, name: str) -> SymbolTable | None:
    key = ("program", str(kernel_elf), name)
    if key not in _cache:
        from elftools.common.exceptions import ELFError
        try:
            data = embedded_programs(kernel_elf).get(name)
            _cache[key] = SymbolTable.from_bytes(data, name) if data else None
        except (OSError, ELFError):
            _cache[key] = None
    return _cache[key]


# -- backtraces ---------------------------------------------------------------------
SET_FRAME = b"\x48\x89\xe5"  # mov %rsp, %rbp (gcc may schedule it a few instructions after push %rbp)


def _follows_call(ret: int, read) -> bool:
    """Do the bytes before `ret` end with a call instruction (direct or indirect)?"""
    code = read(ret - 7, 7)
    if not code or len(code) < 7:
        return False
    return (code[2] == 0xE8                                      # call rel32
            or code[5] == 0xFF and 0xD0 <= code[6] <= 0xD7       # call *%reg
            or code[4] == 0xFF and 0x50 <= code[5] <= 0x57       # call *disp8(%reg)
            or code[1] == 0xFF and code[2] in (0x15, 0x90, 0x91, 0x92, 0x93, 0x95, 0x96, 0x97))  # disp32 forms


def _frameless_return(rip: int, rsp: int, table, read) -> int | None:
    """If the function at RIP has not set up its frame yet (a leaf gcc built
    without one, or a fault in the prologue), its return address is at the
    stack top: return it when it really looks like one."""
    if not rsp:
        return None
    func = table.function(rip)
    if func is None:
        return None
    start, offset = rip - func[1], func[1]
    code = read(start, min(offset, 256)) or b""
    if SET_FRAME in code:
        return None  # the frame was set up before RIP
    slot = rsp + 8 if code[:1] == b"\x55" else rsp  # after push %rbp, the return address is above it
    raw = read(slot, 8)
    if not raw or len(raw) < 8:
        return None
    ret = struct.unpack("<Q", raw)[0]
    return ret if table.contains(ret) and _follows_call(ret, read) else None


def backtrace(rip: int, rbp: int, read, table_for, max_frames: int = MAX_FRAMES, rsp: int = 0) -> list[Location]:
    """Frames from the faulting RIP outwards, following saved frame pointers.

    read(vaddr, length) → bytes or None (unmapped); table_for(address) → the
    SymbolTable that covers it or None. For return addresses the line is that
    of the call instruction (address - 1), as gdb shows it. With `rsp`, a
    faulting function that keeps no frame (gcc builds small leaves so, even
    with -fno-omit-frame-pointer) still shows its caller, found at the stack top.
    """
    frames = []
    table = table_for(rip)
    frames.append(table.locate(rip) if table else Location(rip, None, 0, None, None))

    def caller(ret):
        t = table_for(ret)
        loc = t.locate(ret - 1)
        return Location(ret, loc.function, loc.offset + 1, loc.file, loc.line, loc.inlined)

    if table is not None:
        ret = _frameless_return(rip, rsp, table, read)
        if ret is not None:
            frames.append(caller(ret))
    seen = set()
    while len(frames) < max_frames and rbp and rbp % 8 == 0 and rbp not in seen:
        seen.add(rbp)
        raw = read(rbp, 16)
        if raw is None or len(raw) < 16:
            break
        next_rbp, ret = struct.unpack("<QQ", raw)
        table = table_for(ret)
        if not ret or table is None or not table.contains(ret):
            break  # not a return into code we know: the chain ends (or was never set up)
        frames.append(caller(ret))
        if next_rbp <= rbp:  # stacks grow down: a caller's frame is above
            break
        # Never walk from user frames into kernel addresses, or back.
        if (next_rbp >= KERNEL_HALF) != (rbp >= KERNEL_HALF):
            break
        rbp = next_rbp
    return frames


def format_backtrace(frames: list[Location], indent: str = "  ") -> list[str]:
    lines = []
    for i, loc in enumerate(frames):
        text = f"{indent}#{i:<2} {loc.address:#018x} in {loc.where}"
        if loc.file:
            text += f" at {loc.file}:{loc.line}"
        lines.append(text)
    return lines


class Symbolizer:
    """Symbols for everything a guest address can be in: the kernel (with its
    plugins) and the user program a given task runs."""

    def __init__(self, kernel_elf: Path):
        self.kernel_elf = Path(kernel_elf)

    @property
    def kernel(self) -> SymbolTable | None:
        return kernel_symbols(self.kernel_elf)

    def program(self, name: str | None) -> SymbolTable | None:
        if not name:
            return None
        try:
            return program_symbols(self.kernel_elf, name)
        except OSError:
            return None

    def table_for(self, program: str | None):
        kernel, user = self.kernel, self.program(program)

        def pick(address: int):
            return kernel if address >= KERNEL_HALF else user
        return pick

    def current_task_name(self, read) -> str | None:
        """The name of the task the kernel's `current` points at, read through read(vaddr, n)."""
        kernel = self.kernel
        if kernel is None:
            return None
        where = kernel.symbols_all.get("current")
        offset = kernel.struct_members.get("task", {}).get("name")
        if where is None or offset is None:
            return None
        raw = read(where, 8)
        if not raw or len(raw) < 8:
            return None
        task = struct.unpack("<Q", raw)[0]
        name = read(task + offset, 32) if task else None
        return name.split(b"\0", 1)[0].decode(errors="replace") if name else None

    def report(self, rip: int, rbp: int, read, program: str | None = None, indent: str = "  ",
               rsp: int = 0) -> list[str]:
        """`at func+off at file:line` and the backtrace, as report lines."""
        pick = self.table_for(program)
        if pick(rip) is None:
            what = f"user program {program!r}" if program else "this address"
            return [f"{indent}no symbols for {what} (RIP {rip:#x})"]
        frames = backtrace(rip, rbp, read, pick, rsp=rsp)
        where = "kernel" if rip >= KERNEL_HALF else f"user program {program}"
        lines = [f"{indent}at {frames[0].describe()} ({where})", f"{indent}backtrace (frame pointers):"]
        return lines + format_backtrace(frames, indent + "  ")
