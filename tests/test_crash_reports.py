"""Crash reports that read like a debugger's: function, file:line and a backtrace.

A kernel exception, a kernel panic, a user program's fault, a bug in a
scheduler plugin installed with pip, and the VMM's own register dump each
name the function and source line, resolved from the ELFs' symbols and DWARF.
Expected lines are looked up in the sources, not hard-coded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from vmm import errors
from vmm.symbols import SymbolTable, backtrace, embedded_programs, kernel_symbols

from .conftest import REPO, boot, vmm_command, write_config


def line_of(path, needle: str) -> int:
    lines = path.read_text().splitlines()
    hits = [i for i, line in enumerate(lines, 1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


CRASH_C = REPO / "guest_kernel" / "kernel" / "crash.c"
USERTESTS_C = REPO / "guest_kernel" / "user" / "programs" / "usertests.c"


def test_kernel_page_fault_names_function_line_and_callers():
    result = boot("--cmdline", "crash=page-fault")
    assert result.status == 3
    line = line_of(CRASH_C, "(void)*(volatile uint64_t *)UNMAPPED_ADDRESS;")
    report = result.console.split("pyos-vmm: kernel exception:", 1)[1]
    assert f"at crash_if_asked+0x" in report and f"guest_kernel/kernel/crash.c:{line} (kernel)" in report
    frames = re.findall(r"#(\d+)\s+0x[0-9a-f]+ in (.+?) at (\S+):(\d+)", report)
    assert frames[0][1].startswith("crash_if_asked") and frames[0][2:] == ("guest_kernel/kernel/crash.c", str(line))
    # The callers: kmain (inlined into kernel_start), then the entry code.
    assert any("kmain" in f[1] and f[2] == "guest_kernel/kernel/main.c" for f in frames[1:]), report
    assert frames[-1][1].startswith("kernel_entry64")
    # The guest's own report comes first, then the VMM's lines under it.
    assert result.console.index("CPU EXCEPTION: #PF") < result.console.index("pyos-vmm: kernel exception")


def test_kernel_panic_names_its_caller():
    result = boot("--cmdline", "crash=no-such-way")
    assert result.status == 1
    line = line_of(CRASH_C, 'panic("crash=%s: unknown way to crash')
    assert re.search(rf"pyos-vmm: kernel panic:\n  at crash_if_asked\+0x[0-9a-f]+ at guest_kernel/kernel/crash\.c:{line} ",
                     result.console), result.console


def test_user_program_fault_names_function_line_in_the_program():
    result = boot("--cmdline", "-- usertests crash null")
    assert result.status == 128 + 14
    line = line_of(USERTESTS_C, "return *(volatile int *)0;")
    report = result.console.split("pyos-vmm: user exception in pid 3 (usertests):", 1)[1]
    # crash() was inlined into main by -O2: both are named.
    assert re.search(rf"at crash \(inlined into main\+0x[0-9a-f]+\) at guest_kernel/user/programs/usertests\.c:{line} "
                     r"\(user program usertests\)", report), report
    assert re.search(r"#1\s+0x[0-9a-f]+ in _start\+0x[0-9a-f]+ at guest_kernel/user/lib/crt0\.S:\d+", report), report
    assert "killed by #PF" in result.console and "init: usertests exited with status 142" in result.console


def test_vmm_register_dump_is_symbolized():
    result = boot("--cmdline", "crash=triple-fault")
    assert result.status == errors.EXIT_TRIPLE_FAULT
    line = line_of(CRASH_C, '__asm__ volatile("lidt %0; ud2"')
    assert re.search(rf"  at crash_if_asked\+0x[0-9a-f]+ at guest_kernel/kernel/crash\.c:{line} \(kernel\)",
                     result.stderr), result.stderr
    assert "backtrace (frame pointers):" in result.stderr and "kernel_entry64" in result.stderr


# -- a plugin with a bug, installed with pip like any third-party plugin ----------------------
BUGGY_C = """
/* Round-robin, except that the fourth pick dereferences NULL: a plugin bug. */
#include <pyos/sched.h>

static struct runqueue queue;
static int picks;

static void bug_init(uint32_t hz) { (void)hz; }
static void bug_enqueue(struct task *t) { if (!t->sched.on_queue) runqueue_add(&queue, t); }
static void bug_dequeue(struct task *t) { if (t->sched.on_queue) runqueue_remove(&queue, t); }

static struct task *bug_pick_next(void)
{
    struct task *t = queue.head;
    if (++picks == 4)
        t = t->sched.prev->sched.next;  /* BUG: prev is NULL at the head */
    if (t)
        runqueue_remove(&queue, t);
    return t;
}

static int bug_tick(struct task *running) { (void)running; return queue.head != NULL; }
static void bug_yielded(struct task *t) { (void)t; }

const struct sched_ops sched_plugin = {
    .interface_version = SCHED_INTERFACE, .name = "nullbug",
    .init = bug_init, .enqueue = bug_enqueue, .dequeue = bug_dequeue,
    .pick_next = bug_pick_next, .tick = bug_tick, .yielded = bug_yielded,
};
"""

BUGGY_PY = '''
from pathlib import Path
from vmm.plugins import Plugin, hookimpl

@hookimpl
def pyos_plugins():
    return [Plugin(subsystem="scheduler", name="nullbug", version="0.1", interface_version=1,
                   sources=[Path(__file__).with_name("nullbug.c")], description="dereferences NULL (test)")]
'''

BUGGY_TOML = '''
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "pyos-nullbug-sched"
version = "0.1"

[project.entry-points."pyos.plugins"]
nullbug = "pyos_nullbug_sched"

[tool.setuptools]
packages = ["pyos_nullbug_sched"]

[tool.setuptools.package-data]
pyos_nullbug_sched = ["*.c"]
'''


@pytest.fixture(scope="module")
def buggy_plugin_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("nullbug")
    pkg = root / "pkg"
    (pkg / "pyos_nullbug_sched").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(BUGGY_TOML)
    (pkg / "pyos_nullbug_sched" / "__init__.py").write_text(BUGGY_PY)
    (pkg / "pyos_nullbug_sched" / "nullbug.c").write_text(textwrap.dedent(BUGGY_C))
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(pkg)], check=True, capture_output=True)
    return site


def test_plugin_null_dereference_names_the_plugin_function_and_line(buggy_plugin_site, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(buggy_plugin_site)}
    cfg = write_config(tmp_path, '[kernel]\nscheduler = "nullbug"\n[serial]\ninput = "none"\n')
    proc = subprocess.run(vmm_command("--config", cfg), capture_output=True, text=True, cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, timeout=120)
    console = proc.stdout.replace("\r\n", "\n")
    assert proc.returncode == 3, proc.stderr + console
    installed = buggy_plugin_site / "pyos_nullbug_sched" / "nullbug.c"
    line = line_of(installed, "BUG: prev is NULL")
    assert "CPU EXCEPTION: #PF page fault" in console
    report = console.split("pyos-vmm: kernel exception", 1)[1]
    assert re.search(rf"at bug_pick_next\+0x[0-9a-f]+ at \S*nullbug\.c:{line} \(kernel\)", report), report
    # ...and who called the plugin: the kernel's scheduler.
    frames = re.findall(r"#\d+\s+0x[0-9a-f]+ in (.+?) at (\S+):\d+", report)
    assert frames[0][0].startswith("bug_pick_next"), report
    assert frames[1][0].startswith("schedule") and frames[1][1] == "guest_kernel/kernel/task.c", report
    # Further up: the way in from the trap or system-call exit path (a switch
    # happens on a timer tick or on the way out of a system call).
    entry_path = ("trap+", "trap_dispatch+", "syscall_exit_work+", "preempt_if_needed+")
    assert any(f[0].startswith(entry_path) for f in frames[2:]), report


# -- the symbol tables themselves ---------------------------------------------------------------
def test_symbols_agree_with_addr2line(kernel_elf):
    table = kernel_symbols(kernel_elf)
    for name in ("pit_init", "syscall_dispatch", "trap", "printk"):
        start = table.address_of(name)
        for offset in (0, 8, 24):
            address = start + offset
            loc = table.locate(address)
            assert loc.function == name and loc.offset == offset
            out = subprocess.run(["addr2line", "-e", str(kernel_elf), hex(address)], capture_output=True,
                                 text=True).stdout.strip()
            file, _, line = out.rpartition(":")
            assert loc.file and file.endswith(loc.file) and str(loc.line) == line.split()[0], (loc, out)


def test_user_programs_are_read_back_from_the_kernel_image(kernel_elf):
    programs = embedded_programs(kernel_elf)
    assert {"init", "hello", "usertests"} <= set(programs)
    table = SymbolTable.from_bytes(programs["hello"], "hello")
    assert table.locate(table.address_of("main")).file == "guest_kernel/user/programs/hello.c"


def test_backtrace_follows_frame_pointers_and_stops_safely():
    """A synthetic stack: three frames, then a loop back (which must not loop forever)."""
    import struct
    code = {0x1000: ("outer", 0x100), 0x2000: ("inner", 0x100)}

    class Table:
        def contains(self, a):
            return any(lo <= a < lo + n for lo, (_, n) in code.items())

        def locate(self, a):
            from vmm.symbols import Location
            for lo, (name, n) in code.items():
                if lo <= a < lo + n:
                    return Location(a, name, a - lo, "x.c", a - lo)
            return Location(a, None, 0, None, None)
    memory = {0x8000: struct.pack("<QQ", 0x8100, 0x1010), 0x8100: struct.pack("<QQ", 0x8000, 0x1020)}
    frames = backtrace(0x2008, 0x8000, lambda a, n: memory.get(a), lambda a: Table())
    assert [f.function for f in frames] == ["inner", "outer", "outer"]
    assert frames[1].line == 0xF  # the call instruction, one byte before the return address


def test_page_walk_translates_4k_and_2m_pages_and_stops_at_holes():
    """vmm/inspector.py walks the guest's tables itself: 2 MiB and 4 KiB pages, holes, user bits."""
    import struct as st

    from vmm.inspector import hexdump, read_virtual, translate, write_virtual
    from vmm.memory import GuestMemory
    mem = GuestMemory(4 << 20)
    try:
        pml4, pdpt, pd, pt = 0x1000, 0x2000, 0x3000, 0x4000
        mem.write(pml4, st.pack("<Q", pdpt | 0x7))
        mem.write(pdpt, st.pack("<Q", pd | 0x7))
        mem.write(pd, st.pack("<QQ", pt | 0x7, 0x200000 | 0x83))  # 0-2 MiB by a PT; 2-4 MiB one 2 MiB page
        mem.write(pt + 8 * 0x10, st.pack("<QQ", 0x10000 | 0x5, 0x20000 | 0x3))  # 0x10000 user r/o, 0x11000 rw
        assert translate(mem, pml4, 0x10123) == (0x10123, False, True)
        assert translate(mem, pml4, 0x11008) == (0x20008, True, False)
        assert translate(mem, pml4, 0x12000) is None  # not present
        assert translate(mem, pml4, 0x234567) == (0x234567, True, False)  # inside the 2 MiB page
        assert translate(mem, pml4, 1 << 47) is None  # not canonical
        mem.write(0x10FFC, b"abcd")
        mem.write(0x20000, b"efgh")
        assert read_virtual(mem, pml4, 0x10FFC, 8) == b"abcdefgh"  # across two pages, two frames
        assert read_virtual(mem, pml4, 0x11FFC, 8) == mem.read(0x20FFC, 4)  # short at the hole
        assert write_virtual(mem, pml4, 0x11000, b"XY") == 2 and mem.read(0x20000, 2) == b"XY"
        assert hexdump(b"AB\x00", 0x10).startswith("0000000000000010: 41 42 00")
    finally:
        mem.close()


def test_control_socket_commands_read_registers_and_memory(kernel_elf):
    """The control socket's info-registers and read-memory read what the gdb stub reads."""
    from vmm import config as config_mod
    from vmm.control import execute
    from vmm.machine import Machine
    cfg = config_mod.load(str(REPO / "configs" / "default.toml"))
    machine = Machine(cfg, kernel_elf, output=lambda data: None)
    try:
        entry = kernel_symbols(kernel_elf).address_of("_start64")
        regs = execute(machine, {"execute": "info-registers"})["return"]["text"]
        assert f"RIP {entry:016x}" in regs and "at _start64+0x0 at guest_kernel/arch/x86_64/entry.S:" in regs
        mem = execute(machine, {"execute": "read-memory", "arguments": {"address": entry, "length": 4}})["return"]
        assert mem["hex"].startswith("fa") and mem["length"] == 4  # cli
        hole = execute(machine, {"execute": "read-memory", "arguments": {"address": 0x7000DEADB000}})["return"]
        assert hole["length"] == 0 and "unmapped from" in hole["note"]
        bad = execute(machine, {"execute": "read-memory", "arguments": {"address": 0, "length": 0}})
        assert "out of range" in bad["error"]["desc"]
    finally:
        machine.close()
