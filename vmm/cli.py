"""pyos-vmm: arguments → config → kernel → machine → exit status.

    pyos-vmm [run] [--config FILE] [--cmdline ...] [--kernel ELF]   boot a VM
    pyos-vmm build [--config FILE]                            build the kernel, print its path
    pyos-vmm plugins [--config FILE]                          installed subsystem plugins, selected ones
    pyos-vmm harness [--config FILE] [--bench N]              memory plugins natively on the host
    pyos-vmm harness --fs NAME --image IMG SCRIPT             a filesystem plugin on the host, over an image
    pyos-vmm compare --vary scheduler=rr,stride --workload cpu --runs 5   compare plugin variants
    pyos-vmm probe                                            what this host's KVM can do
    pyos-vmm top [--target HOST:PORT] [--interval S]          running VMs' metrics as rates, live
    pyos-vmm ctl SOCKET COMMAND [NAME=VALUE ...]              one command to a running VM's control socket
    pyos-vmm mkimage --fs ext2|fat32 --size N --from DIR IMAGE   a disk image from a folder

Each subcommand has its own --help and only its own options. Without a
subcommand, `run` is meant; without --config, the default machine.
Exit statuses: see vmm/errors.py (and the README).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
from pathlib import Path

from . import config as config_mod
from . import errors
from .errors import PyosError
from .paths import CONFIGS_DIR

DEFAULT_CONFIG = CONFIGS_DIR / "default.toml"
# `ctl`'s help lives here, not in vmm/control.py: building the parser must not import sockets and threads.
CTL_DESCRIPTION = """Send one command to a running VM's control socket ([control] socket in its
config) and print the reply's "return" value as JSON."""
CTL_EPILOG = """examples:
  pyos-vmm ctl /tmp/vm.sock query-status
  pyos-vmm ctl /tmp/vm.sock send-key keys=ctrl-alt-delete
  pyos-vmm ctl /tmp/vm.sock type text='ls -l'
  pyos-vmm ctl /tmp/vm.sock mouse-move dx=10 dy=-5
  pyos-vmm ctl /tmp/vm.sock mouse-move '{"dx": 10}'
  pyos-vmm ctl /tmp/vm.sock query-commands
exit status: 0 done, 1 the VM answered with an error, 2 bad usage,
3 no VM listens at SOCKET (or it closed the connection)"""

HARNESS_MIB_RANGE = (4, 4096)


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("pyos")
    except Exception:  # not installed (run from a source tree)
        return "unknown"


class _VersionAction(argparse.Action):
    """--version: looked up only when asked (the package metadata costs tens of ms at every start)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=default,
                         help=help or "show the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"pyos-vmm {_version()}")
        parser.exit()


def _resolve_kernel(cfg) -> Path:
    if cfg.kernel.path:
        path = cfg.resolve(cfg.kernel.path)
        where = "--kernel" if getattr(cfg, "kernel_from_cli", False) else "[kernel] path"
        if not path.exists():
            raise errors.KernelError(f"kernel {path} does not exist ({where})",
                                     "build it, fix the path, or leave [kernel] path empty to build guest_kernel/")
        if not path.is_file():
            raise errors.KernelError(f"kernel {path} is not a regular file ({where})",
                                     "name the kernel ELF file itself, e.g. the path `pyos-vmm build` prints")
        return path
    from .build.kernel import build_kernel
    from .plugins.manager import select
    return build_kernel(select(cfg.kernel.plugin_choices()))


def _load_config(args):
    cfg = config_mod.load(args.config or DEFAULT_CONFIG)
    if getattr(args, "kernel", None):
        cfg.kernel.path = str(Path(args.kernel).resolve())
        cfg.kernel_from_cli = True
    if getattr(args, "display", None):
        cfg.display.mode = args.display
    for word in getattr(args, "cmdline", None) or []:
        cfg.kernel.cmdline = (cfg.kernel.cmdline + " " + word.strip()).strip()
    return cfg


# Set by `run` once everything it opened is closed (the machine with its disks and output
# files, the metrics session, the gdb stub) and the status file written: the console script
# may then end the process without the interpreter's teardown, which only frees memory
# (about 15 ms of every run's start-to-exit time: issue 13's power-off row).
_finished_cleanly = False


def _write_status_file(path: str | None, status: int, origin: str, reason: str):
    """--status-file: who decided the exit status, as one JSON object."""
    if not path:
        return
    record = {"status": status, "origin": origin, "reason": reason}
    try:
        Path(path).write_text(json.dumps(record) + "\n")
    except OSError as e:
        print(f"pyos-vmm: cannot write --status-file {path}: {e.strerror}", file=sys.stderr)


def cmd_run(args) -> int:
    try:
        return _run(args)
    except PyosError as e:  # config, build, KVM or guest failure: the VMM decided the status
        _write_status_file(args.status_file, e.status, "vmm", e.message.splitlines()[0])
        raise


def _run(args) -> int:
    cfg = _load_config(args)
    if args.gdb_wait and args.gdb is None:
        raise errors.ConfigError("--gdb-wait needs --gdb PORT", "for example: --gdb 1234 --gdb-wait")
    if args.gdb is not None and not 0 <= args.gdb <= 65535:
        raise errors.ConfigError(f"--gdb {args.gdb}: a TCP port is 0-65535", "0 picks any free port")
    kernel = _resolve_kernel(cfg)
    from .machine import Machine
    shot = _screenshot_target(args.screenshot_at_exit) if args.screenshot_at_exit else None
    machine = Machine(cfg, kernel)
    stub = None
    session = None
    status = None
    try:
        if args.gdb is not None:
            from .gdbstub import GdbStub
            stub = GdbStub(machine, args.gdb, wait=args.gdb_wait)
            stub.start()
        if cfg.metrics.listen or args.stats or args.metrics_textfile:
            from .metrics.exporter import MetricsSession
            session = MetricsSession(cfg, machine, textfile=args.metrics_textfile)
        try:
            status = machine.run()
        finally:
            if session is not None:
                session.vm_stopped()  # final values kept; the machine may now close
        guest_decided = machine.status is not None and status == machine.status
        if args.stats:
            from .stats import stats_text
            print(stats_text(session.families()), file=sys.stderr)
        if shot:
            from .console.screenshot import screendump
            screendump(machine, shot)
        if session is not None:
            session.linger()
    finally:
        if stub is not None:
            stub.finish(errors.EXIT_GUEST_DEAD if status is None else status)
            stub.close()
        machine.close()
        if session is not None:
            session.close()
    stop_reason = None if guest_decided else getattr(machine, "stop_reason", None)
    if guest_decided:
        _write_status_file(args.status_file, status, "guest", "the guest powered off")
    else:
        _write_status_file(args.status_file, status, "vmm",
                           stop_reason or errors.VMM_STATUSES.get(status, "stopped"))
    if stop_reason:  # quit from the control socket, a CPU reset with on_reset = "stop", ...
        print(f"pyos-vmm: VM stopped: {stop_reason}; exit status {status}", file=sys.stderr)
    elif status == errors.EXIT_INTERRUPTED and not guest_decided:
        print("\npyos-vmm: interrupted (Ctrl-C); VM stopped", file=sys.stderr)
    elif status == errors.EXIT_TERMINATED and not guest_decided:
        print("\npyos-vmm: terminated (SIGTERM); VM stopped", file=sys.stderr)
    elif status:
        print(f"pyos-vmm: the guest powered off with status {status}", file=sys.stderr)
    global _finished_cleanly
    _finished_cleanly = True
    return status


def _screenshot_target(path: str) -> Path:
    """Check before booting that a screenshot can be written at exit."""
    from .console.screenshot import check_can_render
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise errors.ConfigError(f"--screenshot-at-exit {path}: screenshots are PNG files",
                                 "name the file FILE.png")
    if not target.resolve().parent.is_dir():
        raise errors.ConfigError(f"--screenshot-at-exit {path}: folder {target.resolve().parent} does not exist")
    check_can_render()
    return target


def cmd_build(args) -> int:
    cfg = _load_config(args)
    print(_resolve_kernel(cfg))
    return 0


def cmd_plugins(args) -> int:
    from .plugins import SUBSYSTEMS
    from .plugins.manager import discover
    installed = discover()
    choices = _load_config(args).kernel.plugin_choices() if args.config else {}
    for key, subsystem in SUBSYSTEMS.items():
        if subsystem.multiple:
            chosen = choices.get(key)
            chosen = [n for n in subsystem.default if n in installed[key]] if chosen is None else chosen
        else:
            chosen = choices.get(f"{key}s") or [choices.get(key) or subsystem.default]
        several = ", several at once" if subsystem.multiple else \
            f", several via [kernel] {key}s, swapped live" if subsystem.renamed else ""
        print(f"{key} (interface {subsystem.interface_version}, {subsystem.header}, "
              f"symbol {subsystem.symbol}{several}):")
        for name, plugin in sorted(installed[key].items()):
            mark = "*" if name in chosen else " "
            print(f"  {mark} {name:<12} {plugin.version:<6} {plugin.description}  [{plugin.provider}]")
        for name in chosen:
            if name not in installed[key]:
                print(f"pyos-vmm: warning: {args.config} selects {key} = {name!r}, which is not installed "
                      f"(installed: {', '.join(sorted(installed[key]))})", file=sys.stderr)
    print("* = selected" + (f" by {args.config}" if args.config else " by default"))
    return 0


def cmd_fs_harness(args) -> int:
    """Run a script of file operations with one filesystem plugin over an image file."""
    from .harness.fs import filesystem_plugin, run_fs_script
    if not args.fs_image or not args.script:
        raise errors.ConfigError("harness --fs NAME needs --image IMG and a SCRIPT file",
                                 "e.g. pyos-vmm harness --fs ext2 --image disk.img ops.txt "
                                 "(vmm/harness/fs_harness.c lists the operations)")
    for what, path in (("image", args.fs_image), ("script", args.script)):
        if not Path(path).is_file():
            raise errors.ConfigError(f"{what} {path} does not exist", f"pass an existing {what} file")
    plugin = filesystem_plugin(args.fs)
    result = run_fs_script([plugin], Path(args.fs_image), Path(args.script).read_text())
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


def cmd_harness(args) -> int:
    """Run the memory plugins the config selects natively on the host."""
    if args.fs:
        return cmd_fs_harness(args)
    from .harness import run_harness
    from .plugins.manager import select
    lo, hi = HARNESS_MIB_RANGE
    if not lo <= args.harness_mib <= hi:
        raise errors.ConfigError(f"--harness-mib {args.harness_mib}: must be from {lo} to {hi}",
                                 "the simulated physical memory in MiB, e.g. --harness-mib 64")
    if args.bench is not None and args.bench < 1:
        raise errors.ConfigError(f"--bench {args.bench}: must be a positive number of iterations",
                                 "e.g. --bench 1000000")
    cfg = _load_config(args)
    mode = "bench" if args.bench else "selftest"
    result = run_harness(select(cfg.kernel.plugin_choices()), mode, args.harness_mib, args.bench or 0)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


def cmd_probe(args) -> int:
    from .probe import probe_report
    print(probe_report())
    return 0


def cmd_top(args) -> int:
    from .metrics.top import run_top
    file_sd_dir = None
    if args.config:
        cfg = _load_config(args)
        if cfg.metrics.file_sd_dir:
            file_sd_dir = str(cfg.resolve(cfg.metrics.file_sd_dir))
    return run_top(args.target or [], args.file_sd_dir or file_sd_dir, args.interval, args.iterations)


def cmd_ctl(args) -> int:
    from .control import ctl_command
    return ctl_command(args.socket, args.ctl_command, args.arguments)


def cmd_compare(args) -> int:
    from .compare.command import compare
    return compare(args)


def cmd_mkimage(args) -> int:
    from .mkimage import cmd_mkimage as run
    return run(args)


COMMANDS = {"run": cmd_run, "build": cmd_build, "plugins": cmd_plugins, "harness": cmd_harness,
            "probe": cmd_probe, "ctl": cmd_ctl, "top": cmd_top, "mkimage": cmd_mkimage,
            "compare": cmd_compare}


CONSOLE_HELP = """\
console keys (stdin a terminal, put in raw mode: Ctrl-C and Ctrl-Z go to the guest):
  Ctrl-A x         stop the VM (status 130)
  Ctrl-A c         toggle the monitor prompt: help, stats, screen, screendump FILE.png,
                   sendkey KEYS (e.g. ctrl-alt-delete), quit
  Ctrl-A Ctrl-A    send Ctrl-A to the guest
  Ctrl-A h         list these keys
display: [display] mode = "terminal" (or --display terminal) draws the guest's VGA
screen in this terminal and types keys on its PS/2 keyboard; "png" keeps [display] png
updated; --screenshot-at-exit FILE.png saves the screen when the VM stops."""


def _add_config(p, required_hint=True):
    p.add_argument("--config", "-c", metavar="FILE",
                   help=f"TOML config file (default: the packaged {DEFAULT_CONFIG.name})")


def _add_kernel_choice(p):
    p.add_argument("--kernel", metavar="ELF", help="kernel ELF to boot instead of [kernel] path")
    p.add_argument("--cmdline", action="append", metavar="WORDS",
                   help="append to the kernel command line (repeatable); words after '--' are "
                        "init's program and its arguments")


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line's parser; with `only`, just that subcommand's (a launch
    builds the one it runs: the twelve together cost a few milliseconds of start-up)."""
    p = argparse.ArgumentParser(
        prog="pyos-vmm", description="Boot the pyos kernel on KVM (a subcommand's --help lists its options).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=CONSOLE_HELP + "\n\nWithout a subcommand, 'run' is meant. Exit status: the guest's own when it powers off; "
               "110-118 for the VMM's failures, 130 for Ctrl-C, 2 for a usage error (see the README).")
    p.add_argument("--version", action=_VersionAction)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, add in _SUBPARSERS.items():
        if only is None or name == only:
            add(sub)
    return p


def _run_parser(sub):
    run = sub.add_parser("run", help="boot a VM (the default)", description="Boot a VM and run it until "
                         "the guest powers off; the exit status is the guest's.",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=CONSOLE_HELP)
    _add_config(run)
    _add_kernel_choice(run)
    run.add_argument("--stats", action="store_true",
                     help="print the VM's metrics at exit (VM exits, IRQs, vectors, timer, guest counters, "
                          "KVM statistics), by their Prometheus names")
    run.add_argument("--metrics-textfile", metavar="FILE",
                     help="write the final metrics to FILE at exit (node_exporter textfile format)")
    run.add_argument("--display", choices=["none", "terminal", "png"],
                     help="override [display] mode: none, terminal (the VGA screen here), png")
    run.add_argument("--screenshot-at-exit", metavar="FILE.png",
                     help="when the VM stops, save the VGA text screen as a PNG (the real VGA font, 9x16 cells)")
    run.add_argument("--status-file", metavar="FILE",
                     help="write {status, origin: guest|vmm, reason} as JSON when the VM stops")
    run.add_argument("--gdb", type=int, metavar="PORT",
                     help="GDB remote stub on 127.0.0.1:PORT (in gdb: target remote :PORT); 0: any free port")
    run.add_argument("--gdb-wait", action="store_true",
                     help="with --gdb: stop before the first guest instruction until gdb continues")


def _build_parser(sub):
    build = sub.add_parser("build", help="build the kernel and print the ELF's path",
                           description="Build the kernel (core + selected plugins), print the ELF's path.")
    _add_config(build)


def _plugins_parser(sub):
    plugins = sub.add_parser("plugins", help="list installed subsystem plugins and the selected ones",
                             description="List the installed subsystem plugins; with --config, mark "
                                         "the ones it selects.")
    plugins.add_argument("--config", "-c", metavar="FILE", help="mark this config's choices")


def _harness_parser(sub):
    harness = sub.add_parser("harness", help="run the memory plugins natively on the host",
                             description="Compile the selected memory plugins for the host and run the "
                                         "memory self-tests (or micro-benchmarks) natively.")
    _add_config(harness)
    harness.add_argument("--bench", type=int, metavar="N",
                         help="run N-iteration micro-benchmarks instead of the self-tests")
    harness.add_argument("--fs", metavar="NAME",
                         help="instead: run SCRIPT (file operations) with this filesystem plugin over --image")
    harness.add_argument("--image", dest="fs_image", metavar="IMG", help="--fs: the disk image file")
    harness.add_argument("script", nargs="?", metavar="SCRIPT",
                         help="--fs: the script of operations (mount, ls, cat, write, ...)")
    harness.add_argument("--harness-mib", type=int, default=64, metavar="MIB",
                         help=f"size of the simulated physical memory, {HARNESS_MIB_RANGE[0]}-"
                              f"{HARNESS_MIB_RANGE[1]} (default 64)")


def _probe_parser(sub):
    sub.add_parser("probe", help="report what this host's KVM can do",
                   description="Report the host's KVM: API version, capabilities, PVM or VT-x.")


def _compare_parser(sub):
    from .compare.command import add_parser as add_compare_parser
    add_compare_parser(sub, _add_config)


def _top_parser(sub):
    top = sub.add_parser("top", help="running VMs' metrics as rates per second, refreshed",
                         description="Scrape running VMs' exporters and show their main series as rates "
                                     "per second. Exit status 1 if no running VM is found.")
    top.add_argument("--config", "-c", metavar="FILE", help="take [metrics] file_sd_dir from this config")
    top.add_argument("--target", action="append", metavar="HOST:PORT",
                     help="an exporter to watch (repeatable); default: every VM in the file_sd directory")
    top.add_argument("--file-sd-dir", metavar="DIR", help="where running VMs advertise themselves "
                     "(default: [metrics] file_sd_dir of --config, else ~/.cache/pyos/file_sd)")
    top.add_argument("--interval", type=float, default=1.0, metavar="S", help="refresh every S seconds")
    top.add_argument("--iterations", type=int, metavar="N", help="stop after N refreshes")


def _ctl_parser(sub):
    ctl = sub.add_parser("ctl", help="send one command to a running VM's control socket",
                         description=CTL_DESCRIPTION, epilog=CTL_EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ctl.add_argument("socket", metavar="SOCKET", help="the VM's [control] socket path")
    ctl.add_argument("ctl_command", metavar="COMMAND", help="e.g. query-status, send-key, type, quit")
    ctl.add_argument("arguments", metavar="NAME=VALUE", nargs=argparse.REMAINDER,
                     help="the command's arguments (VALUE as JSON when it parses, else a string), "
                          "or one JSON object")


def _mkimage_parser(sub):
    mk = sub.add_parser("mkimage", help="make a disk image from a folder",
                        description="Make an ext2 or FAT32 disk image holding a folder's files, with the "
                                    "real tools (mke2fs -d; mkfs.fat and mcopy).")
    mk.add_argument("--fs", required=True, choices=["ext2", "fat32"], help="the filesystem")
    mk.add_argument("--size", required=True, metavar="N", help="the image size in MiB (32, 64M, 1G)")
    mk.add_argument("--from", dest="source", required=True, metavar="DIR",
                    help="the folder whose files go on the image")
    mk.add_argument("--force", action="store_true", help="replace an existing IMAGE")
    mk.add_argument("--block-size", type=int, choices=[1024, 2048, 4096], help="ext2 block size")
    mk.add_argument("--inode-size", type=int, choices=[128, 256], help="ext2 inode size")
    mk.add_argument("image", metavar="IMAGE", help="the image file to make")


_SUBPARSERS = {"run": _run_parser, "build": _build_parser, "plugins": _plugins_parser,
               "harness": _harness_parser, "probe": _probe_parser, "compare": _compare_parser,
               "top": _top_parser, "ctl": _ctl_parser, "mkimage": _mkimage_parser}


def _normalize_argv(argv: list[str]) -> list[str]:
    """Default to `run`, and let option values start with '-' (--cmdline '-- prog')."""
    out = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--cmdline", "--kernel", "--config", "-c", "--status-file", "--gdb") and i + 1 < len(argv):
            value = argv[i + 1]
            if arg == "--cmdline":
                value += " "  # argparse would drop a value of exactly "--"; the words are stripped later
            out.append(f"{arg}={value}" if arg != "-c" else f"--config={value}")
            i += 2
            continue
        out.append(arg)
        i += 1
    first = next((a for a in out if not a.startswith("-")), None)
    wants_top_level = any(a in ("-h", "--help", "--version") for a in out[:1])
    if (first is None or first not in COMMANDS) and not wants_top_level:
        out.insert(0, "run")
    return out


def _quiet_broken_pipe():
    """Our reader went away (`pyos-vmm ... | head -1`): end quietly, as Unix tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return errors.EXIT_BROKEN_PIPE


def main(argv=None) -> int:
    argv = _normalize_argv(sys.argv[1:] if argv is None else list(argv))
    command = next((a for a in argv if not a.startswith("-")), None)
    args = _parser(command if command in COMMANDS else None).parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except PyosError as e:
        if isinstance(e, errors.OutputError) and e.__cause__ and getattr(e.__cause__, "errno", 0) == errno.EPIPE:
            return _quiet_broken_pipe()
        print(f"pyos-vmm: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print("\npyos-vmm: interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED


def entry_point():
    """The console script: like main(), and SIGPIPE-safe at interpreter exit."""
    status = main()
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (BrokenPipeError, OSError, ValueError):
        status = status or errors.EXIT_BROKEN_PIPE
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
    if _finished_cleanly and isinstance(status, int) and 0 <= status <= 255:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(status)  # nothing left to close or flush: skip the interpreter's teardown
    return status


if __name__ == "__main__":
    sys.exit(entry_point())
