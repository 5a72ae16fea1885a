"""The run loop: KVM_RUN, exit dispatch, interrupt injection, timer ticks, kicks.

It executes in the thread that calls run(). Before each KVM_RUN the loop
reads the PIC's INTR output (pic.intr, one attribute the PIC keeps up to
date); if the guest can take an interrupt now
(kvm_run.ready_for_interrupt_injection and IF), the PIC's INTA cycle gives
the vector and KVM_INTERRUPT injects it; otherwise the loop sets
request_interrupt_window (stored only when it changes) so KVM exits as soon
as the guest can.

Timer ticks: the loop keeps the PIT's next IRQ 0 deadline itself (timer:
deadline_ns and service()). After every exit it services a deadline that has
passed; a halted vCPU sleeps until the deadline (or a kick); a running one
is signalled at it by its own POSIX timer (vcpu_timer.py). One thread, one
wake-up per tick. With coalesced ports the ring is drained after every
KVM_RUN, and the alarm also fires at least every FLUSH_NS (coalesced.py).

Anything that must get the vCPU's attention from another thread (Ctrl-C,
terminal input, a device raising an IRQ from its own thread) calls kick():
it sets kvm_run.immediate_exit, so a kick that lands just before KVM_RUN is
not lost, and sends KICK_SIGNAL to the vCPU thread, which makes a KVM_RUN in
progress return with EINTR. A halted vCPU sleeps on an eventfd instead
(vmm/wakeup.py: no lock, so a kick from a signal handler cannot deadlock). After
a kick the loop runs its `inputs` (the UART's inbox: other threads only
queue, the vCPU thread owns the device state).

This is the hot path: a single in/out goes straight to the bus's cached
device entry, nothing takes a lock, and the per-exit bookkeeping is C:
KVM_RUN is entered through pyos_kvm_run (vmm/kvm/run_exit.c), which counts
exits by reason and reads the clock on both sides of the ioctl. The time
from KVM_RUN returning to the next KVM_RUN entering is that exit's handling
time, kept as a log2 histogram in nanoseconds per exit reason
(handling[reason][bits] += 1, the sum at index SUM), in the C struct
`stats` that Python reads as arrays. The time inside KVM_RUN is what remains
of the loop's wall time (guest_ns()), so it costs nothing per exit.
exit_counts and injected are dicts made from the arrays when read, and the
collector turns the histograms into Prometheus ones at scrape time.
"""

from __future__ import annotations

import errno
import signal
import struct
import threading
import time
from collections import Counter

from . import errors
from .bus import UnclaimedAccess
from .coalesced import FLUSH_NS
from .devices.pit8254 import NEVER  # a deadline that never comes
from .errors import GuestCrash
from .kvm import KvmError, ffi, lib
from .report import register_dump
from .wakeup import Wakeup

KICK_SIGNAL = signal.SIGUSR1

# struct kvm_run's io record: direction, size, port, count, data_offset,
# unpacked at the offsets the compiler gave cffi.
IO_RECORD = struct.Struct("<BBHIQ")
IO_RECORD_OFFSET = ffi.offsetof("struct kvm_run", "io")
assert [ffi.offsetof("struct kvm_run", "io", f) - IO_RECORD_OFFSET
        for f in ("direction", "size", "port", "count", "data_offset")] == [0, 1, 2, 4, 8]

EXIT_NAMES = {getattr(lib, n): n[len("KVM_EXIT_"):].lower() for n in dir(lib)
              if n.startswith("KVM_EXIT_") and n not in ("KVM_EXIT_IO_IN", "KVM_EXIT_IO_OUT")}

HALT_RECHECK = 1.0  # seconds: a halted vCPU re-checks even without a kick


class _NoTimer:
    """No PIT deadline for the loop to keep (a loop without a machine)."""
    deadline_ns = NEVER

    def service(self, now_ns):
        pass


class _NoAlarm:
    armed = NEVER

    def arm(self, deadline_ns):
        self.armed = deadline_ns

# Exit counts and exit-handling histograms (struct pyos_exit_stats): one slot per
# exit reason below HANDLING_REASONS (a larger reason, from a newer kernel, stops
# the VM as unknown); the histograms' extra slot BEFORE_FIRST_EXIT takes the time
# from run() to the first KVM_RUN. Bucket k counts handling times of k bits in
# nanoseconds, i.e. below 2**k ns; index SUM holds their sum in ns.
HANDLING_REASONS = lib.PYOS_EXIT_REASONS
BEFORE_FIRST_EXIT = lib.PYOS_BEFORE_FIRST_EXIT
SUM = lib.PYOS_HANDLING_SUM


class RunLoop:
    def __init__(self, vcpu, memory, pic, io_bus, mmio_bus, unclaimed_io: str = "stop"):
        if unclaimed_io not in ("stop", "ignore"):
            raise ValueError(f"unclaimed_io must be 'stop' or 'ignore', not {unclaimed_io!r}")
        self.vcpu = vcpu
        self.memory = memory
        self.pic = pic
        self.io_bus = io_bus
        self.mmio_bus = mmio_bus
        self.unclaimed_io = unclaimed_io
        self.status: int | None = None       # the guest's exit status, once it has one
        self.stop_status: int | None = None  # set by request_stop()
        # Counted in C by pyos_kvm_run (exits by reason, handling histograms; see
        # HANDLING_REASONS) and in a plain list (vectors injected); exit_counts and
        # injected turn them into dicts when the metrics read them.
        self.stats = ffi.new("struct pyos_exit_stats *")
        self.stats.run = vcpu.run_struct
        self._counts = self.stats.counts
        self.handling = self.stats.handling
        self._injected = [0] * 256
        self.started_ns = self.ended_ns = 0  # the loop's wall time, for guest_ns()
        self.drain_coalesced = None  # called after every KVM_RUN when ports are coalesced (coalesced.py)
        # The PIT, when the loop drives its IRQ 0 deadline itself (Machine.run):
        # anything with deadline_ns (monotonic ns) and service(now_ns).
        self.timer = None
        self.alarm = None  # vmm.vcpu_timer.VcpuAlarm, created in the vCPU thread by run()
        # Called in the vCPU thread after a kick or a wake-up from halt: devices
        # whose other threads only queue work for it (the UART's inbox).
        self.inputs: list = []
        self._wakeup = Wakeup()  # set by kicks, even from a signal handler (no lock: vmm/wakeup.py)
        self._halted = False  # the vCPU thread sleeps in _on_hlt
        self.paused = False   # stop/cont (control socket): no KVM_RUN while set
        self.parked = False   # the vCPU thread is waiting in _wait_while_paused
        self.on_reset = None  # reset_requested → called in the vCPU thread before the next KVM_RUN
        self.reset_requested = False
        # One flag for the hot loop to test: a stop, pause or reset wants handling.
        self.attention = False
        self.thread: int | None = None
        self.symbols = None  # a vmm.symbols.Symbolizer: crash dumps name functions and lines
        # A debugger (vmm/gdbstub.py), if one is attached. Checked only off the
        # hot path: under `attention`, in a halt, before the first KVM_RUN.
        self.debugger = None
        self.pause_requested = False  # the debugger wants the vCPU stopped
        self.hold_interrupts = False  # single-stepping: inject nothing meanwhile
        self._io_view = vcpu.io_data(0, vcpu.run_size)  # KVM_EXIT_IO data lives in the run page
        self._io_fast = vcpu.run_map  # the same bytes as a memoryview: item access gives ints
        self.handlers = {
            lib.KVM_EXIT_IO: self._on_io,
            lib.KVM_EXIT_MMIO: self._on_mmio,
            lib.KVM_EXIT_HLT: self._on_hlt,
            lib.KVM_EXIT_IRQ_WINDOW_OPEN: lambda run: None,
            lib.KVM_EXIT_SHUTDOWN: self._on_shutdown,
            lib.KVM_EXIT_INTERNAL_ERROR: self._on_internal_error,
            lib.KVM_EXIT_FAIL_ENTRY: self._on_fail_entry,
            lib.KVM_EXIT_SYSTEM_EVENT: self._on_system_event,
        }

    @property
    def exit_counts(self) -> Counter:
        """VM exits so far by exit reason number (read at scrape time)."""
        return Counter({r: n for r, n in enumerate(list(self._counts)) if n})

    @property
    def injected(self) -> Counter:
        """Interrupts delivered so far, by vector."""
        return Counter({v: n for v, n in enumerate(list(self._injected)) if n})

    # -- from any thread ---------------------------------------------------------
    def kick(self):
        """Make the vCPU look at the PIC and stop requests soon."""
        caller = threading.get_ident()
        if caller == self.thread and self.stop_status is None:
            return  # the vCPU thread itself (a device, the PIT's tick): it checks the PIC before every KVM_RUN
        self._wakeup.set()
        if self._halted and self.stop_status is None:
            return  # a halted vCPU wakes on the event
        # immediate_exit covers a kick that lands just before KVM_RUN is entered
        # (or, for Ctrl-C, a signal handler that ran between the loop's check and it).
        self.vcpu.run_struct.immediate_exit = 1
        target = self.thread
        if target is not None and target != caller:
            signal.pthread_kill(target, KICK_SIGNAL)

    def close(self):
        """Release the wake-up eventfd (after every thread that kicks has stopped)."""
        self._wakeup.close()

    def request_stop(self, status: int):
        """Stop the VM; run() returns `status`."""
        self.stop_status = status
        self.attention = True
        self.kick()

    def pause(self):
        """Keep the vCPU out of KVM_RUN until resume() (any thread)."""
        self.paused = True
        self.attention = True
        self.kick()

    def resume(self):
        self.paused = False
        self._wakeup.set()

    @property
    def idle(self) -> bool:
        """The vCPU runs no guest code now: parked by pause() or halted."""
        return self.parked or self._halted

    def request_reset(self):
        """Reset the machine before the next KVM_RUN (called from a device in the vCPU thread)."""
        self.reset_requested = True
        self.attention = True
        self.kick()

    def _wait_while_paused(self):
        # The PIT counts host time while the vCPU is stopped, as its own thread
        # used to: this thread services its deadlines meanwhile (edges reach the
        # PIC; nothing is injected until the vCPU runs again).
        self.parked = True
        timer, alarm = self.timer, self.alarm
        if alarm is not None:
            alarm.arm(NEVER)
        try:
            while self.paused and self.stop_status is None:
                wait = HALT_RECHECK
                if timer is not None:
                    now = time.monotonic_ns()
                    if now >= timer.deadline_ns:
                        timer.service(now)
                    if timer.deadline_ns != NEVER:
                        wait = min(wait, max(0.0, (timer.deadline_ns - time.monotonic_ns()) / 1e9))
                self._wakeup.wait(wait)
                self._wakeup.clear()
        finally:
            self.parked = False

    def guest_exit(self, status: int):
        """The guest asked to power off with `status` (the exit port)."""
        self.status = status
        self.attention = True

    def crash(self, status: int, what: str, insn_bytes: bytes | None = None) -> GuestCrash:
        dump = register_dump(self.vcpu, self.memory, insn_bytes, symbols=self.symbols)
        return GuestCrash(f"{what}\n{dump}", status=status)

    # -- the loop ------------------------------------------------------------------
    def run(self) -> int:
        """Run the guest until it exits or a stop is requested; return the status."""
        self.thread = threading.get_ident()
        try:
            if self.timer is not None:
                from .vcpu_timer import VcpuAlarm
                self.alarm = VcpuAlarm(KICK_SIGNAL)
                # The alarm's signal may land while this thread handles an exit, after the
                # loop looked at the deadline: the C handler then sets immediate_exit, so
                # the next KVM_RUN returns at once and the tick is not lost.
                r = lib.pyos_kick_attach(KICK_SIGNAL, self.vcpu.run_struct)
                if r < 0:
                    raise KvmError("sigaction", -r)
            if self.debugger is not None:
                self.debugger.before_first_run()
            return self._loop()
        finally:
            self.ended_ns = time.monotonic_ns()
            self.thread = None
            lib.pyos_kick_detach()
            if self.alarm is not None:
                self.alarm.close()
                self.alarm = None

    def guest_ns(self) -> int:
        """Time inside KVM_RUN so far: the loop's wall time less the time handling exits
        (an exit being handled right now counts as guest time until it is done)."""
        if not self.started_ns:
            return 0
        end = self.ended_ns or time.monotonic_ns()
        handled = sum(hist[SUM] for hist in list(self.handling))
        return max(0, end - self.started_ns - handled)

    def _loop(self) -> int:
        vcpu = self.vcpu
        run = vcpu.run_struct
        run_fn, fd, stats = vcpu.kvm_run, vcpu.fd, self.stats
        handlers = self.handlers
        pic = self.pic
        view = self._io_fast
        unpack_io = IO_RECORD.unpack_from
        bus_read, bus_write = self.io_bus.read, self.io_bus.write
        io_cache = self.io_bus._cache  # what Bus.read/write would look up first (vmm/bus.py)
        EXIT_IO, EXIT_HLT, IO_OUT = lib.KVM_EXIT_IO, lib.KVM_EXIT_HLT, lib.KVM_EXIT_IO_OUT
        clock = time.monotonic_ns  # the PIT's deadlines and the alarm use CLOCK_MONOTONIC too
        timer = self.timer if self.timer is not None else _NoTimer()
        alarm = self.alarm if self.alarm is not None else _NoAlarm()
        # With coalesced ports, the alarm also fires at flush_at, so writes waiting
        # in the ring go out within FLUSH_NS even if the guest does not exit.
        flush_every = FLUSH_NS if self.drain_coalesced is not None else 0
        drain = self.drain_coalesced
        # Its ring's first/last words, when the drain is a CoalescedPio's (see coalesced.py)
        ring = getattr(getattr(drain, "__self__", None), "words", None)
        flush_at = 0
        window = False  # what run.request_interrupt_window holds: stored only when it changes
        stats.reason = BEFORE_FIRST_EXIT
        self.started_ns = stats.exited_ns = clock()
        while True:
            if self.attention:
                if self.status is not None:
                    return self.status
                if self.stop_status is not None:
                    return self.stop_status
                if self.reset_requested:
                    self.reset_requested = False
                    self.on_reset()
                if self.pause_requested:  # a debugger wants the vCPU stopped (vmm/gdbstub.py)
                    self.debugger.pause()
                self._wait_while_paused()
                # Clear, then look again: other threads set their flag before `attention`,
                # so a request racing with this is either seen here or sets it anew.
                self.attention = False
                stats.exited_ns = clock()  # a pause is not exit handling
                if (self.paused or self.reset_requested or self.stop_status is not None
                        or self.pause_requested or self.status is not None):
                    self.attention = True
                continue
            # pic.intr is the PIC's INTR output, kept up to date by the PIC itself
            # (one attribute read: no lock, no priority resolution per exit).
            if pic.intr and not self.hold_interrupts:
                if run.ready_for_interrupt_injection and run.if_flag:
                    vector = pic.acknowledge()
                    vcpu.interrupt(vector)
                    self._injected[vector] += 1
                # Exit again as soon as the guest can take the next one.
                if not window:
                    run.request_interrupt_window = window = 1
            elif window:
                run.request_interrupt_window = window = 0
            deadline = timer.deadline_ns
            if flush_every:
                if flush_at < deadline:
                    # Moved once per FLUSH_NS (one timer_settime each), from now: the ring was
                    # drained after the last KVM_RUN and fills only inside the next one, and
                    # after a long exit (a halt waits for the next tick) a flush time that has
                    # passed would fire the alarm at once, an EINTR exit for nothing.
                    now = clock()
                    if now >= flush_at:
                        flush_at = now + flush_every
                    if flush_at < deadline:
                        deadline = flush_at
            if deadline != alarm.armed:
                alarm.arm(deadline)  # a system call once per tick, not per exit
            # KVM_RUN, timed and counted in C: the handling time of the previous
            # exit (injection included) into its histogram, this exit's count.
            # A failed one (kicked: -EINTR) has cleared immediate_exit before
            # reading the clock, so a signal after it either finds the deadline
            # passed below or sets immediate_exit again.
            r = run_fn(fd, stats)
            exited = r if r >= 0 else stats.exited_ns
            if exited >= timer.deadline_ns:
                timer.service(exited)  # IRQ 0 edges due: the PIC raises INTR, injected next round
            if ring is not None:
                if ring[0] != ring[1]:  # ring.first != ring.last: writes wait in the coalesced ring
                    drain()  # they came before this exit: the device sees them first
            elif drain is not None:
                drain()
            if r < 0:  # kicked out by a signal
                if r != -errno.EINTR and r != -errno.EAGAIN:
                    raise KvmError("KVM_RUN", -r)
                for take in self.inputs:
                    take()
                continue
            reason = run.exit_reason  # counted by pyos_kvm_run; past HANDLING_REASONS: no handler
            if reason == EXIT_IO:
                # One unpack of the kvm_run io record instead of five cffi lookups.
                direction, size, port, count, offset = unpack_io(view, IO_RECORD_OFFSET)
                if count == 1:  # the common case: one in/out, no rep loop
                    hit = io_cache.get(port)  # the bus's own cache entry: (base, device, narrow, counts)
                    if hit is not None and (size == 1 or not hit[2]):
                        device = hit[1]
                        if direction == IO_OUT:
                            hit[3][1] += 1
                            device.write(port - hit[0], size, view[offset] if size == 1 else
                                         int.from_bytes(view[offset:offset + size], "little"))
                        elif size == 1:
                            hit[3][0] += 1
                            view[offset] = device.read(port - hit[0], 1) & 0xFF
                        else:
                            hit[3][0] += 1
                            view[offset:offset + size] = (device.read(port - hit[0], size)
                                                          & ((1 << 8 * size) - 1)).to_bytes(size, "little")
                        continue
                    try:  # not seen yet, unclaimed, or split into bytes: the bus does it
                        if direction == IO_OUT:
                            bus_write(port, size, view[offset] if size == 1 else
                                      int.from_bytes(view[offset:offset + size], "little"))
                        elif size == 1:
                            view[offset] = bus_read(port, 1) & 0xFF
                        else:
                            view[offset:offset + size] = (bus_read(port, size) & ((1 << 8 * size) - 1)
                                                          ).to_bytes(size, "little")
                    except UnclaimedAccess as access:
                        value = self._unclaimed(access)
                        if not access.is_write:
                            view[offset:offset + size] = value.to_bytes(size, "little")
                else:
                    self._on_io(run)
                continue
            handler = handlers.get(reason)
            if handler is None:
                raise self._unexpected(reason)
            handler(run)
            if reason == EXIT_HLT:
                # Nothing filled the ring while the vCPU was halted: the next FLUSH_NS counts
                # from the next entry, not from before the halt (a flush alarm left from then
                # would fire just after the tick's injection, an EINTR exit for nothing).
                flush_at = 0

    # -- exit handlers ------------------------------------------------------------------
    def _unexpected(self, reason: int) -> GuestCrash:
        return self.crash(errors.EXIT_GUEST_DEAD,
                          f"unexpected KVM exit reason {EXIT_NAMES.get(reason, reason)} ({reason})")

    def _unclaimed(self, access: UnclaimedAccess) -> int:
        if self.unclaimed_io == "ignore":
            return (1 << (8 * access.size)) - 1  # an open bus reads all ones
        raise self.crash(errors.EXIT_UNCLAIMED_IO, f"guest made a {access}") from None

    def _on_io(self, run):
        # One unpack of the kvm_run io record instead of five cffi lookups:
        # this is the hottest path in the VMM.
        direction, size, port, count, offset = IO_RECORD.unpack_from(self._io_view, IO_RECORD_OFFSET)
        data = self._io_view
        bus = self.io_bus
        if count > 1:  # rep ins/outs: the whole block in one device call
            end = offset + size * count
            try:
                if direction == lib.KVM_EXIT_IO_OUT:
                    bus.write_block(port, size, data[offset:end])
                else:
                    data[offset:end] = bus.read_block(port, size, count)
            except UnclaimedAccess as access:
                value = self._unclaimed(access)
                if not access.is_write:
                    data[offset:end] = value.to_bytes(size, "little") * count
            return
        for i in range(offset, offset + size * count, size):
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
                value = self.mmio_bus.read(addr, length) & ((1 << 8 * length) - 1)  # as port reads are
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
        # The eventfd is cleared only when a wait finds it set, so a kick between the
        # check and the wait still wakes us; a timed-out wait costs no read().
        # While halted, this thread waits for the PIT's next deadline itself
        # (the alarm is off): one wake-up per tick.
        self._halted = True
        timer, alarm = self.timer, self.alarm
        if alarm is not None:
            alarm.arm(NEVER)
        try:
            while True:
                for take in self.inputs:
                    take()
                if timer is not None:
                    now = time.monotonic_ns()
                    if now >= timer.deadline_ns:
                        timer.service(now)
                if self.pic.intr or self.stop_status is not None or self.pause_requested:
                    break
                wait = HALT_RECHECK
                if timer is not None and timer.deadline_ns != NEVER:
                    wait = min(wait, max(0.0, (timer.deadline_ns - time.monotonic_ns()) / 1e9))
                if self._wakeup.wait(wait):  # a kick (or one left from before the halt: harmless)
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
            self.guest_exit(0)
        elif kind == lib.KVM_SYSTEM_EVENT_RESET:
            raise GuestCrash("guest requested a reset; pyos-vmm does not reboot guests",
                             status=errors.EXIT_GUEST_DEAD)
        else:
            raise self.crash(errors.EXIT_GUEST_DEAD, f"guest system event {kind} (crash)")
