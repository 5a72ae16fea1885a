"""The control socket: JSON lines on a Unix socket, in the spirit of QEMU's QMP.

`[control] socket = "PATH"` makes the VMM listen on PATH. Each connection
gets a greeting line, then sends one JSON object per line and gets one reply
line per request, in order:

    ← {"pyos": {"version": "0.1.0", "commands": ["cont", "mouse-button", ...]}}
    → {"execute": "send-key", "arguments": {"keys": "ctrl-alt-delete"}, "id": 7}
    ← {"return": {}, "id": 7}
    → {"execute": "nope"}
    ← {"error": {"class": "CommandNotFound", "desc": "no command 'nope'; ..."}}

"id" is optional and echoed back. Error classes: CommandNotFound (unknown
command), GenericError (bad JSON, a missing, unknown or ill-typed argument,
a bad key name, a request the VM cannot honour now). The commands are those in
REGISTRY; another module adds one with the decorator:

    @control.command("screendump", filename=str)
    def screendump(machine, filename):
        ...
        return {}                # the "return" value (a JSON-able dict)

Arguments are checked against the declared names and types before the
handler runs (a default value makes an argument optional). A handler raises
CommandError(desc) to answer with a GenericError.

Safety: one daemon thread serves every client with non-blocking sockets and
a selector; it never waits on a client. A line longer than MAX_LINE bytes, or
replies piling up beyond MAX_PENDING bytes for a client that does not read,
closes that client; at most MAX_CLIENTS connect at once. Handlers run in this
thread and only take the devices' short locks, so a hostile or slow client can
neither crash the VMM nor stall the vCPU.

`pyos-vmm ctl SOCKET COMMAND [NAME=VALUE ...]` is the client (ctl_command).
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import socket
import stat
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, errors

MAX_LINE = 64 * 1024
MAX_PENDING = 1 << 20
MAX_CLIENTS = 16

_REQUIRED = object()


class CommandError(Exception):
    """A handler's refusal: becomes {"error": {"class": cls, "desc": desc}}."""

    def __init__(self, desc: str, cls: str = "GenericError"):
        super().__init__(desc)
        self.desc = desc
        self.cls = cls


@dataclass
class Command:
    name: str
    handler: object
    args: dict[str, tuple[type | tuple, object]] = field(default_factory=dict)  # name → (types, default)
    doc: str = ""


REGISTRY: dict[str, Command] = {}


def command(name: str, **args):
    """Register handler(machine, **arguments) as command `name`.

    Each keyword names an argument: a type (required), or (type, default)."""
    def register(handler):
        spec = {}
        for arg, kind in args.items():
            spec[arg.replace("_", "-")] = kind if isinstance(kind, tuple) and len(kind) == 2 \
                and not isinstance(kind[1], type) else (kind, _REQUIRED)
        REGISTRY[name] = Command(name, handler, spec, (handler.__doc__ or "").strip().split("\n")[0])
        return handler
    return register


def _type_name(kind) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "an object"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def execute(machine, request) -> dict:
    """One request (already parsed) → one reply object."""
    reply_id = request.get("id") if isinstance(request, dict) else None
    try:
        if not isinstance(request, dict) or "execute" not in request:
            raise CommandError('a request is an object with "execute" (and optionally "arguments" and "id")')
        extra = set(request) - {"execute", "arguments", "id"}
        if extra:
            raise CommandError(f"unknown request member {sorted(extra)[0]!r}; a request has "
                               '"execute", "arguments" and "id"')
        name = request["execute"]
        cmd = REGISTRY.get(name) if isinstance(name, str) else None
        if cmd is None:
            raise CommandError(f"no command {name!r}; commands: {', '.join(sorted(REGISTRY))}",
                               "CommandNotFound")
        arguments = request.get("arguments", {})
        if not isinstance(arguments, dict):
            raise CommandError(f'"arguments" of {name} must be an object')
        kwargs = {}
        for arg in arguments:
            if arg not in cmd.args:
                takes = ", ".join(cmd.args) or "no arguments"
                raise CommandError(f"{name} has no argument {arg!r}; it takes: {takes}")
        for arg, (kind, default) in cmd.args.items():
            if arg in arguments:
                value = arguments[arg]
                kinds = kind if isinstance(kind, tuple) else (kind,)
                if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                    raise CommandError(f"argument {arg!r} of {name} must be {_type_name(kind)}, "
                                       f"not {json.dumps(value)}")
            elif default is _REQUIRED:
                raise CommandError(f"{name} needs argument {arg!r} ({_type_name(kind)})")
            else:
                value = default
            kwargs[arg.replace("-", "_")] = value
        result = cmd.handler(machine, **kwargs)
        reply = {"return": {} if result is None else result}
    except CommandError as e:
        reply = {"error": {"class": e.cls, "desc": e.desc}}
    except Exception as e:  # a handler's bug must not take the VMM down
        reply = {"error": {"class": "GenericError", "desc": f"internal error: {type(e).__name__}: {e}"}}
    if reply_id is not None:
        reply["id"] = reply_id
    return reply


# -- the built-in commands -------------------------------------------------------

def parse_keys(keys) -> list[str]:
    """"ctrl-alt-delete" or ["ctrl", "alt", "delete"] → canonical key names."""
    from .devices.ps2_keyboard import key_name
    words = keys.split("-") if isinstance(keys, str) else keys  # the "-" key is spelled "minus"
    if not words or not all(isinstance(w, str) and w for w in words):
        raise CommandError("keys must be a string like \"ctrl-alt-delete\" or a list of key names")
    names = []
    for w in words:
        try:
            names.append(key_name(w))
        except KeyError:
            raise CommandError(f"unknown key {w!r}; keys are QEMU sendkey names such as a, shift, ctrl, "
                               "alt, ret, esc, spc, tab, backspace, up, f1, delete") from None
    return names


@command("send-key", keys=(str, list))
def _send_key(machine, keys):
    """Press keys together and release them in reverse, like QEMU's sendkey ("ctrl-alt-delete")."""
    names = parse_keys(keys)
    machine.keyboard.tap(names[-1], modifiers=names[:-1])
    return {}


@command("type", text=str)
def _type(machine, text):
    """Type a string of ASCII text (shifted characters use shift, control characters ctrl)."""
    try:
        machine.keyboard.type_text(text)
    except ValueError as e:
        raise CommandError(str(e)) from None
    return {}


@command("mouse-move", dx=(int, 0), dy=(int, 0), dz=(int, 0))
def _mouse_move(machine, dx, dy, dz):
    """Move the mouse by dx, dy (screen direction: dy > 0 is down) and the wheel by dz."""
    for name, v in (("dx", dx), ("dy", dy), ("dz", dz)):
        if abs(v) > 65536:
            raise CommandError(f"{name} = {v} is out of range (-65536..65536)")
    machine.mouse.move(dx, dy, dz)
    return {}


@command("mouse-button", button=str, down=(bool, None))
def _mouse_button(machine, button, down):
    """Press ("down": true) or release ("down": false) a mouse button; without "down", click it."""
    try:
        if down is None:
            machine.mouse.button(button, True)
            machine.mouse.button(button, False)
        else:
            machine.mouse.button(button, down)
    except KeyError:
        raise CommandError(f"unknown button {button!r}; buttons: left, right, middle, wheel-up, wheel-down") \
            from None
    return {}


@command("query-status")
def _query_status(machine):
    """{"status": "running" | "paused" | "shutdown", "running": bool}."""
    status = machine.run_state()
    return {"status": status, "running": status == "running"}


@command("stop")
def _stop(machine):
    """Pause the vCPU (no KVM_RUN until cont); devices and timers keep host time."""
    machine.pause()
    return {}


@command("cont")
def _cont(machine):
    """Resume a paused vCPU."""
    machine.resume()
    return {}


@command("quit", status=(int, 0))
def _quit(machine, status):
    """Stop the VM; pyos-vmm exits with `status` (default 0)."""
    if not 0 <= status <= 255:
        raise CommandError(f"status {status} is out of range (0..255)")
    machine.request_stop(status, "quit from the control socket")
    return {}


def _vcpu_still(machine):
    """Registers are read with the vCPU out of KVM_RUN: stopped, halted, or not started."""
    loop = machine.loop
    if not (loop.thread is None or loop.idle or getattr(loop, "pause_requested", False)):
        raise CommandError("the vCPU is running: send 'stop' first, then 'cont' after reading")


@command("info-registers")
def _info_registers(machine):
    """Every register, RIP as function and file:line, and a backtrace (the vCPU stopped)."""
    from .inspector import info_registers
    _vcpu_still(machine)
    return {"text": info_registers(machine)}


@command("read-memory", address=int, length=(int, 256))
def _read_memory(machine, address, length):
    """Guest virtual memory through the guest's page tables: hex and a dump (the vCPU stopped)."""
    from .inspector import hexdump, read_memory
    if not 1 <= length <= 65536:
        raise CommandError(f"length {length} is out of range (1..65536)")
    if not 0 <= address < 1 << 64:
        raise CommandError(f"address {address} is not a 64-bit address")
    _vcpu_still(machine)
    data = read_memory(machine, address, length)
    return {"address": address, "length": len(data), "hex": data.hex(), "text": hexdump(data, address),
            **({} if len(data) == length else {"note": f"unmapped from {address + len(data):#x}"})}


@command("query-stats")
def _query_stats(machine):
    """VM exits by reason, IRQs raised per line, vectors injected, device and guest counters."""
    return machine.stats_dict()


@command("query-commands")
def _query_commands(machine):
    """Every command with its one-line description and arguments."""
    return {name: {"doc": c.doc, "arguments": {a: {"type": _type_name(k), "required": d is _REQUIRED}
                                               for a, (k, d) in c.args.items()}}
            for name, c in sorted(REGISTRY.items())}


@command("swap-scheduler", scheduler=str)
def _swap_scheduler(machine, scheduler):
    """Swap the guest's scheduler live to `scheduler` (one of [kernel] schedulers), at its next timer tick."""
    counters = machine.guest_counters
    if counters is None:
        raise CommandError("this kernel has no counters page (a prebuilt kernel?): it cannot take a swap request")
    try:
        counters.request_sched_swap(scheduler)
    except ValueError as e:
        raise CommandError(str(e)) from None
    return {"requested": scheduler}


@command("qmp_capabilities")
def _qmp_capabilities(machine):
    """Accepted for QMP clients; there is no capability negotiation."""
    return {}


# -- the server ------------------------------------------------------------------

class _Client:
    def __init__(self, sock):
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.closing = False


class ControlServer:
    def __init__(self, path: str | Path, machine):
        self.path = str(path)
        self.machine = machine
        self.requests = 0   # plain counters, for query-stats and metrics
        self.errors = 0
        self.clients_dropped = 0
        self._sock = self._listen(self.path)
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._sel.register(self._sock, selectors.EVENT_READ, None)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._clients: dict[int, _Client] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="control-socket", daemon=True)

    @staticmethod
    def _listen(path: str):
        hint = 'set [control] socket to a path in a writable directory, or remove the key'
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise errors.ConfigError(f"[control] socket = {path!r}: {e.strerror}", hint) from None
        else:
            if not stat.S_ISSOCK(st.st_mode):
                raise errors.ConfigError(f"[control] socket = {path!r}: the path exists and is not a socket",
                                         "choose another path; pyos-vmm replaces only a stale socket")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)
            except OSError:
                os.unlink(path)  # stale: nobody listens there any more
            else:
                raise errors.ConfigError(f"[control] socket = {path!r}: another VMM is listening there",
                                         "give each VM its own socket path")
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            os.chmod(path, 0o600)  # whoever can connect controls the VM: the owner only
        except OSError as e:
            sock.close()
            why = e.strerror or str(e)  # "AF_UNIX path too long" has no errno
            raise errors.ConfigError(f"[control] socket = {path!r}: cannot listen there: {why}", hint) from None
        sock.listen(64)
        sock.setblocking(False)
        return sock

    def start(self):
        self._thread.start()

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for c in list(self._clients.values()):
            c.sock.close()
        self._sock.close()
        self._sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def _serve(self):
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGUSR1})
        while not self._closed:
            for key, events in self._sel.select():
                if key.data == "wake":
                    return
                if key.data is None:
                    self._accept()
                    continue
                client = key.data
                try:
                    if events & selectors.EVENT_READ:
                        self._read(client)
                    if events & selectors.EVENT_WRITE and client.sock.fileno() >= 0:
                        self._flush(client)
                except Exception:  # never let one client's trouble end the server
                    self.clients_dropped += 1
                    self._drop(client)

    def _accept(self):
        while True:
            try:
                sock, _ = self._sock.accept()
            except OSError:
                return
            self._welcome(sock)

    def _welcome(self, sock):
        sock.setblocking(False)
        client = _Client(sock)
        if len(self._clients) >= MAX_CLIENTS:
            refusal = {"error": {"class": "GenericError", "desc": f"too many clients (at most {MAX_CLIENTS})"}}
            try:
                sock.send(json.dumps(refusal).encode() + b"\n")
            except OSError:
                pass
            sock.close()
            self.clients_dropped += 1
            return
        self._clients[sock.fileno()] = client
        self._sel.register(sock, selectors.EVENT_READ, client)
        self._send(client, {"pyos": {"version": __version__, "commands": sorted(REGISTRY)}})

    def _drop(self, client):
        fd = client.sock.fileno()
        if fd >= 0:
            self._clients.pop(fd, None)
            try:
                self._sel.unregister(client.sock)
            except (KeyError, ValueError):
                pass
        client.sock.close()

    def _read(self, client):
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self._drop(client)
            return
        if not data:
            self._drop(client)
            return
        if client.closing:
            return
        client.inbuf += data
        while b"\n" in client.inbuf and not client.closing:
            line, _, rest = client.inbuf.partition(b"\n")
            client.inbuf = bytearray(rest)
            self._handle_line(client, bytes(line))
        if len(client.inbuf) > MAX_LINE and not client.closing:
            self.errors += 1
            client.closing = True  # the reply goes out, then the connection closes
            client.inbuf.clear()
            self._send(client, {"error": {"class": "GenericError",
                                          "desc": f"request line longer than {MAX_LINE} bytes; closing"}})

    def _handle_line(self, client, line: bytes):
        if not line.strip():
            return
        self.requests += 1
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError) as e:
            reply = {"error": {"class": "GenericError", "desc": f"JSON parse error: {e}"}}
        else:
            reply = execute(self.machine, request)
        if "error" in reply:
            self.errors += 1
        self._send(client, reply)

    def _send(self, client, obj):
        client.outbuf += json.dumps(obj).encode() + b"\n"
        if len(client.outbuf) > MAX_PENDING:
            self.clients_dropped += 1  # it does not read its replies
            client.closing = True
            self._drop(client)
            return
        self._flush(client)

    def _flush(self, client):
        if client.sock.fileno() < 0:
            return
        try:
            sent = client.sock.send(client.outbuf)
            del client.outbuf[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(client)
            return
        try:
            if client.outbuf:
                self._sel.modify(client.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)
            elif client.closing:
                self._drop(client)
            else:
                self._sel.modify(client.sock, selectors.EVENT_READ, client)
        except (KeyError, ValueError):
            pass  # not registered (any more)


# -- the client: pyos-vmm ctl ----------------------------------------------------

CTL_REPLY_ERROR, CTL_USAGE_ERROR, CTL_NO_VM = 1, 2, 3


def _parse_ctl_args(words: list[str]) -> dict:
    if len(words) == 1 and words[0].lstrip().startswith("{"):
        value = json.loads(words[0])
        if not isinstance(value, dict):
            raise ValueError("the JSON arguments must be an object")
        return value
    arguments = {}
    for w in words:
        name, eq, value = w.partition("=")
        if not eq or not name:
            raise ValueError(f"argument {w!r} is not NAME=VALUE")
        try:
            arguments[name] = json.loads(value)
        except ValueError:
            arguments[name] = value
    return arguments


def request(path: str, command_name: str, arguments: dict | None = None, timeout: float = 10.0) -> dict:
    """Connect, read the greeting, send one command, return the reply object."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)  # blocking: waits for room in a full backlog instead of EAGAIN
        sock.settimeout(timeout)
        stream = sock.makefile("rwb")
        greeting = stream.readline()
        if not greeting:
            raise ConnectionError("the VM closed the connection")
        req = {"execute": command_name}
        if arguments:
            req["arguments"] = arguments
        stream.write(json.dumps(req).encode() + b"\n")
        stream.flush()
        line = stream.readline()
        if not line:
            raise ConnectionError("the VM closed the connection before answering")
        return json.loads(line)
    finally:
        sock.close()


def ctl_command(path: str, name: str, words: list[str]) -> int:
    """pyos-vmm ctl: one command, its reply printed; the exit status says how it went."""
    try:
        arguments = _parse_ctl_args(words)
    except ValueError as e:
        print(f"pyos-vmm ctl: {e} (arguments are NAME=VALUE words or one JSON object)", file=sys.stderr)
        return CTL_USAGE_ERROR
    try:
        reply = request(path, name, arguments)
    except (OSError, ConnectionError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        if isinstance(e, OSError) and e.errno in (errno.ENOENT, errno.ECONNREFUSED):
            why += " (is the VM running with [control] socket set to this path?)"
        print(f"pyos-vmm ctl: {path}: {why}", file=sys.stderr)
        return CTL_NO_VM
    if "error" in reply:
        err = reply["error"]
        print(f"pyos-vmm ctl: {err.get('class')}: {err.get('desc')}", file=sys.stderr)
        return CTL_REPLY_ERROR
    print(json.dumps(reply.get("return"), indent=2))
    return 0


# Commands other modules register (imported last: they use `command` above).
from .console import control_commands  # noqa: E402,F401  screendump, query-screen
