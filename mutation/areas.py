"""What is mutated, and which tests judge each mutant.

An area is a set of source files (`file.c::fn1,fn2`: only those functions)
and the tests that are supposed to catch a fault there. The tests are the
fast ones wherever they exist: device models against their unit tests (no
VM), plugin C against the host harness (native, no VM). Only code that runs
nowhere but in the guest (the kernel's system-call checks, the run loop) is
judged by booting a VM per mutant, which costs seconds each: budget it.

`tests` are pytest arguments (run in a forked pytest with -x; a `*` is
expanded, so tests/test_pic8259*.py takes a device's new test files too); `command`
(instead) is an argv run in the copy of the tree, the mutant killed when it
exits non-zero. `file_tests` (optional) gives some of the area's files tests
of their own (e.g. a mutant of one filesystem plugin is not judged by the
other plugin's tests, which cannot see it); the rest use `tests`. With -x,
the order of the tests is the order they run in: the quick ones that catch
the most mutants go first.

`coverage` (optional, C areas judged by native tests) names the environment
variable that makes the tests' builds write gcov data (-O0 --coverage):
`python -m mutation` then takes each test's line coverage of the unmutated
code once and runs a mutant against only the tests that execute its line
(mutation/coverage.py; `--all-tests` turns this off).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Area:
    name: str
    files: tuple[str, ...]
    tests: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    what: str = ""
    vm: bool = False                   # each mutant boots VMs: slow, sample it
    timeout_floor: float = 20.0        # seconds; a mutant's test run gets max(floor, 4 x the clean run)
    file_tests: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)
    coverage: str = ""                 # env var asking the tests' builds for gcov data: per-test selection

    def tests_for(self, path: str) -> tuple[str, ...]:
        """The tests that judge a mutant of `path` (a repository-relative file)."""
        return self.file_tests.get(path, self.tests)


def _harness(k: str) -> tuple[str, ...]:
    """The host-harness self-test of one plugin combination (k: its test id, e.g. buddy-slab-direct)."""
    return ("tests/test_memory.py", "-k", f"host_harness and {k}")


EXT2 = "plugins/fs_ext2/ext2.c"
FAT = ("plugins/fs_fat32/fat_table.c", "plugins/fs_fat32/fat_dir.c", "plugins/fs_fat32/fat_ops.c")
# Fixed workloads and quick checks first; the whole-disk tests last.
_EXT2_TESTS = ("tests/test_fs_ext2_mutants.py", "tests/test_fs_ext2.py", "-k",
               "fs_ext2_mutants or errors_of_the_namespace or unlinked_while_open or triple_indirect or "
               "not_ext2 or incompatible_feature or past_the_inode_table or nonsense_rec_len or full_disk")
_FAT_TESTS = ("tests/test_fs_fat32_mutants.py", "tests/test_fs_fat32.py::test_short_names_unique_and_long_names_exact",
              "tests/test_fs_fat32.py::test_not_fat_is_einval",
              "tests/test_fs_fat32.py::test_open_files_unlinked_renamed_and_removed",
              "tests/test_fs_fat32.py::test_full_disk_gives_enospc_and_stays_clean")

AREAS: dict[str, Area] = {a.name: a for a in [
    # -- Python device models and the run loop ---------------------------------------------
    Area("pic", ("vmm/devices/pic8259.py",), ("tests/test_pic8259*.py",), what="8259A PIC model"),
    Area("pit", ("vmm/devices/pit8254.py",), ("tests/test_pit8254*.py",), what="8254 PIT model"),
    Area("uart", ("vmm/devices/uart16550.py",), ("tests/test_uart16550*.py",), what="16550 UART model"),
    Area("ata", ("vmm/devices/ata.py",), ("tests/test_ata_mutants.py", "tests/test_ata.py"),
         what="ATA PIO disk model"),
    Area("ps2", ("vmm/devices/i8042.py", "vmm/devices/ps2_keyboard.py", "vmm/devices/ps2_mouse.py"),
         ("tests/test_i8042*.py", "tests/test_ps2_keyboard*.py", "tests/test_ps2_mouse*.py"),
         what="8042 controller, PS/2 keyboard and mouse"),
    Area("vga", ("vmm/devices/vga.py",), ("tests/test_vga_mutants.py", "tests/test_vga.py"),
         what="VGA text mode and registers"),
    Area("exporter", ("vmm/metrics/devices.py", "vmm/metrics/guest.py", "vmm/metrics/machine.py",
                      "vmm/metrics/registry.py", "vmm/metrics/exporter.py"),
         ("tests/test_metrics_collectors.py", "tests/test_metrics_session.py", "tests/test_metrics_golden.py"),
         what="the metrics exporter: collectors, HTTP endpoint, textfile, linger"),
    Area("run_loop", ("vmm/run_loop.py",),
         ("tests/test_run_loop_units.py", "tests/test_run_loop_kick.py", "tests/test_interrupts.py", "-k",
          "run_loop_units or run_loop_kick or tick_rate or pic_selftest or echoed or page_fault"),
         vm=True, timeout_floor=120,
         what="KVM_RUN loop: exits, injection, kicks (scripted vCPU first, then VM boots)"),
    Area("run_exit", ("vmm/kvm/run_exit.c",),
         ("tests/test_run_loop_units.py", "tests/test_interrupts.py", "-k", "run_loop_units or tick_rate"),
         vm=True, timeout_floor=120,
         what="the run loop's KVM_RUN wrapper in C: exit counts, handling histograms (scripted vCPU, then a VM)"),
    # -- plugin C against the native host harness -------------------------------------------
    Area("buddy", ("plugins/frame_alloc_buddy/buddy.c",), _harness("buddy-slab-direct"),
         what="buddy frame allocator (host harness)"),
    Area("bitmap", ("plugins/frame_alloc_bitmap/bitmap.c",), _harness("bitmap-slab-direct"),
         what="bitmap frame allocator (host harness)"),
    Area("slab", ("plugins/heap_slab/slab.c",), _harness("buddy-slab-direct"), what="slab heap (host harness)"),
    Area("freelist", ("plugins/heap_freelist/freelist.c",), _harness("buddy-freelist-direct"),
         what="free-list heap (host harness)"),
    Area("direct", ("plugins/paging_direct/direct.c",), _harness("buddy-slab-direct"),
         what="direct-map paging (host harness)"),
    Area("recursive", ("plugins/paging_recursive/recursive.c",), _harness("buddy-slab-recursive"),
         what="recursive paging (host harness)"),
    Area("fs", (EXT2, *FAT), file_tests={EXT2: _EXT2_TESTS, **{f: _FAT_TESTS for f in FAT}},
         coverage="PYOS_FS_COVERAGE",
         what="filesystem plugins (host harness; each plugin's mutants by its own tests)"),
    # -- the kernel's user-pointer checks: in-guest usertests, one VM boot per mutant ----------
    Area("usercopy", ("guest_kernel/kernel/vm.c::vm_user_range",
                      "guest_kernel/kernel/syscall.c::user_range_ok,user_range_readable,user_string,io_file"),
         ("tests/test_user_range_native.py", "tests/test_usercopy.py"),
         vm=True, timeout_floor=300,
         what="kernel user-pointer checks (native test first, then a VM boot if it passes)"),
    Area("sysfile", ("guest_kernel/kernel/sys_file.c",),
         ("tests/test_usercopy.py", "tests/test_fs.py", "-k", "usercopy or (error_cases and ext2) or "
          "(two_disks and ext2) or third_disk or (guest_writes_a_tree and ext2)"),
         vm=True, timeout_floor=300,
         what="file system calls: argument checks (usertests) and their work (fstest on ext2), VM boots"),
]}
