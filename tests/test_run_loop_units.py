"""The run loop (vmm/run_loop.py) driven by a scripted vCPU: each exit kind, injection, stops.

No KVM here. ScriptedVcpu has what the loop uses of a Vcpu (a struct
kvm_run in a plain buffer, the run loop's real C entry pyos_kvm_run with a
Python callback in place of the KVM_RUN ioctl,
interrupt(), the register getters of a crash report), and each KVM_RUN plays
the next step of a script: it fills kvm_run as KVM would for one exit. So
each test states one contract of the loop: what a device sees for an exit,
what lands in the data buffer of an `in`, when an interrupt is injected or an
interrupt window requested, which status run() returns, what a crash report
names, what the metrics count. tests/test_interrupts.py and
tests/test_run_loop_kick.py check the same loop under a real guest.
"""

from __future__ import annotations

import errno
import signal
import threading
import time

import pytest

from vmm import errors
from vmm.bus import Bus
from vmm.errors import GuestCrash
from vmm.kvm import KvmError, ffi, lib
from vmm.run_loop import BEFORE_FIRST_EXIT, KICK_SIGNAL, NEVER, SUM, RunLoop

RUN_SIZE = 3 * 4096
DATA = 4096  # where KVM puts an I/O exit's data: inside the kvm_run mapping
IO, MMIO, HLT, INTR = lib.KVM_EXIT_IO, lib.KVM_EXIT_MMIO, lib.KVM_EXIT_HLT, lib.KVM_EXIT_INTR
WINDOW = lib.KVM_EXIT_IRQ_WINDOW_OPEN


class ScriptedVcpu:
    """A vCPU whose every KVM_RUN is the next step of a script (step(run, vcpu) -> 0 or -errno)."""

    fd = -1

    def __init__(self, script):
        self._mem = bytearray(RUN_SIZE)
        self._buf = ffi.from_buffer(self._mem)
        self.run_size = RUN_SIZE
        self.run_map = memoryview(self._mem)
        self.run_struct = ffi.cast("struct kvm_run *", self._buf)
        self.script = list(script)
        self.entries = []   # the loop's state at each KVM_RUN (see _run)
        self.injected = []  # vectors, in order
        self.events = []    # anything a test wants ordered against KVM_RUNs
        self.loop = None
        # pyos_kvm_run (the C that counts and times exits) calls the script instead of ioctl.
        self._ioctl = ffi.callback("long(int, unsigned long, unsigned long)", self._run, onerror=self._failed)
        self._error = None
        self.regs = ffi.new("struct kvm_regs *")
        self.sregs = ffi.new("struct kvm_sregs *")

    def io_data(self, offset, size):
        return ffi.buffer(self._buf + offset, size)

    def data(self, n=8) -> bytes:
        return bytes(self._mem[DATA:DATA + n])

    def kvm_run(self, fd, stats):
        stats.ioctl = self._ioctl
        r = lib.pyos_kvm_run(fd, stats)
        if self._error is not None:  # raised inside the callback: raise it here, in the loop
            error, self._error = self._error, None
            raise error
        return r

    def _failed(self, exc_type, exc, tb):
        self._error = exc
        return -errno.EIO

    def _run(self, fd, request, arg):
        run = self.run_struct
        self.events.append("KVM_RUN")
        self.entries.append({"window": run.request_interrupt_window, "immediate": run.immediate_exit,
                             "idle": self.loop.idle if self.loop else None,
                             "injected": list(self.injected), "data": self.data(),
                             "mmio": bytes(run.mmio.data)})
        assert request == lib.KVM_RUN and arg == 0
        if not self.script:
            raise AssertionError("the loop entered KVM_RUN after the script's last exit")
        return self.script.pop(0)(run, self) or 0

    def interrupt(self, vector):
        self.injected.append(vector)

    def get_regs(self):
        return self.regs

    def get_sregs(self):
        return self.sregs

    def translate(self, rip):
        return None


# -- script steps ---------------------------------------------------------------------
def io(direction, port, size, data=b"", count=1):
    def step(run, vcpu):
        run.exit_reason = IO
        run.io.direction, run.io.size, run.io.port = direction, size, port
        run.io.count, run.io.data_offset = count, DATA
        vcpu._mem[DATA:DATA + 64] = bytes(64)
        vcpu._mem[DATA:DATA + len(data)] = data
    return step


def out(port, size, value):
    return io(lib.KVM_EXIT_IO_OUT, port, size, value.to_bytes(size, "little"))


def inp(port, size):
    return io(lib.KVM_EXIT_IO_IN, port, size, b"\xcc" * size)  # the loop must overwrite these


def mmio(addr, length, is_write, value=0):
    def step(run, vcpu):
        run.exit_reason = MMIO
        run.mmio.phys_addr, run.mmio.len, run.mmio.is_write = addr, length, is_write
        run.mmio.data[0:8] = list(value.to_bytes(8, "little"))
    return step


def exit_reason(reason, **fields):
    def step(run, vcpu):
        run.exit_reason = reason
        for name, value in fields.items():
            setattr(run, name, value)
    return step


def guest_flags(ready, if_flag, reason=WINDOW):
    """An exit after which the guest can (or cannot) take an interrupt."""
    return exit_reason(reason, ready_for_interrupt_injection=ready, if_flag=if_flag)


def call(fn, reason=WINDOW):
    """An exit during which something happens: fn(vcpu) (from the vCPU thread)."""
    def step(run, vcpu):
        run.exit_reason = reason
        fn(vcpu)
    return step


def ends(status=0):
    """The guest writes its exit status (as the exit port device does)."""
    return call(lambda vcpu: vcpu.loop.guest_exit(status))


def returns(r, immediate_exit=None):
    """KVM_RUN fails with r (-EINTR: a signal kicked the vCPU out)."""
    def step(run, vcpu):
        if immediate_exit is not None:
            run.immediate_exit = immediate_exit
        return r
    return step


# -- devices and interrupt controller -----------------------------------------------------
class Recorder:
    """A device that logs every access and answers reads from `answers` (by offset)."""

    name = "recorder"

    def __init__(self, answers=None, log=None):
        self.log = [] if log is None else log
        self.answers = answers or {}

    def read(self, offset, size):
        self.log.append(("r", offset, size))
        return self.answers.get((offset, size), 0)

    def write(self, offset, size, value):
        self.log.append(("w", offset, size, value))


class ByteWide(Recorder):
    bus_width = 1  # 8-bit registers: the bus splits wider accesses (vmm/bus.py)


class Blocks(Recorder):
    """A device with rep ins/outs in one call (as the ATA data port has)."""

    def read_block(self, offset, size, count):
        self.log.append(("rb", offset, size, count))
        return bytes(range(1, size * count + 1))

    def write_block(self, offset, size, data):
        self.log.append(("wb", offset, size, bytes(data)))


class FakePic:
    """INTR is high while vectors wait; acknowledge() is the INTA cycle."""

    def __init__(self, *vectors):
        self.waiting = list(vectors)

    @property
    def intr(self):
        return bool(self.waiting)

    def acknowledge(self):
        return self.waiting.pop(0)


def make_loop(script, pic=None, unclaimed="stop", ports=(), mmio_devices=(), memory=None):
    vcpu = ScriptedVcpu(script)
    io_bus, mmio_bus = Bus("port"), Bus("mmio")
    for base, length, device in ports:
        io_bus.register(base, length, device)
    for base, length, device in mmio_devices:
        mmio_bus.register(base, length, device)
    loop = RunLoop(vcpu, memory, pic or FakePic(), io_bus, mmio_bus, unclaimed_io=unclaimed)
    vcpu.loop = loop
    return loop, vcpu


def run_while(loop, until, then, seconds=60):
    """run() the loop while another thread waits (at most `seconds`) for until() and then calls
    then(): how a stop, kick or resume arrives from outside the vCPU thread. Returns run()'s status."""
    def act():
        deadline = time.monotonic() + seconds
        while not until() and time.monotonic() < deadline:
            time.sleep(0.001)
        then()

    helper = threading.Thread(target=act)
    helper.start()
    try:
        return loop.run()
    finally:
        helper.join()


@pytest.fixture(autouse=True)
def kick_signal_handled():
    """A run loop with a timer arms a POSIX timer aimed at this thread: its signal needs a handler."""
    previous = signal.signal(KICK_SIGNAL, lambda *_: None)
    yield
    signal.signal(KICK_SIGNAL, previous)


# -- port I/O --------------------------------------------------------------------------------
def test_an_out_reaches_the_device_at_its_offset_with_size_and_little_endian_value():
    dev = Recorder()
    # each port twice: the first access finds the device through the bus, the second through its cache
    loop, vcpu = make_loop([out(0x3F9, 1, 0xAB), out(0x3F9, 1, 0xAC), out(0x3FA, 2, 0xBEEF),
                            out(0x3FA, 2, 0xBEEE), out(0x3FC, 4, 0x12345678), out(0x3FC, 4, 0x9ABCDEF0),
                            ends(0)], ports=[(0x3F8, 8, dev)])
    assert loop.run() == 0
    assert dev.log == [("w", 1, 1, 0xAB), ("w", 1, 1, 0xAC), ("w", 2, 2, 0xBEEF), ("w", 2, 2, 0xBEEE),
                       ("w", 4, 4, 0x12345678), ("w", 4, 4, 0x9ABCDEF0)]
    assert loop.io_bus.accesses()[0x3F8] == (0, 6)
    assert loop.exit_counts[IO] == 6


def test_an_in_puts_the_device_value_in_the_data_buffer_cut_to_the_access_size():
    dev = Recorder({(0, 1): 0x1A5, (2, 2): 0x12345, (4, 4): 0x1_8765_4321})
    loop, vcpu = make_loop([inp(0x60, 1), inp(0x60, 1), inp(0x62, 2), inp(0x62, 2), inp(0x64, 4), inp(0x64, 4),
                            ends(0)], ports=[(0x60, 8, dev)])
    assert loop.run() == 0
    seen = [e["data"] for e in vcpu.entries[1:7]]  # the buffer as the guest finds it on re-entry
    assert seen[0][:2] == seen[1][:2] == b"\xa5\x00"  # one byte written, the next untouched (was cleared)
    assert seen[2][:3] == seen[3][:3] == b"\x45\x23\x00"
    assert seen[4][:5] == seen[5][:5] == b"\x21\x43\x65\x87\x00"
    assert dev.log == [("r", 0, 1)] * 2 + [("r", 2, 2)] * 2 + [("r", 4, 4)] * 2
    assert loop.io_bus.accesses()[0x60] == (6, 0)


def test_a_byte_wide_device_gets_a_wide_access_as_bytes_low_byte_first():
    dev = ByteWide({(0, 1): 0x34, (1, 1): 0x12})
    loop, vcpu = make_loop([out(0x20, 2, 0xBEEF), out(0x20, 2, 0xCAFE), inp(0x20, 2), inp(0x20, 2), ends(0)],
                           ports=[(0x20, 2, dev)])
    assert loop.run() == 0
    assert dev.log == [("w", 0, 1, 0xEF), ("w", 1, 1, 0xBE), ("w", 0, 1, 0xFE), ("w", 1, 1, 0xCA),
                       ("r", 0, 1), ("r", 1, 1), ("r", 0, 1), ("r", 1, 1)]
    assert vcpu.entries[3]["data"][:2] == vcpu.entries[4]["data"][:2] == b"\x34\x12"


def test_an_unclaimed_port_stops_the_vm_with_a_report_naming_the_access():
    loop, vcpu = make_loop([out(0x3F9, 1, 0), out(0x999, 2, 0xBEEF)], ports=[(0x3F8, 8, Recorder())])
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert crash.value.status == errors.EXIT_UNCLAIMED_IO
    assert str(crash.value).startswith("guest made a 2-byte write of 0xbeef at port 0x999, which no device claims\n")
    assert "RIP" in str(crash.value)  # the register dump follows


@pytest.mark.parametrize("size, ones", [(1, b"\xff"), (2, b"\xff\xff"), (4, b"\xff\xff\xff\xff")])
def test_with_unclaimed_ignore_an_empty_port_reads_all_ones_and_takes_writes(size, ones):
    loop, vcpu = make_loop([out(0x999, size, 0x42), inp(0x999, size), inp(0x999, size), ends(5)],
                           unclaimed="ignore")
    assert loop.run() == 5
    assert vcpu.entries[2]["data"][:size + 1] == vcpu.entries[3]["data"][:size + 1] == ones + b"\x00"
    assert loop.io_bus.unclaimed == [2, 1]


def test_rep_outs_and_ins_go_to_the_device_as_one_block():
    dev = Blocks()
    loop, vcpu = make_loop([io(lib.KVM_EXIT_IO_OUT, 0x1F0, 2, b"abcdef", count=3),
                            io(lib.KVM_EXIT_IO_IN, 0x1F0, 2, count=3),
                            io(lib.KVM_EXIT_IO_OUT, 0x1F0, 2, b"wxyz", count=2), ends(0)], ports=[(0x1F0, 8, dev)])
    assert loop.run() == 0
    assert dev.log == [("wb", 0, 2, b"abcdef"), ("rb", 0, 2, 3), ("wb", 0, 2, b"wxyz")]
    assert vcpu.entries[2]["data"][:7] == bytes([1, 2, 3, 4, 5, 6, 0])
    assert loop.io_bus.accesses()[0x1F0] == (3, 5)


def test_rep_io_to_a_device_without_blocks_is_one_access_per_element():
    dev = Recorder({(1, 1): 0x77})
    loop, vcpu = make_loop([io(lib.KVM_EXIT_IO_OUT, 0x3F8, 1, b"xyz", count=3),
                            io(lib.KVM_EXIT_IO_IN, 0x3F9, 1, count=2), ends(0)], ports=[(0x3F8, 8, dev)])
    assert loop.run() == 0
    assert dev.log == [("w", 0, 1, ord("x")), ("w", 0, 1, ord("y")), ("w", 0, 1, ord("z")), ("r", 1, 1), ("r", 1, 1)]
    assert vcpu.entries[2]["data"][:3] == b"\x77\x77\x00"


def test_rep_io_on_an_unclaimed_port():
    loop, vcpu = make_loop([io(lib.KVM_EXIT_IO_OUT, 0x999, 2, b"abcd", count=2),
                            io(lib.KVM_EXIT_IO_IN, 0x999, 2, count=2), ends(0)], unclaimed="ignore")
    assert loop.run() == 0
    assert vcpu.entries[2]["data"][:5] == b"\xff\xff\xff\xff\x00"
    loop, vcpu = make_loop([io(lib.KVM_EXIT_IO_IN, 0x999, 1, count=4)])
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert crash.value.status == errors.EXIT_UNCLAIMED_IO
    assert str(crash.value).startswith("guest made a 1-byte read at port 0x999")


def test_the_io_handler_itself_does_single_accesses_too():
    """handlers[KVM_EXIT_IO] is the generic path (benchmarks/pio_exit.py's loop calls it for every exit)."""
    dev = Blocks({(1, 2): 0xBEEF})  # a single access is not a block, even to a device that takes blocks
    loop, vcpu = make_loop([], ports=[(0x3F8, 8, dev)])
    run = vcpu.run_struct
    io(lib.KVM_EXIT_IO_OUT, 0x3F9, 2, b"\x34\x12")(run, vcpu)
    loop.handlers[IO](run)
    io(lib.KVM_EXIT_IO_IN, 0x3F9, 2)(run, vcpu)
    loop.handlers[IO](run)
    assert dev.log == [("w", 1, 2, 0x1234), ("r", 1, 2)]
    assert vcpu.data(3) == b"\xef\xbe\x00"
    loop = make_loop([], unclaimed="ignore")[0]
    loop.vcpu = vcpu
    loop._io_view = vcpu.io_data(0, RUN_SIZE)
    io(lib.KVM_EXIT_IO_IN, 0x999, 2)(run, vcpu)
    loop.handlers[IO](run)
    assert vcpu.data(3) == b"\xff\xff\x00"
    io(lib.KVM_EXIT_IO_OUT, 0x999, 2, b"\x01\x02")(run, vcpu)
    loop.handlers[IO](run)  # ignored: no exception


# -- MMIO --------------------------------------------------------------------------------
def test_mmio_reads_and_writes_reach_the_device_little_endian():
    dev = Recorder({(0x10, 2): 0x1BEEF, (0x20, 8): 0x0102030405060708})
    loop, vcpu = make_loop([mmio(0xFEC00004, 4, True, 0x11223344), mmio(0xFEC00010, 2, False),
                            mmio(0xFEC00020, 8, False), ends(0)],
                           mmio_devices=[(0xFEC00000, 0x1000, dev)])
    assert loop.run() == 0
    assert dev.log == [("w", 4, 4, 0x11223344), ("r", 0x10, 2), ("r", 0x20, 8)]
    assert vcpu.entries[2]["mmio"][:2] == b"\xef\xbe"
    assert vcpu.entries[3]["mmio"] == bytes([8, 7, 6, 5, 4, 3, 2, 1])


def test_unclaimed_mmio_reads_all_ones_or_stops_the_vm():
    loop, vcpu = make_loop([mmio(0xD0000000, 4, False), mmio(0xD0000000, 4, True, 1), ends(0)], unclaimed="ignore")
    assert loop.run() == 0
    assert vcpu.entries[1]["mmio"][:5] == b"\xff\xff\xff\xff\x00"
    loop, vcpu = make_loop([mmio(0xD0000000, 4, True, 0x99)])
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert crash.value.status == errors.EXIT_UNCLAIMED_IO
    assert str(crash.value).startswith("guest made a 4-byte write of 0x99 at mmio 0xd0000000")


# -- interrupts ---------------------------------------------------------------------------
def test_an_interrupt_is_injected_only_when_the_guest_can_take_it():
    pic = FakePic(0x20)
    loop, vcpu = make_loop([guest_flags(ready=0, if_flag=1), guest_flags(ready=1, if_flag=0),
                            guest_flags(ready=1, if_flag=1), guest_flags(ready=1, if_flag=1), ends(0)], pic=pic)
    assert loop.run() == 0
    # INTR high from the start: an interrupt window is asked for until the vector goes in
    assert [e["injected"] for e in vcpu.entries] == [[], [], [], [0x20], [0x20]]
    assert [e["window"] for e in vcpu.entries] == [1, 1, 1, 1, 0]
    assert loop.injected == {0x20: 1}


def test_each_vector_is_injected_once_in_the_pics_order():
    pic = FakePic(0x21, 0x2C)
    loop, vcpu = make_loop([guest_flags(1, 1)] * 3 + [ends(0)], pic=pic)
    assert loop.run() == 0
    assert [e["injected"] for e in vcpu.entries] == [[], [0x21], [0x21, 0x2C], [0x21, 0x2C]]
    assert [e["window"] for e in vcpu.entries] == [1, 1, 1, 0]
    assert loop.injected == {0x21: 1, 0x2C: 1}


def test_held_interrupts_are_neither_injected_nor_asked_for():
    """While a debugger single-steps (hold_interrupts), INTR waits."""
    pic = FakePic(0x20)
    loop, vcpu = make_loop([guest_flags(1, 1), call(lambda v: setattr(v.loop, "hold_interrupts", False)),
                            guest_flags(1, 1), ends(0)], pic=pic)
    loop.hold_interrupts = True
    assert loop.run() == 0
    assert [e["injected"] for e in vcpu.entries] == [[], [], [0x20], [0x20]]
    assert [e["window"] for e in vcpu.entries] == [0, 0, 1, 0]


# -- halt -------------------------------------------------------------------------------------
def test_hlt_with_interrupts_disabled_is_a_dead_guest():
    loop, vcpu = make_loop([exit_reason(HLT, if_flag=0)])
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert crash.value.status == errors.EXIT_GUEST_DEAD
    assert str(crash.value).startswith("guest halted with interrupts disabled: nothing can ever wake it")


def test_hlt_returns_at_once_when_intr_is_already_high():
    pic = FakePic(0x20)
    loop, vcpu = make_loop([exit_reason(HLT, if_flag=1, ready_for_interrupt_injection=1), ends(0)], pic=pic)
    assert loop.run() == 0
    assert vcpu.entries[1]["injected"] == [0x20]


class DueTimer:
    """A PIT stand-in: its deadline is `due_in_ns` after the loop starts; service raises IRQ 0."""

    def __init__(self, pic, due_in_ns):
        self.pic = pic
        self.deadline_ns = time.monotonic_ns() + due_in_ns
        self.serviced = []

    def service(self, now_ns):
        assert now_ns >= self.deadline_ns
        self.serviced.append(now_ns)
        self.pic.waiting.append(0x20)
        self.deadline_ns = NEVER


def test_a_halted_vcpu_sleeps_until_the_timer_deadline_then_takes_the_tick():
    pic = FakePic()
    loop, vcpu = make_loop([exit_reason(HLT, if_flag=1, ready_for_interrupt_injection=1), ends(0)], pic=pic)
    timer = loop.timer = DueTimer(pic, 50_000_000)  # 50 ms: the halt must wait for it, not spin or give up
    assert loop.run() == 0
    assert len(timer.serviced) == 1
    assert vcpu.entries[1]["injected"] == [0x20]
    assert loop.exit_counts[HLT] == 1 and loop.exit_counts[INTR] == 0
    assert [e["idle"] for e in vcpu.entries] == [False, False]  # running again after the halt, not idle


def test_a_deadline_passed_while_the_guest_ran_is_serviced_after_that_exit():
    pic = FakePic()
    loop, vcpu = make_loop([call(lambda v: time.sleep(0.002), reason=WINDOW),
                            guest_flags(1, 1), ends(0)], pic=pic)
    timer = loop.timer = DueTimer(pic, 1_000_000)  # 1 ms: passed during the first exit's KVM_RUN
    assert loop.run() == 0
    assert len(timer.serviced) == 1
    assert [e["injected"] for e in vcpu.entries] == [[], [], [0x20]]


def test_a_stop_from_another_thread_wakes_a_halted_vcpu():
    loop, vcpu = make_loop([exit_reason(HLT, if_flag=1)])
    assert run_while(loop, lambda: loop.idle, lambda: loop.request_stop(errors.EXIT_INTERRUPTED)) == \
        errors.EXIT_INTERRUPTED
    assert len(vcpu.entries) == 1  # no KVM_RUN after the stop


def test_inputs_are_taken_while_halted_and_after_a_kick():
    taken = []
    pic = FakePic()

    def take():
        taken.append(len(taken))
        if len(taken) == 2:
            pic.waiting.append(0x24)  # the UART's inbox had a byte: its IRQ rises

    loop, vcpu = make_loop([exit_reason(HLT, if_flag=1, ready_for_interrupt_injection=1),
                            returns(-errno.EINTR), ends(0)], pic=pic)
    loop.inputs.append(take)
    assert run_while(loop, lambda: loop.idle, loop.kick) == 0
    assert len(taken) == 3  # halt: before sleeping and after the kick; then after the EINTR
    assert vcpu.entries[1]["injected"] == [0x24]
    assert vcpu.entries[1]["immediate"] == 0  # a halted vCPU wakes on its flag: no signal, no immediate exit


# -- KVM_RUN returning an error ----------------------------------------------------------------
def test_a_kicked_kvm_run_counts_an_intr_exit_clears_immediate_exit_and_takes_inputs():
    taken = []
    loop, vcpu = make_loop([returns(-errno.EINTR, immediate_exit=1), returns(-errno.EAGAIN, immediate_exit=1),
                            ends(0)])
    loop.inputs.append(lambda: taken.append(1))
    assert loop.run() == 0
    assert [e["immediate"] for e in vcpu.entries] == [0, 0, 0]
    assert loop.exit_counts == {INTR: 2, WINDOW: 1}
    assert taken == [1, 1]


def test_any_other_kvm_run_error_is_raised():
    loop, vcpu = make_loop([returns(-errno.EFAULT)])
    with pytest.raises(KvmError) as error:
        loop.run()
    assert str(error.value).startswith("KVM_RUN failed: EFAULT")
    assert error.value.errno == errno.EFAULT


# -- exits that end the VM ------------------------------------------------------------------
def test_a_triple_fault_is_reported_as_one():
    loop, vcpu = make_loop([exit_reason(lib.KVM_EXIT_SHUTDOWN)])
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert crash.value.status == errors.EXIT_TRIPLE_FAULT
    assert str(crash.value).startswith("guest triple fault (KVM_EXIT_SHUTDOWN): an exception occurred while "
                                       "delivering a double fault, so the CPU shut down\n")
    assert "symbols" not in str(crash.value)  # no Symbolizer given: no symbol lines, not a failed attempt


def test_an_emulation_failure_names_the_instruction_bytes():
    def failure(run, vcpu):
        run.exit_reason = lib.KVM_EXIT_INTERNAL_ERROR
        run.internal.suberror = lib.KVM_INTERNAL_ERROR_EMULATION
        f = run.emulation_failure
        f.flags = lib.KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES
        f.insn_size = 4
        f.insn_bytes[0:6] = [0x66, 0x0F, 0xEF, 0xC0, 0x90, 0x90]
    loop, vcpu = make_loop([failure])
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert crash.value.status == errors.EXIT_INTERNAL
    text = str(crash.value)
    assert text.startswith("KVM could not emulate a guest instruction (KVM_EXIT_INTERNAL_ERROR, emulation failure). "
                           "On PVM-style hosts kernel mode is emulated and SSE, xsave/xrstor and cmpxchg16b are not "
                           "supported there: build kernel code with -mgeneral-regs-only\n")
    assert "bytes at RIP: 66 0f ef c0\n" in text + "\n"


def test_an_emulation_failure_without_bytes_says_so():
    def failure(run, vcpu):
        run.exit_reason = lib.KVM_EXIT_INTERNAL_ERROR
        run.internal.suberror = lib.KVM_INTERNAL_ERROR_EMULATION
        run.emulation_failure.flags = 0
        run.emulation_failure.insn_size = 4
    loop, vcpu = make_loop([failure])
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert "66 0f" not in str(crash.value)
    assert "bytes at RIP: (RIP is not mapped to guest RAM)" in str(crash.value)  # read from memory instead


@pytest.mark.parametrize("suberror, name", [
    (lib.KVM_INTERNAL_ERROR_SIMUL_EX, "exception during exception delivery (simultaneous exceptions)"),
    (lib.KVM_INTERNAL_ERROR_DELIVERY_EV, "event delivery failed"),
    (lib.KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, "unexpected hardware exit reason"),
    (99, "unknown"),
])
def test_other_internal_errors_are_named_with_their_data(suberror, name):
    def failure(run, vcpu):
        run.exit_reason = lib.KVM_EXIT_INTERNAL_ERROR
        run.internal.suberror = suberror
        run.internal.ndata = 20  # more than the 16 words there are: only 16 are read
        for i in range(16):
            run.internal.data[i] = i + 1
    loop, vcpu = make_loop([failure])
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert crash.value.status == errors.EXIT_INTERNAL
    words = " ".join(f"{i:#x}" for i in range(1, 17))
    assert str(crash.value).startswith(f"KVM internal error {suberror}: {name} (data: {words})")


def test_an_internal_error_without_data_says_none():
    loop, vcpu = make_loop([exit_reason(lib.KVM_EXIT_INTERNAL_ERROR)])
    vcpu.run_struct.internal.suberror = lib.KVM_INTERNAL_ERROR_DELIVERY_EV
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert "(data: none)" in str(crash.value)


def test_a_failed_entry_names_the_hardware_reason():
    def failure(run, vcpu):
        run.exit_reason = lib.KVM_EXIT_FAIL_ENTRY
        run.fail_entry.hardware_entry_failure_reason = 0x80000021
    loop, vcpu = make_loop([failure])
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert crash.value.status == errors.EXIT_ENTRY_FAILED
    assert str(crash.value).startswith("VM entry failed (hardware reason 0x80000021): the vCPU state is invalid\n")


def _system_event(kind):
    def step(run, vcpu):
        run.exit_reason = lib.KVM_EXIT_SYSTEM_EVENT
        run.system_event.type = kind
    return step


def test_system_events_power_off_refuse_reset_and_report_a_crash():
    loop, vcpu = make_loop([_system_event(lib.KVM_SYSTEM_EVENT_SHUTDOWN)])
    assert loop.run() == 0
    loop, vcpu = make_loop([_system_event(lib.KVM_SYSTEM_EVENT_RESET)])
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert crash.value.status == errors.EXIT_GUEST_DEAD
    assert str(crash.value) == "guest requested a reset; pyos-vmm does not reboot guests"
    loop, vcpu = make_loop([_system_event(5)])
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert crash.value.status == errors.EXIT_GUEST_DEAD
    assert str(crash.value).startswith("guest system event 5 (crash)")


def test_an_unknown_exit_reason_stops_the_vm_naming_it():
    loop, vcpu = make_loop([exit_reason(lib.KVM_EXIT_DEBUG)])  # no debugger attached: no handler
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert crash.value.status == errors.EXIT_GUEST_DEAD
    assert str(crash.value).startswith(f"unexpected KVM exit reason debug ({lib.KVM_EXIT_DEBUG})\n")


@pytest.mark.parametrize("reason, counted", [(63, {63: 1}), (64, {}), (65, {}), (250, {})])
def test_reasons_past_the_known_ones_stop_the_vm_too(reason, counted):
    """Slots for reasons 0-63 (a newer kernel's larger reason is reported, not an IndexError)."""
    loop, vcpu = make_loop([exit_reason(reason)])
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert crash.value.status == errors.EXIT_GUEST_DEAD
    assert str(crash.value).startswith(f"unexpected KVM exit reason {reason} ({reason})")
    assert loop.exit_counts == counted
    # nothing written past the tables: only the time before the first KVM_RUN was counted
    assert [r for r, hist in enumerate(loop.handling) if any(hist[0:SUM + 1])] == [BEFORE_FIRST_EXIT]


def test_the_unclaimed_policy_is_stop_or_ignore():
    vcpu = ScriptedVcpu([])
    assert RunLoop(vcpu, None, FakePic(), Bus("port"), Bus("mmio")).unclaimed_io == "stop"
    with pytest.raises(ValueError) as error:
        RunLoop(vcpu, None, FakePic(), Bus("port"), Bus("mmio"), unclaimed_io="stpo")
    assert str(error.value) == "unclaimed_io must be 'stop' or 'ignore', not 'stpo'"


class RamAt:
    """Guest RAM as the crash report reads it: code bytes at a physical address."""

    def __init__(self, phys, code, size=0x10000):
        self.size = size
        self.ram = bytearray(size)
        self.ram[phys:phys + len(code)] = code

    def contains(self, phys, length):
        return 0 <= phys and phys + length <= self.size

    def read(self, phys, length):
        return bytes(self.ram[phys:phys + length])


def test_a_crash_report_shows_the_code_at_rip_from_guest_memory():
    """Without bytes from KVM, the report reads them from RAM where RIP translates to."""
    loop, vcpu = make_loop([exit_reason(lib.KVM_EXIT_SHUTDOWN)], memory=RamAt(0x2000, bytes([0x0F, 0x0B, 0xF4])))
    vcpu.translate = lambda rip: 0x2000 if rip == 0x401000 else None
    vcpu.regs.rip = 0x401000
    with pytest.raises(GuestCrash) as crash:
        loop.run()
    assert "RIP 0000000000401000" in str(crash.value)
    assert "bytes at RIP: 0f 0b f4 00" in str(crash.value)


# -- stop, pause, reset ---------------------------------------------------------------------
def test_a_stop_requested_before_run_enters_no_kvm_run():
    loop, vcpu = make_loop([])
    loop.request_stop(7)
    assert loop.run() == 7
    assert vcpu.entries == []


def test_the_guests_own_status_wins_over_a_stop_requested_in_the_same_exit():
    def both(vcpu):
        vcpu.loop.request_stop(9)
        vcpu.loop.guest_exit(3)
    loop, vcpu = make_loop([call(both)])
    assert loop.run() == 3


def test_a_reset_runs_before_the_next_kvm_run_once():
    loop, vcpu = make_loop([call(lambda v: v.loop.request_reset()), exit_reason(WINDOW), ends(0)])
    loop.on_reset = lambda: vcpu.events.append("reset")
    assert loop.run() == 0
    assert vcpu.events == ["KVM_RUN", "reset", "KVM_RUN", "KVM_RUN"]
    assert loop.reset_requested is False


def test_a_paused_vcpu_enters_no_kvm_run_until_resumed():
    state = {}

    def look_then_resume():
        state.update(parked=loop.parked, runs_while_parked=len(vcpu.entries), idle=loop.idle)
        loop.resume()

    loop, vcpu = make_loop([call(lambda v: v.loop.pause()), ends(4)])
    assert run_while(loop, lambda: loop.parked, look_then_resume) == 4
    assert state == {"parked": True, "runs_while_parked": 1, "idle": True}
    assert len(vcpu.entries) == 2
    assert loop.parked is False and loop.idle is False and loop.paused is False


def test_a_stop_ends_a_pause():
    loop, vcpu = make_loop([call(lambda v: v.loop.pause())])
    assert run_while(loop, lambda: loop.parked, lambda: loop.request_stop(6)) == 6


def test_a_paused_loop_still_services_the_timer():
    """The PIT counts host time while the vCPU is stopped: its deadlines are serviced meanwhile."""
    pic = FakePic()
    loop, vcpu = make_loop([call(lambda v: v.loop.pause()), guest_flags(1, 1), ends(0)], pic=pic)
    timer = loop.timer = DueTimer(pic, 20_000_000)
    assert run_while(loop, lambda: timer.serviced, loop.resume) == 0
    assert len(timer.serviced) == 1
    assert len(vcpu.entries) == 3
    assert vcpu.entries[1]["injected"] == []  # nothing injected while stopped: ready/IF came later
    assert vcpu.entries[2]["injected"] == [0x20]


# -- what the metrics read ----------------------------------------------------------------------
def test_exit_counts_and_handling_histograms_count_every_exit_by_reason():
    loop, vcpu = make_loop([out(0x80, 1, 0)] * 40 + [returns(-errno.EINTR), exit_reason(WINDOW), ends(0)],
                           ports=[(0x80, 1, Recorder())])
    assert loop.run() == 0
    assert loop.exit_counts == {IO: 40, INTR: 1, WINDOW: 2}
    handled = {reason: sum(hist[0:SUM]) for reason, hist in enumerate(loop.handling) if sum(hist[0:SUM])}
    # each exit's handling is timed up to the next KVM_RUN: all but the last (it ended the loop);
    # 40 alike exits share buckets, so each must add one to its bucket
    assert handled == {BEFORE_FIRST_EXIT: 1, IO: 40, INTR: 1, WINDOW: 1}
    for reason in handled:
        hist = loop.handling[reason]
        assert hist[SUM] >= 0
        for bits, n in enumerate(hist[0:SUM]):
            assert n == 0 or bits <= hist[SUM].bit_length() + 1
    assert 0 <= loop.guest_ns() <= loop.ended_ns - loop.started_ns


def test_handling_time_is_zero_not_wrapped_when_the_clock_reads_no_later_than_the_exit():
    """The C wrapper (vmm/kvm/run_exit.c): an exit time at or after the next entry's
    (a clock that did not move, or went back) counts as 0 ns in bucket 0, never as a
    wrapped 2**64 - n that would land in the sum's slot."""
    loop, vcpu = make_loop([exit_reason(WINDOW), exit_reason(WINDOW)])
    stats = loop.stats
    stats.reason = WINDOW
    stats.exited_ns = time.monotonic_ns() + 3_600 * 10**9   # an hour ahead
    assert vcpu.kvm_run(vcpu.fd, stats) > 0
    assert list(loop.handling[WINDOW]) == [1] + [0] * SUM   # one count, bucket 0, sum 0
    stats.exited_ns -= 10**6   # the previous exit 1 ms ago, as the clock now reads
    assert vcpu.kvm_run(vcpu.fd, stats) == stats.exited_ns
    hist = list(loop.handling[WINDOW])
    assert hist[0] == 1 and sum(hist[:SUM]) == 2 and hist[hist[SUM].bit_length()] == 1
    assert 10**6 <= hist[SUM] < 10**9
    assert loop.exit_counts == {WINDOW: 2}


class Slow(Recorder):
    def write(self, offset, size, value):
        time.sleep(0.05)


def test_guest_time_is_wall_time_less_handling_and_zero_before_running():
    loop, vcpu = make_loop([out(0x80, 1, 0), ends(0)], ports=[(0x80, 1, Slow())])
    assert loop.guest_ns() == 0
    assert loop.run() == 0
    handled = sum(h[SUM] for h in loop.handling)
    assert loop.guest_ns() == loop.ended_ns - loop.started_ns - handled
    assert loop.handling[IO][SUM] >= 50_000_000  # the device's sleep is the out's handling, not guest time
    # one exit of known time: counted once, in the bucket of its bit length (below 2**k ns)
    io = list(loop.handling[IO])
    assert [k for k, n in enumerate(io[:SUM]) if n] == [io[SUM].bit_length()] and sum(io[:SUM]) == 1


# -- coalesced writes ----------------------------------------------------------------------------
def test_the_coalesced_ring_is_drained_after_every_kvm_run_before_the_exit_is_handled():
    dev = Recorder()
    drains = []
    loop, vcpu = make_loop([out(0x80, 1, 1), returns(-errno.EINTR), ends(0)], ports=[(0x80, 1, dev)])
    loop.drain_coalesced = lambda: (drains.append(len(dev.log)), vcpu.events.append("drain"))
    assert loop.run() == 0
    assert drains == [0, 1, 1]  # the first drain came before the device saw the out
    assert vcpu.events == ["KVM_RUN", "drain"] * 3


class Ring:
    """A CoalescedPio stand-in: words = [first, last] of the ring; drain() empties it."""

    def __init__(self):
        self.words = [0, 0]
        self.drained = 0

    def drain(self):
        self.drained += 1
        self.words[0] = self.words[1]


def test_a_ring_is_drained_only_when_it_holds_writes():
    ring = Ring()

    def guest_writes(vcpu):
        ring.words[1] += 3
    loop, vcpu = make_loop([exit_reason(WINDOW), call(guest_writes), exit_reason(WINDOW), ends(0)])
    loop.drain_coalesced = ring.drain
    assert loop.run() == 0
    # writes appear in the ring while the guest runs; here the step adds them during its KVM_RUN
    assert ring.drained == 1
    assert ring.words[0] == ring.words[1] == 3


def test_exit_reasons_are_named_as_kvm_names_them():
    """KVM_EXIT_IO_IN/OUT are the io record's directions (0 and 1), not exit reasons: they must not
    take the names of reasons 0 and 1 (what crash reports and the metrics' reason labels show)."""
    from vmm.run_loop import EXIT_NAMES
    assert EXIT_NAMES[lib.KVM_EXIT_UNKNOWN] == "unknown"
    assert EXIT_NAMES[lib.KVM_EXIT_EXCEPTION] == "exception"
    assert EXIT_NAMES[lib.KVM_EXIT_IO] == "io"
    assert EXIT_NAMES[lib.KVM_EXIT_HLT] == "hlt"
    assert EXIT_NAMES[lib.KVM_EXIT_IRQ_WINDOW_OPEN] == "irq_window_open"
    assert "io_in" not in EXIT_NAMES.values() and "io_out" not in EXIT_NAMES.values()


def test_a_kick_from_another_thread_makes_the_next_kvm_run_return_and_the_vcpus_own_does_not():
    """A device in the vCPU thread needs no kick (the loop looks at the PIC before every KVM_RUN);
    another thread's kick sets immediate_exit, so a KVM_RUN about to start returns at once."""
    def kick_from_another_thread(vcpu):
        helper = threading.Thread(target=vcpu.loop.kick)
        helper.start()
        helper.join()
    loop, vcpu = make_loop([call(lambda v: v.loop.kick()), exit_reason(WINDOW), call(kick_from_another_thread),
                            returns(-errno.EINTR), ends(0)])
    assert loop.run() == 0
    assert [e["immediate"] for e in vcpu.entries] == [0, 0, 0, 1, 0]


def test_a_new_loop_is_running_not_paused_idle_or_resetting():
    loop, vcpu = make_loop([])
    assert loop.paused is False and loop.parked is False and loop.idle is False
    assert loop.reset_requested is False and loop.pause_requested is False and loop.hold_interrupts is False
    assert loop.status is None and loop.stop_status is None and loop.thread is None
    assert loop.exit_counts == {} and loop.injected == {} and loop.guest_ns() == 0


def test_after_a_long_halt_the_flush_alarm_is_not_left_in_the_past():
    """With coalesced ports the vCPU's alarm also bounds the time between drains (FLUSH_NS) while
    the guest runs. A halt longer than that (an idle guest at 100 Hz waits 10 ms per tick) must
    not leave the alarm armed in the past: it would fire at once, an EINTR exit for every tick."""
    from vmm.coalesced import FLUSH_NS
    pic = FakePic()
    loop, vcpu = make_loop([exit_reason(HLT, if_flag=1, ready_for_interrupt_injection=1), guest_flags(1, 1), ends(0)],
                           pic=pic)
    loop.drain_coalesced = lambda: None
    timer = loop.timer = DueTimer(pic, 3 * FLUSH_NS)
    assert loop.run() == 0
    assert len(timer.serviced) == 1
    # the alarm's C handler sets immediate_exit when it fires
    assert [e["immediate"] for e in vcpu.entries] == [0, 0, 0]
    assert vcpu.entries[1]["injected"] == [0x20]


def test_after_a_halt_the_flush_alarm_counts_from_the_next_entry_not_from_before_the_halt():
    """Nothing fills the coalesced ring while the vCPU is halted, so FLUSH_NS counts from the entry
    after a halt. Counted from before it, a halt a little shorter than FLUSH_NS (an idle guest at
    100 Hz) left the alarm due just after the tick's injection: an EINTR exit for every tick."""
    from vmm.coalesced import FLUSH_NS
    pic = FakePic()
    timer = DueTimer(pic, 0)
    timer.deadline_ns = NEVER
    armed = []
    loop, vcpu = make_loop([call(due_from_now(timer, FLUSH_NS // 2), reason=HLT),
                            call(lambda vcpu: armed.append(vcpu.loop.alarm.armed)), ends(0)], pic=pic)
    vcpu.run_struct.if_flag = vcpu.run_struct.ready_for_interrupt_injection = 1
    loop.drain_coalesced = lambda: None
    loop.timer = timer
    assert loop.run() == 0
    assert len(timer.serviced) == 1 and vcpu.entries[1]["injected"] == [0x20]
    # the tick was served when the halt ended: the flush is due FLUSH_NS after that, or later
    assert armed[0] >= timer.serviced[0] + FLUSH_NS


def test_a_halt_after_a_kicked_halt_sleeps_until_its_deadline(patient_halts):
    """A kick's wake-up flag is cleared by the halt that finds it set, so the next halt sleeps
    until its deadline instead of spinning: it takes its inputs before sleeping and when it wakes
    (once more at most, for a flag a late kick left)."""
    pic = FakePic()
    timer = DueTimer(pic, 0)
    timer.deadline_ns = NEVER
    taken = []

    def take():
        taken.append(vcpu.loop.exit_counts[HLT])
        if len(taken) == 2:
            pic.waiting.append(0x24)  # the kick brought input: its IRQ ends the first halt

    loop, vcpu = make_loop([exit_reason(HLT, if_flag=1, ready_for_interrupt_injection=1),
                            call(due_from_now(timer, 20_000_000), reason=HLT), ends(0)], pic=pic)
    loop.inputs.append(take)
    loop.timer = timer
    assert run_while(loop, lambda: loop.idle, loop.kick) == 0
    assert len(timer.serviced) == 1 and vcpu.injected == [0x24, 0x20]
    assert 2 <= taken.count(2) <= 3  # the second halt: before its sleep and at its deadline


# -- the vCPU's alarm: ticks and flushes while the guest runs ---------------------------------------
def spins_until_kicked(seconds=30):
    """A guest busy in KVM_RUN with no exit of its own: it returns (EINTR) once the alarm's
    signal has set immediate_exit, as KVM does; `kicked` says whether that happened."""
    def step(run, vcpu):
        deadline = time.monotonic() + seconds
        while not run.immediate_exit and time.monotonic() < deadline:
            time.sleep(0.0005)
        vcpu.events.append("kicked" if run.immediate_exit else "not kicked")
        return -errno.EINTR
    return step


@pytest.fixture
def patient_halts(monkeypatch):
    """A halted or paused vCPU re-checks only after an hour: it must wake for the deadline itself."""
    import vmm.run_loop
    monkeypatch.setattr(vmm.run_loop, "HALT_RECHECK", 3600.0)


def test_the_alarm_kicks_a_running_guest_out_at_the_pit_deadline():
    pic = FakePic()
    loop, vcpu = make_loop([spins_until_kicked(), guest_flags(1, 1), ends(0)], pic=pic)
    timer = loop.timer = DueTimer(pic, 5_000_000)
    assert loop.run() == 0
    assert "kicked" in vcpu.events
    assert len(timer.serviced) == 1
    assert vcpu.entries[2]["injected"] == [0x20]
    assert loop.exit_counts[INTR] == 1


def test_with_coalesced_ports_the_alarm_also_fires_to_flush_a_running_guests_writes():
    from vmm.coalesced import FLUSH_NS
    drains = []
    loop, vcpu = make_loop([spins_until_kicked(), ends(0)])
    loop.drain_coalesced = lambda: drains.append(time.monotonic_ns())
    loop.timer = DueTimer(FakePic(), 3600 * 10**9)  # no tick for an hour: only the flush can kick
    started = time.monotonic_ns()
    assert loop.run() == 0
    assert "kicked" in vcpu.events
    assert drains[0] - started >= FLUSH_NS * 0.9  # not before FLUSH_NS (timer slack aside)


def test_without_coalesced_ports_there_is_no_flush_alarm():
    from vmm.coalesced import FLUSH_NS
    loop, vcpu = make_loop([spins_until_kicked(seconds=5 * FLUSH_NS / 1e9), ends(0)])
    loop.timer = DueTimer(FakePic(), 3600 * 10**9)
    assert loop.run() == 0
    assert vcpu.events == ["KVM_RUN", "not kicked", "KVM_RUN"]


def due_from_now(timer, ns):
    """A step's side effect: the timer's deadline `ns` from now (so it is still ahead when the
    loop starts waiting, however loaded the host)."""
    def set_deadline(vcpu):
        timer.deadline_ns = time.monotonic_ns() + ns
    return set_deadline


def test_a_halted_vcpu_wakes_for_the_deadline_not_for_its_recheck(patient_halts):
    pic = FakePic()
    timer = DueTimer(pic, 0)
    timer.deadline_ns = NEVER
    halts = call(due_from_now(timer, 50_000_000), reason=HLT)
    loop, vcpu = make_loop([halts, ends(0)], pic=pic)
    vcpu.run_struct.if_flag = vcpu.run_struct.ready_for_interrupt_injection = 1
    loop.timer = timer
    due = []
    timer_service = timer.service
    timer.service = lambda now: (due.append(timer.deadline_ns), timer_service(now))
    assert loop.run() == 0  # with the recheck at an hour, only the deadline can end this halt
    assert len(timer.serviced) == 1
    # served when due: a halt that slept a fixed second (or its recheck) would be ~1 s late; the
    # bound leaves a loaded host 900 ms to schedule the thread
    assert timer.serviced[0] - due[0] < 900_000_000


def test_a_paused_vcpu_services_the_deadline_when_it_comes(patient_halts):
    pic = FakePic()
    timer = DueTimer(pic, 0)
    timer.deadline_ns = NEVER

    def pause(vcpu):
        due_from_now(timer, 50_000_000)(vcpu)
        vcpu.loop.pause()
    loop, vcpu = make_loop([call(pause), ends(0)], pic=pic)
    loop.timer = timer
    due = []
    timer_service = timer.service
    timer.service = lambda now: (due.append(timer.deadline_ns), timer_service(now))
    state = {}

    def look_then_resume():
        state["serviced while paused"] = bool(timer.serviced)
        loop.resume()

    assert run_while(loop, lambda: timer.serviced, look_then_resume, seconds=30) == 0
    assert state == {"serviced while paused": True}
    assert timer.serviced[0] - due[0] < 900_000_000  # when due, not after a fixed second


def test_run_leaves_no_thread_or_alarm_behind_and_later_kicks_are_harmless():
    loop, vcpu = make_loop([ends(0)])
    loop.timer = DueTimer(FakePic(), 3600 * 10**9)
    assert loop.run() == 0
    assert loop.thread is None and loop.alarm is None
    helper = threading.Thread(target=loop.kick)
    helper.start()
    helper.join()
    loop.kick()


def test_a_failed_kick_handler_install_is_a_kvm_error_and_cleans_up(monkeypatch):
    import vmm.run_loop

    class NoSigaction:
        def __getattr__(self, name):
            return getattr(lib, name)

        @staticmethod
        def pyos_kick_attach(signo, run):
            return -errno.EINVAL
    monkeypatch.setattr(vmm.run_loop, "lib", NoSigaction())
    loop, vcpu = make_loop([ends(0)])
    loop.timer = DueTimer(FakePic(), 3600 * 10**9)
    with pytest.raises(KvmError) as error:
        loop.run()
    assert str(error.value).startswith("sigaction failed: EINVAL") and error.value.errno == errno.EINVAL
    assert loop.thread is None and loop.alarm is None
    assert vcpu.entries == []


def test_guest_time_is_never_negative():
    loop, vcpu = make_loop([])
    loop.started_ns, loop.ended_ns = 1_000, 2_000
    loop.handling[IO][SUM] = 1_500  # more handling than wall time (clock reads straddling the ends)
    assert loop.guest_ns() == 0
    loop.handling[IO][SUM] = 400
    assert loop.guest_ns() == 600


def test_the_same_vector_twice_counts_twice():
    loop, vcpu = make_loop([guest_flags(1, 1)] * 3 + [ends(0)], pic=FakePic(0x20, 0x20))
    assert loop.run() == 0
    assert loop.injected == {0x20: 2}


def test_a_request_made_while_a_pause_ends_is_handled_before_the_next_kvm_run():
    """attention is cleared after a pause; a reset requested as the pause ended (here by the
    timer the paused loop services) must still run before the guest does."""
    pic = FakePic()

    class ResumesAndResets(DueTimer):
        def service(self, now_ns):
            super().service(now_ns)
            loop.resume()
            loop.request_reset()

    loop, vcpu = make_loop([call(lambda v: v.loop.pause()), exit_reason(WINDOW), ends(0)], pic=pic)
    loop.timer = ResumesAndResets(pic, 5_000_000)
    loop.on_reset = lambda: vcpu.events.append("reset")
    assert loop.run() == 0
    assert vcpu.events == ["KVM_RUN", "reset", "KVM_RUN", "KVM_RUN"]
