"""A GDB remote serial protocol stub: `pyos-vmm --gdb PORT [--gdb-wait]`.

Like QEMU's `-s -S`: gdb connects to 127.0.0.1:PORT (`target remote :PORT`)
and sees one thread, the vCPU, with the general, segment and control
registers (target.xml: i386:x86-64, features core, sse, segments and
pyos.sys for cr0/cr2/cr3/cr4/cr8/efer), guest memory by virtual address
through the guest's own page tables (vmm/inspector.py), breakpoints,
single-step, continue, and Ctrl-C.

How it runs. The stub's thread owns the socket. The vCPU thread runs the run
loop (vmm/run_loop.py); when the guest must stop (a debug exit, Ctrl-C, the
first instruction with --gdb-wait) it parks in pause(): the PIT's timer
thread is stopped, so the guest's clock does not run while it is stopped,
and the stub is told. While the vCPU is parked the stub thread reads and
writes registers and memory itself (the vCPU is not inside KVM_RUN, so its
ioctls are free), then hands the vCPU a resume action. Ctrl-C from gdb
(the 0x03 byte) sets run_loop.pause_requested and kicks the vCPU. While
single-stepping, the run loop injects no interrupts (this VMM is the
interrupt controller, so `stepi` steps the code, not the timer handler).

What the host can do, and what it cannot (KVM_SET_GUEST_DEBUG), measured at
start-up in a throw-away VM (vmm/debug_probe.py; `pyos-vmm probe` shows it):
  * single-step and the four hardware breakpoints (DR0-DR3) work in guest
    kernel mode on every host seen;
  * software breakpoints (Z0): where the guest's int3 is intercepted
    (VT-x/AMD-V hosts), real `int3` patching with KVM_GUESTDBG_USE_SW_BP.
    On PVM-style hosts an int3 at CPL0 ends in KVM_EXIT_INTERNAL_ERROR
    instead, so Z0 takes a free hardware breakpoint register: at most four
    breakpoints in all; a fifth is refused with an error, and the stub says
    why (on stderr, and in gdb's console at the next resume);
  * watchpoints (Z2 write, Z4 access) use the same debug registers where
    data breakpoints fire; on PVM-style hosts they do not (kernel mode is
    emulated, and the emulator checks no data breakpoints): refused, said;
  * on PVM-style hosts #DB and #BP at CPL3 are not intercepted (they go to
    the guest, which would kill the process), so breakpoints at user
    addresses and single-steps while the vCPU is in user mode are refused,
    and the stub says so instead of doing something else.
`monitor caps` (qRcmd) prints this for the host at hand.

Simplifications: one vCPU, all-stop mode only; x87/SSE registers are
reported as unavailable; a read-only watchpoint (Z3) is not offered (x86
has none); stepping over an `iretq` into user mode on a PVM-style host
hands the trap flag's #DB to the guest.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import sys
import threading

from . import errors
from .errors import PyosError
from .inspector import info_registers, read_virtual, write_virtual
from .kvm import lib

SIGINT, SIGTRAP, SIGSEGV = 2, 5, 11
KERNEL_HALF = 0xFFFF_8000_0000_0000
RFLAGS_TF = 1 << 8
DR6_BS = 1 << 14
PACKET_SIZE = 0x4000
EXIT_REPLY_WAIT = 5.0  # seconds the VMM waits at exit for the stub to tell gdb (never hit normally)

# (name, bits, gdb type, feature, group). The order is gdb's register numbering
# and the layout of the 'g' packet.
REGISTERS = (
    [(n, 64, "int64", "core", None) for n in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi")]
    + [("rbp", 64, "data_ptr", "core", None), ("rsp", 64, "data_ptr", "core", None)]
    + [(f"r{i}", 64, "int64", "core", None) for i in range(8, 16)]
    + [("rip", 64, "code_ptr", "core", None), ("eflags", 32, "i386_eflags", "core", None)]
    + [(n, 32, "int32", "core", None) for n in ("cs", "ss", "ds", "es", "fs", "gs")]
    + [(f"st{i}", 80, "i387_ext", "core", None) for i in range(8)]
    + [(n, 32, "int", "core", "float") for n in ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg",
                                                   "fooff", "fop")]
    + [(f"xmm{i}", 128, "vec128", "sse", None) for i in range(16)]
    + [("mxcsr", 32, "i386_mxcsr", "sse", "vector")]
    + [("fs_base", 64, "int", "segments", None), ("gs_base", 64, "int", "segments", None)]
    + [(n, 64, "int", "sys", "system") for n in ("cr0", "cr2", "cr3", "cr4", "cr8", "efer")]
)
REG_INDEX = {r[0]: i for i, r in enumerate(REGISTERS)}
GPRS = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", *(f"r{i}" for i in range(8, 16))]
SEGMENTS = ["cs", "ss", "ds", "es", "fs", "gs"]
CONTROL = ["cr0", "cr2", "cr3", "cr4", "cr8", "efer"]

FEATURES = {
    "core": "org.gnu.gdb.i386.core",
    "sse": "org.gnu.gdb.i386.sse",
    "segments": "org.gnu.gdb.i386.segments",
    "sys": "org.pyos.x86_64.control",
}
_EFLAGS = [("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8), ("IF", 9), ("DF", 10),
           ("OF", 11), ("NT", 14), ("RF", 16), ("VM", 17), ("AC", 18), ("VIF", 19), ("VIP", 20), ("ID", 21)]
_MXCSR = [("IE", 0), ("DE", 1), ("ZE", 2), ("OE", 3), ("UE", 4), ("PE", 5), ("DAZ", 6), ("IM", 7), ("DM", 8),
          ("ZM", 9), ("OM", 10), ("UM", 11), ("PM", 12), ("FZ", 15)]
_VECTORS = [("v4f", "ieee_single", 4), ("v2d", "ieee_double", 2), ("v16i8", "int8", 16),
            ("v8i16", "int16", 8), ("v4i32", "int32", 4), ("v2i64", "int64", 2)]


def _flags_xml(ident: str, fields) -> list[str]:
    out = [f'  <flags id="{ident}" size="4">']
    out += [f'    <field name="{n}" start="{b}" end="{b}"/>' for n, b in fields]
    return out + ["  </flags>"]


def target_xml() -> str:
    """The target description gdb reads with qXfer:features:read:target.xml."""
    lines = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">', "<target>",
             "<architecture>i386:x86-64</architecture>"]
    for key, name in FEATURES.items():
        lines.append(f'<feature name="{name}">')
        if key == "core":
            lines += _flags_xml("i386_eflags", _EFLAGS)
        if key == "sse":
            lines += [f'  <vector id="{i}" type="{t}" count="{c}"/>' for i, t, c in _VECTORS]
            lines.append('  <union id="vec128">')
            lines += [f'    <field name="{f}" type="{i}"/>' for f, i in
                      [("v4_float", "v4f"), ("v2_double", "v2d"), ("v16_int8", "v16i8"), ("v8_int16", "v8i16"),
                       ("v4_int32", "v4i32"), ("v2_int64", "v2i64"), ("uint128", "uint128")]]
            lines.append("  </union>")
            lines += _flags_xml("i386_mxcsr", _MXCSR)
        for regnum, (reg, bits, kind, feature, group) in enumerate(REGISTERS):
            if feature == key:
                extra = f' group="{group}"' if group else ""
                lines.append(f'  <reg name="{reg}" bitsize="{bits}" type="{kind}" regnum="{regnum}"{extra}/>')
        lines.append("</feature>")
    lines.append("</target>")
    return "\n".join(lines) + "\n"


# -- packets --------------------------------------------------------------------------
def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def frame(payload: bytes) -> bytes:
    """$payload#cs, with '#', '$', '}' and '*' escaped as the protocol requires."""
    escaped = bytearray()
    for b in payload:
        if b in b"#$}*":
            escaped += bytes([0x7D, b ^ 0x20])
        else:
            escaped.append(b)
    return b"$" + bytes(escaped) + b"#%02x" % checksum(bytes(escaped))


def unescape(data: bytes) -> bytes:
    """Binary data of an X packet: 0x7d escapes the next byte (xor 0x20)."""
    out = bytearray()
    it = iter(data)
    for b in it:
        out.append(next(it, 0) ^ 0x20 if b == 0x7D else b)
    return bytes(out)


class PacketReader:
    """Splits a byte stream from gdb into packets, acks and interrupts."""

    def __init__(self):
        self.buffer = bytearray()

    def feed(self, data: bytes):
        self.buffer += data

    def next(self):
        """('packet', payload) | ('interrupt', None) | ('ack', '+'/'-') | ('bad', payload) | None."""
        buf = self.buffer
        while buf:
            c = buf[0]
            if c == 0x03:
                del buf[0]
                return ("interrupt", None)
            if c in b"+-":
                del buf[0]
                return ("ack", chr(c))
            if c != ord("$"):
                del buf[0]  # line noise between packets
                continue
            end = buf.find(b"#")
            if end < 0 or len(buf) < end + 3:
                return None
            payload = bytes(buf[1:end])
            try:
                ok = int(buf[end + 1:end + 3], 16) == checksum(payload)
            except ValueError:
                ok = False
            del buf[:end + 3]
            return ("packet", payload) if ok else ("bad", payload)
        return None


def _hex_le(value: int, bits: int) -> str:
    return (value & ((1 << bits) - 1)).to_bytes(bits // 8, "little").hex()


def _parse_le(text: str) -> int:
    return int.from_bytes(bytes.fromhex(text), "little")


class Breakpoints:
    """The four debug registers and, on hosts where int3 works, patched int3s."""

    EXEC, WRITE, ACCESS = 0, 1, 3  # DR7 R/W field values

    def __init__(self, use_int3: bool):
        self.use_int3 = use_int3
        self.slots: list[tuple[int, int, int, str] | None] = [None] * 4  # (addr, rw, len, kind)
        self.int3: dict[int, int] = {}  # address → original byte

    def free_slot(self) -> int | None:
        return next((i for i, s in enumerate(self.slots) if s is None), None)

    def add_slot(self, addr: int, rw: int, length: int, kind: str) -> bool:
        for s in self.slots:
            if s == (addr, rw, length, kind):
                return True
        i = self.free_slot()
        if i is None:
            return False
        self.slots[i] = (addr, rw, length, kind)
        return True

    def remove_slot(self, addr: int, rw: int, length: int, kind: str) -> bool:
        for i, s in enumerate(self.slots):
            if s == (addr, rw, length, kind):
                self.slots[i] = None
                return True
        return False

    def debugreg(self, skip_exec_at: int | None = None) -> list[int]:
        regs = [0] * 8
        dr7 = 0
        for i, s in enumerate(self.slots):
            if s is None:
                continue
            addr, rw, length, _ = s
            if rw == self.EXEC and addr == skip_exec_at:
                continue
            regs[i] = addr
            len_bits = {1: 0, 2: 1, 8: 2, 4: 3}[length] if rw != self.EXEC else 0
            dr7 |= 2 << (2 * i)  # Gn: global enable
            dr7 |= (rw | len_bits << 2) << (16 + 4 * i)
        regs[7] = dr7 | 0x400  # bit 10 reads as one
        return regs

    def exec_at(self, addr: int) -> bool:
        return any(s and s[1] == self.EXEC and s[0] == addr for s in self.slots)

    @property
    def any(self) -> bool:
        return any(self.slots) or bool(self.int3)

    def hit(self, dr6: int):
        """The slot DR6 reports as hit: (addr, rw, length, kind) or None."""
        for i in range(4):
            if dr6 & (1 << i) and self.slots[i] is not None:
                return self.slots[i]
        return None


class GdbStub:
    def __init__(self, machine, port: int, wait: bool = False, host_kind: str | None = None,
                 works: dict[str, bool] | None = None, log=None):
        """host_kind ('pvm', 'vmx', 'svm') and works (vmm/debug_probe.py's findings:
        feature → bool) are measured when not given."""
        self.machine = machine
        self.loop = machine.loop
        self.vcpu = machine.vcpu
        self.port = port
        self.wait = wait
        if host_kind is None:
            from .probe import host_kind as probe_kind
            host_kind = probe_kind()[0]
        self.host_kind = host_kind
        self.pvm = host_kind == "pvm"
        if works is None:  # measured in a throw-away VM
            from .debug_probe import probe_guest_debug
            works = {name: ok for name, (ok, _) in probe_guest_debug(machine.kvm).items()}
        self.int3_works = works.get("software breakpoints (int3)", False)
        self.watch_works = works.get("hardware watchpoints", False)
        self.bps = Breakpoints(use_int3=self.int3_works)
        self.log = log or (lambda text: print(f"pyos-vmm: gdb: {text}", file=sys.stderr, flush=True))
        self._cond = threading.Condition()
        self._parked = False        # the vCPU is stopped in pause()
        self._stop_reply = None     # what to tell gdb about the latest stop
        self._action = None         # ("c"|"s"|"detach"|"kill", None)
        self._notes: list[str] = []  # what could not be done, for gdb's console at the next resume
        self._internal_step = False  # stepping over a breakpoint before a continue
        self._wake_r, self._wake_w = os.pipe()
        self._sock = None
        self._conn = None
        self._thread = None
        self._closing = False
        self.exited: int | None = None
        self.no_ack = False
        self._pending: list = []  # packets read while waiting for a stop
        self._resumed = False  # gdb waits for a stop reply
        self._pit_stopped = False  # the stub stopped the PIT (the guest is stopped or stepping)
        self._exit_told = threading.Event()

    # -- set-up -----------------------------------------------------------------------
    def start(self):
        """Listen on 127.0.0.1:port and attach to the run loop."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.port))
        except OSError as e:
            sock.close()
            raise PyosError(f"--gdb {self.port}: cannot listen on 127.0.0.1:{self.port}: {e.strerror}",
                            "choose another port (or 0 for any free one)", status=errors.EXIT_CONFIG) from None
        sock.listen(1)
        self.port = sock.getsockname()[1]
        self._sock = sock
        self.loop.debugger = self
        self.loop.handlers[lib.KVM_EXIT_DEBUG] = self.on_debug_exit
        self._thread = threading.Thread(target=self._serve, name="gdbstub", daemon=True)
        self._thread.start()
        self.log(f"listening on 127.0.0.1:{self.port} (in gdb: target remote :{self.port})"
                 + ("; the vCPU waits for gdb before its first instruction" if self.wait else ""))

    def capabilities(self) -> str:
        """What this host lets the debugger do (monitor caps)."""
        host = "PVM-style KVM (no VT-x/AMD-V)" if self.pvm else f"hardware virtualisation ({self.host_kind})"
        lines = [f"host: {host}.", "  works: single-step and 4 hardware breakpoints (DR0-DR3)"
                 + (" in guest kernel mode" if self.pvm else "")]
        if self.watch_works:
            lines.append("  watchpoints: write and access, in the same 4 debug registers")
        else:
            lines.append("  watchpoints: not possible here (data breakpoints do not fire in guest kernel mode, "
                         "whose instructions the host emulates)")
        if self.int3_works:
            lines.append("  software breakpoints: int3 patching, any number")
        else:
            lines.append("  software breakpoints: int3 at CPL0 is not intercepted here (the VM would stop with "
                         "KVM_EXIT_INTERNAL_ERROR), so each one takes a hardware debug register: "
                         "at most 4 breakpoints in all")
        if self.pvm:
            lines.append("  not possible: breakpoints at user-mode addresses and single-stepping in user mode "
                         "(#DB/#BP at CPL3 go to the guest, not to the debugger)")
        return "\n".join(lines) + "\n"

    def close(self):
        self._closing = True
        os.write(self._wake_w, b"x")
        for s in (self._conn, self._sock):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass

    # -- the vCPU thread's side ---------------------------------------------------------
    def before_first_run(self):
        if self.wait:
            self.log("waiting for gdb to connect and continue")
            self._park("T05thread:01;")

    def pause(self):
        """The run loop saw pause_requested (Ctrl-C from gdb, or gdb connecting)."""
        self.loop.pause_requested = False
        if self._conn is None or self.loop.stop_status is not None:
            return  # the gdb that asked has gone, or the VM is stopping anyway
        self._park("T02thread:01;")

    def on_debug_exit(self, run):
        arch = run.debug.arch
        exception, dr6, pc = arch.exception, arch.dr6, arch.pc
        if self._conn is None:  # gdb went away while the guest ran: drop its breakpoints, go on
            self._restore_int3s()
            self.bps = Breakpoints(use_int3=self.int3_works)
            self._internal_step = False
            self.vcpu.set_guest_debug(0)
            self.loop.hold_interrupts = False
            self._pit_start()
            return
        if self._internal_step:  # stepped over a breakpoint: now really continue
            self._internal_step = False
            self._resume("c", internal=True)
            return
        if exception == 3:  # int3 (VT-x / AMD-V, USE_SW_BP)
            reply = "T05thread:01;swbreak:;"
        elif dr6 & 0xF:
            slot = self.bps.hit(dr6)
            if slot is None:
                reply = "T05thread:01;"
            elif slot[1] == Breakpoints.EXEC:
                reply = "T05thread:01;" + ("swbreak:;" if slot[3] == "sw" else "hwbreak:;")
            else:
                kind = "watch" if slot[1] == Breakpoints.WRITE else "awatch"
                reply = f"T05thread:01;{kind}:{slot[0]:x};"
        else:
            reply = "T05thread:01;"  # a single step (DR6.BS) or anything else
        self._park(reply, pc=pc)

    def _park(self, reply: str, pc: int | None = None):
        """Stop here until gdb resumes (or detaches, or kills)."""
        self.loop.pause_requested = False  # any stop answers a pending Ctrl-C
        self._pit_stop()  # the guest's clock stops with it
        with self._cond:
            self._parked = True
            self._stop_reply = reply
            self._action = None
            os.write(self._wake_w, b"s")
            while self._action is None and not self._closing:
                if self.loop.stop_status is not None:  # Ctrl-C in the VMM's terminal
                    self._action = "kill"
                    break
                self._cond.wait(0.5)
            action = self._action or "detach"
            self._parked = False
        if action == "kill":
            if self.loop.stop_status is None:
                self.loop.request_stop(errors.EXIT_INTERRUPTED)
            return
        self._resume(action)

    def _resume(self, action: str, internal: bool = False):
        """Program KVM_SET_GUEST_DEBUG for `action` and let the run loop go on."""
        bps = self.bps
        control = 0
        skip = None
        if action in ("s", "c") and bps.any:
            rip = self.vcpu.get_regs().rip
            if bps.exec_at(rip) and not internal:
                # A hardware breakpoint at RIP would fire again before the
                # instruction runs: leave it out for one step.
                skip = rip
                self._internal_step = action == "c"  # then continue with it armed
        if action == "s" or self._internal_step:
            control = lib.KVM_GUESTDBG_ENABLE | lib.KVM_GUESTDBG_SINGLESTEP
        elif action == "c" and bps.any:
            control = lib.KVM_GUESTDBG_ENABLE
        if control:
            if any(bps.slots):
                control |= lib.KVM_GUESTDBG_USE_HW_BP
            if bps.int3:
                control |= lib.KVM_GUESTDBG_USE_SW_BP
        self.vcpu.set_guest_debug(control, bps.debugreg(skip_exec_at=skip) if control else (0,) * 8)
        stepping = action == "s" or self._internal_step
        self.loop.hold_interrupts = stepping  # a step steps the code, not an interrupt handler
        if not stepping:
            self._pit_start()

    def _pit_stop(self):
        if not self._pit_stopped:
            self.machine.pit.stop()
            self._pit_stopped = True

    def _pit_start(self):
        if self._pit_stopped:
            self.machine.pit.start()
            self._pit_stopped = False

    # -- the stub thread's side -----------------------------------------------------------
    def _serve(self):
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGUSR1})
        while not self._closing:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conn = conn
            self.no_ack = False
            self._pending = []
            try:
                self._session(conn)
            except (OSError, ConnectionError):
                pass
            finally:
                self._conn = None
                try:
                    conn.close()
                except OSError:
                    pass
                self._release()  # gdb went away: never leave the guest parked

    def _release(self):
        with self._cond:
            if self._parked and self._action is None:  # (a 'k' or 'D' already said what to do)
                self.bps = Breakpoints(use_int3=self.int3_works)
                self._action = "detach"
                self._cond.notify_all()

    def _wait_parked(self, conn, reader) -> bool:
        """While the guest runs: wait for it to stop, forwarding Ctrl-C. False if gdb left."""
        self._take_interrupts(reader)  # a 0x03 may have come in with the resume packet
        while True:
            with self._cond:
                if self._parked:
                    return True
                if self.exited is not None:
                    return True
            readable, _, _ = select.select([conn, self._wake_r], [], [])
            if self._wake_r in readable:
                os.read(self._wake_r, 64)
            if conn in readable:
                data = conn.recv(4096)
                if not data:
                    return False
                reader.feed(data)
                self._take_interrupts(reader)

    def _take_interrupts(self, reader):
        while (item := reader.next()) is not None:
            if item[0] == "interrupt":
                self.request_pause()
            else:  # a packet sent before the stop (gdb's first ones, at connect): keep it
                self._pending.append(item)

    def request_pause(self):
        self.loop.pause_requested = True
        self.loop.attention = True  # the run loop's one flag for "look at the requests"
        self.loop.kick()

    def _session(self, conn):
        reader = PacketReader()
        self.log("gdb connected")
        with self._cond:
            running = not self._parked
        if running and self.exited is None:
            self.request_pause()  # gdb expects a stopped target when it attaches
        if not self._wait_parked(conn, reader):
            return
        while not self._closing:
            item = self._pending.pop(0) if self._pending else reader.next()
            if item is None:
                data = conn.recv(4096)
                if not data:
                    return
                reader.feed(data)
                continue
            kind, payload = item
            if kind == "bad":
                conn.sendall(b"-")
                continue
            if kind != "packet":
                continue  # acks, or Ctrl-C while already stopped
            if not self.no_ack:
                conn.sendall(b"+")
            reply = self._handle(payload.decode("latin-1"), conn, reader)
            if reply is None:
                return  # detached or killed
            conn.sendall(frame(reply.encode("latin-1")))
            if self._resumed:  # that was the stop (or exit) reply gdb waited for
                self._resumed = False
                if reply.startswith("W"):
                    self._exit_told.set()

    def _send_console(self, conn, text: str):
        conn.sendall(frame(b"O" + text.encode().hex().encode()))

    def _resume_and_wait(self, action: str, conn, reader) -> str | None:
        if action == "s" and self.pvm and self.vcpu.get_sregs().cs.selector & 3:
            note = ("single-step in user mode is not possible on this PVM host (#DB at CPL3 goes to the "
                    "guest); the vCPU did not move. Set a breakpoint in the kernel and continue instead.")
            self.log(note)
            self._send_console(conn, f"pyos: {note}\n")
            return "T05thread:01;"
        for note in self._notes:
            self._send_console(conn, f"pyos: {note}\n")
        self._notes.clear()
        with self._cond:
            self._action = action
            self._parked = False
            self._resumed = True
            self._cond.notify_all()
        if not self._wait_parked(conn, reader):
            self._resumed = False
            return None
        if self.exited is not None and not self._parked:
            return f"W{self.exited & 0xFF:02x}"
        return self._stop_reply

    def finish(self, status: int):
        """The VM stopped for good: tell a gdb waiting for a stop that the guest exited."""
        self.exited = status
        os.write(self._wake_w, b"e")
        if self._conn is not None and self._resumed:
            self._exit_told.wait(EXIT_REPLY_WAIT)

    # -- commands ------------------------------------------------------------------------
    def _handle(self, pkt: str, conn, reader) -> str | None:
        if not pkt:
            return ""
        cmd = pkt[0]
        try:
            if cmd == "?":
                return self._stop_reply or "T05thread:01;"
            if cmd == "g":
                return self._read_all_registers()
            if cmd == "G":
                return self._write_all_registers(pkt[1:])
            if cmd == "p":
                return self._read_register(int(pkt[1:], 16))
            if cmd == "P":
                num, value = pkt[1:].split("=")
                return self._write_register(int(num, 16), value)
            if cmd == "m":
                addr, length = (int(x, 16) for x in pkt[1:].split(","))
                data = read_virtual(self.machine.memory, self._cr3(), addr, min(length, PACKET_SIZE // 2))
                return data.hex() if data or not length else "E14"
            if cmd == "M":
                where, hexdata = pkt[1:].split(":")
                addr, length = (int(x, 16) for x in where.split(","))
                return self._write_mem(addr, bytes.fromhex(hexdata)[:length])
            if cmd == "X":
                head, _, body = pkt[1:].partition(":")
                addr, length = (int(x, 16) for x in head.split(","))
                data = unescape(body.encode("latin-1"))[:length]
                return self._write_mem(addr, data) if length else "OK"
            if cmd in "zZ":
                return self._breakpoint(pkt)
            if cmd == "c" or cmd == "C":
                return self._resume_and_wait("c", conn, reader)
            if cmd == "s" or cmd == "S":
                return self._resume_and_wait("s", conn, reader)
            if pkt.startswith("vCont"):
                return self._vcont(pkt, conn, reader)
            if cmd == "D":
                self.log("gdb detached; the guest runs on")
                self.bps = Breakpoints(use_int3=self.int3_works)
                conn.sendall(frame(b"OK"))
                self._restore_int3s()
                with self._cond:
                    self._action = "detach"
                    self._cond.notify_all()
                return None
            if cmd == "k":
                self.log("gdb killed the VM")
                with self._cond:
                    self._action = "kill"
                    self._cond.notify_all()
                return None
            if cmd == "H":
                return "OK"
            if cmd == "T":
                return "OK"
            if cmd == "q" or cmd == "Q":
                return self._query(pkt)
            return ""  # unsupported: the empty reply
        except (ValueError, IndexError):
            return "E01"

    def _vcont(self, pkt: str, conn, reader) -> str | None:
        if pkt == "vCont?":
            return "vCont;c;C;s;S"
        actions = pkt[len("vCont;"):].split(";")
        first = actions[0].split(":")[0] if actions and actions[0] else ""
        if first[:1] in ("s", "S"):
            return self._resume_and_wait("s", conn, reader)
        if first[:1] in ("c", "C"):
            return self._resume_and_wait("c", conn, reader)
        return "E01"

    def _query(self, pkt: str) -> str:
        if pkt.startswith("qSupported"):
            return (f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;swbreak+;hwbreak+;"
                    "vContSupported+;QStartNoAckMode+")
        if pkt == "QStartNoAckMode":
            self.no_ack = True
            return "OK"
        if pkt.startswith("qXfer:features:read:"):
            annex, _, span = pkt[len("qXfer:features:read:"):].partition(":")
            if annex != "target.xml":
                return "E00"
            offset, length = (int(x, 16) for x in span.split(","))
            xml = target_xml()
            chunk = xml[offset:offset + length]
            return ("l" if offset + length >= len(xml) else "m") + chunk
        if pkt == "qAttached":
            return "1"
        if pkt == "qC":
            return "QC01"
        if pkt == "qfThreadInfo":
            return "m01"
        if pkt == "qsThreadInfo":
            return "l"
        if pkt.startswith("qThreadExtraInfo"):
            return "vCPU 0".encode().hex()
        if pkt == "qSymbol::":
            return "OK"
        if pkt.startswith("qRcmd,"):
            return self._monitor(bytes.fromhex(pkt[6:]).decode(errors="replace").strip())
        return ""

    def _monitor(self, command: str) -> str:
        if command in ("info registers", "regs", "registers"):
            text = info_registers(self.machine) + "\n"
        elif command in ("caps", "capabilities"):
            text = self.capabilities()
        else:
            text = ("pyos monitor commands: 'monitor info registers' (every register, symbolized, with a "
                    "backtrace), 'monitor caps' (what this host's KVM lets the debugger do)\n")
        return text.encode().hex()

    # -- registers --------------------------------------------------------------------
    def _cr3(self) -> int:
        return self.vcpu.get_sregs().cr3

    def _values(self):
        r, s = self.vcpu.get_regs(), self.vcpu.get_sregs()
        values = {name: getattr(r, name) for name in GPRS}
        values["rip"], values["eflags"] = r.rip, r.rflags
        for seg in SEGMENTS:
            values[seg] = getattr(s, seg).selector
        values["fs_base"], values["gs_base"] = s.fs.base, s.gs.base
        for cr in CONTROL:
            values[cr] = getattr(s, cr)
        return values

    def _read_all_registers(self) -> str:
        values = self._values()
        out = []
        for name, bits, *_ in REGISTERS:
            out.append(_hex_le(values[name], bits) if name in values else "xx" * (bits // 8))
        return "".join(out)

    def _read_register(self, num: int) -> str:
        if not 0 <= num < len(REGISTERS):
            return "E45"
        name, bits, *_ = REGISTERS[num]
        values = self._values()
        return _hex_le(values[name], bits) if name in values else "xx" * (bits // 8)

    def _set(self, changes: dict[str, int]):
        regs = self.vcpu.get_regs()
        touched_regs = False
        sregs = None
        for name, value in changes.items():
            if name in GPRS or name == "rip":
                setattr(regs, name, value)
                touched_regs = True
            elif name == "eflags":
                regs.rflags = value | 2
                touched_regs = True
            elif name in ("cr0", "cr2", "cr3", "cr4", "cr8", "efer", "fs_base", "gs_base"):
                sregs = sregs or self.vcpu.get_sregs()
                if name == "fs_base":
                    sregs.fs.base = value
                elif name == "gs_base":
                    sregs.gs.base = value
                else:
                    setattr(sregs, name, value)
        if touched_regs:
            self.vcpu.set_regs(regs)
        if sregs is not None:
            self.vcpu.set_sregs(sregs)

    def _write_all_registers(self, data: str) -> str:
        changes, pos = {}, 0
        current = self._values()
        for name, bits, *_ in REGISTERS:
            text = data[pos:pos + bits // 4]
            pos += bits // 4
            if not text or "x" in text or name not in current or name in SEGMENTS:
                continue
            value = _parse_le(text)
            if value != current[name]:
                changes[name] = value
        self._set(changes)
        return "OK"

    def _write_register(self, num: int, text: str) -> str:
        if not 0 <= num < len(REGISTERS):
            return "E45"
        name, bits, *_ = REGISTERS[num]
        if name in SEGMENTS or name not in self._values():
            return "E01"  # selectors need descriptors; x87/SSE are not available
        self._set({name: _parse_le(text)})
        return "OK"

    # -- memory and breakpoints ---------------------------------------------------------
    def _write_mem(self, addr: int, data: bytes) -> str:
        written = write_virtual(self.machine.memory, self._cr3(), addr, data)
        return "OK" if written == len(data) else "E14"

    def _restore_int3s(self):
        for addr, byte in list(self.bps.int3.items()):
            write_virtual(self.machine.memory, self._cr3(), addr, bytes([byte]))
        self.bps.int3.clear()

    def _refuse(self, why: str) -> str:
        self.log(why)
        self._notes.append(why)
        return "E16"  # EBUSY-like: gdb says "Cannot insert breakpoint"

    def _breakpoint(self, pkt: str) -> str:
        insert = pkt[0] == "Z"
        kind, addr, length = pkt[1:].split(",")[:3]
        kind, addr, length = int(kind), int(addr, 16), int(length.split(";")[0], 16)
        if kind == 3:
            return ""  # x86 has no read-only watchpoints
        if kind > 4:
            return ""
        user = addr < KERNEL_HALF
        if insert and self.pvm and user:
            return self._refuse(f"cannot set a breakpoint or watchpoint at the user address {addr:#x}: "
                                "on this PVM host #DB and #BP at CPL3 go to the guest, not to the debugger")
        bps = self.bps
        if kind == 0 and bps.use_int3:  # real int3 patching (VT-x / AMD-V)
            if insert:
                if addr not in bps.int3:
                    old = read_virtual(self.machine.memory, self._cr3(), addr, 1)
                    if len(old) != 1 or not write_virtual(self.machine.memory, self._cr3(), addr, b"\xcc"):
                        return "E14"
                    bps.int3[addr] = old[0]
                return "OK"
            old = bps.int3.pop(addr, None)
            if old is not None:
                write_virtual(self.machine.memory, self._cr3(), addr, bytes([old]))
            return "OK"
        if kind in (0, 1):
            rw, size, label = Breakpoints.EXEC, 1, "sw" if kind == 0 else "hw"
        else:
            if insert and not self.watch_works:
                return self._refuse(f"cannot set a watchpoint at {addr:#x}: data breakpoints do not fire on "
                                    "this host (guest kernel mode is emulated and the emulator checks none); "
                                    "use breakpoints and print instead")
            rw, label = (Breakpoints.WRITE if kind == 2 else Breakpoints.ACCESS), "watch"
            size = length
            if size not in (1, 2, 4, 8) or addr % size:
                return self._refuse(f"watchpoint at {addr:#x} length {length}: x86 debug registers watch "
                                    "1, 2, 4 or 8 aligned bytes")
        if not insert:
            bps.remove_slot(addr, rw, size, label)
            return "OK"
        if bps.add_slot(addr, rw, size, label):
            return "OK"
        what = "software breakpoint" if kind == 0 else "breakpoint or watchpoint"
        why = (f"cannot insert the {what} at {addr:#x}: all 4 hardware debug registers are in use"
               + ("; on this host software breakpoints use them too, because int3 in guest kernel "
                  "mode cannot be intercepted here" if not self.int3_works else ""))
        return self._refuse(why)
