"""The machine: guest RAM, one vCPU, the buses and devices, and the run loop.

The PC's devices and where they sit:

    0x20-0x21, 0xA0-0xA1  8259A PIC pair       IRQ lines 0-15 → vectors
    0x40-0x43             8254 PIT             counter 0 → IRQ 0
    0x61                  system port B        PIT counter 2 gate / OUT
    0x3F8-0x3FF           16550A UART (COM1)   IRQ 4
    0xF4                  exit port

Interrupts: devices drive IrqLines, which feed the PIC pair. Before each
KVM_RUN the loop asks the PIC for its INTR output; if the guest can take an
interrupt now (kvm_run.ready_for_interrupt_injection and IF), the PIC's INTA
cycle gives the vector and KVM_INTERRUPT injects it; otherwise the loop sets
request_interrupt_window so KVM exits as soon as the guest can.

The run loop executes in the thread that calls run(). Anything that must get
the vCPU's attention (Ctrl-C, terminal input, the PIC raising INTR from the
timer thread) calls kick(): it sets kvm_run.immediate_exit, so a kick that lands just
before KVM_RUN is not lost, and sends KICK_SIGNAL to the vCPU thread, which
makes a KVM_RUN in progress return with EINTR.
"""

from __future__ import annotations

import os
import signal
import struct
import sys
import threading
from collections import Counter

from . import errors
from .boot.elf import load_kernel
from .boot.long_mode import enter_long_mode, write_boot_info
from .bus import Bus, UnclaimedAccess
from .devices.crash_report import CrashReportPort
from .devices.exit_port import ExitPort
from .devices.pic8259 import PicPair
from .devices.pit8254 import Pit8254
from .devices.system_port61 import SystemPort61
from .devices.uart16550 import Uart16550
from .errors import GuestCrash
from .guest_counters import GuestCounters
from .irq import IrqLine
from .kvm import Kvm, ffi, lib
from .memory import GuestMemory
from .report import register_dump
from .symbols import Symbolizer

KICK_SIGNAL = signal.SIGUSR1
COM1_BASE, COM1_IRQ = 0x3F8, 4
PIT_IRQ = 0
GIL_SWITCH_INTERVAL = 0.005  # seconds
TSS_ADDR = 0xFFFB_D000  # three pages KVM needs on Intel hosts, in the MMIO hole

# struct kvm_run's io record: direction, size, port, count, data_offset,
# unpacked at the offsets the compiler gave cffi.
IO_RECORD = struct.Struct("<BBHIQ")
IO_RECORD_OFFSET = ffi.offsetof("struct kvm_run", "io")
assert [ffi.offsetof("struct kvm_run", "io", f) - IO_RECORD_OFFSET
        for f in ("direction", "size", "port", "count", "data_offset")] == [0, 1, 2, 4, 8]

EXIT_NAMES = {getattr(lib, n): n[len("KVM_EXIT_"):].lower() for n in dir(lib)
              if n.startswith("KVM_EXIT_") and n not in ("KVM_EXIT_IO_IN", "KVM_EXIT_IO_OUT")}


MSR_APIC_BASE = 0x1B
APIC_BASE_DEFAULT = 0xFEE0_0000 | 1 << 8  # BSP, global enable bit clear
CPUID1_EDX_APIC = 1 << 9
CPUID1_ECX_X2APIC = 1 << 21


def describe_machine_in_cpuid(cpuid):
    """Adjust KVM's supported CPUID to this machine: there is no local APIC
    (interrupts come from the emulated 8259A through KVM_INTERRUPT)."""
    for i in range(cpuid.nent):
        entry = cpuid.entries[i]
        if entry.function == 1:
            entry.edx &= ~CPUID1_EDX_APIC
            entry.ecx &= ~CPUID1_ECX_X2APIC


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
        cpuid_buf, cpuid = self.kvm.supported_cpuid()
        describe_machine_in_cpuid(cpuid)
        self.vcpu.set_cpuid2(cpuid)
        # No local APIC: disabled in IA32_APIC_BASE (KVM then clears CPUID's APIC bit).
        self.vcpu.set_msrs({MSR_APIC_BASE: APIC_BASE_DEFAULT})

        self.io_bus = Bus("port")
        self.mmio_bus = Bus("MMIO address")
        self._wakeup = threading.Event()
        self._halted = False  # the vCPU thread sleeps in _on_hlt
        self._vcpu_thread: int | None = None
        self.pic = PicPair(on_int=self.kick, on_ack=self._irq_acknowledged)
        self.irq_lines = {n: IrqLine(n) for n in range(16)}
        for line in self.irq_lines.values():
            line.connect(self.pic.set_irq)
        self.io_bus.register(0x20, 2, self.pic.master_port)
        self.io_bus.register(0xA0, 2, self.pic.slave_port)
        self.pit = Pit8254(self.irq_lines[PIT_IRQ], policy=config.machine.timer_policy,
                           irq0_masked=lambda: bool(self.pic.master.imr & 1 << PIT_IRQ),
                           irq0_pending=lambda: bool(self.pic.master.irr & 1 << PIT_IRQ))
        self.io_bus.register(0x40, 4, self.pit)
        self.io_bus.register(0x61, 1, SystemPort61(self.pit))
        self._close_output = None
        self.console_output = output or self._open_output()
        self.uart = Uart16550("com1", self.console_output, self.irq_lines[COM1_IRQ])
        self.io_bus.register(COM1_BASE, 8, self.uart)
        if config.machine.exit_port:
            self.io_bus.register(config.machine.exit_port, 4, ExitPort(self._guest_exit))

        self.kernel = load_kernel(kernel_path, self.memory)
        self.symbolizer = Symbolizer(kernel_path)
        self.crash_reports = CrashReportPort(self.memory, self.symbolizer, self.console_output)
        self.io_bus.register(CrashReportPort.PORT, 4, self.crash_reports)
        self.guest_counters = GuestCounters.find(kernel_path, self.memory)
        info = write_boot_info(self.memory, ram_size=self.memory.size, kernel=self.kernel,
                               cmdline=config.kernel.cmdline, timer_hz=config.machine.timer_hz,
                               exit_port=config.machine.exit_port, serial_port=COM1_BASE)
        enter_long_mode(self.vcpu, self.memory, self.kernel, info)

        self._io_view = self.vcpu.io_data(0, self.vcpu.run_size)  # KVM_EXIT_IO data lives in the run page
        self._exit_counts: Counter[int] = Counter()  # by exit reason number
        self.injected: Counter[int] = Counter()  # interrupts delivered, by vector
        self.status: int | None = None
        self._stop_status: int | None = None  # set by request_stop()
        self._handlers = {
            lib.KVM_EXIT_IO: self._on_io,
            lib.KVM_EXIT_MMIO: self._on_mmio,
            lib.KVM_EXIT_HLT: self._on_hlt,
            lib.KVM_EXIT_IRQ_WINDOW_OPEN: lambda run: None,
            lib.KVM_EXIT_SHUTDOWN: self._on_shutdown,
            lib.KVM_EXIT_INTERNAL_ERROR: self._on_internal_error,
            lib.KVM_EXIT_FAIL_ENTRY: self._on_fail_entry,
            lib.KVM_EXIT_SYSTEM_EVENT: self._on_system_event,
        }

    # -- console -------------------------------------------------------------
    def _open_output(self):
        target = self.config.serial.output
        if target == "stdout":
            fd = sys.stdout.fileno()
            return lambda data: os.write(fd, data)
        if target == "none":
            return lambda data: None
        path = self.config.resolve(target)
        try:
            stream = open(path, "wb", buffering=0)
        except OSError as e:
            raise errors.ConfigError(f"[serial] output = {target!r}: cannot open {path}: {e.strerror}",
                                     'use "stdout", "none" or a writable file path') from None
        self._close_output = stream.close
        return stream.write

    def _start_input(self):
        if self.config.serial.input != "stdin" or sys.stdin is None:
            return
        try:
            fd = sys.stdin.fileno()
        except (ValueError, OSError):
            return
        if os.isatty(fd):
            self._enter_cbreak(fd)
        threading.Thread(target=self._input_loop, args=(fd,), name="serial-input", daemon=True).start()

    def _enter_cbreak(self, fd):
        import termios
        import tty
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)  # keys arrive one by one, unechoed; Ctrl-C still signals
        self._restore_tty = lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    def _input_loop(self, fd):
        # Signals are for the vCPU thread: a SIGINT taken here would not stop KVM_RUN.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, KICK_SIGNAL})
        while True:
            try:
                data = os.read(fd, 256)
            except OSError:
                return
            if not data:
                return
            while data:  # hold bytes while the receive FIFO is full, like CTS flow control
                space = self.uart.rx_space()
                if space:
                    self.uart.receive(data[:space])
                    data = data[space:]
                    self.kick()
                else:
                    threading.Event().wait(0.002)

    # -- control ---------------------------------------------------------------
    def kick(self):
        """Make the vCPU look at the PIC and stop requests soon (any thread)."""
        self._wakeup.set()
        caller = threading.get_ident()
        if (caller == self._vcpu_thread or self._halted) and self._stop_status is None:
            return  # the vCPU thread checks the PIC before every KVM_RUN; a halted one wakes on the event
        # immediate_exit covers a kick that lands just before KVM_RUN is entered
        # (or, for Ctrl-C, a signal handler that ran between the loop's check and it).
        self.vcpu.run_struct.immediate_exit = 1
        target = self._vcpu_thread
        if target is not None and target != caller:
            signal.pthread_kill(target, KICK_SIGNAL)

    def _irq_acknowledged(self, line: int):
        if line == PIT_IRQ:
            self.pit.irq0_acknowledged()

    def request_stop(self, status: int):
        """Stop the VM from any thread; run() returns `status`."""
        self._stop_status = status
        self.kick()

    def _on_sigint(self, signum, frame):
        self.request_stop(errors.EXIT_INTERRUPTED)

    def _guest_exit(self, value: int):
        if value > 255:
            print(f"pyos-vmm: guest wrote {value:#x} to the exit port; exit statuses are 0-255, using 255",
                  file=sys.stderr)
            value = 255
        self.status = value

    def crash(self, status: int, what: str, insn_bytes: bytes | None = None) -> GuestCrash:
        dump = register_dump(self.vcpu, self.memory, insn_bytes, symbols=self.symbolizer)
        return GuestCrash(f"{what}\n{dump}", status=status)

    @property
    def exit_counts(self) -> dict[str, int]:
        """VM exits so far, by reason name (io, hlt, intr, ...)."""
        return {EXIT_NAMES.get(r, str(r)): n for r, n in self._exit_counts.items()}

    def stats(self) -> str:
        """A summary of what the VM did, for --stats."""
        lines = ["exits: " + ", ".join(f"{k} {v}" for k, v in sorted(self.exit_counts.items()))]
        raised = {n: line.raised for n, line in self.irq_lines.items() if line.raised}
        lines.append("IRQ lines raised: " + (", ".join(f"IRQ{n} {c}" for n, c in raised.items()) or "none"))
        lines.append("vectors injected: " + (", ".join(f"{v:#04x} {c}" for v, c in sorted(self.injected.items()))
                                             or "none"))
        coalesced = {f"IRQ{chip_base + i}": c for chip_base, chip in ((0, self.pic.master), (8, self.pic.slave))
                     for i, c in enumerate(chip.counters["coalesced"]) if c}
        spurious = self.pic.master.counters["spurious"] + self.pic.slave.counters["spurious"]
        lines.append(f"PIC: edges merged into a request already pending: {coalesced or 'none'}; "
                     f"spurious acknowledges: {spurious}")
        pit = self.pit.stats
        lines.append(f"PIT ({self.pit.policy}): IRQ0 edges due {pit['edges']}, delivered {pit['delivered']} "
                     f"(caught up late: {pit['caught_up']}), lost {pit['lost_ticks']}")
        guest = self.guest_counters.snapshot() if self.guest_counters else {}
        if guest:
            names = guest["plugins"]
            lines.append(f"guest: {guest['ticks']} ticks; IRQs handled "
                         + ", ".join(f"IRQ{n} {c}" for n, c in enumerate(guest["irqs"]) if c))
            lines.append(f"guest processes: {guest['context_switches']} context switches, "
                         f"{guest['processes_created']} tasks created, {guest['processes_killed']} killed, "
                         f"{guest['user_page_faults']} user page faults; scheduler {names['sched']}, "
                         f"system calls via {names['syscall_entry']}")
            calls = ", ".join(f"#{n} {c}" for n, c in enumerate(guest["syscalls"]) if c)
            lines.append(f"guest system calls by number: {calls or 'none'}")
            for section, plugin in (("frames", "frame_alloc"), ("heap", "heap"), ("paging", "paging")):
                values = ", ".join(f"{k} {v}" for k, v in guest[section].items())
                lines.append(f"guest {section} ({names[plugin]}): {values}")
        return "\n".join(lines)

    # -- the run loop ------------------------------------------------------------
    def run(self) -> int:
        """Run the guest until it exits; return the exit status."""
        self._vcpu_thread = threading.get_ident()
        restore = []
        if threading.current_thread() is threading.main_thread():
            restore.append((KICK_SIGNAL, signal.signal(KICK_SIGNAL, _no_op_handler)))
            restore.append((signal.SIGINT, signal.signal(signal.SIGINT, self._on_sigint)))
        self._restore_tty = None
        # The timer thread must get the GIL within a fraction of a tick period;
        # the default 5 ms switch interval would cost whole ticks at 1000 Hz.
        previous_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        restore.append(("switchinterval", previous_interval))
        self._start_input()
        self.pit.start()
        try:
            return self._loop()
        finally:
            self._vcpu_thread = None
            self.pit.stop()
            for what, previous in restore:
                if what == "switchinterval":
                    sys.setswitchinterval(previous)
                else:
                    signal.signal(what, previous)
            if self._restore_tty:
                self._restore_tty()

    def _loop(self) -> int:
        run = self.vcpu.run_struct
        handlers = self._handlers
        counts = self._exit_counts
        pic = self.pic
        while self.status is None:
            if self._stop_status is not None:
                return self._stop_status
            if pic.has_interrupt():
                if run.ready_for_interrupt_injection and run.if_flag:
                    vector = pic.acknowledge()
                    self.vcpu.interrupt(vector)
                    self.injected[vector] += 1
                # Exit again as soon as the guest can take the next one.
                run.request_interrupt_window = 1
            else:
                run.request_interrupt_window = 0
            if self.vcpu.run() < 0:  # kicked out by a signal
                run.immediate_exit = 0
                counts[lib.KVM_EXIT_INTR] += 1
                continue
            reason = run.exit_reason
            counts[reason] += 1
            handler = handlers.get(reason)
            if handler is None:
                raise self.crash(errors.EXIT_GUEST_DEAD,
                                 f"unexpected KVM exit reason {EXIT_NAMES.get(reason, reason)} ({reason})")
            handler(run)
        return self.status

    def _unclaimed(self, access: UnclaimedAccess) -> int:
        if self.config.machine.unclaimed_io == "ignore":
            return (1 << (8 * access.size)) - 1  # an open bus reads all ones
        raise self.crash(errors.EXIT_UNCLAIMED_IO,
                         f"guest made a {access}",
                         ) from None

    def _on_io(self, run):
        # One unpack of the kvm_run io record instead of five cffi lookups:
        # this is the hottest path in the VMM.
        direction, size, port, count, offset = IO_RECORD.unpack_from(self._io_view, IO_RECORD_OFFSET)
        data = self._io_view
        bus = self.io_bus
        for i in range(offset, offset + size * count, size):  # count > 1 for rep ins/outs
            try:
                if direction == lib.KVM_EXIT_IO_OUT:
                    bus.write(port, size, int.from_bytes(data[i:i + size], "little"))
                else:
                    data[i:i + size] = bus.read(port, size).to_bytes(size, "little")
            except UnclaimedAccess as access:
                value = self._unclaimed(access)
                if not access.is_write:
                    data[i:i + size] = value.to_bytes(size, "little")

    def _on_mmio(self, run):
        mmio = run.mmio
        addr, length = mmio.phys_addr, mmio.len
        try:
            if mmio.is_write:
                self.mmio_bus.write(addr, length, int.from_bytes(bytes(mmio.data)[:length], "little"))
            else:
                value = self.mmio_bus.read(addr, length)
                mmio.data[0:length] = list(value.to_bytes(length, "little"))
        except UnclaimedAccess as access:
            value = self._unclaimed(access)
            if not mmio.is_write:
                mmio.data[0:length] = list(value.to_bytes(length, "little"))

    def _on_hlt(self, run):
        if not run.if_flag:
            raise self.crash(errors.EXIT_GUEST_DEAD,
                             "guest halted with interrupts disabled: nothing can ever wake it")
        # Sleep until the PIC raises INTR or a stop is requested: no busy-waiting.
        # Clear first: a kick between the check and the wait then still wakes us.
        self._wakeup.clear()
        self._halted = True
        try:
            while not self.pic.has_interrupt() and self._stop_status is None:
                self._wakeup.wait(1.0)
                self._wakeup.clear()
        finally:
            self._halted = False

    def _on_shutdown(self, run):
        raise self.crash(errors.EXIT_TRIPLE_FAULT,
                         "guest triple fault (KVM_EXIT_SHUTDOWN): an exception occurred while "
                         "delivering a double fault, so the CPU shut down")

    def _on_internal_error(self, run):
        sub = run.internal.suberror
        if sub == lib.KVM_INTERNAL_ERROR_EMULATION:
            failure = run.emulation_failure
            insn = None
            if failure.flags & lib.KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES:
                insn = bytes(failure.insn_bytes)[:failure.insn_size] or None
            raise self.crash(errors.EXIT_INTERNAL,
                             "KVM could not emulate a guest instruction (KVM_EXIT_INTERNAL_ERROR, "
                             "emulation failure). On PVM-style hosts kernel mode is emulated and SSE, "
                             "xsave/xrstor and cmpxchg16b are not supported there: build kernel code "
                             "with -mgeneral-regs-only", insn)
        names = {lib.KVM_INTERNAL_ERROR_SIMUL_EX: "exception during exception delivery (simultaneous exceptions)",
                 lib.KVM_INTERNAL_ERROR_DELIVERY_EV: "event delivery failed",
                 lib.KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: "unexpected hardware exit reason"}
        data = " ".join(f"{run.internal.data[i]:#x}" for i in range(min(run.internal.ndata, 16)))
        raise self.crash(errors.EXIT_INTERNAL,
                         f"KVM internal error {sub}: {names.get(sub, 'unknown')} (data: {data or 'none'})")

    def _on_fail_entry(self, run):
        reason = run.fail_entry.hardware_entry_failure_reason
        raise self.crash(errors.EXIT_ENTRY_FAILED,
                         f"VM entry failed (hardware reason {reason:#x}): the vCPU state is invalid")

    def _on_system_event(self, run):
        kind = run.system_event.type
        if kind == lib.KVM_SYSTEM_EVENT_SHUTDOWN:
            self.status = 0
        elif kind == lib.KVM_SYSTEM_EVENT_RESET:
            raise GuestCrash("guest requested a reset; pyos-vmm does not reboot guests",
                             status=errors.EXIT_GUEST_DEAD)
        else:
            raise self.crash(errors.EXIT_GUEST_DEAD, f"guest system event {kind} (crash)")

    def close(self):
        if self._close_output:
            self._close_output()
        self.vcpu.close()
        self.memory.close()
        self.vm.close()
        self.kvm.close()
