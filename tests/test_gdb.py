"""The gdb stub: a real gdb session against the kernel ELF, and the protocol by hand.

Every test boots a VM with `--gdb 0` (any free port, read back from the
stub's "listening on" line) and waits on what the VM or gdb printed, never
on the clock.
"""

from __future__ import annotations

import queue
import re
import shutil
import socket
import subprocess
import threading
import xml.etree.ElementTree as ET

import pytest

from vmm import errors
from vmm.gdbstub import REGISTERS, Breakpoints, PacketReader, frame, target_xml, unescape

from .conftest import DEFAULT_CONFIG, REPO, vmm_command

GDB = shutil.which("gdb")
TIMEOUT = 120


class Vm:
    """pyos-vmm with a gdb stub, running in the background."""

    def __init__(self, *args, config=DEFAULT_CONFIG):
        self.proc = subprocess.Popen(vmm_command("--config", config, "--gdb", "0", *args),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=REPO)
        self.stderr_lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self.stdout: list[str] = []
        self._stdout_changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()
        self._stdout_thread = threading.Thread(target=self._pump_stdout, daemon=True)
        self._stdout_thread.start()
        self.port = None
        for line in self._lines():
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                break
        assert self.port, "".join(self.stderr)

    def _pump(self):
        for line in self.proc.stderr:
            self.stderr_lines.put(line)
        self.stderr_lines.put(None)

    def _pump_stdout(self):
        for line in self.proc.stdout:
            with self._stdout_changed:
                self.stdout.append(line)
                self._stdout_changed.notify_all()
        with self._stdout_changed:
            self.stdout.append("")  # EOF
            self._stdout_changed.notify_all()

    def wait_console(self, text: str):
        with self._stdout_changed:
            ok = self._stdout_changed.wait_for(lambda: any(text in line for line in self.stdout)
                                               or (self.stdout and self.stdout[-1] == ""), TIMEOUT)
            assert ok and any(text in line for line in self.stdout), "".join(self.stdout)

    def _lines(self):
        while True:
            line = self.stderr_lines.get(timeout=TIMEOUT)
            if line is None:
                return
            self.stderr.append(line)
            yield line

    def wait_stderr(self, text: str) -> str:
        if any(text in line for line in self.stderr):
            return text
        for line in self._lines():
            if text in line:
                return line
        raise AssertionError(f"{text!r} never appeared on stderr:\n{''.join(self.stderr)}")

    def finish(self) -> tuple[int, str, str]:
        self.proc.wait(timeout=TIMEOUT)
        self._stdout_thread.join(TIMEOUT)
        for _ in self._lines():
            pass
        return self.proc.returncode, "".join(self.stdout).replace("\r\n", "\n"), "".join(self.stderr)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def vm_factory():
    vms = []

    def make(*args, **kw):
        vm = Vm(*args, **kw)
        vms.append(vm)
        return vm
    yield make
    for vm in vms:
        vm.kill()


def run_gdb(kernel_elf, port: int, commands: list[str]) -> str:
    script = ["set pagination off", "set confirm off", f"target remote :{port}", *commands]
    args = [GDB, "-batch", "-nx", "-q", str(kernel_elf)]
    for c in script:
        args += ["-ex", c]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    return proc.stdout + proc.stderr


# -- a real gdb ---------------------------------------------------------------------------
def _line_of(path, needle: str) -> int:
    for i, line in enumerate((REPO / path).read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


@pytest.mark.skipif(GDB is None, reason="gdb is not installed (apt-get install gdb)")
def test_real_gdb_break_bt_print_step_detach(kernel_elf, vm_factory):
    vm = vm_factory("--gdb-wait")
    out = run_gdb(kernel_elf, vm.port, [
        "info registers rip",
        "break pit_init",
        "continue",
        "bt",
        "print hz",
        "print timer_hz",
        "stepi",
        "info registers rip",
        "step",
        "info registers cr3 cr0",
        "monitor caps",
        "detach",
    ])
    # Stopped before the first instruction: at the entry point.
    assert "_start64" in out, out
    assert re.search(r"Breakpoint 1, pit_init \(hz=100\) at .*guest_kernel/drivers/pit\.c:\d+", out), out
    # bt: the frame-pointer chain through the (inlined) callers, ending at the entry.
    assert re.search(r"#1 .* in timer_init \(\) at .*main\.c:\d+", out), out
    assert re.search(r"kmain \(\) at .*main\.c:\d+", out), out
    assert "kernel_entry64" in out
    assert "$1 = 100" in out and "$2 = 0" in out  # hz, and timer_hz not yet set
    assert re.search(r"rip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <pit_init\+\d+>", out), out  # stepi moved inside
    assert re.search(r"cr3\s+0x[0-9a-f]+", out) and re.search(r"cr0\s+0x8", out), out
    assert "software breakpoints:" in out  # monitor caps
    assert "Remote target) detached" in out
    status, console, err = vm.finish()
    assert status == 0, err
    assert "hello from pid 3: hello world" in console  # detached: the guest ran on to the end
    assert "gdb detached; the guest runs on" in err


@pytest.mark.skipif(GDB is None, reason="gdb is not installed (apt-get install gdb)")
def test_real_gdb_breakpoint_in_system_calls_then_guest_exits(kernel_elf, vm_factory):
    # sys_write, not syscall_dispatch: most calls take the frameless fast path
    # (kernel/syscall_fast.c) and never pass through the dispatcher.
    vm = vm_factory("--gdb-wait")
    out = run_gdb(kernel_elf, vm.port, [
        "break sys_write",
        "continue",
        "print current->name",
        "print len",
        "continue",
        "print current->name",
        "delete",
        "continue",
    ])
    assert out.count("Breakpoint 1, sys_write") == 2, out
    assert '$1 = "init", ' in out, out
    assert re.search(r"\$2 = [1-9]\d*", out), out  # init's first line has a length
    assert re.search(r'\$3 = "(init|hello)", ', out), out  # the next write: init's or the demo's
    assert "[Inferior 1 (Remote target) exited normally]" in out, out  # the W packet at power-off
    status, console, _ = vm.finish()
    assert status == 0
    assert "hello world" in console


@pytest.mark.skipif(GDB is None, reason="gdb is not installed (apt-get install gdb)")
def test_real_gdb_watchpoint_or_why_not(kernel_elf, vm_factory):
    from vmm.debug_probe import probe_guest_debug
    from vmm.kvm import Kvm
    kvm = Kvm()
    try:
        watch_works = probe_guest_debug(kvm)["hardware watchpoints"][0]
    finally:
        kvm.close()
    vm = vm_factory("--gdb-wait")
    out = run_gdb(kernel_elf, vm.port, ["watch ticks", "continue", "print ticks", "delete", "detach"])
    assert re.search(r"Hardware watchpoint 1: ticks", out), out
    if watch_works:
        assert re.search(r"Old value = 0\s+New value = 1", out), out
    else:  # refused, and the stub says why
        assert "Could not insert hardware watchpoint 1" in out, out
        vm.wait_stderr("data breakpoints do not fire on this host")
    vm.finish()


# -- the protocol by hand -----------------------------------------------------------------
class Client:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.reader = PacketReader()

    def send(self, payload: str):
        self.sock.sendall(frame(payload.encode()))

    def recv(self) -> str:
        while True:
            item = self.reader.next()
            if item is None:
                data = self.sock.recv(65536)
                assert data, "stub closed the connection"
                self.reader.feed(data)
                continue
            if item[0] == "packet":
                self.sock.sendall(b"+")
                return item[1].decode("latin-1")

    def ask(self, payload: str) -> str:
        self.send(payload)
        reply = self.recv()
        while reply.startswith("O") and reply != "OK":  # console output before a stop reply
            reply = self.recv()
        return reply

    def console_and_reply(self, payload: str) -> tuple[str, str]:
        self.send(payload)
        text = ""
        while True:
            reply = self.recv()
            if reply.startswith("O") and reply != "OK":
                text += bytes.fromhex(reply[1:]).decode()
            else:
                return text, reply


def test_protocol_registers_memory_and_kill(kernel_elf, vm_factory):
    from vmm.symbols import kernel_symbols
    vm = vm_factory("--gdb-wait")
    c = Client(vm.port)
    assert "qXfer:features:read+" in c.ask("qSupported:multiprocess+;swbreak+;hwbreak+")
    assert c.ask("?").startswith("T05")
    regs = c.ask("g")
    assert len(regs) == sum(bits for _, bits, *_ in REGISTERS) // 4
    rip = int.from_bytes(bytes.fromhex(c.ask(f"p{REGISTERS.index(next(r for r in REGISTERS if r[0] == 'rip')):x}")),
                         "little")
    assert rip == kernel_symbols(kernel_elf).address_of("_start64")
    # Memory by virtual address, through the guest's page tables: the entry's first bytes (cli = fa).
    assert c.ask(f"m{rip:x},4").startswith("fa")
    assert c.ask("m7000deadb000,8") == "E14"  # unmapped
    # Write and read back a register.
    rbx = REGISTERS.index(next(r for r in REGISTERS if r[0] == "rbx"))
    assert c.ask(f"P{rbx:x}={0x1122334455667788.to_bytes(8, 'little').hex()}") == "OK"
    assert c.ask(f"p{rbx:x}") == 0x1122334455667788.to_bytes(8, "little").hex()
    assert c.ask("qAttached") == "1"
    xml = c.ask("qXfer:features:read:target.xml:0,fff")
    assert xml[0] in "lm" and "i386:x86-64" in xml
    c.send("k")
    status, _, err = vm.finish()
    assert status == errors.EXIT_INTERRUPTED
    assert "gdb killed the VM" in err


@pytest.mark.parametrize("cmdline", ["spin=1", "idle=1"])
def test_protocol_ctrl_c_stops_a_running_guest(cmdline, vm_factory):
    """Ctrl-C (0x03) stops a vCPU spinning in KVM_RUN and one asleep in hlt."""
    vm = vm_factory("--cmdline", cmdline)
    c = Client(vm.port)  # connecting stops the guest, as gdb expects
    assert c.ask("?").startswith("T02")
    c.send("c")
    c.sock.sendall(b"\x03")
    assert c.recv().startswith("T02")  # SIGINT
    c.send("D")
    assert c.recv() == "OK"
    vm.wait_stderr("gdb detached")
    vm.kill()


def test_protocol_says_what_this_host_cannot_do(kernel_elf, vm_factory):
    from vmm.probe import host_kind
    from vmm.symbols import kernel_symbols
    vm = vm_factory("--gdb-wait")
    c = Client(vm.port)
    c.ask("qSupported:swbreak+;hwbreak+")
    table = kernel_symbols(kernel_elf)
    caps = bytes.fromhex(c.ask("qRcmd," + b"caps".hex())).decode()
    if host_kind()[0] == "pvm":
        # Four breakpoints fit the debug registers; the fifth is refused, plainly.
        names = ["pit_init", "trap", "syscall_dispatch", "sched_tick", "printk"]
        replies = [c.ask(f"Z0,{table.address_of(n):x},1") for n in names]
        assert replies == ["OK"] * 4 + ["E16"]
        vm.wait_stderr("all 4 hardware debug registers are in use")
        assert c.ask("Z0,400000,1") == "E16"  # user address
        vm.wait_stderr("user address 0x400000")
        assert "not possible: breakpoints at user-mode addresses" in caps
        for n in names[:4]:
            assert c.ask(f"z0,{table.address_of(n):x},1") == "OK"
        note, reply = c.console_and_reply("s")
        assert "all 4 hardware debug registers are in use" in note  # said again in gdb's console
        assert reply.startswith("T05")
    else:
        assert "int3 patching" in caps
        assert c.ask(f"Z0,{table.address_of('pit_init'):x},1") == "OK"
    c.send("D")
    assert c.recv() == "OK"
    assert vm.finish()[0] == 0


def test_protocol_user_mode_step_works_or_is_refused_with_the_reason(kernel_elf, vm_factory):
    """On a PVM host a step at CPL3 would hand the #DB to the guest: refused, said in gdb's console.
    On a VT-x/AMD-V host it steps."""
    from vmm.probe import host_kind
    from vmm.symbols import kernel_symbols
    pvm = host_kind()[0] == "pvm"
    vm = vm_factory("--cmdline", "-- usertests spin 0 1000000 20 1")  # a user program spinning for good
    c = Client(vm.port)
    assert c.ask("?").startswith("T02")
    cs = [r[0] for r in REGISTERS].index("cs")
    # The spinner calls uptime() between its loops: once it does, it is running.
    uptime = kernel_symbols(kernel_elf).address_of("sys_uptime")
    assert c.ask(f"Z1,{uptime:x},1") == "OK"
    assert c.ask("c").startswith("T05")
    assert c.ask(f"z1,{uptime:x},1") == "OK"
    c.send("c")
    for attempt in range(200):  # stop until the vCPU is caught in user mode (nearly all the time now)
        # Let the guest run a little before each Ctrl-C, or it would stop where it was;
        # the answer does not depend on how long (more attempts on a slow box).
        threading.Event().wait(0.01 * (1 + attempt % 10))
        c.sock.sendall(b"\x03")
        assert c.recv().startswith("T02")
        if int.from_bytes(bytes.fromhex(c.ask(f"p{cs:x}")), "little") & 3 == 3:
            break
        c.send("c")
    else:
        raise AssertionError("never stopped in user mode")
    rip = c.ask(f"p{[r[0] for r in REGISTERS].index('rip'):x}")
    note, reply = c.console_and_reply("s")
    assert reply.startswith("T05")
    moved = c.ask(f"p{[r[0] for r in REGISTERS].index('rip'):x}") != rip
    if pvm:
        assert "single-step in user mode is not possible on this PVM host" in note
        assert not moved
        vm.wait_stderr("single-step in user mode is not possible")
    else:
        assert moved and not note
    c.send("k")
    assert vm.finish()[0] == errors.EXIT_INTERRUPTED


def test_gdb_leaving_while_the_guest_runs_leaves_no_breakpoint_behind(kernel_elf, vm_factory):
    from vmm.symbols import kernel_symbols
    vm = vm_factory("--gdb-wait")
    c = Client(vm.port)
    c.ask("?")
    exit_call = kernel_symbols(kernel_elf).address_of("sys_exit")  # hit when hello exits
    assert c.ask(f"Z1,{exit_call:x},1") == "OK"
    c.send("c")
    c.sock.close()  # gdb dies while the guest runs, its breakpoint still armed
    status, console, err = vm.finish()
    assert status == 0, err
    assert "hello from pid 3: hello world" in console


def test_stub_port_in_use_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        proc = subprocess.run(vmm_command("--config", DEFAULT_CONFIG, "--gdb", port), capture_output=True,
                              text=True, cwd=REPO, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert proc.returncode == errors.EXIT_CONFIG
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr


def test_gdb_wait_needs_gdb():
    proc = subprocess.run(vmm_command("--config", DEFAULT_CONFIG, "--gdb-wait"), capture_output=True, text=True,
                          cwd=REPO, timeout=TIMEOUT)
    assert proc.returncode == errors.EXIT_CONFIG
    assert "--gdb-wait needs --gdb PORT" in proc.stderr


# -- unit tests of the pieces ---------------------------------------------------------------
def test_packets_frame_escape_and_split():
    assert frame(b"OK") == b"$OK#9a"
    assert frame(b"a#b") == b"$a}\x03b#" + b"%02x" % ((ord("a") + 0x7D + 3 + ord("b")) & 0xFF)
    assert unescape(b"a}\x03b}]") == b"a#b}"
    r = PacketReader()
    r.feed(b"+$qC#b4\x03$m0,1#00junk$g#67")
    assert r.next() == ("ack", "+")
    assert r.next() == ("packet", b"qC")
    assert r.next() == ("interrupt", None)
    assert r.next() == ("bad", b"m0,1")  # wrong checksum
    assert r.next() == ("packet", b"g")
    assert r.next() is None
    r.feed(b"$vCont;c#a8"[:5])
    assert r.next() is None  # incomplete: wait for more
    r.feed(b"$vCont;c#a8"[5:])
    assert r.next() == ("packet", b"vCont;c")


def test_target_xml_numbers_registers_as_the_g_packet_lays_them_out():
    root = ET.fromstring(target_xml())
    assert root.find("architecture").text == "i386:x86-64"
    regs = {int(r.get("regnum")): (r.get("name"), int(r.get("bitsize"))) for r in root.iter("reg")}
    assert [regs[i] for i in range(len(REGISTERS))] == [(n, b) for n, b, *_ in REGISTERS]
    features = [f.get("name") for f in root.iter("feature")]
    assert features[:3] == ["org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse", "org.gnu.gdb.i386.segments"]
    names = {n for n, *_ in REGISTERS}
    assert {"cr0", "cr3", "efer", "fs_base", "cs", "ss", "rip", "eflags"} <= names


def test_debug_register_encoding():
    bps = Breakpoints(use_int3=False)
    assert bps.add_slot(0xFFFFFFFF80100000, Breakpoints.EXEC, 1, "sw")
    assert bps.add_slot(0xFFFFFFFF80200008, Breakpoints.WRITE, 8, "watch")
    regs = bps.debugreg()
    assert regs[0] == 0xFFFFFFFF80100000 and regs[1] == 0xFFFFFFFF80200008
    # G0, G1; slot 0: R/W 00 LEN 00; slot 1: R/W 01 (write), LEN 10 (8 bytes).
    assert regs[7] == 0x400 | 0b1010 | (0b1001 << 20)
    assert bps.debugreg(skip_exec_at=0xFFFFFFFF80100000)[7] & 0b10 == 0
    assert bps.add_slot(1, 0, 1, "hw") and bps.add_slot(2, 0, 1, "hw")
    assert not bps.add_slot(3, 0, 1, "hw")  # four registers
    assert bps.hit(0b10)[1] == Breakpoints.WRITE
