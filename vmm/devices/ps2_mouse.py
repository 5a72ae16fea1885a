"""PS/2 mouse (with the Microsoft IntelliMouse wheel) behind the 8042's second port.

References: IBM PS/2 Hardware Interface Technical Reference, "Pointing
Device" (commands, status bytes, the 3-byte packet), and Microsoft's
IntelliMouse PS/2 protocol notes (the sample-rate knock and the 4th byte).
QEMU's hw/input/ps2.c was read for behaviour, not copied.

Commands (host → mouse, through the 8042's D4 command):

    E6/E7  scaling 1:1 / 2:1                     → FA
    E8     resolution (next byte 0-3: 1,2,4,8 counts/mm) → FA, FA
    E9     status request                         → FA, status, resolution, rate
    EA     stream mode   F0 remote mode           → FA
    EB     read data (a packet, any mode)         → FA + packet
    EE     wrap mode (echo every byte but EC/FF)  EC leaves it → FA
    F2     get device ID                          → FA, ID (0; 3 after the knock)
    F3     sample rate (next byte 10,20,40,60,80,100,200) → FA, FA
    F4/F5  enable / disable data reporting        → FA
    F6     defaults   FF reset                    → FA / FA AA 00
    FE     resend the last byte                   anything else → FE

The IntelliMouse knock: sample rates 200, 100, 80 set in a row make the
device answer F2 with ID 3 from then on, and every packet grows a 4th byte,
the wheel movement as a signed byte.

A packet: byte 0 = Y overflow, X overflow, Y sign, X sign, 1, middle, right,
left (bit 7 .. 0); bytes 1 and 2 = the low 8 bits of the 9-bit two's
complement X and Y movement; byte 3 (ID 3) = Z. Y counts up: the host's move()
takes screen direction (dy > 0 is down, as QEMU's mouse_move does) and flips it.

Simplifications:
- There is no sample clock: in stream mode a packet goes out at once for
  each move()/button() while reporting is enabled; a move bigger than the
  9-bit range is split into several packets, as a real mouse would report it
  over successive samples. Sample rate and resolution are stored and
  reported, and do not scale movement.
- Overflow happens where it can on hardware: in remote mode the counters
  accumulate between reads (EB), and a total beyond -256..255 sets the
  overflow bit with the value clamped; 2:1 scaling (stream mode only) can
  push a packet's value out of range likewise.
- While reporting is disabled or in remote mode nothing is sent; movement in
  stream mode with reporting disabled is discarded.
- The Explorer knock (200, 200, 80 → ID 4, buttons 4 and 5) is not modelled.
- Invalid parameters get FE once; the second-error code FC is not modelled.
- Packets the guest has not read wait in a host-side queue of at most
  QUEUE_MAX bytes; whole packets beyond it are dropped and counted.
"""

from __future__ import annotations

import threading
from collections import deque

ACK, RESEND, SELF_TEST_OK = 0xFA, 0xFE, 0xAA
RATES = (10, 20, 40, 60, 80, 100, 200)
KNOCK = (200, 100, 80)
QUEUE_MAX = 1024
BUTTONS = {"left": 0x01, "right": 0x02, "middle": 0x04}
SCALE_2_1 = {0: 0, 1: 1, 2: 1, 3: 3, 4: 6, 5: 9}


def _scale(d: int) -> int:
    m = SCALE_2_1.get(abs(d), 2 * abs(d))
    return -m if d < 0 else m


class Ps2Mouse:
    def __init__(self, name: str = "ps2-mouse"):
        self.name = name
        self.queue: deque[int] = deque()
        self.on_data = None
        self.lock = threading.RLock()  # the controller shares its own lock (i8042.attach)
        self.counters = {"commands": 0, "bytes_sent": 0, "packets": 0, "dropped": 0, "overflows": 0}
        self.device_id = 0
        self.buttons = 0
        self._defaults()
        self.last_sent = 0

    def _defaults(self):
        self.sample_rate = 100
        self.resolution = 2
        self.scaling_2_1 = False
        self.remote = False
        self.reporting = False
        self.wrap = False
        self.pending_command: int | None = None
        self.rates: list[int] = []  # recent sample rates, for the knock
        self.dx = self.dy = self.dz = 0  # accumulated movement (remote mode)

    # -- bytes to the host ---------------------------------------------------
    def _send(self, *data: int):
        if len(self.queue) + len(data) > QUEUE_MAX:
            self.counters["dropped"] += 1
            return
        self.queue.extend(data)
        if self.on_data:
            self.on_data()

    def pull(self) -> int | None:
        if not self.queue:
            return None
        self.last_sent = self.queue.popleft()
        self.counters["bytes_sent"] += 1
        return self.last_sent

    def _packet(self, dx: int, dy: int, dz: int, scaled: bool) -> tuple[int, ...]:
        """One packet for movement dx, dy (PS/2 direction: y up), dz."""
        if scaled:
            dx, dy = _scale(dx), _scale(dy)
        status = 0x08 | self.buttons
        if dx < -256 or dx > 255:
            status |= 0x40
            dx = max(-256, min(255, dx))
            self.counters["overflows"] += 1
        if dy < -256 or dy > 255:
            status |= 0x80
            dy = max(-256, min(255, dy))
            self.counters["overflows"] += 1
        status |= (0x10 if dx < 0 else 0) | (0x20 if dy < 0 else 0)
        packet = (status, dx & 0xFF, dy & 0xFF)
        if self.device_id == 3:
            packet += (max(-8, min(7, dz)) & 0xFF,)
        self.counters["packets"] += 1
        return packet

    # -- the host's commands -------------------------------------------------
    def write(self, byte: int):
        self.counters["commands"] += 1
        if self.wrap and byte not in (0xEC, 0xFF):
            self._send(byte)  # wrap mode echoes
            return
        cmd = self.pending_command
        if cmd is not None:
            self.pending_command = None
            self._parameter(cmd, byte)
            return
        self._command(byte)

    def _parameter(self, cmd: int, byte: int):
        if cmd == 0xF3:
            if byte not in RATES:
                self._send(RESEND)
                return
            self.sample_rate = byte
            self.rates = (self.rates + [byte])[-3:]
            if tuple(self.rates) == KNOCK:
                self.device_id = 3
        elif cmd == 0xE8:
            if byte > 3:
                self._send(RESEND)
                return
            self.resolution = byte
        self._send(ACK)

    def _command(self, byte: int):
        if byte in (0xF3, 0xE8):
            self.pending_command = byte
            self._send(ACK)
        elif byte in (0xE6, 0xE7):
            self.scaling_2_1 = byte == 0xE7
            self._send(ACK)
        elif byte == 0xE9:
            status = ((0x40 if self.remote else 0) | (0x20 if self.reporting else 0)
                      | (0x10 if self.scaling_2_1 else 0) | (self.buttons & 1) << 2
                      | (self.buttons & 4) >> 1 | (self.buttons & 2) >> 1)
            self._send(ACK, status, self.resolution, self.sample_rate)
        elif byte in (0xEA, 0xF0):
            self.remote = byte == 0xF0
            self.dx = self.dy = self.dz = 0
            self._send(ACK)
        elif byte == 0xEB:
            packet = self._packet(self.dx, self.dy, self.dz, scaled=False)
            self.dx = self.dy = self.dz = 0
            self._send(ACK, *packet)
        elif byte == 0xEE:
            self.wrap = True
            self._send(ACK)
        elif byte == 0xEC:
            self.wrap = False
            self._send(ACK)
        elif byte == 0xF2:
            self.dx = self.dy = self.dz = 0
            self._send(ACK, self.device_id)
        elif byte in (0xF4, 0xF5):
            self.reporting = byte == 0xF4
            self.dx = self.dy = self.dz = 0
            self._send(ACK)
        elif byte == 0xF6:
            self._defaults()
            self._send(ACK)
        elif byte == 0xFE:
            self._send(self.last_sent)
        elif byte == 0xFF:
            self.queue.clear()
            self._defaults()
            self.device_id = 0
            self._send(ACK, SELF_TEST_OK, 0x00)
        else:
            self._send(RESEND)

    # -- the user's side -----------------------------------------------------
    def move(self, dx: int, dy: int, dz: int = 0):
        """Relative motion in screen direction (dy > 0: down; dz > 0: wheel towards the user)."""
        with self.lock:
            ydelta = -dy
            if self.remote:
                self.dx += dx
                self.dy += ydelta
                self.dz += dz
                return
            if not self.reporting:
                return
            while True:  # split into packets within the 9-bit range (and Z within -8..7)
                px = max(-255, min(255, dx))
                py = max(-255, min(255, ydelta))
                pz = max(-8, min(7, dz)) if self.device_id == 3 else 0
                self._send(*self._packet(px, py, pz, self.scaling_2_1))
                dx, ydelta, dz = dx - px, ydelta - py, dz - pz
                if not (dx or ydelta or (dz and self.device_id == 3)):
                    break

    def button(self, name: str, down: bool):
        """Press or release "left", "right" or "middle" ("wheel-up"/"wheel-down" scroll by one)."""
        if name in ("wheel-up", "wheel-down"):
            if down:
                self.move(0, 0, -1 if name == "wheel-up" else 1)
            return
        bit = BUTTONS.get(name)
        if bit is None:
            raise KeyError(name)
        with self.lock:
            before = self.buttons
            self.buttons = (self.buttons | bit) if down else (self.buttons & ~bit)
            if self.buttons != before and self.reporting and not self.remote:
                self._send(*self._packet(0, 0, 0, False))
