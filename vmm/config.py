"""The TOML config, validated into typed settings.

Every error names the file, the [section] and key, what was wrong and what is
allowed. The schema below is the single description of what a config may say.

    [machine]
    memory_mib   = 128       # guest RAM, 16..3072 MiB, a multiple of 2
    timer_hz     = 100       # PIT interrupt rate the kernel programs, 19..10000
    timer_policy = "catch-up" # ticks the VMM was late for: "catch-up" (owed and
                             # delivered after the previous one is taken) or "drop"
    unclaimed_io = "stop"    # "stop": a guest access nothing claims stops the VM
                             # "ignore": reads return all ones, writes vanish
    exit_port    = 0xf4      # I/O port of the exit device (0 = none)
    on_reset     = "stop"    # the guest pulsed the CPU reset line (8042 command
                             # 0xFE): "stop" (exit status 0, like QEMU's -no-reboot)
                             # or "reboot" (reload the kernel and boot again)
    coalesced_pio = true     # writes to the ATA data..device registers, and to COM1's
                             # THR while the UART allows (devices/uart16550.py), wait in
                             # KVM's coalesced ring instead of one VM exit each (vmm/coalesced.py)

    [kernel]
    path    = ""             # prebuilt kernel ELF; empty = build guest_kernel/
    cmdline = ""             # kernel command line
    frame_allocator = "buddy"  # subsystem plugins, by name (pyos-vmm plugins
    heap    = "slab"         #   lists what is installed); checked against the
    paging  = "direct"       #   installed plugins when the kernel is built
    scheduler = "rr"         # or "priority", "stride"
                             # schedulers = ["rr", "stride"]: instead, several
                             #   linked in, the first active, swapped live
    syscalls = "pyos"        # the system-call table
    filesystems = ["ext2", "fat32"]  # filesystem plugins linked in (several at
                             #   once; a mount picks by what is on the disk);
                             #   default: those of ext2, fat32 installed

    [serial]                 # COM1, a 16550A at 0x3F8, IRQ 4
    output = "stdout"        # "stdout", "none", or a file path
    input  = "stdin"         # "stdin" or "none"

    [display]                # the VGA text screen (the kernel draws on it too)
    mode = "none"            # "none": the serial console alone, as before
                             # "terminal": draw the 80x25 screen in this terminal
                             #   (keys typed become PS/2 key presses)
                             # "png": keep `png` below updated with the screen
    png  = "screen.png"      # the file "png" mode writes (atomically, on change)

    [metrics]                # the Prometheus exporter (vmm/metrics/)
    listen = ""              # "" = off; "127.0.0.1:9150", "[::1]:9150" or "9150"
                             # (loopback); port 0 picks a free port (printed)
    linger = 10              # seconds to keep serving the final values after
                             # the guest stops (0..3600), so the last scrape sees them
    file_sd_dir = ""         # where the file_sd target file goes while the VM
                             # runs; "" = the cache's file_sd/ (~/.cache/pyos/file_sd)
    vm = ""                  # the `vm` label; "" = "<config name>-<pid>"

    [control]                # the JSON-lines control socket (vmm/control.py)
    socket = ""              # Unix socket path; empty = none

    [[disk]]                 # ATA disks, up to 4, in this order: primary master,
                             # primary slave, secondary master, secondary slave
    path     = "root.img"    # the image (relative to this file); a whole number
                             # of 512-byte sectors; locked while the VM runs
    readonly = false         # the guest's writes fail (ERR/ABRT)
    snapshot = false         # the guest's writes go to a throw-away overlay
    create   = { fs = "ext2", size_mib = 32, from = "DIR" }
                             # optional: if path is missing, build it first from
                             # the folder DIR (like pyos-vmm mkimage); fs "ext2"
                             # or "fat32". Without path (then snapshot or
                             # readonly): an image in the cache, keyed by DIR's
                             # content, remade when that changes; add
                             # programs = true to install every user program
                             # (guest_kernel/user/programs) at /bin/NAME
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError


@dataclass
class MachineConfig:
    memory_mib: int = 128
    timer_hz: int = 100
    timer_policy: str = "catch-up"
    unclaimed_io: str = "stop"
    exit_port: int = 0xF4
    on_reset: str = "stop"
    coalesced_pio: bool = True


@dataclass
class KernelConfig:
    path: str = ""
    cmdline: str = ""
    frame_allocator: str = "buddy"
    heap: str = "slab"
    paging: str = "direct"
    scheduler: str = "rr"
    syscalls: str = "pyos"
    filesystems: list[str] | None = None   # None: the default set (vmm/plugins)
    schedulers: list[str] | None = None    # several linked in, the first active (live swap)

    def plugin_choices(self) -> dict:
        return {"frame_allocator": self.frame_allocator, "heap": self.heap, "paging": self.paging,
                "scheduler": self.scheduler, "syscalls": self.syscalls, "filesystems": self.filesystems,
                "schedulers": self.schedulers}


@dataclass
class SerialConfig:
    output: str = "stdout"
    input: str = "stdin"


@dataclass
class DisplayConfig:
    mode: str = "none"
    png: str = "screen.png"


@dataclass
class MetricsConfig:
    listen: str = ""
    linger: float = 10
    file_sd_dir: str = ""
    vm: str = ""


@dataclass
class ControlConfig:
    socket: str = ""


@dataclass
class CreateConfig:
    fs: str
    size_mib: int
    source: str  # the folder the image is made from (TOML key "from")
    programs: bool = False  # also every user program at /bin/NAME (vmm/build/user.py)


@dataclass
class DiskConfig:
    path: str  # "": a created image cached by its content (see vmm/disks.py)
    readonly: bool = False
    snapshot: bool = False
    create: CreateConfig | None = None


MAX_DISKS = 4


@dataclass
class Config:
    machine: MachineConfig = field(default_factory=MachineConfig)
    kernel: KernelConfig = field(default_factory=KernelConfig)
    serial: SerialConfig = field(default_factory=SerialConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    disks: list[DiskConfig] = field(default_factory=list)
    source: Path | None = None  # the file it came from, for relative paths

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(path).expanduser()
        if not p.is_absolute() and self.source is not None:
            p = self.source.parent / p
        return p


def _int_range(lo, hi, multiple=1):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer from {lo} to {hi}"
        if not lo <= value <= hi or value % multiple:
            extra = f", a multiple of {multiple}" if multiple > 1 else ""
            return f"must be from {lo} to {hi}{extra}"
        return None
    return check


def _choice(*allowed):
    def check(value):
        if value not in allowed:
            return "must be one of " + ", ".join(f'"{a}"' for a in allowed)
        return None
    return check


def _string(value):
    return None if isinstance(value, str) else "must be a string"


def _scheduler_list(value):
    if value == []:
        return 'must name at least one scheduler, e.g. ["rr", "stride"] (the first is active)'
    return _name_list(value)


def _name_list(value):
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return 'must be a list of plugin names, e.g. ["ext2", "fat32"]'
    duplicates = sorted({v for v in value if value.count(v) > 1})
    if duplicates:
        return "names " + ", ".join(repr(d) for d in duplicates) + " more than once"
    return None


TIMER_HZ_MAX = 10000


def _timer_hz(value):
    # 10 kHz: the PIT's shortest IRQ 0 period (MIN_IRQ0_PERIOD_S in
    # vmm/devices/pit8254.py), as KVM's in-kernel PIT also clamps it. The
    # VMM delivers each tick from the vCPU thread (vmm/vcpu_timer.py); whether
    # the guest keeps up at high rates depends on its own tick handler's cost.
    return _int_range(19, TIMER_HZ_MAX)(value)


def _plugin_name(value):
    if not isinstance(value, str):
        return "must be a string naming a plugin"
    if not value:
        return "must name a plugin (it is empty); pyos-vmm plugins lists the installed ones"
    return None


def _port(value):
    return _int_range(0, 0xFFFF)(value)


def parse_listen(value: str) -> tuple[str, int]:
    """'HOST:PORT', '[V6]:PORT' or 'PORT' (loopback) → (host, port). Raises ValueError."""
    value = value.strip()
    if value.isdigit():
        host, port = "127.0.0.1", value
    elif value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep:
            raise ValueError("an IPv6 address goes in brackets: [::1]:9150")
    else:
        host, sep, port = value.rpartition(":")
        if not sep or not host:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9150 (port 0 picks a free port)")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"port {port!r} must be a number from 0 to 65535")
    return host, int(port)


def _listen(value):
    if not isinstance(value, str):
        return "must be a string"
    if not value:
        return None
    try:
        parse_listen(value)
    except ValueError as e:
        return str(e)
    return None


def _seconds(lo, hi):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            return f"must be a number of seconds from {lo} to {hi}"
        return None
    return check


def _label_value(value):
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > 64 or not all(c.isalnum() or c in "-_." for c in value):
        return "must be up to 64 letters, digits, '-', '_' or '.' (it becomes the vm label)"
    return None


SCHEMA = {
    "machine": (MachineConfig, {
        "memory_mib": _int_range(16, 3072, 2),
        "timer_hz": _timer_hz,
        "timer_policy": _choice("catch-up", "drop"),
        "unclaimed_io": _choice("stop", "ignore"),
        "exit_port": _port,
        "on_reset": _choice("stop", "reboot"),
        "coalesced_pio": lambda value: _boolean(value),
    }),
    "kernel": (KernelConfig, {
        "path": _string,
        "cmdline": _string,
        "frame_allocator": _plugin_name,
        "heap": _plugin_name,
        "paging": _plugin_name,
        "scheduler": _plugin_name,
        "syscalls": _plugin_name,
        "filesystems": _name_list,
        "schedulers": _scheduler_list,
    }),
    "serial": (SerialConfig, {
        "output": _string,
        "input": _choice("stdin", "none"),
    }),
    "display": (DisplayConfig, {
        "mode": _choice("none", "terminal", "png"),
        "png": _string,
    }),
    "metrics": (MetricsConfig, {
        "listen": _listen,
        "linger": _seconds(0, 3600),
        "file_sd_dir": _string,
        "vm": _label_value,
    }),
    "control": (ControlConfig, {
        "socket": _string,
    }),
}


def _fail(where: str, message: str, hint: str = "") -> ConfigError:
    return ConfigError(f"{where}: {message}", hint)


def _boolean(value):
    return None if isinstance(value, bool) else "must be true or false"


DISK_KEYS = {"path": _string, "readonly": _boolean, "snapshot": _boolean, "create": None}
CREATE_KEYS = {"fs": _choice("ext2", "fat32"), "size_mib": _int_range(1, 1 << 20), "from": _string,
               "programs": _boolean}
CREATE_OPTIONAL = {"programs"}


def _disks(where: str, entries) -> list[DiskConfig]:
    """The [[disk]] array of tables."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _fail(where, "'disk' must be an array of tables, written [[disk]]")
    if len(entries) > MAX_DISKS:
        raise _fail(where, f"{len(entries)} [[disk]] entries; at most {MAX_DISKS} (two ATA channels "
                           "of two drives)", "remove some [[disk]] entries")
    disks = []
    for n, entry in enumerate(entries, 1):
        name = f"[[disk]] #{n}"
        for key, value in entry.items():
            if key not in DISK_KEYS:
                raise _fail(where, f"unknown key '{key}' in {name}",
                            "allowed keys in [[disk]]: " + ", ".join(DISK_KEYS))
            check = DISK_KEYS[key]
            problem = check(value) if check else None
            if problem:
                raise _fail(where, f"{name} {key} = {value!r}: {problem}")
        create = entry.get("create")
        if not entry.get("path") and create is None:
            raise _fail(where, f"{name} has no path", 'add path = "IMAGE" (an image file), or '
                        'create = { fs = "ext2", size_mib = 32, from = "DIR" } for a cached image')
        if not entry.get("path") and not (entry.get("snapshot") or entry.get("readonly")):
            raise _fail(where, f"{name} has no path: its image is made in the cache and shared by every VM, "
                               "so the guest must not write it",
                        "add snapshot = true (writes go to a throw-away overlay), or give it a path")
        if create is not None:
            if not isinstance(create, dict):
                raise _fail(where, f"{name} create must be a table",
                            'e.g. create = { fs = "ext2", size_mib = 32, from = "DIR" }')
            for key, value in create.items():
                if key not in CREATE_KEYS:
                    raise _fail(where, f"unknown key '{key}' in {name} create",
                                "allowed keys in create: " + ", ".join(CREATE_KEYS))
                problem = CREATE_KEYS[key](value)
                if problem:
                    raise _fail(where, f"{name} create.{key} = {value!r}: {problem}")
            missing = [k for k in CREATE_KEYS if k not in create and k not in CREATE_OPTIONAL]
            if missing:
                raise _fail(where, f"{name} create lacks " + ", ".join(missing),
                            'e.g. create = { fs = "ext2", size_mib = 32, from = "DIR" }')
            create = CreateConfig(create["fs"], create["size_mib"], create["from"], create.get("programs", False))
        disks.append(DiskConfig(entry.get("path", ""), entry.get("readonly", False),
                                entry.get("snapshot", False), create))
    return disks


def from_dict(data: dict, where: str = "config", source: Path | None = None) -> Config:
    config = Config(source=source)
    for section, values in data.items():
        if section == "disk":
            config.disks = _disks(where, values)
            continue
        if section not in SCHEMA:
            raise _fail(where, f"unknown section [{section}]",
                        "allowed sections: " + ", ".join(f"[{s}]" for s in SCHEMA) + ", [[disk]]")
        if not isinstance(values, dict):
            raise _fail(where, f"'{section}' must be a [{section}] table")
        _, checks = SCHEMA[section]
        target = getattr(config, section)
        for key, value in values.items():
            if key not in checks:
                raise _fail(where, f"unknown key '{key}' in [{section}]",
                            f"allowed keys in [{section}]: " + ", ".join(checks))
            problem = checks[key](value)
            if problem:
                raise _fail(where, f"[{section}] {key} = {value!r}: {problem}")
            setattr(target, key, value)
    return config


def load(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist",
                          "pass an existing file, e.g. --config configs/default.toml") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}", "fix the TOML syntax at that line") from None
    return from_dict(data, where=str(path), source=path.resolve())
