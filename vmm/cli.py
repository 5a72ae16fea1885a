"""pyos-vmm: arguments → config → kernel → machine → exit status.

    pyos-vmm --config FILE [--cmdline ...] [--kernel ELF]   boot a VM
    pyos-vmm build --config FILE                            build the kernel, print its path
    pyos-vmm plugins [--config FILE]                        installed subsystem plugins, selected ones
    pyos-vmm harness --config FILE [--bench N]              memory plugins natively on the host
    pyos-vmm probe                                          what this host's KVM can do
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import config as config_mod
from . import errors
from .errors import PyosError


def _resolve_kernel(cfg) -> Path:
    if cfg.kernel.path:
        path = cfg.resolve(cfg.kernel.path)
        if not path.is_file():
            raise errors.KernelError(f"kernel {path} does not exist ([kernel] path)",
                                     "build it, fix the path, or leave [kernel] path empty to build guest_kernel/")
        return path
    from .build.kernel import build_kernel
    from .plugins.manager import select
    return build_kernel(select(cfg.kernel.plugin_choices()))


def _load_config(args):
    cfg = config_mod.load(args.config)
    if getattr(args, "kernel", None):
        cfg.kernel.path = str(Path(args.kernel).resolve())
    for word in getattr(args, "cmdline", None) or []:
        cfg.kernel.cmdline = (cfg.kernel.cmdline + " " + word).strip()
    return cfg


def cmd_run(args) -> int:
    cfg = _load_config(args)
    kernel = _resolve_kernel(cfg)
    from .machine import Machine
    machine = Machine(cfg, kernel)
    stub = None
    status = None
    try:
        if args.gdb is not None:
            from .gdbstub import GdbStub
            stub = GdbStub(machine, args.gdb, wait=args.gdb_wait)
            stub.start()
        status = machine.run()
        if args.stats:
            print(machine.stats(), file=sys.stderr)
    finally:
        if stub is not None:
            stub.finish(errors.EXIT_GUEST_DEAD if status is None else status)
            stub.close()
        machine.close()
    if status == errors.EXIT_INTERRUPTED:
        print("\npyos-vmm: interrupted (Ctrl-C); VM stopped", file=sys.stderr)
    elif status:
        print(f"pyos-vmm: the guest powered off with status {status}", file=sys.stderr)
    return status


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
        chosen = choices.get(key) or subsystem.default
        print(f"{key} (interface {subsystem.interface_version}, {subsystem.header}, symbol {subsystem.symbol}):")
        for name, plugin in sorted(installed[key].items()):
            mark = "*" if name == chosen else " "
            print(f"  {mark} {name:<12} {plugin.version:<6} {plugin.description}  [{plugin.provider}]")
    print("* = selected" + (f" by {args.config}" if args.config else " by default"))
    return 0


def cmd_harness(args) -> int:
    """Run the memory plugins the config selects natively on the host."""
    from .harness import run_harness
    from .plugins.manager import select
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyos-vmm", description="Boot the pyos kernel on KVM.")
    p.add_argument("command", nargs="?", default="run", choices=["run", "build", "plugins", "harness", "probe"],
                   help="run (default): boot a VM; build: build the kernel; plugins: list the installed "
                        "subsystem plugins and the selected ones; harness: run the selected memory "
                        "plugins' self-tests natively on the host; probe: report the host's KVM")
    p.add_argument("--config", "-c", help="TOML config file, e.g. configs/default.toml")
    p.add_argument("--kernel", help="kernel ELF to boot instead of [kernel] path")
    p.add_argument("--cmdline", action="append", metavar="WORDS",
                   help="append to the kernel command line (repeatable)")
    p.add_argument("--bench", type=int, metavar="N",
                   help="harness: run N-iteration micro-benchmarks instead of the self-tests")
    p.add_argument("--harness-mib", type=int, default=64, metavar="MIB",
                   help="harness: size of the simulated physical memory (default 64)")
    p.add_argument("--gdb", type=int, metavar="PORT",
                   help="GDB remote stub on 127.0.0.1:PORT (gdb: target remote :PORT); 0 picks a free port")
    p.add_argument("--gdb-wait", action="store_true",
                   help="with --gdb: stop before the first guest instruction until gdb continues")
    p.add_argument("--stats", action="store_true",
                   help="print VM exits, IRQs, injected vectors and timer statistics at exit")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("run", "build", "harness") and not args.config:
        print("pyos-vmm: --config FILE is required (for example --config configs/default.toml)",
              file=sys.stderr)
        return errors.EXIT_CONFIG
    if args.gdb_wait and args.gdb is None:
        print("pyos-vmm: --gdb-wait needs --gdb PORT (for example --gdb 1234 --gdb-wait)", file=sys.stderr)
        return errors.EXIT_CONFIG
    if args.gdb is not None and not 0 <= args.gdb <= 65535:
        print(f"pyos-vmm: --gdb {args.gdb}: a TCP port is 0-65535 (0: any free port)", file=sys.stderr)
        return errors.EXIT_CONFIG
    try:
        commands = {"run": cmd_run, "build": cmd_build, "plugins": cmd_plugins, "harness": cmd_harness,
                    "probe": cmd_probe}
        return commands[args.command](args)
    except PyosError as e:
        print(f"pyos-vmm: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print("\npyos-vmm: interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
