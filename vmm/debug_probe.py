"""What guest debugging this host's KVM really supports, measured (pyos-vmm probe).

A throw-away VM with 2 MiB of RAM runs a few instructions in 64-bit kernel
mode (CPL0), `nop; nop; int3; hlt` (and a store for the watchpoint):

  single-step      KVM_GUESTDBG_SINGLESTEP: one KVM_EXIT_DEBUG (#DB, DR6.BS)
                   after the first nop?
  hardware bp      KVM_GUESTDBG_USE_HW_BP with DR0 on the second nop: a debug
                   exit there (DR6.B0)?
  watchpoint       DR0 watching 8 bytes for writes, then a store there: a
                   debug exit after it (DR6.B0)? (on PVM-style hosts the
                   kernel-mode emulator checks no data breakpoints)
  software bp      KVM_GUESTDBG_USE_SW_BP, started on the int3: a debug exit
                   with #BP? (on PVM-style hosts the int3 at CPL0 ends in
                   KVM_EXIT_INTERNAL_ERROR instead)

The gdb stub (vmm/gdbstub.py) chooses from the host kind; this probe shows
the facts behind that choice. User mode (CPL3) is not probed: on PVM-style
hosts #DB and #BP there go to the guest (see /work/shared/PLATFORM.md).
"""

from __future__ import annotations

from .boot.elf import LoadedKernel
from .boot.long_mode import enter_long_mode
from .kvm import Kvm, KvmError, lib
from .memory import GuestMemory

CODE_ADDR = 0x100000
CODE = bytes([0x90, 0x90, 0xCC, 0xF4])  # nop; nop; int3; hlt
WATCHED = CODE_ADDR + 0x1000
STORE = bytes([0x48, 0xC7, 0xC0, *WATCHED.to_bytes(4, "little"),  # mov $WATCHED, %rax
               0x48, 0x89, 0x00, 0x90, 0xF4])                     # mov %rax, (%rax); nop; hlt
DR6_BS = 1 << 14
DR7_G0 = 1 << 1


def _one(kvm, control: int, debugreg, start_offset: int, code: bytes = CODE) -> tuple[str, int | None, int, int]:
    """Run the probe code once: (exit name, pc, exception, dr6)."""
    vm = kvm.create_vm()
    memory = GuestMemory(2 << 20)
    try:
        vm.set_tss_addr(0xFFFB_D000)
        memory.attach(vm)
        vcpu = vm.create_vcpu(0)
        try:
            _, cpuid = kvm.supported_cpuid()
            vcpu.set_cpuid2(cpuid)
            memory.write(CODE_ADDR, code)
            kernel = LoadedKernel(path=None, entry=CODE_ADDR + start_offset, phys_start=CODE_ADDR,
                                  phys_end=CODE_ADDR + len(code))
            enter_long_mode(vcpu, memory, kernel, 0)
            vcpu.set_guest_debug(control, debugreg)
            run = vcpu.run_struct
            r = vcpu.run()
            if r < 0:
                return ("interrupted", None, 0, 0)
            reason = run.exit_reason
            if reason == lib.KVM_EXIT_DEBUG:
                arch = run.debug.arch
                return ("debug", arch.pc, arch.exception, arch.dr6)
            names = {lib.KVM_EXIT_HLT: "hlt", lib.KVM_EXIT_INTERNAL_ERROR: "internal error",
                     lib.KVM_EXIT_SHUTDOWN: "shutdown"}
            return (names.get(reason, f"exit {reason}"), vcpu.get_regs().rip, 0, 0)
        finally:
            vcpu.close()
    finally:
        memory.close()
        vm.close()


def probe_guest_debug(kvm: Kvm) -> dict[str, tuple[bool, str]]:
    """{feature: (works, what happened)} for single-step, hardware and software breakpoints."""
    results = {}
    enable = lib.KVM_GUESTDBG_ENABLE
    try:
        what, pc, exc, dr6 = _one(kvm, enable | lib.KVM_GUESTDBG_SINGLESTEP, [0] * 8, 0)
        ok = what == "debug" and exc == 1 and bool(dr6 & DR6_BS) and pc == CODE_ADDR + 1
        results["single-step"] = (ok, f"{what}" + (f" (#{exc}, DR6 {dr6:#x}) at {pc:#x}" if what == "debug" else ""))
        regs = [CODE_ADDR + 1, 0, 0, 0, 0, 0, 0, DR7_G0 | 0x400]
        what, pc, exc, dr6 = _one(kvm, enable | lib.KVM_GUESTDBG_USE_HW_BP, regs, 0)
        ok = what == "debug" and exc == 1 and bool(dr6 & 1) and pc == CODE_ADDR + 1
        results["hardware breakpoints"] = (ok, f"{what}" + (f" (#{exc}, DR6 {dr6:#x}) at {pc:#x}"
                                                             if what == "debug" else ""))
        dr7 = DR7_G0 | 0x400 | (0b01 | 0b10 << 2) << 16  # DR0: write, 8 bytes
        what, pc, exc, dr6 = _one(kvm, enable | lib.KVM_GUESTDBG_USE_HW_BP, [WATCHED, 0, 0, 0, 0, 0, 0, dr7], 0,
                                  STORE)
        ok = what == "debug" and exc == 1 and bool(dr6 & 1)
        results["hardware watchpoints"] = (ok, f"{what}" + (f" (#{exc}, DR6 {dr6:#x}) at {pc:#x}"
                                                             if what == "debug" else " after the store"))
        what, pc, exc, dr6 = _one(kvm, enable | lib.KVM_GUESTDBG_USE_SW_BP, [0] * 8, 2)
        ok = what == "debug" and exc == 3
        results["software breakpoints (int3)"] = (ok, f"{what}" + (f" (#{exc}) at {pc:#x}" if what == "debug"
                                                                    else ""))
    except KvmError as e:
        results.setdefault("KVM_SET_GUEST_DEBUG", (False, str(e)))
    return results


def guest_debug_lines(kvm: Kvm, host_kind: str) -> list[str]:
    lines = ["guest debugging (KVM_SET_GUEST_DEBUG, measured at CPL0):"]
    results = probe_guest_debug(kvm)
    for name, (ok, what) in results.items():
        lines.append(f"  {name:<28} {'yes' if ok else 'NO':<4} ({what})")
    works = {name: ok for name, (ok, _) in results.items()}
    if works.get("software breakpoints (int3)"):
        lines.append("  gdb stub (--gdb): int3 software breakpoints (any number) + 4 hardware breakpoints")
    elif works.get("hardware breakpoints"):
        lines.append("  gdb stub (--gdb): software breakpoints use the 4 hardware debug registers "
                     "(at most 4 breakpoints in all)")
    else:
        lines.append("  gdb stub (--gdb): no breakpoints on this host")
    if not works.get("hardware watchpoints"):
        lines.append("  gdb stub (--gdb): no watchpoints on this host (data breakpoints do not fire)")
    if host_kind == "pvm":
        lines.append("  user mode (CPL3): #DB/#BP go to the guest here, so no breakpoints at user addresses "
                     "and no single-step in user mode")
    return lines
