"""The cffi KVM binding and the host probe."""

from __future__ import annotations

import pytest

from vmm.kvm import Kvm, KvmError, ffi, lib


def test_constants_come_from_the_header():
    # _IO(KVMIO=0xAE, 0x80) for KVM_RUN; the value is read from <linux/kvm.h>.
    assert lib.KVM_RUN == 0xAE80
    assert lib.KVM_API_VERSION == 12
    assert ffi.offsetof("struct kvm_run", "exit_reason") == 8


def test_bootinfo_layout_from_shared_header():
    # The same header the guest compiles: fields and sizes as C sees them.
    assert ffi.sizeof("struct pyos_memmap_entry") == 24
    assert ffi.offsetof("struct pyos_boot_info", "memmap") == 40
    assert lib.PYOS_MEMMAP_MAX == 32


def test_failing_ioctl_names_ioctl_and_errno():
    kvm = Kvm()
    vm = kvm.create_vm()
    vcpu = vm.create_vcpu(0)
    try:
        with pytest.raises(KvmError) as info:
            vm.create_vcpu(0)  # the same index twice
        assert "KVM_CREATE_VCPU failed: EEXIST" in str(info.value)
        assert info.value.errno == 17
    finally:
        vcpu.close()
        vm.close()
        kvm.close()


def test_supported_cpuid_and_extensions():
    kvm = Kvm()
    try:
        _, cpuid = kvm.supported_cpuid()
        assert cpuid.nent > 0
        assert kvm.check_extension("KVM_CAP_IMMEDIATE_EXIT") == 1
    finally:
        kvm.close()


def test_probe_command():
    from .conftest import REPO, vmm_command
    import subprocess
    out = subprocess.run(vmm_command("probe"), capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0
    assert "KVM API version: 12" in out.stdout
    assert "KVM_CAP_IMMEDIATE_EXIT" in out.stdout
    assert "KVM kind:" in out.stdout
