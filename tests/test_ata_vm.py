"""The ATA model under a real vCPU: port exits from KVM, rep ins/outs, coalesced writes.

A few dozen instructions of 16-bit test code (assembled here with binutils,
run in real mode, no kernel) drive the primary channel the way a PIO driver
does: WRITE SECTORS of two sectors with `rep outsw` and `rep outsl`, a status
poll, READ SECTORS with `rep insw` into RAM, then the status to the exit
port. The host checks the image file, guest RAM and the VM exits.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from vmm.bus import Bus
from vmm.coalesced import CoalescedPio
from vmm.devices import ata
from vmm.devices.exit_port import ExitPort
from vmm.devices.pic8259 import PicPair
from vmm.disks import DiskImage
from vmm.kvm import Kvm, lib
from vmm.memory import GuestMemory
from vmm.run_loop import RunLoop

CODE, SOURCE, DEST = 0x1000, 0x2000, 0x3000

GUEST = r"""
.code16
.globl _start
_start:
    cld
    mov $0x1f6, %dx; mov $0xe0, %al; outb %al, %dx     # LBA, device 0
    mov $0x1f2, %dx; mov $2, %al; outb %al, %dx        # 2 sectors
    mov $0x1f3, %dx; mov $5, %al; outb %al, %dx        # LBA 5
    mov $0x1f4, %dx; xor %al, %al; outb %al, %dx
    mov $0x1f5, %dx; outb %al, %dx
    mov $0x1f7, %dx; mov $0x30, %al; outb %al, %dx     # WRITE SECTORS
1:  inb %dx, %al; test $8, %al; jz 1b
    mov $0x1f0, %dx; mov $256, %cx; mov $0x2000, %si; rep outsw
    mov $0x1f7, %dx
2:  inb %dx, %al; test $8, %al; jz 2b
    mov $0x1f0, %dx; mov $128, %cx; rep outsl
    mov $0x1f7, %dx
3:  inb %dx, %al; test $0x88, %al; jnz 3b              # until neither BSY nor DRQ
    mov %al, %bl
    mov $0x1f2, %dx; mov $1, %al; outb %al, %dx
    mov $0x1f3, %dx; mov $6, %al; outb %al, %dx        # LBA 6: the second sector written
    mov $0x1f7, %dx; mov $0x20, %al; outb %al, %dx     # READ SECTORS
4:  inb %dx, %al; test $8, %al; jz 4b
    mov $0x1f0, %dx; mov $256, %cx; mov $0x3000, %di; rep insw
    mov $0xf4, %dx; mov %bl, %al; outb %al, %dx        # status of the write
    hlt
"""


@pytest.fixture(scope="module")
def guest_code(tmp_path_factory) -> bytes:
    d = tmp_path_factory.mktemp("guest")
    (d / "g.S").write_text(GUEST)
    subprocess.run(["as", "--32", "-o", d / "g.o", d / "g.S"], check=True)
    subprocess.run(["ld", "-m", "elf_i386", f"-Ttext={CODE:#x}", "--oformat", "binary", "-o", d / "g.bin",
                    d / "g.o"], check=True)
    return (d / "g.bin").read_bytes()


def run_guest(code: bytes, image: DiskImage, data: bytes, coalesce: bool):
    kvm = Kvm()
    vm = kvm.create_vm()
    memory = GuestMemory(2 << 20)
    memory.attach(vm)
    vcpu = vm.create_vcpu(0)
    try:
        memory.write(CODE, code)
        memory.write(SOURCE, data)
        sregs = vcpu.get_sregs()
        for seg in (sregs.cs, sregs.ds, sregs.es, sregs.ss):
            seg.base, seg.selector = 0, 0
        vcpu.set_sregs(sregs)
        regs = vcpu.get_regs()
        regs.rip, regs.rflags, regs.rsp = CODE, 2, 0x8000
        vcpu.set_regs(regs)
        bus = Bus("port")
        channel = ata.AtaChannel("ata0", [ata.AtaDrive(image)])  # no IRQ line: the code polls
        bus.register(0x1F0, 8, channel)
        bus.register(0x3F6, 1, channel.control)
        loop = RunLoop(vcpu, memory, PicPair(), bus, Bus("mmio"))
        bus.register(0xF4, 1, ExitPort(loop.guest_exit))
        coalesced = CoalescedPio(vm, vcpu, bus)
        if coalesce:
            assert coalesced.add(0x1F0, 4), "KVM_CAP_COALESCED_PIO"
            loop.drain_coalesced = coalesced.drain
        status = loop.run()
        return status, memory.read(DEST, 512), loop.exit_counts[lib.KVM_EXIT_IO], coalesced.drained
    finally:
        vcpu.close()
        memory.close()
        vm.close()
        kvm.close()


@pytest.mark.parametrize("coalesce", [False, True], ids=["exit-per-write", "coalesced"])
def test_guest_writes_and_reads_sectors(tmp_path, guest_code, coalesce):
    path = tmp_path / "disk.img"
    path.write_bytes(b"\x11" * 512 * 16)
    data = os.urandom(1024)
    image = DiskImage(path)
    try:
        status, read_back, io_exits, drained = run_guest(guest_code, image, data, coalesce)
        print(f"coalesce={coalesce}: {io_exits} port exits, {drained} writes from the ring")
    finally:
        image.close()
    assert status == ata.DRDY | ata.DSC, "WRITE SECTORS completed without error"
    disk = path.read_bytes()
    assert disk[5 * 512:7 * 512] == data
    assert disk[:5 * 512] == b"\x11" * 5 * 512 and disk[7 * 512:] == b"\x11" * 9 * 512
    assert read_back == data[512:], "rep insw brought sector 6 into guest RAM"
    if coalesce:
        assert drained >= 256 + 128, "every data word went through the ring"
        assert io_exits < 60, f"{io_exits} port exits: the data writes should not exit one by one"
