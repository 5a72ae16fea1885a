"""ATA model behaviours tests/test_ata.py does not pin down, found by mutation
testing (python -m mutation ata). ATA/ATAPI-6 (ANSI INCITS 361-2002): the
IDENTIFY DEVICE words, the status and error registers, the PIO data-in,
data-out and non-data protocols, LBA28/LBA48/CHS addressing, SET FEATURES,
software reset, nIEN, and the model's own counters and stats lines.

Images are in memory (MemImage) so the tests are fast and see every host
call; the port numbers are the primary channel's (0x1F0-0x1F7, 0x3F6).
"""

from __future__ import annotations

import pytest

from vmm.bus import Bus
from vmm.devices import ata
from vmm.irq import IrqLine

DATA, ERROR, FEATURES, NSECT, LBAL, LBAM, LBAH, DEVICE, STATUS, COMMAND = (
    0x1F0, 0x1F1, 0x1F1, 0x1F2, 0x1F3, 0x1F4, 0x1F5, 0x1F6, 0x1F7, 0x1F7)
CONTROL = ALTSTATUS = 0x3F6
# Status and error bits (ATA-6 7.15.6, 7.10.6), as literals
BSY, DRDY, DF, DSC, DRQ, ERR = 0x80, 0x40, 0x20, 0x10, 0x08, 0x01
ABRT, IDNF, UNC = 0x04, 0x10, 0x40
NIEN, SRST, HOB = 0x02, 0x04, 0x80


def sector(lba: int) -> bytes:
    """Distinct content for every sector: its LBA and the byte offset in each 4-byte word."""
    return b"".join(((lba & 0xFFFF) << 16 | i).to_bytes(4, "little") for i in range(128))


class MemImage:
    """A disk image in memory that records the host calls made on it."""

    def __init__(self, sectors=256, readonly=False, path="mem.img", fail=()):
        self.path = path
        self.sectors = sectors
        self.readonly = readonly
        self.data = {}
        self.calls = []
        self.fail = set(fail)  # "read", "write", "flush"

    def read(self, lba, count):
        self.calls.append(("read", lba, count))
        if "read" in self.fail:
            raise OSError(5, "EIO")
        return b"".join(self.data.get(s, sector(s)) for s in range(lba, lba + count))

    def write(self, lba, data):
        self.calls.append(("write", lba, len(data)))
        if "write" in self.fail:
            raise OSError(28, "ENOSPC")
        for i in range(len(data) // 512):
            self.data[lba + i] = bytes(data[512 * i:512 * i + 512])

    def flush(self):
        self.calls.append(("flush",))
        if "flush" in self.fail:
            raise OSError(5, "EIO")


class Rig:
    """A primary channel on a port bus with its IRQ 14 line."""

    def __init__(self, *images, serials=None):
        self.bus = Bus("port")
        self.irq = IrqLine(14)
        drives = [ata.AtaDrive(img, serials[i] if serials else f"SER{i}") if img is not None else None
                  for i, img in enumerate(images)]
        self.channel = ata.AtaChannel("ata0", drives, self.irq)
        self.bus.register(0x1F0, 8, self.channel)
        self.bus.register(0x3F6, 1, self.channel.control)

    def out(self, port, value, size=1):
        self.bus.write(port, size, value)

    def inb(self, port):
        return self.bus.read(port, 1)

    @property
    def line(self):
        return self.irq.level

    @property
    def d0(self):
        return self.channel.drives[0]

    def regs(self):
        return tuple(self.inb(p) for p in (NSECT, LBAL, LBAM, LBAH, DEVICE))

    def lba28(self, lba, count, dev=0):
        self.out(DEVICE, 0xE0 | dev << 4 | lba >> 24 & 0xF)
        self.out(NSECT, count & 0xFF)
        self.out(LBAL, lba & 0xFF)
        self.out(LBAM, lba >> 8 & 0xFF)
        self.out(LBAH, lba >> 16 & 0xFF)

    def lba48(self, lba, count, dev=0):
        self.out(DEVICE, 0x40 | dev << 4)
        for reg, value in ((NSECT, count >> 8), (LBAL, lba >> 24), (LBAM, lba >> 32), (LBAH, lba >> 40),
                           (NSECT, count), (LBAL, lba), (LBAM, lba >> 8), (LBAH, lba >> 16)):
            self.out(reg, value & 0xFF)

    def chs(self, cyl, head, sect, count, dev=0):
        self.out(DEVICE, 0xA0 | dev << 4 | head)
        self.out(NSECT, count)
        self.out(LBAL, sect)
        self.out(LBAM, cyl & 0xFF)
        self.out(LBAH, cyl >> 8)

    def sector_in(self):
        return self.bus.read_block(DATA, 2, 256)

    def sector_out(self, data):
        self.bus.write_block(DATA, 2, data)


def word(data, n):
    return int.from_bytes(data[2 * n:2 * n + 2], "little")


def identify(rig, dev=0):
    rig.out(DEVICE, 0xA0 | dev << 4)
    rig.out(COMMAND, 0xEC)
    return rig.sector_in()


# -- IDENTIFY DEVICE (ATA-6 8.15) -------------------------------------------------------------
def test_identify_every_word():
    """All 256 words of IDENTIFY DEVICE for a 100000-sector drive: the words the
    model defines have their ATA-6 values, every other word is 0."""
    rig = Rig(MemImage(100000))
    data = identify(rig)
    assert len(data) == 512
    expect = {
        0: 0x0040,                      # fixed device, ATA
        1: 99, 3: 16, 6: 63,            # default CHS: 100000 // (16 * 63) cylinders
        47: 0x8010,                     # READ/WRITE MULTIPLE: up to 16 sectors
        49: 0x0200,                     # LBA, no DMA
        50: 0x4000,
        51: 0x0200,                     # PIO mode 2 timing
        53: 0x0003,                     # words 54-58 and 64-70 valid
        54: 99, 55: 16, 56: 63,         # current CHS translation
        57: 99 * 16 * 63 & 0xFFFF, 58: 99 * 16 * 63 >> 16,
        59: 0,
        60: 100000 & 0xFFFF, 61: 100000 >> 16,
        64: 0x0003,                     # PIO 3 and 4
        65: 120, 66: 120, 67: 120, 68: 120,
        80: 0x007E,                     # ATA-1 to ATA-6
        82: 0x0060, 83: 0x7400, 84: 0x4000, 85: 0x0060, 86: 0x3400, 87: 0x4000,
        100: 100000 & 0xFFFF, 101: 100000 >> 16, 102: 0, 103: 0,
    }
    strings = set(range(10, 20)) | set(range(23, 47))
    for n in range(255):
        if n not in strings:
            assert word(data, n) == expect.get(n, 0), f"word {n}"
    assert data[20:40] == b"ES0R" + b" " * 16, "serial, byte-swapped pairs, space padded"
    assert data[46:54] == b".0.1 0  ", "firmware 0.1.0, swapped"
    assert data[54:94] == b"YPSOH RADDSI K" + b" " * 26
    assert data[510] == 0xA5 and sum(data) & 0xFF == 0


def test_identify_strings_are_cut_to_their_fields():
    """Serial number 20 characters, model 40, ASCII with '?' for anything else."""
    img = MemImage(64)
    d = ata.AtaDrive(img, serial="S" * 19 + "XYZ", model="m\u00e9" + "x" * 50)
    data = d.identify()
    assert data[20:40] == b"S" * 18 + b"XS"
    assert data[54:56] == b"?m" and data[56:94] == b"x" * 38
    assert data[94:96] == b"\x10\x80", "word 47 follows the model number"


def test_identify_geometry_bounds():
    """Default translation: 16 heads x 63 sectors, at least 1 and at most 16383 cylinders;
    words 57-58 (current capacity) are cylinders x heads x sectors."""
    small = ata.AtaDrive(MemImage(100)).identify()
    assert (word(small, 1), word(small, 3), word(small, 6)) == (1, 16, 63)
    assert word(small, 57) | word(small, 58) << 16 == 1008
    assert ata.default_geometry(16383 * 16 * 63) == (16383, 16, 63)
    assert ata.default_geometry(16384 * 16 * 63) == (16383, 16, 63)
    assert ata.default_geometry(16 * 63 * 2 - 1) == (1, 16, 63)
    assert ata.default_geometry(16 * 63 * 2) == (2, 16, 63)


def test_identify_reports_multiple_look_ahead_and_write_cache_state():
    """Word 59 bit 8 + the multiple count once set; word 85 bits 6 (look-ahead)
    and 5 (write cache) follow SET FEATURES 55h/AAh and 82h/02h."""
    rig = Rig(MemImage(256))
    rig.out(NSECT, 16)
    rig.out(COMMAND, 0xC6)
    rig.out(FEATURES, 0x55)
    rig.out(COMMAND, 0xEF)
    data = identify(rig)
    assert word(data, 59) == 0x0110
    assert word(data, 85) == 0x0020, "look-ahead off, write cache on"
    rig.out(FEATURES, 0x82)
    rig.out(COMMAND, 0xEF)
    assert word(identify(rig), 85) == 0x0000
    rig.out(FEATURES, 0xAA)
    rig.out(COMMAND, 0xEF)
    rig.out(FEATURES, 0x02)
    rig.out(COMMAND, 0xEF)
    assert word(identify(rig), 85) == 0x0060
    rig.out(NSECT, 0)
    rig.out(COMMAND, 0xC6)  # 0 disables multiple mode
    assert rig.inb(STATUS) == DRDY | DSC
    assert word(identify(rig), 59) == 0


def test_identify_protocol():
    """IDENTIFY is PIO data-in: DRQ and an interrupt for its one block, no
    interrupt when the block has been read, Error 0."""
    rig = Rig(MemImage(64))
    rig.out(FEATURES, 0x77)
    rig.out(COMMAND, 0x00)  # an aborted command leaves ABRT in Error
    assert rig.inb(ERROR) == ABRT
    rig.out(COMMAND, 0xEC)
    assert rig.line and rig.inb(STATUS) == DRDY | DSC | DRQ
    assert rig.inb(ERROR) == 0
    assert not rig.line
    rig.sector_in()
    assert not rig.line and rig.inb(STATUS) == DRDY | DSC
    assert rig.bus.read(DATA, 2) == 0
