"""Power-off through an ACPI PM1a control register, as QEMU's PC machines
and Bochs offer it at port 0x604: a 16-bit write with SLP_EN (bit 13) set
and SLP_TYP 5 (S5, soft-off) in bits 10-12 powers the machine off.

Simplified: there are no ACPI tables, no PM1 status/enable registers, no
other sleep states; only the control register at offset 0 exists. Reads
return 0 (SCI_EN clear). A write without SLP_EN, or with another SLP_TYP,
is ignored. A wider access is split by the ISA bus into bytes: only a write
that covers bits 8-15 (offset 1, or a 16/32-bit access at offset 0) can set
SLP_EN.

This is how the guest powers off when the config has no exit port
([machine] exit_port = 0): the guest's status cannot be conveyed, so the
VMM exits with 0 and says so.
"""

from __future__ import annotations

SLP_EN = 1 << 13
SLP_TYP_SHIFT = 10
SLP_TYP_S5 = 5  # the value QEMU's PIIX4/ICH9 PM and Bochs treat as soft-off (S5)


class AcpiPowerOff:
    def __init__(self, on_poweroff, name: str = "acpi-pm1a-cnt"):
        self.name = name
        self.on_poweroff = on_poweroff
        self.value = 0

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, size: int, value: int):
        value = (value << (8 * offset)) & 0xFFFF
        if value & SLP_EN and (value >> SLP_TYP_SHIFT) & 7 in (0, SLP_TYP_S5):
            self.on_poweroff()
