"""VM-booting tests of the PS/2 keyboard and mouse: keys and mouse motion sent
through the control socket reach a guest program (inputtest) as the right
characters and decoded events; stop/cont, quit, the 8042 reset line."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time

import pytest

from tests.conftest import REPO, vmm_command, write_config
from vmm import control

TIMEOUT = 120  # generous: a loaded 2-core box boots slowly


class VM:
    """pyos-vmm in the background with a control socket; its console collected line by line."""

    def __init__(self, tmp_path, cmdline, extra_config=""):
        self.sock = str(tmp_path / "vm.sock")
        config = write_config(tmp_path, f'[serial]\ninput = "none"\n[control]\nsocket = "{self.sock}"\n'
                                        f"{extra_config}")
        self.proc = subprocess.Popen(vmm_command("--config", config, "--cmdline", cmdline), cwd=REPO,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self.stderr = ""
        self._changed = threading.Condition()
        self._eof = False
        self._readers = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for t in self._readers:
            t.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self._changed:
                self.lines.append(raw.decode(errors="replace").rstrip("\r\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def _read_err(self):
        self.stderr = self.proc.stderr.read().decode(errors="replace")

    def wait_for(self, pattern, count=1, timeout=TIMEOUT):
        """Wait until `count` console lines match `pattern`; return the matching lines."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                hits = [line for line in self.lines if re.search(pattern, line)]
                if len(hits) >= count:
                    return hits
                if self._eof:
                    raise AssertionError(f"VM exited ({self.proc.returncode}) before {pattern!r}:\n"
                                         + "\n".join(self.lines) + "\n" + self.stderr)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {pattern!r} within {timeout} s:\n" + "\n".join(self.lines))
                self._changed.wait(min(left, 0.5))

    def ctl(self, command, **arguments):
        reply = control.request(self.sock, command, arguments)
        assert "return" in reply, reply
        return reply["return"]

    def finish(self, timeout=TIMEOUT):
        status = self.proc.wait(timeout)
        for t in self._readers:
            t.join(timeout)
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def vm_factory(tmp_path):
    vms = []

    def make(cmdline, extra_config=""):
        vm = VM(tmp_path, cmdline, extra_config)
        vms.append(vm)
        return vm
    yield make
    for vm in vms:
        vm.kill()


def got(vm) -> str:
    """Everything inputtest printed as read from the console, escapes kept as text."""
    return "".join(line[len("got: "):] for line in vm.lines if line.startswith("got: "))


def wait_got(vm, text, timeout=TIMEOUT):
    """Wait until the console reads since the previous wait_got are exactly `text`."""
    start = getattr(vm, "cursor", 0)
    deadline = time.monotonic() + timeout
    while (now := got(vm)[start:]) != text:
        assert text.startswith(now), f"console reads {now!r}, wanted {text!r}"
        assert time.monotonic() < deadline, f"console reads {now!r}, wanted {text!r}"
        vm.wait_for(r"^got: ", count=sum(1 for x in vm.lines if x.startswith("got: ")) + 1,
                    timeout=max(0.1, deadline - time.monotonic()))
    vm.cursor = len(got(vm))
    return now


def test_keys_arrive_as_characters(vm_factory):
    vm = vm_factory("-- inputtest keys")
    vm.wait_for("inputtest: reading the console")
    vm.ctl("type", text="Hello, World! ~_+{}|:\"<>?\n")
    wait_got(vm, 'Hello, World! ~_+{}|:"<>?\\x0a')
    steps = [
        ({"keys": "ctrl-c"}, "\\x03"),
        ({"keys": "ctrl-shift-a"}, "\\x01"),
        ({"keys": "alt-x"}, "\\x1bx"),
        ({"keys": "up"}, "\\x1b[A"),
        ({"keys": "down"}, "\\x1b[B"),
        ({"keys": "right"}, "\\x1b[C"),
        ({"keys": "left"}, "\\x1b[D"),
        ({"keys": "home"}, "\\x1b[H"),
        ({"keys": "end"}, "\\x1b[F"),
        ({"keys": "pgup"}, "\\x1b[5~"),
        ({"keys": "delete"}, "\\x1b[3~"),
        ({"keys": "f1"}, "\\x1bOP"),
        ({"keys": "f5"}, "\\x1b[15~"),
        ({"keys": "f12"}, "\\x1b[24~"),
        ({"keys": "backspace"}, "\\x7f"),
        ({"keys": "tab"}, "\\x09"),
        ({"keys": "esc"}, "\\x1b"),
        ({"keys": "kp_divide"}, "/"),
        ({"keys": "shift_r-1"}, "!"),
        ({"keys": ["shift", "grave_accent"]}, "~"),
    ]
    for args, expected in steps:
        vm.ctl("send-key", **args)
        vm.ctl("send-key", keys="ret")  # a line end makes the console read return
        wait_got(vm, expected + "\\x0a")
    assert vm.ctl("query-status") == {"status": "running", "running": True}
    vm.ctl("type", text="quit\n")
    vm.wait_for("inputtest: done")
    assert vm.finish() == 0


def test_caps_lock_and_num_lock_update_leds(vm_factory):
    vm = vm_factory("-- inputtest keys")
    vm.wait_for("inputtest: reading the console")
    vm.ctl("send-key", keys="caps_lock")
    vm.ctl("type", text="ab")
    vm.ctl("send-key", keys="shift-c")  # shift under caps lock gives lower case
    vm.ctl("send-key", keys="ret")
    wait_got(vm, "ABc\\x0a")
    deadline = time.monotonic() + TIMEOUT
    while vm.ctl("query-stats")["i8042"]["leds"] != 4:  # the driver's ED 04 reaches the keyboard
        assert time.monotonic() < deadline, "caps lock LED never set"
        time.sleep(0.05)
    vm.ctl("send-key", keys="caps_lock")
    vm.ctl("send-key", keys="num_lock")
    vm.ctl("send-key", keys="kp_7")  # a digit with num lock on
    vm.ctl("send-key", keys="num_lock")
    vm.ctl("send-key", keys="kp_8")  # the up arrow with it off
    vm.ctl("type", text="a\n")
    wait_got(vm, "7\\x1b[Aa\\x0a")
    assert vm.ctl("query-stats")["i8042"]["leds"] == 0
    stats = vm.ctl("query-stats")
    assert stats["i8042"]["keys"] > 0 and stats["i8042"]["kbd_bytes"] > 0
    assert int(stats["irqs_raised"]["1"]) > 0
    assert stats["guest"]["irqs"][1] > 0  # the guest's own count of keyboard interrupts
    vm.ctl("type", text="quit\n")
    assert vm.finish() == 0


def test_mouse_motion_arrives_as_decoded_events(vm_factory):
    vm = vm_factory("-- inputtest mouse 6")
    vm.wait_for("inputtest: reading /dev/mouse")
    vm.ctl("mouse-move", dx=5, dy=-3)            # right and up
    vm.wait_for("^mouse: dx=", 1)
    vm.ctl("mouse-move", dx=-300, dy=7)          # left, split into two packets; down
    vm.wait_for("^mouse: dx=", 3)
    vm.ctl("mouse-button", button="left", down=True)
    vm.wait_for("^mouse: dx=", 4)
    vm.ctl("mouse-move", dz=2)                   # the wheel (IntelliMouse 4th byte)
    vm.wait_for("^mouse: dx=", 5)
    vm.ctl("mouse-button", button="left", down=False)
    vm.wait_for("inputtest: done")
    events = [line for line in vm.lines if line.startswith("mouse: dx=")]
    assert events == [
        "mouse: dx=5 dy=-3 dz=0 buttons=0 flags=0",
        "mouse: dx=-255 dy=7 dz=0 buttons=0 flags=0",
        "mouse: dx=-45 dy=0 dz=0 buttons=0 flags=0",
        "mouse: dx=0 dy=0 dz=0 buttons=1 flags=0",
        "mouse: dx=0 dy=0 dz=2 buttons=1 flags=0",
        "mouse: dx=0 dy=0 dz=0 buttons=0 flags=0",
    ]
    assert vm.finish() == 0
    assert "mouse: PS/2 IntelliMouse (wheel), 4-byte packets" in "\n".join(vm.lines)


def test_stop_really_pauses_the_vcpu_and_cont_resumes(vm_factory):
    vm = vm_factory("idle=1")
    vm.wait_for("idling with interrupts enabled")
    vm.ctl("stop")
    assert vm.ctl("query-status") == {"status": "paused", "running": False}
    before = vm.ctl("query-stats")
    # The PIT keeps counting host time: wait for 20 more timer edges, then nothing
    # may have run in the guest (no exits, no vectors injected).
    deadline = time.monotonic() + TIMEOUT
    while vm.ctl("query-stats")["pit"]["edges"] < before["pit"]["edges"] + 20:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    during = vm.ctl("query-stats")
    assert during["exits"] == before["exits"]
    assert during["vectors_injected"] == before["vectors_injected"]
    vm.ctl("cont")
    assert vm.ctl("query-status")["status"] == "running"
    while sum(vm.ctl("query-stats")["exits"].values()) <= sum(during["exits"].values()) + 5:
        assert time.monotonic() < deadline, "the guest did not run again after cont"
        time.sleep(0.05)
    vm.ctl("quit", status=7)
    assert vm.finish() == 7
    assert "VM stopped: quit from the control socket; exit status 7" in vm.stderr


def test_protocol_errors_on_a_running_vm(vm_factory):
    vm = vm_factory("idle=1")
    vm.wait_for("idling")
    bad = control.request(vm.sock, "no-such-command")
    assert bad["error"]["class"] == "CommandNotFound"
    bad = control.request(vm.sock, "send-key", {"keys": "ctrl-frob"})
    assert bad["error"]["class"] == "GenericError" and "unknown key 'frob'" in bad["error"]["desc"]
    bad = control.request(vm.sock, "mouse-move", {"dx": "left"})
    assert "must be an integer" in bad["error"]["desc"]
    result = subprocess.run(vmm_command("ctl", vm.sock, "send-key", "keys=nokey"), capture_output=True,
                            text=True, cwd=REPO, timeout=TIMEOUT)
    assert result.returncode == 1 and "unknown key 'nokey'" in result.stderr
    result = subprocess.run(vmm_command("ctl", vm.sock, "query-status"), capture_output=True, text=True,
                            cwd=REPO, timeout=TIMEOUT)
    assert result.returncode == 0 and json.loads(result.stdout) == {"status": "running", "running": True}
    assert vm.ctl("query-status")["running"]
    result = subprocess.run(vmm_command("ctl", vm.sock, "quit"), capture_output=True, text=True, cwd=REPO,
                            timeout=TIMEOUT)
    assert result.returncode == 0
    assert vm.finish() == 0


def test_ctrl_alt_delete_stops_by_default(vm_factory):
    vm = vm_factory("-- inputtest keys")
    vm.wait_for("inputtest: reading the console")
    vm.ctl("send-key", keys="ctrl-alt-delete")
    assert vm.finish() == 0
    assert "kbd: ctrl-alt-delete" in "\n".join(vm.lines)
    assert "the guest reset the CPU (8042 reset line); stopping" in vm.stderr


def test_ctrl_alt_delete_reboots_when_configured(vm_factory):
    vm = vm_factory("-- inputtest keys", '[machine]\non_reset = "reboot"\n')
    vm.wait_for("inputtest: reading the console")
    vm.ctl("send-key", keys="ctrl-alt-delete")
    vm.wait_for("inputtest: reading the console", count=2)  # booted again, from the start
    assert len([line for line in vm.lines if line.startswith("pyos ") and "kernel, booted" in line]) == 2
    assert vm.ctl("query-stats")["reboots"] == 1
    vm.ctl("type", text="after reboot\nquit\n")
    vm.wait_for("inputtest: done")
    assert vm.finish() == 0
    assert "after reboot\\x0a" in got(vm)


def test_bad_control_socket_path_is_a_config_error(tmp_path):
    config = write_config(tmp_path, f'[control]\nsocket = "{tmp_path}/no/such/dir/vm.sock"\n')
    result = subprocess.run(vmm_command("--config", config, "--cmdline", "exit=0"), capture_output=True,
                            text=True, cwd=REPO, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    from vmm.errors import EXIT_CONFIG
    assert result.returncode == EXIT_CONFIG
    assert "[control] socket" in result.stderr and "Traceback" not in result.stderr


# -- the reference: the same kernel and program under QEMU's own 8042 ----------------

class QemuVM(VM):
    """The same kernel under qemu-system-x86_64 -machine pc (QEMU's i8042 and PS/2
    devices), driven through QMP: a second implementation to compare against."""

    def __init__(self, tmp_path, kernel_elf, cmdline):
        import shutil
        exe = shutil.which("qemu-system-x86_64")
        assert exe, "qemu-system-x86_64 is needed (apt-get install qemu-system-x86)"
        self.sock = str(tmp_path / "qmp.sock")
        self.proc = subprocess.Popen(
            [exe, "-machine", "pc", "-accel", "tcg", "-m", "128", "-display", "none", "-nodefaults",
             "-no-reboot", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
             "-qmp", f"unix:{self.sock},server=on,wait=off", "-kernel", str(kernel_elf), "-append", cmdline],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines, self.stderr, self._eof = [], "", False
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for t in self._readers:
            t.start()
        self.qmp = None

    def qmp_command(self, name, **arguments):
        import socket
        if self.qmp is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.sock)
            s.settimeout(TIMEOUT)
            self.qmp = s.makefile("rwb")
            self.qmp.readline()  # greeting
            self.qmp_command("qmp_capabilities")
        self.qmp.write(json.dumps({"execute": name, "arguments": arguments}).encode() + b"\n")
        self.qmp.flush()
        while True:
            reply = json.loads(self.qmp.readline())
            if "event" not in reply:
                assert "return" in reply, reply
                return reply["return"]


@pytest.mark.qemu
def test_same_characters_and_events_under_qemu(tmp_path, kernel_elf):
    """Keys and mouse motion through QEMU's own PS/2 devices give the guest the same
    characters and events as through pyos-vmm's (test_keys_arrive_as_characters)."""
    vm = QemuVM(tmp_path, kernel_elf, "-- inputtest keys")
    try:
        vm.wait_for("inputtest: reading the console")
        line = ""
        for keys, expected in ((["shift", "h"], "H"), (["i"], "i"), (["shift", "1"], "!"), (["ret"], "\\x0a"),
                               (["ctrl", "c"], "\\x03"), (["ret"], "\\x0a"), (["up"], "\\x1b[A"),
                               (["ret"], "\\x0a"), (["f1"], "\\x1bOP"), (["ret"], "\\x0a"),
                               (["alt", "x"], "\\x1bx"), (["ret"], "\\x0a")):
            vm.qmp_command("send-key", keys=[{"type": "qcode", "data": k} for k in keys])
            line += expected
            if keys == ["ret"]:
                wait_got(vm, line)
                line = ""
        assert got(vm) == "Hi!\\x0a\\x03\\x0a\\x1b[A\\x0a\\x1bOP\\x0a\\x1bx\\x0a"
        assert "mouse: PS/2 IntelliMouse (wheel), 4-byte packets" in vm.lines
    finally:
        vm.kill()

    vm = QemuVM(tmp_path, kernel_elf, "-- inputtest mouse 2")
    try:
        vm.wait_for("inputtest: reading /dev/mouse")
        vm.qmp_command("input-send-event", events=[{"type": "rel", "data": {"axis": "x", "value": 5}},
                                                   {"type": "rel", "data": {"axis": "y", "value": -3}}])
        vm.wait_for("^mouse: dx=", 1)
        vm.qmp_command("input-send-event", events=[{"type": "btn", "data": {"button": "left", "down": True}}])
        vm.wait_for("inputtest: done")
        assert [line for line in vm.lines if line.startswith("mouse: dx=")] == [
            "mouse: dx=5 dy=-3 dz=0 buttons=0 flags=0",
            "mouse: dx=0 dy=0 dz=0 buttons=1 flags=0",
        ]
    finally:
        vm.kill()
