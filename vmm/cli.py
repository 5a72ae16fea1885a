"""pyos-vmm: arguments → config → kernel → machine → exit status.

    pyos-vmm --config FILE [--cmdline ...] [--kernel ELF]   boot a VM
    pyos-vmm build --config FILE                            build the kernel, print its path
    pyos-vmm plugins [--config FILE]                        installed subsystem plugins, selected ones
    pyos-vmm harness --config FILE [--bench N]              memory plugins natively on the host
    pyos-vmm harness --fs NAME --image IMG SCRIPT           a filesystem plugin on the host, over an image
    pyos-vmm probe                                          what this host's KVM can do
    pyos-vmm mkimage --fs ext2|fat32 --size N --from DIR IMAGE   a disk image from a folder
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
    try:
        status = machine.run()
        if args.stats:
            print(machine.stats(), file=sys.stderr)
    finally:
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
        if subsystem.multiple:
            chosen = choices.get(key)
            chosen = [n for n in subsystem.default if n in installed[key]] if chosen is None else chosen
        else:
            chosen = [choices.get(key) or subsystem.default]
        several = ", several at once" if subsystem.multiple else ""
        print(f"{key} (interface {subsystem.interface_version}, {subsystem.header}, "
              f"symbol {subsystem.symbol}{several}):")
        for name, plugin in sorted(installed[key].items()):
            mark = "*" if name in chosen else " "
            print(f"  {mark} {name:<12} {plugin.version:<6} {plugin.description}  [{plugin.provider}]")
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


def cmd_mkimage(args) -> int:
    from .mkimage import cmd_mkimage as run
    return run(args)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyos-vmm", description="Boot the pyos kernel on KVM.")
    p.add_argument("command", nargs="?", default="run", choices=["run", "build", "plugins", "harness", "probe", "mkimage"],
                   help="run (default): boot a VM; build: build the kernel; plugins: list the installed "
                        "subsystem plugins and the selected ones; harness: run the selected memory "
                        "plugins' self-tests natively on the host; probe: report the host's KVM")
    p.add_argument("--config", "-c", help="TOML config file, e.g. configs/default.toml")
    p.add_argument("--kernel", help="kernel ELF to boot instead of [kernel] path")
    p.add_argument("--cmdline", action="append", metavar="WORDS",
                   help="append to the kernel command line (repeatable)")
    p.add_argument("--bench", type=int, metavar="N",
                   help="harness: run N-iteration micro-benchmarks instead of the self-tests")
    p.add_argument("--fs", metavar="NAME",
                   help="mkimage: the filesystem (ext2 or fat32); harness: run FILE (a script) with this "
                        "filesystem plugin over --image, natively")
    p.add_argument("--image", dest="fs_image", metavar="IMG", help="harness --fs: the disk image file")
    p.add_argument("--harness-mib", type=int, default=64, metavar="MIB",
                   help="harness: size of the simulated physical memory (default 64)")
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="mkimage: the image file to make; harness --fs: the script of operations "
                        "(mount, ls, cat, write, ...)")
    p.add_argument("--size", metavar="N", help="mkimage: the image size in MiB (32, 64M, 1G)")
    p.add_argument("--from", dest="source", metavar="DIR", help="mkimage: the folder to copy onto the image")
    p.add_argument("--force", action="store_true", help="mkimage: replace an existing IMAGE")
    p.add_argument("--block-size", type=int, choices=[1024, 2048, 4096], help="mkimage: ext2 block size")
    p.add_argument("--inode-size", type=int, choices=[128, 256], help="mkimage: ext2 inode size")
    p.add_argument("--stats", action="store_true",
                   help="print VM exits, IRQs, injected vectors and timer statistics at exit")
    return p


def main(argv=None) -> int:
    args = _parser().parse_intermixed_args(argv)  # mkimage: options before IMAGE
    # One positional FILE: mkimage's IMAGE, or the script of harness --fs.
    args.image = args.file if args.command == "mkimage" else None
    args.script = args.file if args.command == "harness" and args.fs else None
    if args.command in ("run", "build", "harness") and not args.config and not args.fs:
        print("pyos-vmm: --config FILE is required (for example --config configs/default.toml)",
              file=sys.stderr)
        return errors.EXIT_CONFIG
    if args.command == "mkimage" and not (args.fs and args.size and args.source and args.image):
        print("pyos-vmm: mkimage needs --fs ext2|fat32 --size N --from DIR IMAGE", file=sys.stderr)
        return errors.EXIT_CONFIG
    if args.command == "mkimage" and args.fs not in ("ext2", "fat32"):
        print(f"pyos-vmm: mkimage --fs {args.fs!r}: must be ext2 or fat32", file=sys.stderr)
        return errors.EXIT_CONFIG
    if args.file and args.image is None and args.script is None:
        print(f"pyos-vmm: unexpected argument {args.file!r}", file=sys.stderr)
        return errors.EXIT_CONFIG
    try:
        commands = {"run": cmd_run, "build": cmd_build, "plugins": cmd_plugins, "harness": cmd_harness,
                    "probe": cmd_probe, "mkimage": cmd_mkimage}
        return commands[args.command](args)
    except PyosError as e:
        print(f"pyos-vmm: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print("\npyos-vmm: interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
