"""pyos-vmm: arguments → config → kernel → machine → exit status.

    pyos-vmm --config FILE [--cmdline ...] [--kernel ELF]   boot a VM
    pyos-vmm build --config FILE                            build the kernel, print its path
    pyos-vmm plugins [--config FILE]                        installed subsystem plugins, selected ones
    pyos-vmm harness --config FILE [--bench N]              memory plugins natively on the host
    pyos-vmm probe                                          what this host's KVM can do
    pyos-vmm top [--target HOST:PORT] [--interval S]        running VMs' metrics as rates, live
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
    session = None
    try:
        if cfg.metrics.listen or args.stats or args.metrics_textfile:
            from .metrics.exporter import MetricsSession
            session = MetricsSession(cfg, machine, textfile=args.metrics_textfile)
        try:
            status = machine.run()
        finally:
            if session is not None:
                session.vm_stopped()  # final values kept; the machine may now close
        if args.stats:
            from .stats import stats_text
            print(stats_text(session.families()), file=sys.stderr)
        session and session.linger()
    finally:
        machine.close()
        if session is not None:
            session.close()
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


def cmd_top(args) -> int:
    from .metrics.top import run_top
    file_sd_dir = None
    if args.config:
        cfg = _load_config(args)
        if cfg.metrics.file_sd_dir:
            file_sd_dir = str(cfg.resolve(cfg.metrics.file_sd_dir))
    return run_top(args.target or [], args.file_sd_dir or file_sd_dir, args.interval, args.iterations)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyos-vmm", description="Boot the pyos kernel on KVM.")
    p.add_argument("command", nargs="?", default="run", choices=["run", "build", "plugins", "harness", "probe", "top"],
                   help="run (default): boot a VM; build: build the kernel; plugins: list the installed "
                        "subsystem plugins and the selected ones; harness: run the selected memory "
                        "plugins' self-tests natively on the host; probe: report the host's KVM; "
                        "top: running VMs' metrics as rates per second")
    p.add_argument("--config", "-c", help="TOML config file, e.g. configs/default.toml")
    p.add_argument("--kernel", help="kernel ELF to boot instead of [kernel] path")
    p.add_argument("--cmdline", action="append", metavar="WORDS",
                   help="append to the kernel command line (repeatable)")
    p.add_argument("--bench", type=int, metavar="N",
                   help="harness: run N-iteration micro-benchmarks instead of the self-tests")
    p.add_argument("--harness-mib", type=int, default=64, metavar="MIB",
                   help="harness: size of the simulated physical memory (default 64)")
    p.add_argument("--stats", action="store_true",
                   help="print the VM's metrics at exit (VM exits, IRQs, vectors, timer, guest counters), "
                        "by their Prometheus names")
    p.add_argument("--metrics-textfile", metavar="FILE",
                   help="write the final metrics to FILE at exit (node_exporter textfile format)")
    p.add_argument("--target", action="append", metavar="HOST:PORT",
                   help="top: an exporter to watch (repeatable); default: every VM in the file_sd directory")
    p.add_argument("--file-sd-dir", metavar="DIR", help="top: where running VMs advertise themselves "
                   "(default: [metrics] file_sd_dir of --config, else ~/.cache/pyos/file_sd)")
    p.add_argument("--interval", type=float, default=1.0, metavar="S", help="top: refresh every S seconds")
    p.add_argument("--iterations", type=int, metavar="N", help="top: stop after N refreshes")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("run", "build", "harness") and not args.config:
        print("pyos-vmm: --config FILE is required (for example --config configs/default.toml)",
              file=sys.stderr)
        return errors.EXIT_CONFIG
    try:
        commands = {"run": cmd_run, "build": cmd_build, "plugins": cmd_plugins, "harness": cmd_harness,
                    "probe": cmd_probe, "top": cmd_top}
        return commands[args.command](args)
    except PyosError as e:
        print(f"pyos-vmm: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print("\npyos-vmm: interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
