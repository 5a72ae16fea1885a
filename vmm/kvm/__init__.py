"""The KVM API as three objects: Kvm (the /dev/kvm system), Vm and Vcpu.

Every ioctl goes through cffi (vmm/kvm/binding.py), never fcntl.ioctl:
fcntl refuses buffers over 1 KiB and retries on EINTR, which would make a
vCPU impossible to kick out of KVM_RUN. A failing ioctl raises KvmError
naming the ioctl and the errno.
"""

from __future__ import annotations

import errno
import mmap
import os

from ..errors import PyosError
from .binding import ffi, lib

__all__ = ["Kvm", "Vm", "Vcpu", "KvmError", "ffi", "lib"]


class KvmError(PyosError):
    """A KVM ioctl failed."""

    def __init__(self, what: str, err: int, hint: str = ""):
        self.errno = err
        name = errno.errorcode.get(err, str(err))
        super().__init__(f"{what} failed: {name} ({os.strerror(err)})", hint)


def _ioctl(fd: int, request_name: str, arg=None) -> int:
    request = getattr(lib, request_name)
    if arg is None or isinstance(arg, int):
        r = lib.pyos_ioctl_val(fd, request, arg or 0)
    else:
        r = lib.pyos_ioctl_ptr(fd, request, arg)
    if r < 0:
        raise KvmError(request_name, -r)
    return r


class Kvm:
    """The KVM subsystem: /dev/kvm."""

    def __init__(self, path: str = "/dev/kvm"):
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            hint = {
                errno.ENOENT: "load the kvm module (modprobe kvm_intel / kvm_amd) or run on a host with KVM",
                errno.EACCES: "add yourself to the 'kvm' group or run as root",
            }.get(e.errno, "check that KVM is available on this host")
            raise KvmError(f"opening {path}", e.errno, hint) from None
        version = _ioctl(self.fd, "KVM_GET_API_VERSION")
        if version != lib.KVM_API_VERSION:
            raise PyosError(f"KVM API version {version}, this VMM needs {lib.KVM_API_VERSION}")
        self.api_version = version

    def check_extension(self, cap_name: str) -> int:
        return _ioctl(self.fd, "KVM_CHECK_EXTENSION", getattr(lib, cap_name))

    def vcpu_mmap_size(self) -> int:
        return _ioctl(self.fd, "KVM_GET_VCPU_MMAP_SIZE")

    def supported_cpuid(self):
        """KVM_GET_SUPPORTED_CPUID, growing the buffer until it fits."""
        count = 64
        while True:
            # kvm_cpuid2 has a flexible array: allocate it with room for `count`.
            buf = ffi.new("char[]", ffi.sizeof("struct kvm_cpuid2") + count * ffi.sizeof("struct kvm_cpuid_entry2"))
            cpuid = ffi.cast("struct kvm_cpuid2 *", buf)
            cpuid.nent = count
            r = lib.pyos_ioctl_ptr(self.fd, lib.KVM_GET_SUPPORTED_CPUID, cpuid)
            if r == -errno.E2BIG:
                count *= 2
                continue
            if r < 0:
                raise KvmError("KVM_GET_SUPPORTED_CPUID", -r)
            return buf, cpuid

    def create_vm(self) -> "Vm":
        return Vm(self, _ioctl(self.fd, "KVM_CREATE_VM", 0))

    def close(self):
        os.close(self.fd)


class Vm:
    """One virtual machine: memory slots and vCPUs."""

    def __init__(self, kvm: Kvm, fd: int):
        self.kvm = kvm
        self.fd = fd
        self._regions = []  # keep the region structs' memory alive

    def set_user_memory_region(self, slot: int, guest_phys: int, host_addr: int, size: int, flags: int = 0):
        region = ffi.new("struct kvm_userspace_memory_region *", {
            "slot": slot, "flags": flags, "guest_phys_addr": guest_phys,
            "memory_size": size, "userspace_addr": host_addr})
        _ioctl(self.fd, "KVM_SET_USER_MEMORY_REGION", region)
        self._regions.append(region)

    def set_tss_addr(self, addr: int):
        """Needed on Intel hosts before the first KVM_RUN (three pages KVM uses for real mode)."""
        _ioctl(self.fd, "KVM_SET_TSS_ADDR", addr)

    def set_identity_map_addr(self, addr: int):
        value = ffi.new("uint64_t *", addr)
        _ioctl(self.fd, "KVM_SET_IDENTITY_MAP_ADDR", value)

    def stats_fd(self) -> int:
        """KVM_GET_STATS_FD: a read-only fd of this VM's binary statistics."""
        return _ioctl(self.fd, "KVM_GET_STATS_FD")
    def register_coalesced_pio(self, port: int, length: int):
        """Writes to these ports wait in the vCPU's coalesced ring instead of exiting
        (KVM_CAP_COALESCED_PIO); the VMM drains the ring, in order, at the next exit."""
        zone = ffi.new("struct kvm_coalesced_mmio_zone *", {"addr": port, "size": length, "pio": 1})
        _ioctl(self.fd, "KVM_REGISTER_COALESCED_MMIO", zone)

    def unregister_coalesced_pio(self, port: int, length: int):
        """Undo register_coalesced_pio: writes to these ports exit again."""
        zone = ffi.new("struct kvm_coalesced_mmio_zone *", {"addr": port, "size": length, "pio": 1})
        _ioctl(self.fd, "KVM_UNREGISTER_COALESCED_MMIO", zone)

    def create_vcpu(self, index: int = 0) -> "Vcpu":
        return Vcpu(self, index, _ioctl(self.fd, "KVM_CREATE_VCPU", index))

    def close(self):
        os.close(self.fd)


class Vcpu:
    """One virtual CPU and its shared kvm_run page."""

    def __init__(self, vm: Vm, index: int, fd: int):
        self.vm = vm
        self.index = index
        self.fd = fd
        self.run_size = size = vm.kvm.vcpu_mmap_size()
        self._run_map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._run_buf = ffi.from_buffer(self._run_map)
        # The same page as a memoryview: the run loop's exit data access (ints by index).
        self.run_map = memoryview(self._run_map)
        self.run_struct = ffi.cast("struct kvm_run *", self._run_buf)
        self._run_fn = lib.pyos_ioctl_val
        # The run loop's KVM_RUN: kvm_run(fd, stats) -> exit time or -errno (binding.py)
        self.kvm_run = lib.pyos_kvm_run
        self._run_request = lib.KVM_RUN
        self._interrupt_request = None

    def tsc_khz(self) -> int:
        """The guest TSC's frequency in kHz (KVM_GET_TSC_KHZ), 0 if this KVM cannot say."""
        r = lib.pyos_ioctl_val(self.fd, lib.KVM_GET_TSC_KHZ, 0)
        return max(r, 0)

    def run(self) -> int:
        """KVM_RUN once. Returns 0, or -EINTR when a signal kicked the vCPU out."""
        r = self._run_fn(self.fd, self._run_request, 0)
        if r < 0 and r != -errno.EINTR and r != -errno.EAGAIN:
            raise KvmError("KVM_RUN", -r)
        return r

    def stats_fd(self) -> int:
        """KVM_GET_STATS_FD: a read-only fd of this vCPU's binary statistics."""
        return _ioctl(self.fd, "KVM_GET_STATS_FD")
    def coalesced_ring(self):
        """The coalesced-write ring page (struct kvm_coalesced_mmio_ring *), or None if KVM maps none."""
        offset = lib.KVM_COALESCED_MMIO_PAGE_OFFSET * mmap.PAGESIZE
        if self.run_size < offset + mmap.PAGESIZE:
            return None
        return self._run_buf + offset

    def io_data(self, offset: int, size: int):
        """The data buffer of a KVM_EXIT_IO exit, as a writable cffi buffer."""
        return ffi.buffer(self._run_buf + offset, size)

    # -- registers ---------------------------------------------------------
    def get_regs(self):
        regs = ffi.new("struct kvm_regs *")
        _ioctl(self.fd, "KVM_GET_REGS", regs)
        return regs

    def set_regs(self, regs):
        _ioctl(self.fd, "KVM_SET_REGS", regs)

    def get_sregs(self):
        sregs = ffi.new("struct kvm_sregs *")
        _ioctl(self.fd, "KVM_GET_SREGS", sregs)
        return sregs

    def set_sregs(self, sregs):
        _ioctl(self.fd, "KVM_SET_SREGS", sregs)

    def set_cpuid2(self, cpuid):
        _ioctl(self.fd, "KVM_SET_CPUID2", cpuid)

    def set_msrs(self, msrs: dict[int, int]):
        buf = ffi.new("char[]", ffi.sizeof("struct kvm_msrs") + len(msrs) * ffi.sizeof("struct kvm_msr_entry"))
        table = ffi.cast("struct kvm_msrs *", buf)
        table.nmsrs = len(msrs)
        for i, (index, value) in enumerate(msrs.items()):
            table.entries[i].index = index
            table.entries[i].data = value
        written = _ioctl(self.fd, "KVM_SET_MSRS", table)
        if written != len(msrs):
            bad = list(msrs)[written]
            raise PyosError(f"KVM_SET_MSRS refused MSR {bad:#x}")

    def get_msrs(self, indices: list[int]) -> dict[int, int]:
        buf = ffi.new("char[]", ffi.sizeof("struct kvm_msrs") + len(indices) * ffi.sizeof("struct kvm_msr_entry"))
        table = ffi.cast("struct kvm_msrs *", buf)
        table.nmsrs = len(indices)
        for i, index in enumerate(indices):
            table.entries[i].index = index
        read = _ioctl(self.fd, "KVM_GET_MSRS", table)
        return {table.entries[i].index: table.entries[i].data for i in range(read)}

    def translate(self, linear: int):
        """Guest linear → physical address through the guest's page tables, or None."""
        tr = ffi.new("struct kvm_translation *", {"linear_address": linear})
        _ioctl(self.fd, "KVM_TRANSLATE", tr)
        return tr.physical_address if tr.valid else None

    def interrupt(self, vector: int):
        """Inject an external interrupt (KVM_INTERRUPT; userspace irqchip only)."""
        request = self._interrupt_request
        if request is None:  # one struct for every injection, not one allocation each
            request = self._interrupt_request = ffi.new("struct kvm_interrupt *")
        request.irq = vector
        r = lib.pyos_ioctl_ptr(self.fd, lib.KVM_INTERRUPT, request)
        if r < 0:
            raise KvmError("KVM_INTERRUPT", -r)

    def get_vcpu_events(self):
        events = ffi.new("struct kvm_vcpu_events *")
        _ioctl(self.fd, "KVM_GET_VCPU_EVENTS", events)
        return events

    def set_vcpu_events(self, events):
        _ioctl(self.fd, "KVM_SET_VCPU_EVENTS", events)

    def set_guest_debug(self, control: int, debugreg=(0,) * 8):
        """KVM_SET_GUEST_DEBUG: single-step and breakpoints for a debugger (vmm/gdbstub.py)."""
        dbg = ffi.new("struct kvm_guest_debug *")
        dbg.control = control
        for i, value in enumerate(debugreg):
            dbg.arch.debugreg[i] = value
        _ioctl(self.fd, "KVM_SET_GUEST_DEBUG", dbg)

    def close(self):
        self.run_struct = None
        ffi.release(self._run_buf)
        self.run_map.release()
        self._run_map.close()
        os.close(self.fd)
