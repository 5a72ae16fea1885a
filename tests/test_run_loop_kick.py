"""A kick signal that lands while the vCPU thread is outside KVM_RUN is not lost.

The vCPU thread's alarm (vmm/vcpu_timer.py) is a one-shot signal. If it
arrives while the run loop handles an exit, after the loop looked at the
PIT's deadline, the next KVM_RUN must still return at once: the C signal
handler sets kvm_run.immediate_exit. Without it a guest spinning with no
exits (a busy loop in user mode) never sees its next timer tick: usertests'
share_weighted hung that way in about one run in three.

Here the signal is sent deterministically at the worst moment: by a device
while the loop handles the guest's `out`, after which the guest spins in
`jmp .` and makes no exit of its own. No PIT, so no other alarm can rescue it.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time

from vmm.bus import Bus
from vmm.devices.pic8259 import PicPair
from vmm.kvm import Kvm, lib
from vmm.memory import GuestMemory
from vmm.run_loop import KICK_SIGNAL, RunLoop
from vmm.vcpu_timer import NEVER

CODE = 0x1000

GUEST = r"""
.code16
.globl _start
_start:
    outb %al, $0x80      # the device signals the vCPU thread while this exit is handled
1:  jmp 1b               # then no exit at all
"""


class SignalsItsThread:
    """A port device that sends the kick signal to the thread handling its write."""

    def __init__(self):
        self.sent = threading.Event()

    def write(self, offset, size, value):
        signal.pthread_kill(threading.get_ident(), KICK_SIGNAL)
        self.sent.set()

    def read(self, offset, size):
        return 0xFF


class NoDeadline:
    """A timer with nothing due: the loop arms its alarm, which never fires by itself."""

    deadline_ns = NEVER

    def service(self, now_ns):
        pass


def test_signal_outside_kvm_run_makes_the_next_run_return(tmp_path):
    (tmp_path / "g.S").write_text(GUEST)
    subprocess.run(["as", "--32", "-o", tmp_path / "g.o", tmp_path / "g.S"], check=True)
    subprocess.run(["ld", "-m", "elf_i386", f"-Ttext={CODE:#x}", "--oformat", "binary", "-o", tmp_path / "g.bin",
                    tmp_path / "g.o"], check=True)
    code = (tmp_path / "g.bin").read_bytes()

    previous = signal.signal(KICK_SIGNAL, lambda *_: None)
    kvm = Kvm()
    vm = kvm.create_vm()
    memory = GuestMemory(2 << 20)
    memory.attach(vm)
    vcpu = vm.create_vcpu(0)
    try:
        memory.write(CODE, code)
        sregs = vcpu.get_sregs()
        for seg in (sregs.cs, sregs.ds, sregs.es, sregs.ss):
            seg.base, seg.selector = 0, 0
        vcpu.set_sregs(sregs)
        regs = vcpu.get_regs()
        regs.rip, regs.rflags, regs.rsp = CODE, 2, 0x8000
        vcpu.set_regs(regs)
        bus = Bus("port")
        device = SignalsItsThread()
        bus.register(0x80, 1, device)
        loop = RunLoop(vcpu, memory, PicPair(), bus, Bus("mmio"))
        loop.timer = NoDeadline()
        seen = {}

        def watch():
            device.sent.wait(60)
            # Only the failure case waits out this deadline: with the fix the
            # interrupted KVM_RUN shows up within microseconds of the signal.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not loop.exit_counts[lib.KVM_EXIT_INTR]:
                time.sleep(0.01)
            seen["intr"] = loop.exit_counts[lib.KVM_EXIT_INTR]
            loop.request_stop(0)  # kicks with immediate_exit itself: ends either way

        watcher = threading.Thread(target=watch)
        watcher.start()
        status = loop.run()
        watcher.join()
    finally:
        vcpu.close()
        memory.close()
        vm.close()
        kvm.close()
        signal.signal(KICK_SIGNAL, previous)
    assert status == 0
    assert device.sent.is_set()
    assert seen["intr"] >= 1, "the signal sent during exit handling did not end the next KVM_RUN"
