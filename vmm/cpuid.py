"""The CPUID the guest sees: KVM's supported set, adjusted to this machine.

- No local APIC: interrupts come from the emulated 8259A through
  KVM_INTERRUPT, so CPUID 1 reports neither an APIC nor x2APIC.
- The TSC's frequency in the hypervisor timing leaf 0x40000010 (EAX: TSC
  kHz, EBX: the local APIC timer's kHz, 0 here), the leaf VMware defined
  and QEMU (vmware-cpuid-freq), cloud-hypervisor and others fill in. KVM
  knows the guest TSC's rate (KVM_GET_TSC_KHZ); with it the guest kernel
  needs no calibration against the PIT at boot (30 ms of polling counter 2;
  `tsc=pit` on the kernel command line still asks for it). CPUID 1's
  hypervisor bit and 0x40000000's EAX (the highest hypervisor leaf) tell
  the guest the leaf is there; without a rate from KVM it is left out.
"""

from __future__ import annotations

from .kvm import ffi

CPUID1_EDX_APIC = 1 << 9
CPUID1_ECX_X2APIC = 1 << 21
CPUID1_ECX_HYPERVISOR = 1 << 31
HYPERVISOR_BASE = 0x4000_0000
TIMING_LEAF = 0x4000_0010


def machine_cpuid(supported, tsc_khz: int):
    """(buffer, struct kvm_cpuid2 *) for KVM_SET_CPUID2, from KVM_GET_SUPPORTED_CPUID's answer."""
    entries = [supported.entries[i] for i in range(supported.nent)]
    has_base = any(e.function == HYPERVISOR_BASE for e in entries)
    add_timing = tsc_khz > 0 and has_base and not any(e.function == TIMING_LEAF for e in entries)
    count = len(entries) + (1 if add_timing else 0)
    buf = ffi.new("char[]", ffi.sizeof("struct kvm_cpuid2") + count * ffi.sizeof("struct kvm_cpuid_entry2"))
    cpuid = ffi.cast("struct kvm_cpuid2 *", buf)
    cpuid.nent = count
    for i, source in enumerate(entries):
        cpuid.entries[i] = source
        entry = cpuid.entries[i]
        if entry.function == 1:
            entry.edx &= ~CPUID1_EDX_APIC
            entry.ecx &= ~CPUID1_ECX_X2APIC
            if add_timing:
                entry.ecx |= CPUID1_ECX_HYPERVISOR
        elif entry.function == HYPERVISOR_BASE and add_timing:
            entry.eax = max(entry.eax, TIMING_LEAF)
    if add_timing:
        leaf = cpuid.entries[count - 1]
        leaf.function, leaf.index, leaf.flags = TIMING_LEAF, 0, 0
        leaf.eax, leaf.ebx, leaf.ecx, leaf.edx = tsc_khz, 0, 0, 0
    return buf, cpuid
