"""The machine: guest RAM, one vCPU, the buses, and the board that places
each device at its ports and IRQ line. Machine only wires; the run loop
(run_loop.py), the user's terminal (console/) and the --stats text
(stats.py) live in their own modules.

Data flows config → build → boot → run loop → bus → device → IRQ line → PIC
→ vCPU. The board table in _build_board() is the one place that says which
device sits where, like a PC's I/O map:

    0x20-0x21, 0xA0-0xA1  8259A PIC pair       IRQ lines 0-15 → vectors
    0x40-0x43             8254 PIT             counter 0 → IRQ 0
    0x61                  system port B        PIT counter 2 gate / OUT
    0x3F8-0x3FF           16550A UART (COM1)   IRQ 4
    0x60, 0x64            8042 keyboard controller: PS/2 keyboard IRQ 1, mouse IRQ 12
    0x3B0-0x3DF           VGA (text mode)      text memory: guest RAM at 0xB8000
    0xF4                  exit port            (configurable, 0 = none)
    0x404                 crash-report port    the kernel's crash records (symbolized)
    0x604-0x605           ACPI PM1a control    power-off without a status
    0x1F0-0x1F7, 0x3F6    ATA primary channel  IRQ 14 (always; drives from [[disk]] 1-2)
    0x170-0x177, 0x376    ATA secondary        IRQ 15 (with a 3rd or 4th [[disk]])
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass

from . import errors
from .boot.elf import load_kernel
from .boot.long_mode import enter_long_mode, write_boot_info
from .bus import Bus, Device
from .coalesced import CoalescedPio
from .cpuid import machine_cpuid
from .console.terminal import SerialInput, interactive_console, open_output
from .devices.crash_report import CrashReportPort
from .devices.acpi_pm import AcpiPowerOff
from .devices.ata import ATA_CHANNELS, ata_channels
from .devices.exit_port import ExitPort
from .devices.i8042 import I8042
from .devices.pic8259 import PicPair
from .devices.pit8254 import Pit8254
from .devices.system_port61 import SystemPort61
from .devices.uart16550 import Uart16550
from .devices import vga
from .disks import open_disks
from .guest_counters import GuestCounters
from .irq import IrqLine
from .kvm import Kvm
from .memory import GuestMemory
from .run_loop import KICK_SIGNAL, RunLoop
from .stats import exit_counts_by_name, stats_record, stats_text
from .symbols import Symbolizer

COM1_BASE, COM1_IRQ = 0x3F8, 4
KBD_IRQ, MOUSE_IRQ = 1, 12
PIT_IRQ = 0
ACPI_PM1A_CNT = 0x604
GIL_SWITCH_INTERVAL = 0.005  # seconds
TSS_ADDR = 0xFFFB_D000  # three pages KVM needs on Intel hosts, in the MMIO hole

MSR_APIC_BASE = 0x1B
APIC_BASE_DEFAULT = 0xFEE0_0000 | 1 << 8  # BSP, global enable bit clear


@dataclass(frozen=True)
class Slot:
    """One row of the board: a device's name, where it sits, its IRQ line."""
    name: str
    bus: str            # "io" or "mmio"
    base: int
    length: int
    device: Device
    irq: int | None = None  # for the I/O map in docs and stats; the device drives it


def _no_op_handler(signum, frame):
    pass


class Machine:
    def __init__(self, config, kernel_path, output=None):
        """output(bytes) gets the serial console's output (default: per config)."""
        self.config = config
        self.kvm = Kvm()
        self.vm = self.kvm.create_vm()
        self.vm.set_tss_addr(TSS_ADDR)
        self.memory = GuestMemory(config.machine.memory_mib << 20)
        self.memory.attach(self.vm)
        self.vcpu = self.vm.create_vcpu(0)
        supported_buf, supported = self.kvm.supported_cpuid()  # the buffer owns the struct: keep it bound
        self._cpuid_buf, cpuid = machine_cpuid(supported, self.vcpu.tsc_khz())
        self.vcpu.set_cpuid2(cpuid)
        # No local APIC: disabled in IA32_APIC_BASE (KVM then clears CPUID's APIC bit).
        self.vcpu.set_msrs({MSR_APIC_BASE: APIC_BASE_DEFAULT})

        self.io_bus = Bus("port")
        self.mmio_bus = Bus("MMIO address")
        self.irq_lines = {n: IrqLine(n) for n in range(16)}
        self.pic = PicPair(on_ack=self._irq_acknowledged)  # on_int: the run loop's kick, below
        for line in self.irq_lines.values():
            line.connect(self.pic.set_irq)
        self.loop = RunLoop(self.vcpu, self.memory, self.pic, self.io_bus, self.mmio_bus,
                            config.machine.unclaimed_io)
        self.pic.on_int = self.loop.kick  # INTR rose: the vCPU must look (no call through kick() here)
        self.symbolizer = Symbolizer(kernel_path)  # RIP → function, file:line (vmm/symbols.py)
        self.loop.symbols = self.symbolizer

        self._close_output = None
        self.disks = open_disks(config)  # before boot: a bad image is a ConfigError
        if output is None:
            output, self._close_output = open_output(config)
        self.board = self._build_board(config, output)
        for slot in self.board:
            bus = self.io_bus if slot.bus == "io" else self.mmio_bus
            try:
                bus.register(slot.base, slot.length, slot.device)
            except ValueError as e:
                raise errors.ConfigError(f"device placement: {e}",
                                         "move one of them (e.g. [machine] exit_port)") from None
        self.coalesced = CoalescedPio(self.vm, self.vcpu, self.io_bus)
        if config.machine.coalesced_pio:
            for channel, (name, base, _, _) in zip(self.ata, ATA_CHANNELS):
                if any(channel.drives):  # data .. device registers; never the command register
                    self.coalesced.add(base, 7)
            # COM1's transmit register, while the UART's state allows (devices/uart16550.py)
            self.uart.attach_tx_zone(self.coalesced.zone(COM1_BASE, 1))
        if self.coalesced.zones or self.uart.tx_zone is not None:
            self.loop.drain_coalesced = self.coalesced.drain
        self.loop.inputs.append(self.uart.take_input)
        self.serial_input = SerialInput(self.uart, self.kick, block_signals={KICK_SIGNAL}, machine=self)
        self.loop.on_reset = self._reboot
        self.reboots = 0
        self.stop_reason: str | None = None  # who stopped the VM, when not the guest's power-off
        self.kernel_path = kernel_path
        self._boot()
        self.guest_counters = GuestCounters.find(kernel_path, self.memory)
        self.control = None  # the control socket: listening from here, served once run() starts
        if config.control.socket:
            from .control import ControlServer
            self.control = ControlServer(config.resolve(config.control.socket), self)

    def _boot(self):
        """Load the kernel, write the boot information, set the vCPU's registers."""
        config = self.config
        self.kernel = load_kernel(self.kernel_path, self.memory)
        info = write_boot_info(self.memory, ram_size=self.memory.size, kernel=self.kernel,
                               cmdline=self._cmdline(config), timer_hz=config.machine.timer_hz,
                               exit_port=config.machine.exit_port, serial_port=COM1_BASE)
        enter_long_mode(self.vcpu, self.memory, self.kernel, info)

    def _cmdline(self, config) -> str:
        """The kernel command line; ata_secondary=1 (first, before any "--") tells the
        ATA driver the secondary channel exists, which it does only with a 3rd/4th disk."""
        words = config.kernel.cmdline
        if len(self.ata) > 1:
            words = ("ata_secondary=1 " + words).strip()
        if interactive_console(config) and "interactive=" not in words.split("--")[0]:
            words = ("interactive=1 " + words).strip()
        return words

    def _build_board(self, config, output) -> list[Slot]:
        """Create the devices and say where each sits: the machine's I/O map."""
        irq = self.irq_lines
        self.pit = Pit8254(irq[PIT_IRQ], policy=config.machine.timer_policy,
                           irq0_masked=lambda: bool(self.pic.master.imr & 1 << PIT_IRQ),
                           irq0_pending=lambda: bool(self.pic.master.irr & 1 << PIT_IRQ))
        self.uart = Uart16550("com1", output, irq[COM1_IRQ])
        self.vga = vga.Vga(self.memory.view)  # its text memory is part of the RAM slot: no exits
        self.i8042 = I8042(irq[KBD_IRQ], irq[MOUSE_IRQ], on_reset=self._cpu_reset_pulsed)
        board = [
            #    name           bus   base       len  device                     IRQ
            Slot("pic-master",  "io", 0x20,      2,   self.pic.master_port),
            Slot("pic-slave",   "io", 0xA0,      2,   self.pic.slave_port),
            Slot("pit",         "io", 0x40,      4,   self.pit,                  PIT_IRQ),
            Slot("port61",      "io", 0x61,      1,   SystemPort61(self.pit)),
            Slot("com1",        "io", COM1_BASE, 8,   self.uart,                 COM1_IRQ),
            Slot("crash-report", "io", CrashReportPort.PORT, 4,
                 CrashReportPort(self.memory, self.symbolizer, output)),
            Slot("i8042-data",  "io", 0x60,      1,   self.i8042.data_port,      KBD_IRQ),
            Slot("i8042-cmd",   "io", 0x64,      1,   self.i8042.command_port,   MOUSE_IRQ),
            Slot("acpi-pm",     "io", ACPI_PM1A_CNT, 2, AcpiPowerOff(self._guest_poweroff)),
            Slot("vga",         "io", vga.PORT_BASE, vga.PORT_COUNT, self.vga),
        ]
        if config.machine.exit_port:
            board.append(Slot("exit-port", "io", config.machine.exit_port, 4, ExitPort(self._guest_exit)))
        self.ata = ata_channels(self.disks, irq)
        for channel, (name, base, control, line) in zip(self.ata, ATA_CHANNELS):
            board.append(Slot(name, "io", base, 8, channel, line))
            board.append(Slot(name + "-control", "io", control, 1, channel.control))
        return board

    # -- control (any thread) ----------------------------------------------------------
    def kick(self):
        """Make the vCPU look at the PIC and stop requests soon."""
        self.loop.kick()

    def request_stop(self, status: int, reason: str | None = None):
        """Stop the VM; run() returns `status`. `reason` is what pyos-vmm reports for it."""
        if reason and self.stop_reason is None:
            self.stop_reason = reason
        self.loop.request_stop(status)

    @property
    def keyboard(self):
        """The PS/2 keyboard: press(key), release(key), tap(key, modifiers), type_text(text)."""
        return self.i8042.keyboard

    @property
    def mouse(self):
        """The PS/2 mouse: move(dx, dy, dz), button(name, down)."""
        return self.i8042.mouse

    def pause(self):
        """stop: keep the vCPU out of KVM_RUN; waits (up to 2 s) until it is out."""
        self.loop.pause()
        deadline = time.monotonic() + 2.0
        while not self.loop.idle and self.loop.thread is not None and time.monotonic() < deadline:
            time.sleep(0.001)

    def resume(self):
        self.loop.resume()

    def run_state(self) -> str:
        if self.loop.status is not None or self.loop.stop_status is not None:
            return "shutdown"
        return "paused" if self.loop.paused else "running"

    def _cpu_reset_pulsed(self):
        """The 8042 pulsed the CPU's reset line (vCPU thread, inside a port write)."""
        if self.config.machine.on_reset == "reboot":
            self.loop.request_reset()
        else:
            print("pyos-vmm: the guest reset the CPU (8042 reset line); stopping "
                  '(set [machine] on_reset = "reboot" to boot again)', file=sys.stderr)
            self.request_stop(0, "the guest reset the CPU (8042 reset line)")

    def _reboot(self):
        """A CPU reset with on_reset = "reboot": devices to power-on state, RAM cleared, boot again."""
        self.reboots += 1
        print(f"pyos-vmm: the guest reset the CPU (8042 reset line); rebooting (reboot {self.reboots})",
              file=sys.stderr)
        with self.pic.lock:
            self.pic.master.reset()
            self.pic.slave.reset()
            self.pic.update()
        self.uart.reset()
        self.i8042.reset()
        self.memory.clear()
        self.vga.reset()  # after clearing RAM: the text memory is blanked as a BIOS would
        self._boot()

    def stats_dict(self) -> dict:
        """The VMM's counters as one JSON-able dict (control socket query-stats)."""
        return stats_record(self)

    def _irq_acknowledged(self, line: int):
        if line == PIT_IRQ:
            self.pit.irq0_acknowledged()

    def _on_sigint(self, signum, frame):
        self.request_stop(errors.EXIT_INTERRUPTED)

    def _on_sigterm(self, signum, frame):
        self.request_stop(errors.EXIT_TERMINATED)

    def _guest_exit(self, value: int):
        if value > 255:
            print(f"pyos-vmm: guest wrote {value:#x} to the exit port; exit statuses are 0-255, using 255",
                  file=sys.stderr)
            value = 255
        self.loop.guest_exit(value)

    def _guest_poweroff(self):
        if self.loop.status is None:
            print("pyos-vmm: the guest powered off through the ACPI port (no exit port configured, "
                  "so it could not give a status); exit status 0", file=sys.stderr)
            self.loop.guest_exit(0)

    @property
    def status(self) -> int | None:
        return self.loop.status

    @property
    def injected(self):
        return self.loop.injected

    @property
    def exit_counts(self) -> dict[str, int]:
        """VM exits so far, by reason name (io, hlt, intr, ...)."""
        return exit_counts_by_name(self.loop.exit_counts)

    def stats(self) -> str:
        """A summary of what the VM did, for --stats: its metrics, by their Prometheus names."""
        from .metrics.registry import MachineCollector
        collector = MachineCollector(self, "machine")
        collector.freeze()
        return stats_text(collector.collect())

    # -- running -------------------------------------------------------------------
    def run(self) -> int:
        """Run the guest until it exits; return the exit status."""
        restore = []
        if threading.current_thread() is threading.main_thread():
            restore.append((KICK_SIGNAL, signal.signal(KICK_SIGNAL, _no_op_handler)))
            restore.append((signal.SIGINT, signal.signal(signal.SIGINT, self._on_sigint)))
            restore.append((signal.SIGTERM, signal.signal(signal.SIGTERM, self._on_sigterm)))
        # The timer thread must get the GIL within a fraction of a tick period;
        # the default 5 ms switch interval would cost whole ticks at 1000 Hz.
        previous_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        if self.control is not None:
            self.control.start()
        # A halted vCPU waits for the PIT's next deadline itself, and a running one
        # is signalled at it (vmm/vcpu_timer.py): one thread, one wake-up per tick.
        # Without a handler for the kick signal here (not the main thread and
        # none installed by the caller) the signal would kill the process: then
        # the PIT keeps its own timer thread.
        from .vcpu_timer import can_signal_this_thread
        if can_signal_this_thread(KICK_SIGNAL):
            self.pit.attach_to_vcpu()
            self.loop.timer = self.pit
        else:
            self.pit.start()
        # From here the UART's state belongs to this (the vCPU) thread: the input
        # thread's bytes wait in its inbox until the run loop takes them.
        self.uart.vcpu_thread = threading.get_ident()
        try:
            self.serial_input.start(self.config)
            return self.loop.run()
        finally:
            self.uart.vcpu_thread = None
            self.uart.take_input()
            if self.control is not None:
                self.control.close()
            self.pit.stop()
            sys.setswitchinterval(previous_interval)
            for signum, previous in restore:
                signal.signal(signum, previous)
            self.serial_input.restore()

    def close(self):
        if self.control is not None:
            self.control.close()
        for disk in self.disks:
            disk.close()
        if self._close_output:
            self._close_output()
        self.loop.close()
        self.vcpu.close()
        self.memory.close()
        self.vm.close()
        self.kvm.close()
