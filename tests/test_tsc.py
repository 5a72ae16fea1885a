"""The guest's TSC rate: told by the VMM (CPUID 0x40000010), or measured against the PIT.

pyos-vmm puts KVM's guest TSC rate (KVM_GET_TSC_KHZ) in the hypervisor
timing leaf (vmm/cpuid.py); the kernel takes it from there and skips the
30 ms calibration against PIT counter 2 (guest_kernel/kernel/main.c).
`tsc=pit` asks for the calibration anyway: its answer must agree with KVM's
rate, which is the host's own, not derived from the emulated PIT.
"""

from __future__ import annotations

import re

from vmm import config as config_mod
from vmm.cpuid import CPUID1_ECX_HYPERVISOR, HYPERVISOR_BASE, TIMING_LEAF, machine_cpuid
from vmm.kvm import Kvm
from vmm.machine import Machine

TSC_LINE = re.compile(r"tsc: (\d+) kHz \(([^)]*)\)")


def _boot(kernel_elf, cmdline: str):
    printed = []
    cfg = config_mod.from_dict({"kernel": {"cmdline": cmdline}, "serial": {"output": "none", "input": "none"}})
    machine = Machine(cfg, kernel_elf, output=printed.append)
    try:
        status = machine.run()
        told = machine.vcpu.tsc_khz()
    finally:
        machine.close()
    text = b"".join(printed).decode(errors="replace")
    assert status == 0, text[-1500:]
    line = TSC_LINE.search(text)
    assert line, text[-1500:]
    return int(line.group(1)), line.group(2), told


def test_the_guest_takes_the_tsc_rate_kvm_reports(kernel_elf):
    khz, how, told = _boot(kernel_elf, "exit=0")
    assert told > 0, "KVM_GET_TSC_KHZ"
    assert how == "from the hypervisor, CPUID 0x40000010"
    assert khz == told


def test_tsc_pit_calibrates_and_agrees_with_kvm(kernel_elf):
    khz, how, told = _boot(kernel_elf, "exit=0 tsc=pit")
    assert how == "calibrated against PIT counter 2"
    # Three 10 ms windows of PIT counter 2, each read through port exits that
    # take tens of µs on a loaded host: 1 % is what that method can promise.
    assert abs(khz - told) <= told / 100, (khz, told)


def test_the_timing_leaf_is_announced_and_left_out_without_a_rate():
    kvm = Kvm()
    supported_buf, supported = kvm.supported_cpuid()  # each buffer stays referenced while its struct is read
    cpuid_buf, cpuid = machine_cpuid(supported, 1_234_567)
    leaves = {cpuid.entries[i].function: cpuid.entries[i] for i in range(cpuid.nent)}
    assert leaves[TIMING_LEAF].eax == 1_234_567 and leaves[TIMING_LEAF].ebx == 0
    assert leaves[HYPERVISOR_BASE].eax >= TIMING_LEAF
    assert leaves[1].ecx & CPUID1_ECX_HYPERVISOR
    assert not leaves[1].edx & (1 << 9), "no local APIC"
    without_buf, without = machine_cpuid(supported, 0)
    functions = [without.entries[i].function for i in range(without.nent)]
    assert TIMING_LEAF not in functions and len(functions) == supported.nent
