"""pyos-vmm probe: what this host's KVM offers, and what that means for guests."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from .kvm import Kvm

CAPABILITIES = [
    ("KVM_CAP_USER_MEMORY", "guest RAM from an mmap'd buffer"),
    ("KVM_CAP_SET_TSS_ADDR", "KVM_SET_TSS_ADDR (needed on Intel VT-x)"),
    ("KVM_CAP_EXT_CPUID", "KVM_GET_SUPPORTED_CPUID / KVM_SET_CPUID2"),
    ("KVM_CAP_IMMEDIATE_EXIT", "kicking a vCPU out of KVM_RUN without races"),
    ("KVM_CAP_VCPU_EVENTS", "reading and setting pending exceptions/interrupts"),
    ("KVM_CAP_INTERNAL_ERROR_DATA", "details of KVM internal errors"),
    ("KVM_CAP_HLT", "HLT exits to the VMM"),
    ("KVM_CAP_NR_VCPUS", "recommended vCPUs"),
    ("KVM_CAP_MAX_VCPUS", "maximum vCPUs"),
    ("KVM_CAP_NR_MEMSLOTS", "memory slots"),
    ("KVM_CAP_IRQCHIP", "in-kernel irqchip (not used: pyos emulates its PIC)"),
    ("KVM_CAP_PIT2", "in-kernel PIT (not used: pyos emulates its PIT)"),
    ("KVM_CAP_SET_GUEST_DEBUG", "single-step and breakpoints for a debugger (--gdb)"),
]


def host_kind() -> tuple[str, str]:
    """('pvm'|'vmx'|'svm'|'unknown', explanation)."""
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    if Path("/sys/module/kvm_pvm").exists() or not flags & {"vmx", "svm"}:
        return "pvm", ("PVM-style KVM (no VT-x/AMD-V on this CPU): guest user mode runs natively, "
                       "guest kernel mode is emulated (a few million instructions per second); "
                       "SSE, xsave/xrstor and cmpxchg16b cannot run in guest kernel mode; "
                       "`syscall` from guest user mode is not delivered, so system calls trap")
    kind = "vmx" if "vmx" in flags else "svm"
    return kind, f"hardware virtualisation ({kind.upper()}): guest kernel and user mode both run natively"


def probe_report() -> str:
    kvm = Kvm()
    try:
        lines = [f"host: {platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} CPUs",
                 f"KVM API version: {kvm.api_version}"]
        kind, meaning = host_kind()
        lines.append(f"KVM kind: {kind}")
        lines.append(f"  {meaning}")
        lines.append("capabilities:")
        for cap, what in CAPABILITIES:
            value = kvm.check_extension(cap)
            lines.append(f"  {cap:<28} {value:>5}  {what}")
        _, cpuid = kvm.supported_cpuid()
        lines.append(f"supported CPUID leaves: {cpuid.nent}")
        from .debug_probe import guest_debug_lines
        lines += guest_debug_lines(kvm, kind)
        return "\n".join(lines)
    finally:
        kvm.close()
