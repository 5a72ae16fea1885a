"""Intel 8042 keyboard controller (PS/2 "KBC"): port 0x60 data, 0x64 status/command.

References: Intel 8042/8242 (UPI-41/42) and the IBM PC/AT and PS/2 Technical
References ("Keyboard/Auxiliary Device Controller"); the behaviour of
QEMU's hw/input/pckbd.c was read for comparison, not copied.

    read  0x60  the output buffer (clears OBF; the next byte moves in)
    write 0x60  a byte for the keyboard, or the parameter of a command
    read  0x64  status: bit 0 OBF, 1 IBF, 2 SYS, 3 A2 (last write was a
                command), 4 INH (1: keyboard not inhibited), 5 AUXB (the
                output buffer holds mouse data), 6 timeout, 7 parity error
    write 0x64  a controller command:

    20-3F read RAM byte n (20: the config byte)   60-7F write it (next byte)
    A7/A8 disable/enable the mouse port (config bit 5)   A9 test it → 00
    AA self test → 55    AB test the keyboard port → 00
    AD/AE disable/enable the keyboard port (config bit 4)
    C0 read input port   D0 read output port   D1 write output port (next byte)
    D2 next byte into the output buffer as if from the keyboard (IRQ 1)
    D3 next byte into the output buffer as if from the mouse (IRQ 12)
    D4 next byte goes to the mouse   DD/DF A20 off/on   E0 read test inputs
    F0-FF pulse output-port bits 0-3 low where the command has a 0: FE pulses
          bit 0, the CPU's reset line

The config byte: bit 0 keyboard interrupt (IRQ 1), 1 mouse interrupt (IRQ 12),
2 system flag (copied to status SYS), 4 keyboard clock disabled, 5 mouse
clock disabled, 6 translate set 2 to set 1.

One output buffer serves both devices. When it is empty the controller fills
it from, in order: its own replies (and D2/D3 bytes), the keyboard, then the
mouse — keyboard data has priority, as on the PS/2 controller. A port whose
clock is disabled keeps its bytes in the device. IRQ 1 is driven while the
buffer holds keyboard (or controller) data and config bit 0 is set; IRQ 12
while it holds mouse data and bit 1 is set. Reading 0x60 drops the line;
the next byte raises it again, giving the edge-triggered 8259A a new edge.

With translation on, keyboard bytes pass through the set 2 → set 1 table
(ps2_keyboard.SET2_TO_SET1, plus 83 and 02 → 41: F7, identify's 83
and the scan-code set report): an F0
prefix is swallowed and sets bit 7 of the next byte; bytes 80 and up (E0,
AA, FA, EE, FE) pass unchanged.

Access width: an 8-bit device (bus_width = 1). A 16- or 32-bit access is
split by the bus into byte accesses at consecutive ports (0x60, 0x61, ...).

Simplifications:
- Commands and bytes are processed at once: IBF is never seen set, and
  there are no transmit timeouts or parity errors (status bits 6-7 stay 0).
- Translation covers every code the keyboard model can send; other bytes
  below 80 pass unchanged instead of through the rest of the 8042's table.
- The input port reads 0x80 (keyboard not inhibited); test inputs read 0x00;
  A20 (output port bit 1) is stored but has no effect (the guest is in long
  mode from the first instruction).
- The state at start is what a BIOS leaves after POST: config 0x45
  (translation, system flag, keyboard interrupt), both ports enabled.
- Writing a byte for the keyboard to 0x60 enables the keyboard clock (clears
  config bit 4), since the controller must clock it out, as QEMU does.
- The self test (AA) answers 55 and sets the system flag, and otherwise
  leaves the configuration alone (some controllers reset it).
- Unknown commands are ignored and counted.
- The controller queues up to REPLIES_MAX replies (and D2/D3 bytes) the guest
  has not read, where a real 8042 would stall until its buffer is read;
  beyond that they are dropped and counted.
- Pulsing the reset line (FE, or bit 0 written as 0 with D1) calls on_reset(),
  which the machine turns into a stop or a reboot (see machine.py).
"""

from __future__ import annotations

import threading
from collections import deque

from .ps2_keyboard import SET2_TO_SET1, Ps2Keyboard
from .ps2_mouse import Ps2Mouse

# status register
ST_OBF, ST_IBF, ST_SYS, ST_A2, ST_INH, ST_AUXB = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
# config byte
CFG_KBD_INT, CFG_AUX_INT, CFG_SYS, CFG_KBD_OFF, CFG_AUX_OFF, CFG_XLAT = 0x01, 0x02, 0x04, 0x10, 0x20, 0x40
CONFIG_AT_BOOT = CFG_XLAT | CFG_SYS | CFG_KBD_INT
# output port
OUT_RESET, OUT_A20, OUT_KBD_OBF, OUT_AUX_OBF = 0x01, 0x02, 0x10, 0x20
OUTPORT_AT_BOOT = 0xC0 | OUT_A20 | OUT_RESET  # clock and data lines high, A20 on, not in reset

# who filled the output buffer
FROM_CTRL, FROM_KBD, FROM_AUX = 0, 1, 2
REPLIES_MAX = 16
TRANSLATE = dict(SET2_TO_SET1)
TRANSLATE[0x83] = 0x41  # F7's set-2 code (and the identify reply) is above 7F
TRANSLATE[0x02] = 0x41  # no key sends it: it is how F0 00 reports "set 2" (01 and 03 are keys)


class _Port:
    """One of the controller's two I/O ports (0x60 and 0x64 are not adjacent)."""

    bus_width = 1  # an 8-bit device: a 16-bit in/out to 0x60 also touches 0x61, as on the ISA bus

    def __init__(self, ctrl: "I8042", is_command: bool):
        self.ctrl = ctrl
        self.is_command = is_command
        self.name = f"i8042 {'status/command' if is_command else 'data'}"

    @property
    def metrics_source(self):
        """The controller: its counters are the metrics of both ports (vmm/metrics/devices.py)."""
        return self.ctrl

    def read(self, offset: int, size: int) -> int:
        return self.ctrl.read_status() if self.is_command else self.ctrl.read_data()

    def write(self, offset: int, size: int, value: int):
        if self.is_command:
            self.ctrl.write_command(value & 0xFF)
        else:
            self.ctrl.write_data(value & 0xFF)


class I8042:
    def __init__(self, irq_kbd=None, irq_aux=None, on_reset=None, keyboard=None, mouse=None):
        """irq_kbd/irq_aux: IrqLines 1 and 12; on_reset(): the CPU reset line was pulsed."""
        self.name = "i8042"
        self.lock = threading.RLock()  # the vCPU and the console/control threads
        self.irq_kbd = irq_kbd
        self.irq_aux = irq_aux
        self.on_reset = on_reset or (lambda: None)
        self.keyboard = keyboard or Ps2Keyboard()
        self.mouse = mouse or Ps2Mouse()
        for dev in (self.keyboard, self.mouse):
            dev.lock = self.lock
            dev.on_data = self._fill
        self.data_port = _Port(self, False)
        self.command_port = _Port(self, True)
        # Plain int counters, read by --stats and the metrics.
        self.bytes_to_guest = 0     # reads of 0x60 that took a byte
        self.kbd_bytes = 0          # of those, from the keyboard
        self.aux_bytes = 0          # of those, from the mouse
        self.commands = 0           # controller commands written to 0x64
        self.unknown_commands = 0
        self.resets = 0             # CPU reset pulses
        self.replies_dropped = 0    # controller replies beyond REPLIES_MAX unread ones
        self.reset()

    def reset(self):
        with self.lock:
            self.ram = bytearray(32)
            self.ram[0] = CONFIG_AT_BOOT
            self.outport = OUTPORT_AT_BOOT
            self.a2 = False
            self.pending: int | None = None   # command waiting for its data byte
            self.replies: deque[tuple[int, int]] = deque()  # (byte, FROM_*) from the controller
            self.obf = False
            self.out_byte = 0
            self.out_from = FROM_CTRL
            self.break_prefix = False  # translation saw F0
            self._update_irq()

    @property
    def config(self) -> int:
        return self.ram[0]

    # -- filling the output buffer -------------------------------------------
    def _fill(self):
        """Move the next byte into an empty output buffer, keyboard first."""
        if not self.obf:
            cfg = self.ram[0]
            if self.replies:
                self.out_byte, self.out_from = self.replies.popleft()
                self.obf = True
            elif not cfg & CFG_KBD_OFF and self._fill_from_keyboard(cfg):
                pass
            elif not cfg & CFG_AUX_OFF:
                byte = self.mouse.pull()
                if byte is not None:
                    self.out_byte, self.out_from, self.obf = byte, FROM_AUX, True
        self._update_irq()

    def _fill_from_keyboard(self, cfg: int) -> bool:
        while True:
            byte = self.keyboard.pull()
            if byte is None:
                return False
            if cfg & CFG_XLAT:
                if byte == 0xF0:
                    self.break_prefix = True
                    continue
                if byte < 0x80 or byte == 0x83:
                    byte = TRANSLATE.get(byte, byte)
                    if self.break_prefix:
                        byte |= 0x80
                self.break_prefix = False
            self.out_byte, self.out_from, self.obf = byte, FROM_KBD, True
            return True

    def _update_irq(self):
        cfg = self.ram[0]
        aux = self.obf and self.out_from == FROM_AUX
        if self.irq_kbd is not None:
            self.irq_kbd.set_level(self.obf and not aux and bool(cfg & CFG_KBD_INT))
        if self.irq_aux is not None:
            self.irq_aux.set_level(aux and bool(cfg & CFG_AUX_INT))

    def _reply(self, byte: int, source: int = FROM_CTRL):
        if len(self.replies) >= REPLIES_MAX:
            self.replies_dropped += 1  # a guest issuing commands without reading the answers
            return
        self.replies.append((byte & 0xFF, source))
        self._fill()

    # -- the guest's side --------------------------------------------------------
    def read_status(self) -> int:
        with self.lock:
            status = ST_INH | (self.ram[0] & CFG_SYS)
            if self.obf:
                status |= ST_OBF | (ST_AUXB if self.out_from == FROM_AUX else 0)
            if self.a2:
                status |= ST_A2
            return status

    def read_data(self) -> int:
        with self.lock:
            byte = self.out_byte  # with nothing new, the last byte reads again
            if self.obf:
                self.obf = False
                self.bytes_to_guest += 1
                if self.out_from == FROM_KBD:
                    self.kbd_bytes += 1
                elif self.out_from == FROM_AUX:
                    self.aux_bytes += 1
                self._update_irq()  # the line drops ...
                self._fill()        # ... and rises again for the next byte: a new edge
            return byte

    def write_data(self, byte: int):
        with self.lock:
            self.a2 = False
            cmd, self.pending = self.pending, None
            if cmd is None:
                self.ram[0] &= ~CFG_KBD_OFF
                self.keyboard.write(byte)
            elif 0x60 <= cmd <= 0x7F:
                self.ram[cmd - 0x60] = byte
                if cmd == 0x60:
                    self.ram[0] &= 0x7F  # bit 7 is always 0
            elif cmd == 0xD1:
                self._write_outport(byte)
            elif cmd == 0xD2:
                self._reply(byte, FROM_KBD)
            elif cmd == 0xD3:
                self._reply(byte, FROM_AUX)
            elif cmd == 0xD4:
                self.mouse.write(byte)
            self._fill()

    def write_command(self, cmd: int):
        with self.lock:
            self.a2 = True
            self.commands += 1
            self.pending = None
            if 0x20 <= cmd <= 0x3F:
                self._reply(self.ram[cmd - 0x20])
            elif 0x60 <= cmd <= 0x7F or cmd in (0xD1, 0xD2, 0xD3, 0xD4):
                self.pending = cmd
            elif cmd in (0xA7, 0xA8):
                self.ram[0] = self.ram[0] | CFG_AUX_OFF if cmd == 0xA7 else self.ram[0] & ~CFG_AUX_OFF
            elif cmd in (0xAD, 0xAE):
                self.ram[0] = self.ram[0] | CFG_KBD_OFF if cmd == 0xAD else self.ram[0] & ~CFG_KBD_OFF
            elif cmd == 0xAA:
                self.ram[0] |= CFG_SYS  # a passed self test sets the system flag (status bit 2)
                self._reply(0x55)
            elif cmd in (0xA9, 0xAB):
                self._reply(0x00)  # the port's clock and data lines test good
            elif cmd == 0xC0:
                self._reply(0x80)
            elif cmd == 0xD0:
                value = self.outport & ~(OUT_KBD_OBF | OUT_AUX_OBF)
                if self.obf:
                    value |= OUT_AUX_OBF if self.out_from == FROM_AUX else OUT_KBD_OBF
                self._reply(value)
            elif cmd == 0xDD:
                self.outport &= ~OUT_A20
            elif cmd == 0xDF:
                self.outport |= OUT_A20
            elif cmd == 0xE0:
                self._reply(0x00)
            elif cmd >= 0xF0:
                if not cmd & OUT_RESET:  # bit 0 pulsed low: the CPU's reset line
                    self._cpu_reset()
            else:
                self.unknown_commands += 1
            self._fill()

    def _write_outport(self, value: int):
        self.outport = (value & ~(OUT_KBD_OBF | OUT_AUX_OBF)) | OUT_RESET
        if not value & OUT_RESET:
            self._cpu_reset()

    def _cpu_reset(self):
        self.resets += 1
        self.on_reset()

    @property
    def counters(self) -> dict[str, int]:
        return {"bytes_to_guest": self.bytes_to_guest, "kbd_bytes": self.kbd_bytes, "aux_bytes": self.aux_bytes,
                "commands": self.commands, "unknown_commands": self.unknown_commands, "resets": self.resets,
                "kbd_commands": self.keyboard.counters["commands"], "keys": self.keyboard.counters["keys"],
                "aux_commands": self.mouse.counters["commands"], "mouse_packets": self.mouse.counters["packets"],
                "leds": self.keyboard.leds}
