"""ATA model behaviours tests/test_ata.py does not pin down, found by mutation
testing (python -m mutation ata). ATA/ATAPI-6 (ANSI INCITS 361-2002): the
IDENTIFY DEVICE words, the status and error registers, the PIO data-in,
data-out and non-data protocols, LBA28/LBA48/CHS addressing, SET FEATURES,
software reset, nIEN, and the model's own counters and stats lines.

Images are in memory (MemImage) so the tests are fast and see every host
call; the port numbers are the primary channel's (0x1F0-0x1F7, 0x3F6).
"""

from __future__ import annotations

import zlib

import pytest

from vmm.bus import Bus
from vmm.devices import ata
from vmm.irq import IrqLine

from .test_ata import Rig as AtaRig
from .test_ata import word

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
        self.fail_from = None  # an LBA from which reads and writes fail

    def read(self, lba, count):
        self.calls.append(("read", lba, count))
        if "read" in self.fail or self.fail_from is not None and lba + count > self.fail_from:
            raise OSError(5, "EIO")
        return b"".join(self.data.get(s, sector(s)) for s in range(lba, lba + count))

    def write(self, lba, data):
        self.calls.append(("write", lba, len(data)))
        if "write" in self.fail or self.fail_from is not None and lba + len(data) // 512 > self.fail_from:
            raise OSError(28, "ENOSPC")
        for i in range(len(data) // 512):
            self.data[lba + i] = bytes(data[512 * i:512 * i + 512])

    def flush(self):
        self.calls.append(("flush",))
        if "flush" in self.fail:
            raise OSError(5, "EIO")


class Rig(AtaRig):
    """tests/test_ata.py's rig (the same port helpers), built from drives with given serials
    (SER0, SER1... by default) and any image objects, plus CHS addressing and a register dump."""

    def __init__(self, *images, serials=None):
        self.images = list(images)
        self.bus = Bus("port")
        self.irq = IrqLine(14)
        drives = [ata.AtaDrive(img, serials[i] if serials else f"SER{i}") if img is not None else None
                  for i, img in enumerate(images)]
        self.channel = ata.AtaChannel("ata0", drives, self.irq)
        self.bus.register(0x1F0, 8, self.channel)
        self.bus.register(0x3F6, 1, self.channel.control)

    @property
    def d0(self):
        return self.channel.drives[0]

    def regs(self):
        return tuple(self.inb(p) for p in (NSECT, LBAL, LBAM, LBAH, DEVICE))

    def chs(self, cyl, head, sect, count, dev=0):
        self.out(DEVICE, 0xA0 | dev << 4 | head)
        self.out(NSECT, count)
        self.out(LBAL, sect)
        self.out(LBAM, cyl & 0xFF)
        self.out(LBAH, cyl >> 8)


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


# -- status and error registers on each kind of failure (ATA-6 6.2, 7.10, 7.15) --------------
def test_error_completions_set_exact_status_and_error():
    """An aborted command: DRDY|DSC|ERR (0x51), Error ABRT (0x04); an address that does
    not exist: Error IDNF (0x10); a host read error: UNC (0x40); a host write or
    flush error: DF too (0x71) with ABRT. Each interrupts and counts one error."""
    rig = Rig(MemImage(64))
    rig.out(COMMAND, 0xF0)  # unsupported
    assert rig.line and (rig.inb(STATUS), rig.inb(ERROR)) == (0x51, 0x04)
    rig.lba28(64, 1)
    rig.out(COMMAND, 0x20)
    assert rig.line and (rig.inb(STATUS), rig.inb(ERROR)) == (0x51, 0x10)
    assert rig.d0.counters["errors"] == 2
    bad = Rig(MemImage(64, fail={"read", "write", "flush"}))
    bad.lba28(3, 2)
    bad.out(COMMAND, 0x20)
    assert bad.line and (bad.inb(STATUS), bad.inb(ERROR)) == (0x51, 0x40)
    bad.lba28(3, 2)
    bad.out(COMMAND, 0x30)
    assert not bad.line and bad.inb(STATUS) == 0x58
    bad.sector_out(bytes(512))
    assert bad.line and (bad.inb(STATUS), bad.inb(ERROR)) == (0x71, 0x04)
    assert bad.regs()[:2] == (2, 3), "the failing sector, the sectors not done"
    bad.out(COMMAND, 0xE7)
    assert bad.line and (bad.inb(STATUS), bad.inb(ERROR)) == (0x71, 0x04)
    bad.out(FEATURES, 0x82)
    bad.out(COMMAND, 0xEF)
    assert bad.line and (bad.inb(STATUS), bad.inb(ERROR)) == (0x71, 0x04)
    assert not word(bad.d0.identify(), 85) & 1 << 5, "the cache is off even though the flush failed"
    c = bad.d0.counters
    assert (c["errors"], c["flushes"], c["bytes_read"], c["bytes_written"]) == (4, 0, 0, 0)


def test_successful_completion_clears_error():
    """A command that completes normally leaves Error 0 and status DRDY|DSC (0x50)."""
    rig = Rig(MemImage(64))
    rig.out(COMMAND, 0xF0)
    assert rig.inb(ERROR) == ABRT
    rig.out(COMMAND, 0xE7)
    assert (rig.inb(STATUS), rig.inb(ERROR)) == (0x50, 0)
    rig.out(COMMAND, 0xF0)
    rig.lba28(1, 1)
    rig.out(COMMAND, 0x20)
    assert (rig.inb(STATUS), rig.inb(ERROR)) == (0x58, 0), "a read's data phase: Error 0"
    rig.out(COMMAND, 0xF0)
    rig.lba28(1, 1)
    rig.out(COMMAND, 0x30)
    assert (rig.inb(STATUS), rig.inb(ERROR)) == (0x58, 0), "a write's data phase: Error 0"


# -- Device Control (ATA-6 7.9) -----------------------------------------------------------------
def test_device_control_reserved_bits_do_nothing():
    """Only bit 1 (nIEN), bit 2 (SRST) and bit 7 (HOB) mean anything."""
    rig = Rig(MemImage(64))
    rig.out(COMMAND, 0xE7)
    for value in (0x01, 0x08, 0x10, 0x20, 0x40, 0x79):
        rig.out(CONTROL, value)
        assert rig.line, f"control {value:#x} masked the interrupt"
        assert rig.inb(ALTSTATUS) == 0x50, f"control {value:#x}"
    assert rig.channel.control_reg == 0
    rig.out(CONTROL, 0xFF)
    assert rig.channel.control_reg == 0x86
    assert rig.inb(ALTSTATUS) == 0x80, "SRST: BSY alone"
    assert not rig.line


def test_busy_during_reset_reads_only_bsy_and_ignores_registers():
    """While SRST is 1 both devices are busy: Status is 80h, the other registers
    read 0 and writes to them (and to the data port) are ignored."""
    rig = Rig(MemImage(64), MemImage(64))
    rig.lba28(5, 1)
    rig.out(CONTROL, SRST)
    assert rig.inb(STATUS) == 0x80 and rig.inb(ALTSTATUS) == 0x80
    for port in (ERROR, NSECT, LBAL, LBAM, LBAH, DEVICE):
        assert rig.inb(port) == 0
    assert rig.bus.read(DATA, 2) == 0 and rig.bus.read_block(DATA, 2, 4) == bytes(8)
    rig.out(NSECT, 9)
    rig.out(DEVICE, 0xF0)
    rig.out(DATA, 0x1234, 2)
    rig.bus.write_block(DATA, 2, bytes(8))
    rig.out(CONTROL, SRST | NIEN)  # still in reset
    rig.out(CONTROL, 0)
    assert rig.regs() == (1, 1, 0, 0, 0xA0)
    assert rig.inb(STATUS) == 0x50 and rig.inb(ERROR) == 1
    assert rig.channel.unit == 0


def test_reset_selects_device_0_and_resets_device_1_too():
    """SRST resets both devices: each shows the signature and DRDY; device 0 is selected."""
    rig = Rig(MemImage(64), MemImage(64))
    rig.out(DEVICE, 0xB0)
    rig.lba28(7, 2, dev=1)
    rig.out(COMMAND, 0x20)  # device 1 in a transfer
    rig.out(CONTROL, SRST)
    rig.out(CONTROL, 0)
    assert rig.inb(DEVICE) == 0xA0
    rig.out(DEVICE, 0xB0)
    assert rig.inb(STATUS) == 0x50 and rig.inb(ERROR) == 1
    assert rig.regs()[:4] == (1, 1, 0, 0)
    assert rig.bus.read(DATA, 2) == 0, "device 1's transfer was cancelled"
    assert not rig.line


def test_srst_cancels_pending_interrupts():
    """Setting SRST drops both devices' pending interrupts; clearing it raises none."""
    rig = Rig(MemImage(64), MemImage(64))
    rig.out(COMMAND, 0xE7)
    rig.out(DEVICE, 0xB0)
    rig.out(COMMAND, 0xE7)
    assert rig.line
    rig.out(CONTROL, SRST)
    assert not rig.line
    rig.out(CONTROL, SRST)
    rig.out(CONTROL, 0)
    assert not rig.line
    assert not rig.channel.drives[0].irq_pending and not rig.channel.drives[1].irq_pending


def test_power_on_register_state():
    """At power-on: the signature (1, 1, 0, 0), device 0, Error 01h, the previous
    contents (HOB) all 0, multiple mode off, no pending interrupt."""
    rig = Rig(MemImage(64))
    assert rig.regs() == (1, 1, 0, 0, 0xA0)
    rig.out(CONTROL, HOB)
    assert rig.regs()[:4] == (0, 0, 0, 0)
    assert rig.inb(ERROR) == 1, "Error with HOB = 1 is still the Error register"
    rig.out(CONTROL, 0)
    assert rig.inb(STATUS) == 0x50 and not rig.line
    assert word(identify(rig), 59) == 0


def test_software_reset_keeps_settings_unless_revert_to_defaults():
    """SRST keeps the multiple count, CHS translation and features; after SET FEATURES
    CCh (revert to power-on defaults) it restores them; 66h turns that off again."""
    rig = Rig(MemImage(100000))

    def settings():
        data = identify(rig)
        return word(data, 59), word(data, 55), word(data, 56), word(data, 85)

    def reset():
        rig.out(CONTROL, SRST)
        rig.out(CONTROL, 0)

    def customise():
        rig.out(NSECT, 4)
        rig.out(COMMAND, 0xC6)
        rig.out(DEVICE, 0xA0 | 7)
        rig.out(NSECT, 17)
        rig.out(COMMAND, 0x91)
        for f in (0x82, 0x55):
            rig.out(FEATURES, f)
            rig.out(COMMAND, 0xEF)
        assert settings() == (0x104, 8, 17, 0)

    defaults = settings()
    assert defaults == (0, 16, 63, 0x60)
    customise()
    reset()
    assert settings() == (0x104, 8, 17, 0), "kept over a reset"
    rig.out(FEATURES, 0xCC)
    rig.out(COMMAND, 0xEF)
    assert rig.inb(STATUS) == 0x50
    assert settings() == (0x104, 8, 17, 0), "CCh only arms the revert"
    reset()
    assert settings() == defaults
    customise()
    rig.out(FEATURES, 0x66)
    rig.out(COMMAND, 0xEF)
    reset()
    assert settings() == (0x104, 8, 17, 0)


# -- addresses --------------------------------------------------------------------------------
def test_lba28_uses_all_28_bits():
    """LBA28: LBA Low = bits 7:0, Mid = 15:8, High = 23:16, Device 3:0 = 27:24."""
    img = MemImage(0x0FFFFFFF)
    rig = Rig(img)
    lba = 0x0ABCDEF1
    rig.lba28(lba, 1)
    rig.out(COMMAND, 0x20)
    assert img.calls[-1] == ("read", lba, 1)
    assert rig.sector_in() == sector(lba)
    assert rig.regs() == (0, 0xF1, 0xDE, 0xBC, 0xEA)


def test_lba48_uses_all_48_bits():
    """LBA48: the previous contents are bits 47:24, the current 23:0; the sector
    count is 16 bits (previous content high)."""
    img = MemImage(1 << 48)
    rig = Rig(img)
    lba = 0xA1B2C3D4E5F6
    rig.lba48(lba, 0x0102)
    rig.out(COMMAND, 0x24)
    assert img.calls[-1] == ("read", lba, 1)
    assert rig.inb(NSECT) == 0x01 and (rig.inb(LBAL), rig.inb(LBAM), rig.inb(LBAH)) == (0xF6, 0xE5, 0xD4)
    rig.out(CONTROL, HOB)
    assert (rig.inb(NSECT), rig.inb(LBAL), rig.inb(LBAM), rig.inb(LBAH)) == (0x01, 0xC3, 0xB2, 0xA1)
    rig.out(CONTROL, 0)
    assert rig.sector_in() == sector(lba)
    assert rig.inb(DEVICE) == 0xE0, "LBA48 leaves Device bits 3:0 alone"


def test_lba48_count_zero_means_65536():
    """A 48-bit command with sector count 0000h transfers 65536 sectors."""
    img = MemImage(70000)
    rig = Rig(img)
    rig.lba48(5, 0)
    rig.out(COMMAND, 0x24)
    assert rig.inb(STATUS) == 0x58
    assert rig.d0.remaining == 65535
    rig.lba48(70000 - 65536 + 1, 0)
    rig.out(COMMAND, 0x24)
    assert (rig.inb(STATUS), rig.inb(ERROR)) == (0x51, IDNF)


def test_lba48_progress_keeps_16_bit_sector_count():
    """During a 48-bit read Sector Count's previous content holds bits 15:8 of
    the sectors still to go."""
    rig = Rig(MemImage(1000))
    rig.lba48(2, 0x0101)
    rig.out(COMMAND, 0x24)
    rig.out(CONTROL, HOB)
    assert rig.inb(NSECT) == 0x01 and rig.inb(LBAL) == 0
    rig.out(CONTROL, 0)
    assert rig.inb(NSECT) == 0x00 and rig.inb(LBAL) == 2
    rig.sector_in()
    rig.out(CONTROL, HOB)
    assert rig.inb(NSECT) == 0x00
    rig.out(CONTROL, 0)
    assert (rig.inb(NSECT), rig.inb(LBAL)) == (0xFF, 3)


def test_chs_progress_and_bounds():
    """CHS (Device bit 6 = 0): registers after each block hold the last sector's
    cylinder/head/sector; sector 0, a sector past the track, a head or cylinder
    past the translation do not exist (IDNF)."""
    img = MemImage(16 * 63 * 3)  # 3 cylinders
    rig = Rig(img)
    rig.chs(1, 15, 62, 3)  # the last two sectors of C1 H15, then C2 H0 S1
    rig.out(COMMAND, 0x20)
    first = (1 * 16 + 15) * 63 + 61
    assert img.calls[-1] == ("read", first, 1)
    assert rig.regs() == (2, 62, 1, 0, 0xAF)
    rig.sector_in()
    assert rig.regs() == (1, 63, 1, 0, 0xAF)
    rig.sector_in()
    assert rig.regs() == (0, 1, 2, 0, 0xA0)
    assert rig.sector_in() == sector(first + 2)
    for c, h, s in ((0, 0, 0), (0, 0, 64), (3, 0, 1), (256, 0, 1)):
        rig.chs(c, h, s, 1)
        rig.out(COMMAND, 0x20)
        assert (rig.inb(STATUS), rig.inb(ERROR)) == (0x51, IDNF), (c, h, s)
    rig.chs(2, 15, 63, 1)
    rig.out(COMMAND, 0x20)
    assert rig.inb(STATUS) == 0x58, "the last sector of the translation"
    rig.out(DEVICE, 0xA0 | 3)  # 4 heads, 63 sectors: 12 cylinders
    rig.out(NSECT, 63)
    rig.out(COMMAND, 0x91)
    rig.chs(0, 4, 1, 1)
    rig.out(COMMAND, 0x20)
    assert (rig.inb(STATUS), rig.inb(ERROR)) == (0x51, IDNF), "head 4 of 4"
    rig.chs(11, 3, 63, 1)
    rig.out(COMMAND, 0x20)
    assert rig.inb(STATUS) == 0x58 and img.calls[-1] == ("read", (11 * 4 + 3) * 63 + 62, 1)
    rig.chs(12, 0, 1, 1)
    rig.out(COMMAND, 0x20)
    assert (rig.inb(STATUS), rig.inb(ERROR)) == (0x51, IDNF), "cylinder 12 of 12"


def test_initialize_device_parameters_translation():
    """INITIALIZE DEVICE PARAMETERS: sectors per track from Sector Count, heads =
    Device bits 3:0 + 1, cylinders = capacity / (heads * sectors), at most 65535."""
    rig = Rig(MemImage(16 * 63 * 100))
    rig.out(DEVICE, 0xA0 | 0)
    rig.out(NSECT, 1)
    rig.out(COMMAND, 0x91)
    data = identify(rig)
    assert (word(data, 54), word(data, 55), word(data, 56)) == (65535, 1, 1)
    assert word(data, 57) | word(data, 58) << 16 == 65535
    rig.out(DEVICE, 0xA0 | 15)
    rig.out(NSECT, 255)
    rig.out(COMMAND, 0x91)
    data = identify(rig)
    assert (word(data, 54), word(data, 55), word(data, 56)) == (24, 16, 255)
    assert (word(data, 1), word(data, 3), word(data, 6)) == (100, 16, 63), "words 1-6 stay the default"
    big = Rig(MemImage(1 << 40))
    data = identify(big)
    assert word(data, 57) | word(data, 58) << 16 == 16383 * 16 * 63
    big.channel.drives[0].cyls = 65535
    big.channel.drives[0].heads = 65535
    data = big.channel.drives[0].identify()
    assert word(data, 57) | word(data, 58) << 16 == 0xFFFFFFFF, "words 57-58 saturate at 32 bits"
    rig = Rig(MemImage(10))
    rig.out(DEVICE, 0xA0 | 15)
    rig.out(NSECT, 63)
    rig.out(COMMAND, 0x91)
    assert word(identify(rig), 54) == 1, "at least one cylinder"


# -- each command opcode (ATA-6 chapter 8) ------------------------------------------------------
def run_read(rig, cmd, lba, count, lba48=False):
    """Issue a read, return (data, interrupts seen at each DRQ block, blocks)."""
    (rig.lba48 if lba48 else rig.lba28)(lba, count)
    rig.out(COMMAND, cmd)
    data, blocks, interrupts = b"", 0, 0
    while rig.inb(ALTSTATUS) & DRQ:
        assert blocks < 64, "the read never ends"
        interrupts += rig.line
        rig.inb(STATUS)
        blocks += 1
        n = rig.d0.end
        data += rig.bus.read_block(DATA, 2, n // 2)
    return data, interrupts, blocks


def run_write(rig, cmd, lba, payload, lba48=False):
    """Issue a write, return (interrupts after each block, blocks)."""
    (rig.lba48 if lba48 else rig.lba28)(lba, len(payload) // 512)
    rig.out(COMMAND, cmd)
    assert not rig.line, "no interrupt before the first block of a write"
    blocks, interrupts, at = 0, 0, 0
    while rig.inb(ALTSTATUS) & DRQ:
        assert blocks < 64, "the write never ends"
        n = rig.d0.end
        rig.bus.write_block(DATA, 2, payload[at:at + n])
        at += n
        blocks += 1
        interrupts += rig.line
        rig.inb(STATUS)
    return interrupts, blocks


@pytest.mark.parametrize("cmd,name,lba48,multiple", [
    (0x20, "READ SECTORS", False, False), (0x21, "READ SECTORS", False, False),
    (0x24, "READ SECTORS EXT", True, False), (0xC4, "READ MULTIPLE", False, True),
    (0x29, "READ MULTIPLE EXT", True, True)])
def test_read_commands(cmd, name, lba48, multiple):
    """Each read opcode: 28- or 48-bit address, one sector per DRQ block or the
    multiple count, an interrupt per block, counted under its name."""
    img = MemImage(1 << 29)
    rig = Rig(img)
    rig.out(NSECT, 4)
    rig.out(COMMAND, 0xC6)
    lba = (1 << 28) + 3 if lba48 else 0x0123456
    data, interrupts, blocks = run_read(rig, cmd, lba, 10, lba48)
    assert data == b"".join(sector(s) for s in range(lba, lba + 10))
    assert (interrupts, blocks) == ((3, 3) if multiple else (10, 10))
    assert [c for c in img.calls if c[0] == "read"] == (
        [("read", lba, 4), ("read", lba + 4, 4), ("read", lba + 8, 2)] if multiple
        else [("read", lba + i, 1) for i in range(10)])
    assert rig.inb(STATUS) == 0x50 and not rig.line
    assert rig.d0.counters["commands"] == {"SET MULTIPLE MODE": 1, name: 1}
    assert rig.d0.counters["bytes_read"] == 5120
    assert rig.d0.counters["interrupts"] == 1 + interrupts


@pytest.mark.parametrize("cmd,name,lba48,multiple", [
    (0x30, "WRITE SECTORS", False, False), (0x31, "WRITE SECTORS", False, False),
    (0x34, "WRITE SECTORS EXT", True, False), (0xC5, "WRITE MULTIPLE", False, True),
    (0x39, "WRITE MULTIPLE EXT", True, True)])
def test_write_commands(cmd, name, lba48, multiple):
    """Each write opcode: 28- or 48-bit address, one sector per DRQ block or the
    multiple count, an interrupt after every block, counted under its name."""
    img = MemImage(1 << 29)
    rig = Rig(img)
    rig.out(NSECT, 4)
    rig.out(COMMAND, 0xC6)
    lba = (1 << 28) + 3 if lba48 else 0x0123456
    payload = bytes(range(256)) * 20
    interrupts, blocks = run_write(rig, cmd, lba, payload, lba48)
    assert (interrupts, blocks) == ((3, 3) if multiple else (10, 10))
    assert img.calls == ([("write", lba, 2048), ("write", lba + 4, 2048), ("write", lba + 8, 1024)]
                             if multiple else [("write", lba + i, 512) for i in range(10)])
    assert b"".join(img.data[s] for s in range(lba, lba + 10)) == payload
    assert rig.inb(STATUS) == 0x50
    assert rig.d0.counters["commands"] == {"SET MULTIPLE MODE": 1, name: 1}
    assert rig.d0.counters["bytes_written"] == 5120
    assert rig.d0.counters["interrupts"] == 1 + interrupts


def test_multiple_commands_abort_before_set_multiple_mode():
    """READ/WRITE MULTIPLE (EXT) abort while multiple mode is off; the others do not need it."""
    for cmd in (0xC4, 0x29, 0xC5, 0x39):
        rig = Rig(MemImage(64))
        rig.lba28(1, 1)
        rig.out(COMMAND, cmd)
        assert (rig.inb(STATUS), rig.inb(ERROR)) == (0x51, ABRT), hex(cmd)
    for cmd in (0x20, 0x21, 0x24, 0x30, 0x31, 0x34):
        rig = Rig(MemImage(64))
        rig.lba48(1, 1)
        rig.out(COMMAND, cmd)
        assert rig.inb(STATUS) == 0x58, hex(cmd)


def test_set_multiple_mode_values():
    """SET MULTIPLE MODE takes 0 (off) or a power of two up to word 47's 16."""
    rig = Rig(MemImage(64))
    for n, ok in ((1, True), (2, True), (16, True), (0, True), (3, False), (12, False), (17, False),
                  (32, False), (128, False)):
        rig.out(NSECT, n)
        rig.out(COMMAND, 0xC6)
        assert rig.inb(STATUS) == (0x50 if ok else 0x51), n
    rig.out(NSECT, 8)
    rig.out(COMMAND, 0xC6)
    rig.out(NSECT, 3)
    rig.out(COMMAND, 0xC6)
    assert rig.d0.multiple == 8, "a refused count leaves the old one"


def test_set_features_subcommands():
    """SET FEATURES: 02h/82h write cache, AAh/55h look-ahead, CCh/66h revert to
    defaults, 03h transfer mode (PIO default 00h/01h, PIO flow control 08h-0Ch);
    anything else aborts. Each completes with an interrupt."""
    rig = Rig(MemImage(64))
    for feature, mode, ok in ((0x03, 0x00, True), (0x03, 0x01, True), (0x03, 0x02, False),
                              (0x03, 0x07, False), (0x03, 0x08, True), (0x03, 0x0A, True),
                              (0x03, 0x0C, True), (0x03, 0x0D, False), (0x03, 0x40, False),
                              (0x01, 0, False), (0x04, 0, False), (0x81, 0, False), (0x83, 0, False),
                              (0xCC, 0, True), (0x66, 0, True), (0x00, 0, False)):
        rig.out(FEATURES, feature)
        rig.out(NSECT, mode)
        rig.out(COMMAND, 0xEF)
        assert rig.line, (feature, mode)
        assert rig.inb(STATUS) == (0x50 if ok else 0x51), (hex(feature), hex(mode))
    assert rig.d0.counters["commands"] == {"SET FEATURES": 16}
    assert rig.d0.counters["errors"] == 9


def test_set_features_write_cache_off_flushes():
    """SET FEATURES 82h flushes what the cache holds; 02h and the others do not flush;
    with the cache off every write command is flushed before it completes."""
    img = MemImage(64)
    rig = Rig(img)
    for f in (0x02, 0xAA, 0x55, 0xCC, 0x66):
        rig.out(FEATURES, f)
        rig.out(COMMAND, 0xEF)
    assert img.calls == []
    rig.out(FEATURES, 0x82)
    rig.out(COMMAND, 0xEF)
    assert img.calls == [("flush",)]
    run_write(rig, 0x30, 1, bytes(1024))
    assert img.calls[1:] == [("write", 1, 512), ("flush",), ("write", 2, 512), ("flush",)]
    rig.out(FEATURES, 0x02)
    rig.out(COMMAND, 0xEF)
    img.calls.clear()
    run_write(rig, 0x30, 1, bytes(512))
    assert img.calls == [("write", 1, 512)]
    assert rig.d0.counters["flushes"] == 0, "only FLUSH CACHE counts as a flush"


def test_flush_cache_commands():
    """FLUSH CACHE (E7h) and FLUSH CACHE EXT (EAh) flush the image, complete with
    an interrupt and are counted."""
    img = MemImage(64)
    rig = Rig(img)
    rig.out(COMMAND, 0xE7)
    assert rig.line and rig.inb(STATUS) == 0x50
    rig.out(COMMAND, 0xEA)
    assert rig.line and rig.inb(STATUS) == 0x50
    assert img.calls == [("flush",), ("flush",)]
    c = rig.d0.counters
    assert c["flushes"] == 2 and c["commands"] == {"FLUSH CACHE": 1, "FLUSH CACHE EXT": 1}
    assert c["interrupts"] == 2 and c["errors"] == 0


def test_readonly_drive_aborts_every_write_command():
    """A read-only image: every write opcode aborts before any data phase."""
    for cmd in (0x30, 0x31, 0x34, 0xC5, 0x39):
        img = MemImage(64, readonly=True)
        rig = Rig(img)
        rig.out(NSECT, 2)
        rig.out(COMMAND, 0xC6)
        rig.lba28(1, 1)
        rig.out(COMMAND, cmd)
        assert (rig.inb(STATUS), rig.inb(ERROR)) == (0x51, ABRT), hex(cmd)
        assert img.calls == []
    rig = Rig(MemImage(64, readonly=None))
    rig.lba28(1, 1)
    rig.out(COMMAND, 0x30)
    assert rig.inb(STATUS) == 0x58, "readonly None: writable"


def test_execute_device_diagnostic_counts_and_interrupt():
    """EXECUTE DEVICE DIAGNOSTIC: both devices reset, only device 0 interrupts and
    counts the command; device 0 ends up selected."""
    rig = Rig(MemImage(64), MemImage(64))
    rig.out(DEVICE, 0xB0)
    rig.out(COMMAND, 0x90)
    assert rig.line and rig.channel.unit == 0
    d0, d1 = rig.channel.drives
    assert d0.counters["commands"] == {"EXECUTE DEVICE DIAGNOSTIC": 1} and d0.counters["interrupts"] == 1
    assert d1.counters["commands"] == {} and d1.counters["interrupts"] == 0 and not d1.irq_pending
    only_slave = Rig(None, MemImage(64))
    only_slave.out(DEVICE, 0xB0)
    only_slave.out(COMMAND, 0x90)
    d1 = only_slave.channel.drives[1]
    assert d1.counters["commands"] == {"EXECUTE DEVICE DIAGNOSTIC": 1}, "the first present device reports"


# -- interrupts, device selection, absent devices ---------------------------------------------
def test_status_read_clears_only_the_selected_devices_interrupt():
    """Reading Status acknowledges the selected device's interrupt; Alternate Status
    does not; INTRQ follows the selected device (and nIEN)."""
    rig = Rig(MemImage(64), MemImage(64))
    rig.out(COMMAND, 0xE7)
    rig.out(DEVICE, 0xB0)
    rig.out(COMMAND, 0xE7)
    d0, d1 = rig.channel.drives
    assert d0.irq_pending and d1.irq_pending and rig.line
    rig.inb(ALTSTATUS)
    assert d1.irq_pending
    rig.inb(STATUS)
    assert not d1.irq_pending and d0.irq_pending and not rig.line
    rig.out(DEVICE, 0xA0)
    assert rig.line
    rig.out(CONTROL, NIEN)
    assert not rig.line
    rig.inb(STATUS)
    rig.out(CONTROL, 0)
    assert not rig.line and not d0.irq_pending


def test_nien_set_during_a_read_still_transfers():
    """nIEN only masks INTRQ: the data blocks still come, and the pending
    interrupt shows once nIEN is cleared."""
    rig = Rig(MemImage(64))
    rig.out(CONTROL, NIEN)
    rig.lba28(1, 2)
    rig.out(COMMAND, 0x20)
    assert not rig.line
    rig.bus.read_block(DATA, 2, 256)
    assert not rig.line and rig.d0.irq_pending
    rig.out(CONTROL, 0)
    assert rig.line
    rig.out(CONTROL, NIEN)
    rig.bus.write_block(NSECT, 1, b"\x01")  # a command block write through write_block
    assert rig.inb(NSECT) == 1


def test_absent_device_1_reads():
    """With device 1 absent and selected: Status and Alternate Status 0, Error 0
    (device 0 answers the other registers), Device shows DEV = 1."""
    rig = Rig(MemImage(64))
    rig.out(COMMAND, 0xF0)  # device 0 has ABRT in Error
    rig.out(DEVICE, 0xB0)
    assert rig.inb(STATUS) == 0 and rig.inb(ALTSTATUS) == 0
    assert rig.inb(ERROR) == 0
    assert rig.inb(DEVICE) == 0xB0
    rig.out(DEVICE, 0xA0)
    assert rig.inb(ERROR) == ABRT
    assert rig.line, "device 1's Status read did not acknowledge device 0's interrupt"
    rig.inb(STATUS)
    rig.out(DEVICE, 0xB0)
    rig.out(COMMAND, 0xE7)  # nobody takes it, device 0 keeps its state
    rig.out(DEVICE, 0xA0)
    assert rig.inb(ERROR) == ABRT and rig.d0.counters["commands"] == {"unsupported": 1}
    rig.out(DEVICE, 0xB0)
    rig.bus.write_block(DATA, 2, bytes(4))
    rig.out(DATA, 0, 2)


def test_device_register_keeps_bits_6_4_and_3_0():
    """Device: bit 6 LBA, bit 4 DEV, bits 3:0; bits 7 and 5 read as one; a write
    goes to both devices; DEV selects the device."""
    rig = Rig(MemImage(64), MemImage(64))
    rig.out(DEVICE, 0x00)
    assert rig.inb(DEVICE) == 0xA0
    rig.out(DEVICE, 0xFF)
    assert rig.inb(DEVICE) == 0xFF and rig.channel.unit == 1
    assert [d.device for d in rig.channel.drives] == [0x5F, 0x5F]
    rig.out(DEVICE, 0x2F)
    assert rig.channel.unit == 0 and rig.inb(DEVICE) == 0xAF


def test_registers_are_written_to_both_devices():
    """The command block registers are shared: a write reaches device 0 and device 1."""
    rig = Rig(MemImage(64), MemImage(64))
    for port, value in ((FEATURES, 0x11), (NSECT, 0x22), (LBAL, 0x33), (LBAM, 0x44), (LBAH, 0x55)):
        rig.out(port, value)
    for d in rig.channel.drives:
        assert (d.feature, d.nsect, d.lbal, d.lbam, d.lbah) == (0x11, 0x22, 0x33, 0x44, 0x55)
        assert (d.hob_feature, d.hob_nsect, d.hob_lbal, d.hob_lbam, d.hob_lbah) == (0, 1, 1, 0, 0)
    rig.out(DEVICE, 0xB0)
    assert rig.regs()[:4] == (0x22, 0x33, 0x44, 0x55)
    rig.out(CONTROL, HOB)
    assert rig.regs()[:4] == (1, 1, 0, 0)
    assert rig.inb(ERROR) == 1


def test_hob_is_cleared_by_a_write_to_any_command_block_register():
    """Device Control HOB selects the previous contents until any command block register is written."""
    for port in (FEATURES, NSECT, LBAL, LBAM, LBAH, DEVICE, COMMAND):
        rig = Rig(MemImage(64))
        rig.out(NSECT, 7)
        rig.out(CONTROL, HOB)
        assert rig.inb(NSECT) == 1
        rig.out(port, 0xE7 if port == COMMAND else 0xA0 if port == DEVICE else rig.inb(port))
        assert rig.channel.control_reg & HOB == 0, hex(port)
    rig = Rig(MemImage(64))
    rig.out(CONTROL, HOB | NIEN)
    rig.out(NSECT, 3)
    assert rig.channel.control_reg == NIEN, "nIEN stays"


# -- the data port -----------------------------------------------------------------------------
def test_data_port_widths_and_block_edges():
    """Data-port reads and writes of 1, 2 and 4 bytes move that many bytes; an access
    ending exactly at a block's end finishes the block (next block, or completion)."""
    rig = Rig(MemImage(64))
    rig.lba28(4, 2)
    rig.out(COMMAND, 0x20)
    rig.inb(STATUS)
    got = b"".join(rig.bus.read(DATA, 4).to_bytes(4, "little") for _ in range(127))
    assert rig.d0.pos == 508
    got += rig.bus.read(DATA, 2).to_bytes(2, "little")
    got += bytes([rig.bus.read(DATA, 1)])
    assert rig.d0.pos == 511 and not rig.line
    got += bytes([rig.bus.read(DATA, 1)])
    assert got == sector(4)
    assert rig.line, "the last byte of block 1 brought block 2 and its interrupt"
    assert rig.d0.pos == 0 and rig.d0.lba == 6
    rig.inb(STATUS)
    got = b"".join(rig.bus.read(DATA, 4).to_bytes(4, "little") for _ in range(128))
    assert got == sector(5) and rig.inb(ALTSTATUS) == 0x50 and not rig.line
    # writes
    img = rig.d0.image
    rig.lba28(10, 2)
    rig.out(COMMAND, 0x30)
    payload = bytes((i * 7) & 0xFF for i in range(1024))
    for i in range(0, 508, 4):
        rig.out(DATA, int.from_bytes(payload[i:i + 4], "little"), 4)
    rig.out(DATA, int.from_bytes(payload[508:510], "little"), 2)
    rig.out(DATA, payload[510], 1)
    assert rig.d0.pos == 511 and ("write", 10, 512) not in img.calls
    rig.out(DATA, payload[511], 1)
    assert img.calls[-1] == ("write", 10, 512) and rig.line and rig.d0.pos == 0
    rig.inb(STATUS)
    for i in range(512, 1024, 2):
        rig.out(DATA, int.from_bytes(payload[i:i + 2], "little"), 2)
    assert img.data[10] + img.data[11] == payload
    assert rig.inb(STATUS) == 0x50
    rig.out(DATA, 0xFFFF, 2)  # no transfer: ignored
    assert img.calls[-1] == ("write", 11, 512)


def test_reading_the_data_port_during_a_write_and_writing_it_during_a_read():
    """The data port moves data only in the direction of the transfer."""
    img = MemImage(64)
    rig = Rig(img)
    rig.lba28(1, 1)
    rig.out(COMMAND, 0x30)
    assert rig.bus.read(DATA, 2) == 0 and rig.bus.read_block(DATA, 2, 2) == bytes(4)
    assert rig.bus.read(DATA, 4) == 0
    payload = bytes(range(256)) * 2
    for i in range(0, 512, 2):
        assert rig.inb(ALTSTATUS) == 0x58, "the reads took no room in the block"
        rig.out(DATA, int.from_bytes(payload[i:i + 2], "little"), 2)
    assert rig.inb(STATUS) == 0x50 and img.data[1] == payload
    rig.lba28(2, 1)
    rig.out(COMMAND, 0x20)
    rig.out(DATA, 0xFFFF, 2)
    rig.bus.write_block(DATA, 2, b"\xff" * 4)
    assert rig.sector_in() == sector(2), "the writes took no room in the block"
    assert rig.inb(STATUS) == 0x50


def test_rep_ins_and_outs_on_other_registers():
    """rep insb/outsb on a command block register: one access per element."""
    rig = Rig(MemImage(64))
    rig.bus.write_block(LBAL, 1, b"\x05\x06\x07")
    assert rig.inb(LBAL) == 7
    rig.out(CONTROL, HOB)
    assert rig.inb(LBAL) == 6
    assert rig.bus.read_block(STATUS, 1, 3) == b"\x50\x50\x50"
    rig.out(COMMAND, 0xE7)
    assert rig.line
    assert rig.bus.read_block(ALTSTATUS, 1, 2) == b"\x50\x50" and rig.line


def test_identify_in_one_rep_insw_and_then_zeros():
    """A rep insw longer than the IDENTIFY block returns the block, then zeros."""
    rig = Rig(MemImage(64))
    rig.out(COMMAND, 0xEC)
    data = rig.bus.read_block(DATA, 2, 260)
    assert data[:512] == rig.d0.identify() and data[512:] == bytes(8)
    assert rig.inb(STATUS) == 0x50


# -- counters, stats, channels ----------------------------------------------------------------
def test_channel_counters_sum_both_drives():
    """channel.counters: per-unit lists (0 for an absent unit), commands summed by name."""
    rig = Rig(MemImage(64), None)
    rig.lba28(1, 2)
    rig.out(COMMAND, 0x20)
    rig.sector_in()
    rig.sector_in()
    rig.out(COMMAND, 0xE7)
    rig.out(COMMAND, 0xF0)
    c = rig.channel.counters
    assert c == {"bytes_read": [1024, 0], "bytes_written": [0, 0], "flushes": [1, 0], "errors": [1, 0],
                 "interrupts": [4, 0], "commands": {"READ SECTORS": 1, "FLUSH CACHE": 1, "unsupported": 1}}
    two = Rig(MemImage(64), MemImage(64))
    two.out(COMMAND, 0xE7)
    two.out(DEVICE, 0xB0)
    two.out(COMMAND, 0xE7)
    two.out(COMMAND, 0xE7)
    c = two.channel.counters
    assert c["commands"] == {"FLUSH CACHE": 3} and c["flushes"] == [1, 2] and c["interrupts"] == [1, 2]


def test_stats_lines_format():
    """One --stats line per present drive, commands sorted by name."""
    rig = Rig(MemImage(64, path="/x/a.img"), None)
    rig.out(COMMAND, 0xE7)
    rig.out(COMMAND, 0xEC)
    rig.sector_in()
    other = Rig(None, MemImage(64, path="b.img"))
    other.channel.name = "ata1"
    assert ata.stats_lines([rig.channel, other.channel]) == [
        "ata0 device 0 (/x/a.img): read 0 B, written 0 B, 1 flushes, 0 errors, 2 interrupts; "
        "commands: FLUSH CACHE 1, IDENTIFY DEVICE 1",
        "ata1 device 1 (b.img): read 0 B, written 0 B, 0 flushes, 0 errors, 0 interrupts; commands: none"]


def test_drive_serial_and_channels():
    """Serials are PYOS<index>-<CRC32 of the path>; the primary channel (IRQ 14)
    always exists, the secondary (IRQ 15) only with a third or fourth image;
    images fill master, slave, master, slave."""
    assert ata.drive_serial("/a/b.img", 3) == "PYOS3-%08X" % zlib.crc32(b"/a/b.img")
    lines = {n: IrqLine(n) for n in range(16)}
    imgs = [MemImage(8, path=f"{i}.img") for i in range(4)]
    chans = ata.ata_channels(imgs, lines)
    assert [c.name for c in chans] == ["ata0", "ata1"]
    assert [c.irq for c in chans] == [lines[14], lines[15]]
    assert [d.image for c in chans for d in c.drives] == imgs
    assert [d.serial for c in chans for d in c.drives] == [ata.drive_serial(f"{i}.img", i) for i in range(4)]
    assert chans[0].control.name == "ata0-control"
    assert [c.name for c in ata.ata_channels(imgs[:2], lines)] == ["ata0"]
    assert ata.ATA_CHANNELS == (("ata0", 0x1F0, 0x3F6, 14), ("ata1", 0x170, 0x376, 15))
    one = ata.ata_channels(imgs[:1], lines)[0]
    assert one.drives[1] is None and one.irq is lines[14]


def test_control_port_reads_alternate_status_at_any_size():
    """The control block register: reads are Alternate Status, writes Device Control (low byte)."""
    rig = Rig(MemImage(64))
    ctl = rig.channel.control
    assert ctl.read(0, 1) == 0x50
    ctl.write(0, 2, 0x0100 | NIEN)
    assert rig.channel.control_reg == NIEN


def test_host_error_in_the_middle_of_a_transfer():
    """A host error on a later DRQ block ends the command there: ERR with UNC (read)
    or DF + ABRT (write), the address registers on the failing block's first sector,
    Sector Count the sectors not done; the blocks before it were transferred and counted."""
    img = MemImage(64)
    img.fail_from = 12
    rig = Rig(img)
    rig.out(NSECT, 2)
    rig.out(COMMAND, 0xC6)
    rig.lba28(8, 6)
    rig.out(COMMAND, 0xC4)
    assert rig.inb(STATUS) == 0x58 and rig.regs()[:2] == (4, 9)
    assert rig.bus.read_block(DATA, 2, 512) == sector(8) + sector(9)
    assert rig.line and (rig.inb(STATUS), rig.inb(ERROR)) == (0x58, 0)
    assert rig.bus.read_block(DATA, 2, 512) == sector(10) + sector(11)
    assert rig.line and (rig.inb(STATUS), rig.inb(ERROR)) == (0x51, 0x40)
    assert rig.regs()[:2] == (2, 12)
    assert rig.d0.counters["bytes_read"] == 2048 and rig.d0.counters["errors"] == 1
    rig.lba28(8, 6)
    rig.out(COMMAND, 0xC5)
    rig.bus.write_block(DATA, 2, bytes(1024))
    assert rig.line and rig.inb(STATUS) == 0x58 and rig.regs()[:2] == (4, 9)
    rig.bus.write_block(DATA, 2, bytes(1024))
    assert rig.line and rig.inb(STATUS) == 0x58 and rig.regs()[:2] == (2, 11)
    rig.bus.write_block(DATA, 2, bytes(1024))
    assert rig.line and (rig.inb(STATUS), rig.inb(ERROR)) == (0x71, 0x04)
    assert rig.regs()[:2] == (2, 12)
    assert rig.d0.counters["bytes_written"] == 2048 and rig.d0.counters["errors"] == 2
    assert rig.bus.read(DATA, 2) == 0


def test_command_block_registers_take_the_low_byte():
    """A 16-bit write to an 8-bit register keeps its low byte; Command likewise."""
    rig = Rig(MemImage(64))
    rig.out(NSECT, 0x1234, 2)
    assert rig.inb(NSECT) == 0x34
    rig.out(COMMAND, 0x01E7, 2)
    assert rig.d0.counters["commands"] == {"FLUSH CACHE": 1}


def test_chs_progress_with_cylinders_past_255():
    """CHS cylinder is LBA Mid (bits 7:0) and LBA High (bits 15:8) in and out."""
    img = MemImage(16 * 63 * 600)
    rig = Rig(img)
    rig.chs(0x1FF, 5, 10, 2)
    rig.out(COMMAND, 0x20)
    assert img.calls[-1] == ("read", (0x1FF * 16 + 5) * 63 + 9, 1)
    assert rig.regs() == (1, 10, 0xFF, 0x01, 0xA5)
    rig.sector_in()
    assert rig.regs() == (0, 11, 0xFF, 0x01, 0xA5)


def test_rep_transfers_starting_inside_a_block():
    """A rep insw/outsw that starts part-way into a DRQ block crosses into the
    next block exactly where single accesses would."""
    img = MemImage(64)
    rig = Rig(img)
    rig.lba28(20, 3)
    rig.out(COMMAND, 0x20)
    first = rig.bus.read(DATA, 2).to_bytes(2, "little") + rig.bus.read(DATA, 4).to_bytes(4, "little")
    rest = rig.bus.read_block(DATA, 2, 3 * 256 - 3)
    assert first + rest == sector(20) + sector(21) + sector(22)
    assert rig.inb(STATUS) == 0x50
    payload = bytes((i * 13 + 1) & 0xFF for i in range(3 * 512))
    rig.lba28(30, 3)
    rig.out(COMMAND, 0x30)
    rig.out(DATA, int.from_bytes(payload[:2], "little"), 2)
    rig.out(DATA, int.from_bytes(payload[2:6], "little"), 4)
    rig.bus.write_block(DATA, 2, payload[6:])
    assert rig.inb(STATUS) == 0x50
    assert img.calls[-3:] == [("write", 30, 512), ("write", 31, 512), ("write", 32, 512)]
    assert img.data[30] + img.data[31] + img.data[32] == payload


def test_channel_with_only_device_1():
    """With device 0 absent, device 1 still receives every register write and
    runs commands; device 0's Status reads 0."""
    img = MemImage(64)
    rig = Rig(None, img)
    assert rig.inb(STATUS) == 0
    rig.lba28(9, 1, dev=1)
    assert rig.regs() == (1, 9, 0, 0, 0xF0)
    rig.out(FEATURES, 0x55)
    rig.out(COMMAND, 0xEF)
    assert rig.line and rig.inb(STATUS) == 0x50
    rig.lba28(9, 1, dev=1)
    rig.out(COMMAND, 0x20)
    assert img.calls == [("read", 9, 1)] and rig.sector_in() == sector(9)


# -- found by the whole-area run (the rest of the 913 mutants) ---------------------------------
class _PlainImage:
    """An image object with only what AtaDrive needs: no `readonly` attribute."""

    path = "plain.img"
    sectors = 64

    def __init__(self):
        self.written = []

    def read(self, lba, count):
        return bytes(512 * count)

    def write(self, lba, data):
        self.written.append((lba, len(data)))

    def flush(self):
        pass


def test_drive_defaults_serial_and_writable_image():
    """A drive made without a serial reports PYOS0000 in IDENTIFY words 10-19; an
    image that says nothing about `readonly` is writable (WRITE SECTORS completes)."""
    img = _PlainImage()
    d = ata.AtaDrive(img)
    assert d.identify()[20:40] == b"YPSO0000" + b" " * 12
    assert d.model == ata.MODEL and d.readonly is False
    rig = Rig(MemImage(8))
    rig.channel.drives[0] = d
    rig.lba28(3, 1)
    rig.out(COMMAND, 0x30)
    assert rig.inb(STATUS) == 0x58, "DRQ for the data, not ERR"
    rig.sector_out(bytes(512))
    assert rig.inb(STATUS) == 0x50 and img.written == [(3, 512)]


def test_chs_cylinder_equal_to_the_cylinder_count_does_not_exist():
    """Cylinders are numbered 0 .. cylinders-1 (ATA-6 6.2.1): with a capacity that is
    not a whole number of cylinders, the sectors past the last whole cylinder are
    not addressable in CHS, although they are by LBA."""
    img = MemImage(16 * 63 * 2 + 100)  # 2 cylinders + 100 sectors
    rig = Rig(img)
    rig.chs(2, 0, 1, 1)
    rig.out(COMMAND, 0x20)
    assert (rig.inb(STATUS), rig.inb(ERROR)) == (0x51, IDNF)
    assert not [c for c in img.calls if c[0] == "read"]
    rig.lba28(16 * 63 * 2, 1)
    rig.out(COMMAND, 0x20)
    assert rig.inb(STATUS) == 0x58


def test_intrq_is_a_plain_low_level_after_reset():
    """After a software reset no interrupt is pending, so INTRQ is low: the IRQ line
    is given the level False (a bool, as IrqLine.set_level takes), whatever was
    pending before the reset."""
    rig = Rig(MemImage(64))
    rig.out(COMMAND, 0xE7)
    assert rig.irq.level is True
    rig.out(CONTROL, SRST)
    assert rig.irq.level is False, "SRST drops the pending interrupt at once"
    rig.out(CONTROL, 0)
    assert rig.irq.level is False and rig.d0.irq_pending is False


def test_lba28_progress_crossing_a_device_nibble_boundary():
    """LBA28 progress: Device bits 3:0 are replaced by bits 27:24 of the last sector
    transferred, not merged with the start LBA's (a read from 01FF_FFFFh to 0200_0000h
    leaves Device bits 3:0 = 2)."""
    img = MemImage(0x0FFFFFFF)
    rig = Rig(img)
    rig.lba28(0x01FFFFFF, 2)
    rig.out(COMMAND, 0x20)
    assert rig.regs() == (1, 0xFF, 0xFF, 0xFF, 0xE1)
    rig.sector_in()
    assert rig.regs() == (0, 0x00, 0x00, 0x00, 0xE2)


def test_intrq_stays_a_plain_low_level_when_a_write_command_starts():
    """Writing Command clears a pending interrupt; a data-out command's first DRQ block
    comes without one (ATA-6 9.8), so INTRQ is low (False) until the block is written."""
    rig = Rig(MemImage(64))
    rig.lba28(1, 1)
    rig.out(COMMAND, 0x30)
    assert rig.inb(ALTSTATUS) == 0x58 and rig.irq.level is False and rig.d0.irq_pending is False
    rig.sector_out(bytes(512))
    assert rig.irq.level is True


def test_rep_ins_and_outs_on_the_error_and_features_register():
    """rep insb/outsb on register 1 (read: Error, write: Features) are single accesses
    to that register, not data-port transfers: the Error of an aborted command reads
    back each time; Features written by rep outsb selects the SET FEATURES subcommand."""
    rig = Rig(MemImage(64))
    rig.out(COMMAND, 0xF0)  # unsupported: ERR, ABRT
    assert rig.bus.read_block(ERROR, 1, 3) == bytes([ABRT] * 3)
    rig.bus.write_block(FEATURES, 1, b"\x02\x55")  # the last one counts: look-ahead off
    rig.out(COMMAND, 0xEF)
    assert rig.inb(STATUS) == 0x50 and rig.d0.look_ahead is False
    assert word(identify(rig), 85) == 0x0020
