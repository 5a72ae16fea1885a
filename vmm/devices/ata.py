"""ATA disk controller, PIO only (ANSI INCITS 361-2002, ATA/ATAPI-6), e.g. the
primary channel at 0x1F0-0x1F7 + 0x3F6 on IRQ 14.

QEMU's hw/ide/core.c was a second reading; nothing is copied from it.

Command block registers, by offset from the channel's base:

    0  Data (8/16/32-bit accesses move that many bytes of the sector buffer)
    1  read: Error                 write: Features
    2  Sector Count                3 LBA Low    4 LBA Mid    5 LBA High
       (writes to 1-5 push the previous value into a second byte, the
       "previous content" that 48-bit commands use as the high-order byte,
       and read back with Device Control HOB = 1)
    6  Device: bit 6 LBA, bit 4 DEV (0 = device 0 "master", 1 = device 1),
       bits 3-0 LBA 27:24 (or the CHS head)
    7  read: Status (and clears the selected device's pending interrupt)
       write: Command
Control block register, at the channel's control port (0x3F6):

    0  read: Alternate Status (does NOT clear the interrupt)
       write: Device Control: bit 1 nIEN, bit 2 SRST, bit 7 HOB

Status bits: BSY 0x80, DRDY 0x40, DF 0x20, DSC 0x10, DRQ 0x08, ERR 0x01.
Error bits after a failed command: ABRT 0x04, IDNF 0x10, UNC 0x40.

Commands:
    0xEC IDENTIFY DEVICE       0x20/0x21 READ SECTORS   0x24 READ SECTORS EXT
    0x30/0x31 WRITE SECTORS    0x34 WRITE SECTORS EXT   0xC4 READ MULTIPLE
    0x29 READ MULTIPLE EXT     0xC5 WRITE MULTIPLE      0x39 WRITE MULTIPLE EXT
    0xC6 SET MULTIPLE MODE     0xE7 FLUSH CACHE         0xEA FLUSH CACHE EXT
    0xEF SET FEATURES          0x90 EXECUTE DEVICE DIAGNOSTIC
    0x91 INITIALIZE DEVICE PARAMETERS
Anything else completes with ERR and ABRT and an interrupt, as the
standard requires for unsupported commands.

Interrupts follow the PIO protocols: data-in (reads, IDENTIFY) interrupts at
the start of every DRQ data block and not after the last; data-out (writes)
sets DRQ for the first block without an interrupt and interrupts after every
block; non-data commands interrupt on completion. A device's pending
interrupt drives INTRQ only while it is the selected device and nIEN is 0;
reading Status or writing Command clears it, reading Alternate Status does
not. SRST = 1 makes both devices busy; SRST back to 0 resets them with the
ATA signature (Sector Count 1, LBA Low 1, LBA Mid 0, LBA High 0, Device 0,
Error 01h "passed") and DRDY, and selects device 0; no interrupt.

An absent device (no image for it) reads Status and Alternate Status as 0,
which is how drivers probe for a slave; device 0 answers the other register
reads for it, as the standard asks. A channel with no device at all reads 0
everywhere. Commands to an absent device are ignored.

`read_block(offset, size, count)` / `write_block(offset, size, data)` move a
whole `rep insw/insl/outsw/outsl` in one call (the run loop uses them when
KVM reports count > 1), crossing DRQ blocks exactly as `count` single
accesses would. The machine registers ports base..base+6 (data to device,
not command) as coalesced PIO (vmm/coalesced.py), so a data-out block's
words and a command's parameters arrive in batches from KVM's ring rather
than one VM exit each; the model sees the same writes in the same order,
before any read or command that follows them. The command register is left
out so a command starts at once, not at the guest's next exit.

Simplifications (all invisible to a driver that follows the protocols):
- Commands complete at once: BSY is never seen except while SRST is held;
  DRQ is already set (or the command finished) when the Command write
  returns. No DMA (IDENTIFY word 49 bit 8 is 0), no ATAPI, no power
  management, no SMART, no security feature set; those commands abort.
- A transfer whose range runs past the last sector is refused before any
  data moves (ERR, IDNF), where a real drive would transfer up to the bad
  sector first. The address registers then keep the command's start LBA.
- As drives of the time document (and ATA-1..3 required), after each DRQ
  block the address registers hold the last sector of the block and Sector
  Count the sectors still to go, so at completion they read "last sector
  transferred" and 0 (QEMU leaves the next LBA instead); the block's
  registers are updated when its data is ready, not word by word. After a
  host I/O error they hold the failing sector and the sectors not done.
- 48-bit commands use LBA addressing whatever Device bit 6 says; 28-bit
  commands honour it and otherwise use the current CHS translation
  (INITIALIZE DEVICE PARAMETERS).
- Reading register 1 with HOB = 1 returns the Error register (Features'
  previous content is write-only).
- A host I/O error reading the image ends the command with ERR + UNC; one
  writing it with DF + ERR + ABRT.
- The write cache is the host's page cache: with it enabled (the default)
  data reaches the image file at once and is fsynced by FLUSH CACHE; with it
  disabled (SET FEATURES 82h) every write command is fsynced before it
  completes. Read look-ahead is stored and reported but changes nothing.
- Data-port accesses of any width move that many bytes; 8-bit transfers
  need no SET FEATURES first.
- Software reset keeps the multiple count, the CHS translation and the
  features unless SET FEATURES CCh (revert to power-on defaults) enabled
  that, as ATA-6 describes.
"""

from __future__ import annotations

import zlib

# Status register
BSY, DRDY, DF, DSC, DRQ, ERR = 0x80, 0x40, 0x20, 0x10, 0x08, 0x01
# Error register
ABRT, IDNF, UNC = 0x04, 0x10, 0x40
DIAG_PASSED = 0x01
# Device Control register
NIEN, SRST, HOB = 0x02, 0x04, 0x80
# Device register
DEV_LBA, DEV_DEV = 0x40, 0x10

SECTOR = 512
MAX_MULTIPLE = 16              # IDENTIFY word 47: the most sectors per DRQ block
LBA28_LIMIT = 0x0FFF_FFFF      # sectors addressable by 28-bit commands
MODEL = "PYOS HARDDISK"
FIRMWARE = "0.1.0"

# (name, lba48, multiple, write)
RW_COMMANDS = {
    0x20: ("READ SECTORS", False, False, False),
    0x21: ("READ SECTORS", False, False, False),            # without retries: the same
    0x24: ("READ SECTORS EXT", True, False, False),
    0xC4: ("READ MULTIPLE", False, True, False),
    0x29: ("READ MULTIPLE EXT", True, True, False),
    0x30: ("WRITE SECTORS", False, False, True),
    0x31: ("WRITE SECTORS", False, False, True),
    0x34: ("WRITE SECTORS EXT", True, False, True),
    0xC5: ("WRITE MULTIPLE", False, True, True),
    0x39: ("WRITE MULTIPLE EXT", True, True, True),
}
# (0x90 EXECUTE DEVICE DIAGNOSTIC is not here: it runs on both devices, so
# AtaChannel._command handles it before any one drive sees it.)
OTHER_COMMANDS = {
    0xEC: "IDENTIFY DEVICE", 0xC6: "SET MULTIPLE MODE", 0xE7: "FLUSH CACHE",
    0xEA: "FLUSH CACHE EXT", 0xEF: "SET FEATURES", 0x91: "INITIALIZE DEVICE PARAMETERS",
}


def _ata_string(text: str, length: int) -> bytes:
    """An IDENTIFY string: ASCII, space padded, two characters per word, first in the high byte."""
    raw = text.encode("ascii", "replace")[:length].ljust(length, b" ")
    swapped = bytearray(length)
    swapped[0::2], swapped[1::2] = raw[1::2], raw[0::2]
    return bytes(swapped)


def default_geometry(sectors: int) -> tuple[int, int, int]:
    """(cylinders, heads, sectors per track) of the default CHS translation: 16 heads, 63 sectors."""
    heads, spt = 16, 63
    return max(1, min(sectors // (heads * spt), 16383)), heads, spt


class AtaDrive:
    """One ATA device (device 0 or 1 of a channel) over one disk image.

    `image` has .sectors, .readonly, read(lba, count) -> bytes,
    write(lba, data), flush(); see vmm/disks.py.
    """

    def __init__(self, image, serial: str = "PYOS0000", model: str = MODEL):
        self.image = image
        self.total = image.sectors
        self.readonly = bool(getattr(image, "readonly", False))
        self.serial = serial
        self.model = model
        # Counters for metrics: plain ints.
        self.counters = {"commands": {}, "bytes_read": 0, "bytes_written": 0, "flushes": 0,
                         "errors": 0, "interrupts": 0}
        self.power_on()

    # -- state -------------------------------------------------------------------------
    def power_on(self):
        self.cyls, self.heads, self.spt = default_geometry(self.total)
        self.multiple = 0            # sectors per DRQ block of READ/WRITE MULTIPLE; 0 = not set
        self.write_cache = True
        self.look_ahead = True
        self.revert_defaults = False
        self.feature = self.hob_feature = 0
        self.nsect = self.hob_nsect = 0
        self.lbal = self.hob_lbal = 0
        self.lbam = self.hob_lbam = 0
        self.lbah = self.hob_lbah = 0
        self.device = 0
        self.reset_done()

    def reset_done(self):
        """The end of a reset: the signature, diagnostic code, DRDY."""
        if self.revert_defaults:
            self.cyls, self.heads, self.spt = default_geometry(self.total)
            self.multiple = 0
            self.write_cache = self.look_ahead = True
        self.nsect, self.lbal, self.lbam, self.lbah, self.device = 1, 1, 0, 0, 0
        self.error = DIAG_PASSED
        self.status = DRDY | DSC
        self.irq_pending = False
        self.stop_transfer()

    def stop_transfer(self):
        self.buf = bytearray()
        self.pos = self.end = 0
        self.xfer = None            # None, "in" (device → host) or "out"
        self.status &= ~DRQ

    def _count(self, name: str):
        commands = self.counters["commands"]
        commands[name] = commands.get(name, 0) + 1

    # -- addresses ---------------------------------------------------------------------
    def _lba28(self) -> int | None:
        """The 28-bit command's start LBA, or None for a CHS address that does not exist."""
        if self.device & DEV_LBA:
            return (self.device & 0x0F) << 24 | self.lbah << 16 | self.lbam << 8 | self.lbal
        cyl, head, sector = self.lbah << 8 | self.lbam, self.device & 0x0F, self.lbal
        if sector == 0 or sector > self.spt or head >= self.heads or cyl >= self.cyls:
            return None
        return (cyl * self.heads + head) * self.spt + sector - 1

    def _lba48(self) -> int:
        return (self.hob_lbah << 40 | self.hob_lbam << 32 | self.hob_lbal << 24
                | self.lbah << 16 | self.lbam << 8 | self.lbal)

    def _set_progress(self, lba: int, remaining: int):
        """Address registers ← lba, Sector Count ← remaining (see the docstring)."""
        self._set_address(lba, self.lba48)
        self.nsect = remaining & 0xFF
        if self.lba48:
            self.hob_nsect = remaining >> 8 & 0xFF

    def _set_address(self, lba: int, lba48: bool):
        if lba48:
            self.lbal, self.lbam, self.lbah = lba & 0xFF, lba >> 8 & 0xFF, lba >> 16 & 0xFF
            self.hob_lbal, self.hob_lbam, self.hob_lbah = lba >> 24 & 0xFF, lba >> 32 & 0xFF, lba >> 40 & 0xFF
        elif self.device & DEV_LBA:
            self.lbal, self.lbam, self.lbah = lba & 0xFF, lba >> 8 & 0xFF, lba >> 16 & 0xFF
            self.device = self.device & 0xF0 | lba >> 24 & 0x0F
        else:
            cyl, rest = divmod(lba, self.heads * self.spt)
            head, sector = divmod(rest, self.spt)
            self.lbal, self.lbam, self.lbah = sector + 1, cyl & 0xFF, cyl >> 8 & 0xFF
            self.device = self.device & 0xF0 | head & 0x0F

    # -- command completion ------------------------------------------------------------
    def _interrupt(self):
        self.irq_pending = True
        self.counters["interrupts"] += 1

    def _abort(self, error: int = ABRT, extra_status: int = 0):
        self.stop_transfer()
        self.error = error
        self.status = DRDY | DSC | ERR | extra_status
        self.counters["errors"] += 1
        self._interrupt()

    def _done(self):
        self.stop_transfer()
        self.error = 0
        self.status = DRDY | DSC
        self._interrupt()

    # -- commands ----------------------------------------------------------------------
    def command(self, cmd: int):
        """Execute a command written to register 7 (the drive is selected and present)."""
        self.irq_pending = False  # writing Command clears a pending interrupt
        self.stop_transfer()
        rw = RW_COMMANDS.get(cmd)
        if rw is not None:
            self._count(rw[0])
            self._start_rw(*rw)
            return
        name = OTHER_COMMANDS.get(cmd)
        if name is None:
            self._count("unsupported")
            self._abort()
        else:
            self._count(name)
            getattr(self, "_cmd_" + name.lower().replace(" ", "_"))()

    def _start_rw(self, name, lba48, multiple, write):
        if multiple and not self.multiple:
            return self._abort()  # READ/WRITE MULTIPLE before SET MULTIPLE MODE
        if write and self.readonly:
            return self._abort()
        if lba48:
            count = (self.hob_nsect << 8 | self.nsect) or 0x10000
            lba = self._lba48()
        else:
            count = self.nsect or 0x100
            lba = self._lba28()
        if lba is None or lba + count > self.total:
            return self._abort(IDNF)
        self.lba, self.remaining, self.lba48 = lba, count, lba48
        self.block = self.multiple if multiple else 1
        self.error = 0
        if write:
            self._next_out_block()
        else:
            self._next_in_block()

    def _next_in_block(self):
        n = min(self.block, self.remaining)
        try:
            data = self.image.read(self.lba, n)
        except OSError:
            self._set_progress(self.lba, self.remaining)
            return self._abort(UNC)
        self.counters["bytes_read"] += len(data)
        self.buf, self.pos, self.end, self.xfer = bytearray(data), 0, len(data), "in"
        self.lba += n
        self.remaining -= n
        self._set_progress(self.lba - 1, self.remaining)
        self.status = DRDY | DSC | DRQ
        self._interrupt()

    def _next_out_block(self):
        n = min(self.block, self.remaining)
        self.buf, self.pos, self.end, self.xfer = bytearray(n * SECTOR), 0, n * SECTOR, "out"
        self.status = DRDY | DSC | DRQ

    def _in_block_done(self):
        if self.xfer == "identify" or not self.remaining:
            self.stop_transfer()
            self.status = DRDY | DSC  # the last block of data-in: no interrupt
        else:
            self._next_in_block()

    def _out_block_done(self):
        n = self.end // SECTOR
        try:
            self.image.write(self.lba, self.buf)
            if not self.write_cache:
                self.image.flush()
        except OSError:
            self._set_progress(self.lba, self.remaining)
            return self._abort(ABRT, DF)
        self.counters["bytes_written"] += self.end
        self.lba += n
        self.remaining -= n
        self._set_progress(self.lba - 1, self.remaining)
        if self.remaining:
            self._next_out_block()
            self._interrupt()
        else:
            self._done()

    def _cmd_identify_device(self):
        self.buf = bytearray(self.identify())
        self.pos, self.end, self.xfer = 0, SECTOR, "identify"
        self.error = 0
        self.status = DRDY | DSC | DRQ
        self._interrupt()

    def _cmd_set_multiple_mode(self):
        n = self.nsect
        if n > MAX_MULTIPLE or n & (n - 1):  # 0 disables; otherwise a power of two up to the maximum
            return self._abort()
        self.multiple = n
        self._done()

    def _cmd_flush_cache(self):
        try:
            self.image.flush()
        except OSError:
            return self._abort(ABRT, DF)
        self.counters["flushes"] += 1
        self._done()

    _cmd_flush_cache_ext = _cmd_flush_cache

    def _cmd_set_features(self):
        f = self.feature
        if f == 0x02:
            self.write_cache = True
        elif f == 0x82:
            self.write_cache = False
            try:
                self.image.flush()  # what the cache held must reach the medium now
            except OSError:
                return self._abort(ABRT, DF)
        elif f == 0xAA:
            self.look_ahead = True
        elif f == 0x55:
            self.look_ahead = False
        elif f == 0xCC:
            self.revert_defaults = True
        elif f == 0x66:
            self.revert_defaults = False
        elif f == 0x03:  # set transfer mode (Sector Count): PIO default or PIO mode 0-4 only, no DMA
            mode = self.nsect
            if not (mode in (0x00, 0x01) or 0x08 <= mode <= 0x0C):
                return self._abort()
        else:
            return self._abort()
        self._done()

    def _cmd_initialize_device_parameters(self):
        spt, heads = self.nsect, (self.device & 0x0F) + 1
        if spt == 0:
            return self._abort()
        self.spt, self.heads = spt, heads
        self.cyls = max(1, min(self.total // (heads * spt), 65535))
        self._done()

    def identify(self) -> bytes:
        """The 256 words of IDENTIFY DEVICE data."""
        w = [0] * 256
        total = self.total
        cyls, heads, spt = default_geometry(total)
        w[0] = 0x0040                     # fixed device, not removable, ATA
        w[1], w[3], w[6] = cyls, heads, spt
        w[47] = 0x8000 | MAX_MULTIPLE
        w[49] = 1 << 9                    # LBA supported; no DMA (bit 8 = 0)
        w[50] = 0x4000
        w[51] = 0x0200                    # PIO data transfer cycle timing mode 2
        w[53] = 0x0003                    # words 54-58 and 64-70 are valid
        w[54], w[55], w[56] = self.cyls, self.heads, self.spt
        current = min(self.cyls * self.heads * self.spt, 0xFFFF_FFFF)
        w[57], w[58] = current & 0xFFFF, current >> 16
        w[59] = (0x0100 | self.multiple) if self.multiple else 0
        lba28 = min(total, LBA28_LIMIT)
        w[60], w[61] = lba28 & 0xFFFF, lba28 >> 16
        w[64] = 0x0003                    # PIO modes 3 and 4
        w[65] = w[66] = w[67] = w[68] = 120
        w[80] = 0x007E                    # ATA-1 .. ATA-6
        w[82] = 1 << 6 | 1 << 5           # look-ahead, write cache supported
        w[83] = 1 << 14 | 1 << 13 | 1 << 12 | 1 << 10   # FLUSH CACHE EXT, FLUSH CACHE, 48-bit address
        w[84] = 0x4000
        w[85] = (1 << 6 if self.look_ahead else 0) | (1 << 5 if self.write_cache else 0)
        w[86] = 1 << 13 | 1 << 12 | 1 << 10
        w[87] = 0x4000
        for i in range(4):                # words 100-103: 48-bit sector count
            w[100 + i] = total >> (16 * i) & 0xFFFF
        data = bytearray(b"".join(x.to_bytes(2, "little") for x in w))
        data[20:40] = _ata_string(self.serial, 20)
        data[46:54] = _ata_string(FIRMWARE, 8)
        data[54:94] = _ata_string(self.model, 40)
        data[510] = 0xA5                  # word 255: signature and checksum
        data[511] = -sum(data[:511]) & 0xFF
        return bytes(data)

    # -- data port ---------------------------------------------------------------------
    def data_in(self, n: int) -> bytes:
        """Up to n bytes of a data-in transfer, crossing DRQ blocks; zeros when there is none."""
        out = b""
        while n:
            if self.xfer not in ("in", "identify"):
                return out + bytes(n)
            pos = self.pos
            take = min(n, self.end - pos)
            chunk = bytes(self.buf[pos:pos + take])
            out = chunk if not out else out + chunk
            self.pos = pos + take
            n -= take
            if self.pos == self.end:
                self._in_block_done()
        return out

    def data_out(self, data) -> None:
        """Bytes of a data-out transfer; ignored when the device expects none."""
        view = memoryview(data)
        while view:
            if self.xfer != "out":
                return
            pos = self.pos
            take = min(len(view), self.end - pos)
            self.buf[pos:pos + take] = view[:take]
            self.pos = pos + take
            view = view[take:]
            if self.pos == self.end:
                self._out_block_done()


class _ControlPort:
    """The channel's control block register (0x3F6): Alternate Status / Device Control."""

    def __init__(self, channel: "AtaChannel"):
        self.name = channel.name + "-control"
        self.channel = channel

    def read(self, offset: int, size: int) -> int:
        return self.channel.status(clear_irq=False)

    def write(self, offset: int, size: int, value: int):
        self.channel.write_control(value & 0xFF)


class AtaChannel:
    """One ATA channel: up to two devices sharing the registers and one IRQ line.

    Register the channel at its command block base (8 ports) and
    `.control` at its control port (1 port).
    """

    def __init__(self, name: str, drives, irq=None):
        """drives: [device 0, device 1], each an AtaDrive or None; irq: has set_level(bool)."""
        self.name = name
        self.drives = list(drives) + [None] * (2 - len(drives))
        self.irq = irq
        self.unit = 0
        self.control_reg = 0
        self.control = _ControlPort(self)

    @property
    def counters(self) -> dict:
        """Both drives' counters for the metrics (read at scrape time): lists by
        unit (0 master, 1 slave), commands by name summed over the drives."""
        drives = [d for d in self.drives if d is not None]
        out = {key: [d.counters[key] if d else 0 for d in self.drives]
               for key in ("bytes_read", "bytes_written", "flushes", "errors", "interrupts")}
        commands: dict[str, int] = {}
        for d in drives:
            for name, n in list(d.counters["commands"].items()):
                commands[name] = commands.get(name, 0) + n
        out["commands"] = commands
        return out

    # -- helpers -----------------------------------------------------------------------
    @property
    def selected(self) -> AtaDrive | None:
        return self.drives[self.unit]

    def _update_irq(self):
        d = self.drives[self.unit]
        level = d is not None and d.irq_pending and not self.control_reg & NIEN
        if self.irq is not None:
            self.irq.set_level(level)

    def status(self, clear_irq: bool) -> int:
        d = self.drives[self.unit]
        if d is None:
            return 0
        if self.control_reg & SRST:
            return BSY
        if clear_irq and d.irq_pending:
            d.irq_pending = False
            self._update_irq()
        return d.status

    def write_control(self, value: int):
        was = self.control_reg
        self.control_reg = value & (NIEN | SRST | HOB)
        if value & SRST and not was & SRST:
            for d in self.drives:
                if d is not None:
                    d.stop_transfer()
                    d.irq_pending = False
        elif was & SRST and not value & SRST:
            for d in self.drives:
                if d is not None:
                    d.reset_done()
            self.unit = 0
        self._update_irq()

    # -- command block registers -------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        if offset == 0:
            d = self.drives[self.unit]
            if d is None or self.control_reg & SRST:
                return 0
            pos = d.pos
            if pos + size < d.end and d.xfer != "out" and d.xfer is not None:
                d.pos = pos + size  # the common case: inside a DRQ block
                return int.from_bytes(d.buf[pos:pos + size], "little")
            value = int.from_bytes(d.data_in(size), "little")
            self._update_irq()  # the next DRQ block may have raised the interrupt
            return value
        if offset == 7:
            return self.status(clear_irq=True)
        d = self.drives[self.unit] or self.drives[0]  # device 0 answers for an absent device 1
        if d is None:
            return 0
        if self.control_reg & SRST:
            return 0
        if offset == 6:
            return d.device | 0xA0  # bits 7 and 5 are obsolete and read as one
        if offset == 1:
            return d.error if self.drives[self.unit] is not None else 0
        hob = self.control_reg & HOB
        if offset == 2:
            return d.hob_nsect if hob else d.nsect
        if offset == 3:
            return d.hob_lbal if hob else d.lbal
        if offset == 4:
            return d.hob_lbam if hob else d.lbam
        return d.hob_lbah if hob else d.lbah

    def write(self, offset: int, size: int, value: int):
        if offset == 0:
            d = self.drives[self.unit]
            if d is None or self.control_reg & SRST:
                return
            pos = d.pos
            if pos + size < d.end and d.xfer == "out":
                d.pos = pos + size  # the common case: inside a DRQ block
                d.buf[pos:pos + size] = value.to_bytes(size, "little")
            else:
                d.data_out(value.to_bytes(size, "little"))
                self._update_irq()  # a finished block may have raised the interrupt
            return
        if self.control_reg & SRST:
            return  # both devices are busy with the reset
        value &= 0xFF
        self.control_reg &= ~HOB  # a write to any command block register clears HOB
        if offset == 7:
            self._command(value)
            return
        for d in self.drives:
            if d is None:
                continue
            if offset == 1:
                d.hob_feature, d.feature = d.feature, value
            elif offset == 2:
                d.hob_nsect, d.nsect = d.nsect, value
            elif offset == 3:
                d.hob_lbal, d.lbal = d.lbal, value
            elif offset == 4:
                d.hob_lbam, d.lbam = d.lbam, value
            elif offset == 5:
                d.hob_lbah, d.lbah = d.lbah, value
            else:
                d.device = value & 0x5F
        if offset == 6:
            self.unit = 1 if value & DEV_DEV else 0
            self._update_irq()  # INTRQ follows the newly selected device

    def _command(self, cmd: int):
        if cmd == 0x90:  # EXECUTE DEVICE DIAGNOSTIC runs on both devices, whichever is selected
            present = [d for d in self.drives if d is not None]
            for d in present:
                d.reset_done()
            for d in present[:1]:
                d._count("EXECUTE DEVICE DIAGNOSTIC")
                d._interrupt()  # device 0 reports the result
            self.unit = 0
        else:
            d = self.drives[self.unit]
            if d is None:
                return  # no device to take it
            d.command(cmd)
        self._update_irq()

    # -- rep ins/outs in one call ------------------------------------------------------
    def read_block(self, offset: int, size: int, count: int) -> bytes:
        if offset != 0:
            return b"".join(self.read(offset, size).to_bytes(size, "little") for _ in range(count))
        d = self.drives[self.unit]
        if d is None or self.control_reg & SRST:
            return bytes(size * count)
        data = d.data_in(size * count)
        self._update_irq()  # a new DRQ block may have raised the interrupt
        return data

    def write_block(self, offset: int, size: int, data) -> None:
        if offset != 0:
            for i in range(0, len(data), size):
                self.write(offset, size, int.from_bytes(data[i:i + size], "little"))
            return
        d = self.drives[self.unit]
        if d is not None and not self.control_reg & SRST:
            d.data_out(data)
            self._update_irq()


def stats_lines(channels) -> list[str]:
    """One --stats line per drive: commands by name, bytes moved, flushes, errors."""
    lines = []
    for channel in channels:
        for unit, d in enumerate(channel.drives):
            if d is None:
                continue
            c = d.counters
            commands = ", ".join(f"{name} {n}" for name, n in sorted(c["commands"].items())) or "none"
            lines.append(f"{channel.name} device {unit} ({d.image.path}): read {c['bytes_read']} B, "
                         f"written {c['bytes_written']} B, {c['flushes']} flushes, {c['errors']} errors, "
                         f"{c['interrupts']} interrupts; commands: {commands}")
    return lines


def drive_serial(path: str, index: int) -> str:
    """A stable serial number for the drive at config position `index` over image `path`."""
    return f"PYOS{index}-{zlib.crc32(str(path).encode()):08X}"


# (name, command block base, control port, IRQ line) of the PC's two channels
ATA_CHANNELS = (("ata0", 0x1F0, 0x3F6, 14), ("ata1", 0x170, 0x376, 15))


def ata_channels(images, irq_lines) -> list[AtaChannel]:
    """The channels for up to four images, in [[disk]] order: primary master,
    primary slave, secondary master, secondary slave. The primary channel is
    always there (a driver probing it finds status 0: no drives); the
    secondary only with a third or fourth disk."""
    drives = [AtaDrive(image, drive_serial(image.path, i)) for i, image in enumerate(images)]
    drives += [None] * (4 - len(drives))
    channels = []
    for i, (name, _, _, line) in enumerate(ATA_CHANNELS):
        if i and not any(drives[2 * i:2 * i + 2]):
            break
        channels.append(AtaChannel(name, drives[2 * i:2 * i + 2], irq_lines[line]))
    return channels
