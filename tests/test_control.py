"""The control socket's protocol against a machine stand-in with the real 8042:
greeting, replies, every error class, hostile clients, and the ctl client."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from vmm import control
from vmm.devices.i8042 import I8042


class FakeMachine:
    """What the control commands use of Machine, with the real keyboard and mouse."""

    def __init__(self):
        self.i8042 = I8042()
        self.keyboard = self.i8042.keyboard
        self.mouse = self.i8042.mouse
        self.state = "running"
        self.stopped_with = None

    def run_state(self):
        return self.state

    def pause(self):
        self.state = "paused"

    def resume(self):
        self.state = "running"

    def request_stop(self, status, reason=None):
        self.stopped_with = status

    def stats_dict(self):
        return {"i8042": self.i8042.counters}


@pytest.fixture
def server(tmp_path):
    machine = FakeMachine()
    srv = control.ControlServer(tmp_path / "vm.sock", machine)
    srv.start()
    srv.fake = machine
    yield srv
    srv.close()


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.sock.settimeout(30)
        self.stream = self.sock.makefile("rwb")
        self.greeting = json.loads(self.stream.readline())

    def raw(self, data: bytes):
        self.stream.write(data)
        self.stream.flush()
        line = self.stream.readline()
        return json.loads(line) if line else None

    def __call__(self, name, **arguments):
        req = {"execute": name}
        if arguments:
            req["arguments"] = arguments
        return self.raw(json.dumps(req).encode() + b"\n")

    def close(self):
        self.sock.close()


def kbd_bytes(machine):
    """What the guest reads from port 0x60 (translated to set 1, the default)."""
    out = []
    while machine.i8042.read_status() & 1:
        out.append(machine.i8042.read_data())
    return out


def test_greeting_lists_commands(server):
    c = Client(server.path)
    assert c.greeting["pyos"]["version"]
    assert {"send-key", "type", "mouse-move", "mouse-button", "query-status", "stop", "cont", "quit",
            "query-stats"} <= set(c.greeting["pyos"]["commands"])


def test_send_key_with_modifiers(server):
    c = Client(server.path)
    assert c("send-key", keys="shift-a") == {"return": {}}
    # shift, a, a break, shift break
    assert kbd_bytes(server.fake) == [0x2A, 0x1E, 0x9E, 0xAA]


def test_send_key_list_and_id_echo(server):
    c = Client(server.path)
    reply = c.raw(b'{"execute": "send-key", "arguments": {"keys": ["ctrl", "alt", "delete"]}, "id": 42}\n')
    assert reply == {"return": {}, "id": 42}
    assert kbd_bytes(server.fake)[:4] == [0x1D, 0x38, 0xE0, 0x53]


def test_type_and_mouse(server):
    c = Client(server.path)
    assert c("type", text="Hi") == {"return": {}}
    assert server.fake.keyboard.counters["keys"] == 6
    assert c("mouse-move", dx=3) == {"return": {}}  # reporting disabled: nothing sent, no error
    server.fake.mouse.write(0xF4)
    server.fake.mouse.queue.clear()
    assert c("mouse-move", dx=3, dy=2) == {"return": {}}
    assert c("mouse-button", button="left", down=True) == {"return": {}}
    assert list(server.fake.mouse.queue) == [0x28, 3, 0xFE, 0x09, 0, 0]


def test_status_stop_cont_quit_stats(server):
    c = Client(server.path)
    assert c("query-status") == {"return": {"status": "running", "running": True}}
    assert c("stop") == {"return": {}}
    assert c("query-status")["return"]["status"] == "paused"
    assert c("cont") == {"return": {}}
    assert c("query-stats")["return"]["i8042"]["bytes_to_guest"] == 0
    assert c("quit", status=3) == {"return": {}}
    assert server.fake.stopped_with == 3


@pytest.mark.parametrize("line,cls,words", [
    (b'{"execute": "frobnicate"}', "CommandNotFound", "no command 'frobnicate'"),
    (b'not json', "GenericError", "JSON parse error"),
    (b'[1, 2]', "GenericError", '"execute"'),
    (b'{"arguments": {}}', "GenericError", '"execute"'),
    (b'{"execute": "stop", "bogus": 1}', "GenericError", "unknown request member"),
    (b'{"execute": "send-key"}', "GenericError", "needs argument 'keys'"),
    (b'{"execute": "send-key", "arguments": {"keys": "ctrl-nokey"}}', "GenericError", "unknown key 'nokey'"),
    (b'{"execute": "send-key", "arguments": {"keys": 5}}', "GenericError", "must be a string or a list"),
    (b'{"execute": "send-key", "arguments": {"keys": "a", "hold": 1}}', "GenericError", "no argument 'hold'"),
    (b'{"execute": "send-key", "arguments": []}', "GenericError", "must be an object"),
    (b'{"execute": "mouse-move", "arguments": {"dx": true}}', "GenericError", "must be an integer"),
    (b'{"execute": "mouse-move", "arguments": {"dx": 1e9}}', "GenericError", "must be an integer"),
    (b'{"execute": "mouse-move", "arguments": {"dx": 99999999}}', "GenericError", "out of range"),
    (b'{"execute": "mouse-button", "arguments": {"button": "side"}}', "GenericError", "unknown button"),
    (b'{"execute": "type", "arguments": {"text": "\\u00e9"}}', "GenericError", "cannot type"),
    (b'{"execute": "quit", "arguments": {"status": 300}}', "GenericError", "out of range"),
])
def test_error_replies(server, line, cls, words):
    c = Client(server.path)
    reply = c.raw(line + b"\n")
    assert reply["error"]["class"] == cls
    assert words in reply["error"]["desc"]
    assert c("query-status")["return"]["running"]  # the connection still works
    assert server.fake.stopped_with is None


def test_handler_crash_becomes_an_error_reply(server):
    @control.command("test-explode")
    def explode(machine):
        raise RuntimeError("boom")
    try:
        c = Client(server.path)
        reply = c("test-explode")
        assert reply["error"]["class"] == "GenericError" and "boom" in reply["error"]["desc"]
        assert c("query-status")["return"]["running"]
    finally:
        del control.REGISTRY["test-explode"]


def test_too_long_line_closes_only_that_client(server):
    bad = Client(server.path)
    bad.stream.write(b"x" * (control.MAX_LINE + 10))
    bad.stream.flush()
    reply = json.loads(bad.stream.readline())
    assert "longer than" in reply["error"]["desc"]
    assert bad.stream.readline() == b""  # closed
    good = Client(server.path)
    assert good("query-status")["return"]["running"]


def test_client_that_never_reads_is_dropped(server):
    hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hog.connect(server.path)
    hog.settimeout(30)
    req = b'{"execute": "query-commands"}\n' * 200
    try:
        for _ in range(400):
            hog.sendall(req)
    except OSError:
        pass  # the server hung up on us: that is the point
    good = Client(server.path)
    assert good("query-status")["return"]["running"]
    assert server.clients_dropped >= 1
    hog.close()


def test_half_line_and_abrupt_disconnects_do_not_disturb(server):
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(server.path)
        s.sendall(b'{"execute": "sto')
        s.close()
    c = Client(server.path)
    assert c("query-status")["return"]["running"]


def test_client_limit(server):
    clients = [Client(server.path) for _ in range(control.MAX_CLIENTS)]
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    extra.connect(server.path)
    extra.settimeout(30)
    line = extra.makefile("rb").readline()
    assert "too many clients" in json.loads(line)["error"]["desc"]
    clients[0].close()
    extra.close()


def test_stale_socket_is_replaced_and_live_one_refused(tmp_path):
    path = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # bound, nobody listening: stale
    srv = control.ControlServer(path, FakeMachine())
    srv.start()
    try:
        from vmm.errors import ConfigError
        with pytest.raises(ConfigError, match="another VMM is listening"):
            control.ControlServer(path, FakeMachine())
    finally:
        srv.close()
    assert not path.exists()


def test_path_that_is_a_file_is_refused(tmp_path):
    from vmm.errors import ConfigError
    f = tmp_path / "file"
    f.write_text("keep me")
    with pytest.raises(ConfigError, match="not a socket"):
        control.ControlServer(f, FakeMachine())
    assert f.read_text() == "keep me"


def test_ctl_client(server, capsys):
    assert control.ctl_command(server.path, "send-key", ["keys=ctrl-c"]) == 0
    assert control.ctl_command(server.path, "mouse-move", ['{"dx": 1}']) == 0
    assert control.ctl_command(server.path, "query-status", []) == 0
    assert json.loads(capsys.readouterr().out.split("}\n")[-2] + "}")["status"] == "running"
    assert control.ctl_command(server.path, "nope", []) == 1
    assert "CommandNotFound" in capsys.readouterr().err
    assert control.ctl_command(server.path, "type", ["oops"]) == 2
    assert control.ctl_command(str(server.path) + ".missing", "query-status", []) == 3
    assert "is the VM running" in capsys.readouterr().err


def test_ctl_through_the_cli(server, capsys):
    from vmm import cli
    assert cli.main(["ctl", server.path, "send-key", "keys=shift-a"]) == 0
    assert cli.main(["ctl", server.path, "mouse-move", "dx=-5", "dy=3"]) == 0
    assert server.fake.keyboard.counters["keys"] == 4
    with pytest.raises(SystemExit) as e:
        cli.main(["ctl", server.path])
    assert e.value.code == 2


def test_concurrent_clients(server):
    results = []

    def worker():
        c = Client(server.path)
        for _ in range(20):
            results.append(c("send-key", keys="a")["return"] == {})
        c.close()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 80 and all(results)
    assert server.fake.keyboard.counters["keys"] == 160


def test_config_keys_are_validated():
    from vmm import config
    from vmm.errors import ConfigError
    cfg = config.from_dict({"control": {"socket": "/tmp/x.sock"}, "machine": {"on_reset": "reboot"}})
    assert cfg.control.socket == "/tmp/x.sock" and cfg.machine.on_reset == "reboot"
    assert config.from_dict({}).machine.on_reset == "stop" and config.from_dict({}).control.socket == ""
    with pytest.raises(ConfigError, match=r"\[machine\] on_reset = 'halt': must be one of \"stop\", \"reboot\""):
        config.from_dict({"machine": {"on_reset": "halt"}})
    with pytest.raises(ConfigError, match=r"\[control\] socket = 5: must be a string"):
        config.from_dict({"control": {"socket": 5}})
    with pytest.raises(ConfigError, match="unknown key 'path' in \\[control\\]"):
        config.from_dict({"control": {"path": "x"}})


def test_socket_is_private_and_long_paths_are_refused(tmp_path, server):
    import os
    import stat
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    from vmm.errors import ConfigError
    with pytest.raises(ConfigError, match="path too long"):
        control.ControlServer(tmp_path / ("x" * 200), FakeMachine())
