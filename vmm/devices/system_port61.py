"""PC system control port B (0x61): PIT counter 2's gate, the speaker, status.

    bit 0  R/W  PIT counter 2 gate
    bit 1  R/W  speaker data enable (stored; there is no sound)
    bit 2  R/W  parity check disable (stored)
    bit 3  R/W  channel check disable (stored)
    bit 4  R    refresh request: toggles every 15.085 µs (derived from host time)
    bit 5  R    PIT counter 2 OUT
    bit 6  R    channel check (always 0)   bit 7  R    parity check (always 0)

Guests use bits 0 and 5 to calibrate their TSC against counter 2.

Access width: an 8-bit device (bus_width = 1). A 16- or 32-bit access is
split by the bus into byte accesses at consecutive ports, lowest first, as
the ISA bus does (a 16-bit `out` to 0x61 also writes 0x62, which no device claims).
"""

from __future__ import annotations

import time

REFRESH_PERIOD_NS = 15_085


class SystemPort61:
    bus_width = 1  # an 8-bit port: the bus splits wider accesses into bytes

    def __init__(self, pit, name: str = "port61"):
        self.name = name
        self.pit = pit
        self.value = 0

    def read(self, offset: int, size: int) -> int:
        refresh = (time.monotonic_ns() // REFRESH_PERIOD_NS) & 1
        return (self.value & 0x0F) | refresh << 4 | int(self.pit.out2()) << 5

    def write(self, offset: int, size: int, value: int):
        self.value = value & 0x0F
        self.pit.set_gate2(bool(value & 1))
