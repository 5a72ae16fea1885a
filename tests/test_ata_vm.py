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


def test_guest_driver_identifies_every_disk(tmp_path):
    """The kernel's ATA driver (drivers/ata.c) probes both channels through this
    model: IDENTIFY's sector counts (LBA48 past 2^28 sectors), model, SET
    MULTIPLE MODE; the secondary channel with the third disk."""
    from .conftest import boot, write_config
    (tmp_path / "a.img").write_bytes(b"\0" * (8 << 20))
    with open(tmp_path / "b.img", "wb") as f:
        f.truncate(((1 << 28) + 1024) * 512)  # sparse: 128 GiB and a bit
    (tmp_path / "c.img").write_bytes(b"\0" * (1 << 20))
    config = write_config(tmp_path, '[serial]\ninput = "none"\n'
                                    '[[disk]]\npath = "a.img"\n'
                                    '[[disk]]\npath = "b.img"\nreadonly = true\n'
                                    '[[disk]]\npath = "c.img"\nsnapshot = true\n')
    result = boot("--cmdline", "exit=0", "--stats", config=config)
    assert result.status == 0, result.stderr
    console = result.console
    assert "ata: hda: primary master, 16384 sectors (8 MiB), LBA48, 16 sectors per interrupt, " \
           "'PYOS HARDDISK'" in console
    assert "ata: hdb: primary slave, 268436480 sectors (131072 MiB)" in console
    assert "ata: hdc: secondary master, 2048 sectors (1 MiB)" in console
    assert 'command line: "ata_secondary=1 exit=0"' in console
    kinds = next(l for l in result.stderr.splitlines() if l.startswith("pyos_device_commands_by_kind_total"))
    for expected in ('device=ata0,kind="IDENTIFY DEVICE" 2', 'device=ata0,kind="SET MULTIPLE MODE" 2',
                     'device=ata1,kind="IDENTIFY DEVICE" 1', 'device=ata1,kind="SET MULTIPLE MODE" 1'):
        assert expected in kinds, kinds


def pattern_bytes(size: int, seed: int) -> bytes:
    """fstest's fill/check pattern (guest_kernel/user/programs/fstest.c)."""
    return bytes(((i ^ (i >> 8) ^ (i >> 16)) * 131 + seed) & 0xFF for i in range(size))


OPS = """tree /host
mkdir /guest
write /guest/hello.txt written by the guest\\n
fill /guest/pattern.bin 100000 7
check /guest/pattern.bin 100000 7
sync
"""


@pytest.mark.parametrize("fs,snapshot", [("ext2", False), ("ext2", True), ("fat32", False)],
                         ids=["ext2-writable", "ext2-snapshot", "fat32-writable"])
def test_guest_reads_host_files_and_writes_its_own(tmp_path, fs, snapshot):
    """End to end through the kernel's driver, block cache and filesystem plugin:
    files the host put on the image (one past ext2's double-indirect blocks) read
    back byte-exact; the guest's files reach the image (e2fsck / fsck.fat clean,
    debugfs / mtype find them) and its FLUSH CACHE is counted; a snapshot disk
    leaves the image byte-identical."""
    import hashlib
    import zlib
    from .conftest import boot, write_config
    from .test_disks import tool_output
    tree = tmp_path / "tree"
    (tree / "host").mkdir(parents=True)
    (tree / "host" / "small.txt").write_text("hello from the host\n")
    big = os.urandom(400_000)  # ext2 with 1 KiB blocks: double-indirect past 274,432 bytes
    (tree / "host" / "big.bin").write_bytes(big)
    (tree / "ops.txt").write_text(OPS)
    image = tmp_path / "root.img"
    if fs == "ext2":
        subprocess.run(["mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-d", tree, image, "16M"], check=True)
    else:
        from vmm.mkimage import make_image
        make_image(image, "fat32", 40, tree)
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    config = write_config(tmp_path, f'[serial]\ninput = "none"\n[[disk]]\npath = "root.img"\n'
                                    f'snapshot = {"true" if snapshot else "false"}\n')
    result = boot("--cmdline", "-- fstest run /ops.txt", "--stats", config=config, timeout=600)
    assert result.status == 0, result.console[-3000:] + result.stderr
    console = result.console
    assert f"/host/big.bin f {len(big)} {zlib.crc32(big):08x}" in console
    assert f"/host/small.txt f 20 {zlib.crc32(b'hello from the host' + bytes([10])):08x}" in console
    assert "fstest: ok" in console
    kinds = next(l for l in result.stderr.splitlines() if l.startswith("pyos_device_commands_by_kind_total"))
    assert 'kind="FLUSH CACHE' in kinds and 'kind="WRITE MULTIPLE' in kinds, kinds
    if snapshot:
        assert hashlib.sha256(image.read_bytes()).hexdigest() == before
        return
    if fs == "ext2":
        rc, out, err = tool_output("e2fsck", "-fn", str(image))
        text = out.decode()
        assert rc == 0 and "Fix?" not in text and "count wrong" not in text, text + err
        read = lambda path: tool_output("debugfs", "-R", f"cat {path}", str(image))[1]  # noqa: E731
    else:
        rc, out, err = tool_output("fsck.fat", "-n", str(image))
        text = out.decode() + err
        assert rc == 0 and "differ" not in text and "Free cluster summary" not in text, text
        env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
        read = lambda path: tool_output("mtype", "-i", str(image), f"::{path}", env=env)[1]  # noqa: E731
    assert read("/guest/hello.txt") == b"written by the guest\n"
    assert read("/guest/pattern.bin") == pattern_bytes(100000, 7)
