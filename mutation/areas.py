"""What is mutated, and which tests judge each mutant.

An area is a set of source files (optionally only some functions of them)
and the tests that are supposed to catch a fault there. The tests are the
fast ones wherever they exist: device models against their unit tests (no
VM), plugin C against the host harness (native, no VM). Only code that runs
nowhere but in the guest (the kernel's system-call checks, the run loop) is
judged by booting a VM per mutant, which costs seconds each: budget it.

`tests` are pytest arguments (run in a forked pytest with -x); `command`
(instead) is an argv run in the copy of the tree, the mutant killed when it
exits non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Area:
    name: str
    files: tuple[str, ...]
    tests: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()    # C: only these functions' lines are mutated
    what: str = ""
    vm: bool = False                   # each mutant boots VMs: slow, sample it
    timeout_floor: float = 20.0        # seconds; a mutant's test run gets max(floor, 4 x the clean run)


def _harness(k: str) -> tuple[str, ...]:
    return ("tests/test_memory.py", "-k", f"host_harness and {k}")


AREAS: dict[str, Area] = {a.name: a for a in [
    # -- Python device models and the run loop ---------------------------------------------
    Area("pic", ("vmm/devices/pic8259.py",), ("tests/test_pic8259.py",), what="8259A PIC model"),
    Area("pit", ("vmm/devices/pit8254.py",), ("tests/test_pit8254.py",), what="8254 PIT model"),
    Area("uart", ("vmm/devices/uart16550.py",), ("tests/test_uart16550.py",), what="16550 UART model"),
    Area("ata", ("vmm/devices/ata.py",), ("tests/test_ata.py",), what="ATA PIO disk model"),
    Area("ps2", ("vmm/devices/i8042.py", "vmm/devices/ps2_keyboard.py", "vmm/devices/ps2_mouse.py"),
         ("tests/test_i8042.py", "tests/test_ps2_keyboard.py", "tests/test_ps2_mouse.py"),
         what="8042 controller, PS/2 keyboard and mouse"),
    Area("vga", ("vmm/devices/vga.py",), ("tests/test_vga.py",), what="VGA text mode and registers"),
    Area("exporter", ("vmm/metrics/devices.py", "vmm/metrics/guest.py", "vmm/metrics/machine.py",
                      "vmm/metrics/registry.py", "vmm/metrics/exporter.py"),
         ("tests/test_metrics_collectors.py",), what="the metrics exporter's collectors"),
    Area("run_loop", ("vmm/run_loop.py",),
         ("tests/test_interrupts.py", "-k", "tick_rate or pic_selftest or echoed or page_fault"),
         vm=True, timeout_floor=120, what="KVM_RUN loop: exits, injection, kicks (VM boots)"),
    # -- plugin C against the native host harness -------------------------------------------
    Area("frames", ("plugins/frame_alloc_buddy/buddy.c", "plugins/frame_alloc_bitmap/bitmap.c"),
         _harness("direct and slab"), what="frame allocators (host harness)"),
    Area("heap", ("plugins/heap_slab/slab.c", "plugins/heap_freelist/freelist.c"),
         _harness("buddy and direct"), what="kernel heaps (host harness)"),
    Area("paging", ("plugins/paging_direct/direct.c", "plugins/paging_recursive/recursive.c"),
         _harness("buddy and slab"), what="paging plugins (host harness)"),
    Area("fs", ("plugins/fs_ext2/ext2.c", "plugins/fs_fat32/fat_table.c", "plugins/fs_fat32/fat_dir.c",
                "plugins/fs_fat32/fat_ops.c"),
         ("tests/test_fs_harness.py", "tests/test_fs_ext2.py", "tests/test_fs_fat32.py", "-k", "not vm and not guest"),
         what="filesystem plugins (host harness)"),
    # -- the kernel's user-pointer checks: in-guest usertests, one VM boot per mutant ----------
    Area("syscall", ("guest_kernel/kernel/syscall.c", "guest_kernel/kernel/sys_file.c"),
         ("tests/test_processes.py", "-k", "user_pointer_checks"),
         functions=("user_range_ok", "user_string", "sys_open", "sys_stat", "sys_fstat", "sys_readdir",
                    "sys_getdents", "sys_mkdir", "sys_unlink", "sys_mount", "path_arg", "stat_out",
                    "sys_chdir", "sys_rename", "sys_pread", "sys_pwrite"),
         vm=True, timeout_floor=240, what="kernel user-copy and system-call argument checks (VM boots)"),
]}
