"""cffi binding to /dev/kvm, built in API mode from <linux/kvm.h>.

Every struct below is declared *partially* (`...;`): cffi asks the C compiler
for the real offsets and sizes, so no layout is copied by hand. Every ioctl
number and constant is likewise read from the header (`#define NAME ...`).

The structures shared with the guest kernel (boot information, the memory
plugins' counters, the counters page) come from SHARED_HEADERS, the same
headers the kernel compiles against, so Python and C cannot disagree about an
offset.

The compiled module is cached under the pyos cache directory, keyed by the
hash of everything that goes into it, and built on first import.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

from ..errors import HostError
from ..paths import GUEST_INCLUDE, cache_dir, cache_subdir

_CDEF = r"""
/* ---- ioctl numbers and constants, values taken from the header ---- */
#define KVM_API_VERSION ...
#define KVM_GET_API_VERSION ...
#define KVM_CREATE_VM ...
#define KVM_CHECK_EXTENSION ...
#define KVM_GET_VCPU_MMAP_SIZE ...
#define KVM_GET_SUPPORTED_CPUID ...
#define KVM_CREATE_VCPU ...
#define KVM_SET_USER_MEMORY_REGION ...
#define KVM_SET_TSS_ADDR ...
#define KVM_SET_IDENTITY_MAP_ADDR ...
#define KVM_RUN ...
#define KVM_GET_REGS ...
#define KVM_SET_REGS ...
#define KVM_GET_SREGS ...
#define KVM_SET_SREGS ...
#define KVM_TRANSLATE ...
#define KVM_INTERRUPT ...
#define KVM_GET_MSRS ...
#define KVM_SET_MSRS ...
#define KVM_SET_CPUID2 ...
#define KVM_GET_TSC_KHZ ...
#define KVM_GET_VCPU_EVENTS ...
#define KVM_SET_VCPU_EVENTS ...
#define KVM_REGISTER_COALESCED_MMIO ...
#define KVM_UNREGISTER_COALESCED_MMIO ...
#define KVM_COALESCED_MMIO_PAGE_OFFSET ...
#define KVM_SET_GUEST_DEBUG ...

#define KVM_GUESTDBG_ENABLE ...
#define KVM_GUESTDBG_SINGLESTEP ...
#define KVM_GUESTDBG_USE_SW_BP ...
#define KVM_GUESTDBG_USE_HW_BP ...
#define KVM_GUESTDBG_INJECT_DB ...
#define KVM_GUESTDBG_INJECT_BP ...
#define KVM_GUESTDBG_BLOCKIRQ ...
#define KVM_CAP_SET_GUEST_DEBUG ...
#define KVM_CAP_SET_GUEST_DEBUG2 ...

#define KVM_CAP_IRQCHIP ...
#define KVM_CAP_HLT ...
#define KVM_CAP_USER_MEMORY ...
#define KVM_CAP_SET_TSS_ADDR ...
#define KVM_CAP_EXT_CPUID ...
#define KVM_CAP_NR_VCPUS ...
#define KVM_CAP_MAX_VCPUS ...
#define KVM_CAP_NR_MEMSLOTS ...
#define KVM_CAP_VCPU_EVENTS ...
#define KVM_CAP_IMMEDIATE_EXIT ...
#define KVM_CAP_INTERNAL_ERROR_DATA ...
#define KVM_CAP_COALESCED_PIO ...
#define KVM_CAP_READONLY_MEM ...
#define KVM_CAP_GET_TSC_KHZ ...
#define KVM_CAP_X86_USER_SPACE_MSR ...
#define KVM_CAP_PIT2 ...
#define KVM_CAP_BINARY_STATS_FD ...

/* Binary statistics (KVM_GET_STATS_FD on a VM or vCPU fd): a header, then
 * descriptors (each followed by name_size bytes of name), then u64 data. */
#define KVM_GET_STATS_FD ...
#define KVM_STATS_TYPE_MASK ...
#define KVM_STATS_TYPE_CUMULATIVE ...
#define KVM_STATS_TYPE_INSTANT ...
#define KVM_STATS_TYPE_PEAK ...
#define KVM_STATS_TYPE_LINEAR_HIST ...
#define KVM_STATS_TYPE_LOG_HIST ...
#define KVM_STATS_UNIT_MASK ...
#define KVM_STATS_UNIT_NONE ...
#define KVM_STATS_UNIT_BYTES ...
#define KVM_STATS_UNIT_SECONDS ...
#define KVM_STATS_UNIT_CYCLES ...
#define KVM_STATS_UNIT_BOOLEAN ...
#define KVM_STATS_BASE_MASK ...
#define KVM_STATS_BASE_POW10 ...
#define KVM_STATS_BASE_POW2 ...

#define KVM_EXIT_UNKNOWN ...
#define KVM_EXIT_EXCEPTION ...
#define KVM_EXIT_IO ...
#define KVM_EXIT_HYPERCALL ...
#define KVM_EXIT_DEBUG ...
#define KVM_EXIT_HLT ...
#define KVM_EXIT_MMIO ...
#define KVM_EXIT_IRQ_WINDOW_OPEN ...
#define KVM_EXIT_SHUTDOWN ...
#define KVM_EXIT_FAIL_ENTRY ...
#define KVM_EXIT_INTR ...
#define KVM_EXIT_SET_TPR ...
#define KVM_EXIT_TPR_ACCESS ...
#define KVM_EXIT_NMI ...
#define KVM_EXIT_INTERNAL_ERROR ...
#define KVM_EXIT_SYSTEM_EVENT ...
#define KVM_EXIT_X86_RDMSR ...
#define KVM_EXIT_X86_WRMSR ...
#define KVM_EXIT_IO_IN ...
#define KVM_EXIT_IO_OUT ...

#define KVM_INTERNAL_ERROR_EMULATION ...
#define KVM_INTERNAL_ERROR_SIMUL_EX ...
#define KVM_INTERNAL_ERROR_DELIVERY_EV ...
#define KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON ...
#define KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES ...
#define KVM_SYSTEM_EVENT_SHUTDOWN ...
#define KVM_SYSTEM_EVENT_RESET ...
#define KVM_SYSTEM_EVENT_CRASH ...

/* ---- structures (partial: the compiler supplies the layout) ---- */
struct kvm_userspace_memory_region {
    uint32_t slot; uint32_t flags; uint64_t guest_phys_addr;
    uint64_t memory_size; uint64_t userspace_addr; ...;
};

struct kvm_regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rflags; ...;
};

struct kvm_segment {
    uint64_t base; uint32_t limit; uint16_t selector; uint8_t type;
    uint8_t present, dpl, db, s, l, g, avl; uint8_t unusable; ...;
};

struct kvm_dtable { uint64_t base; uint16_t limit; ...; };

struct kvm_sregs {
    struct kvm_segment cs, ds, es, fs, gs, ss;
    struct kvm_segment tr, ldt;
    struct kvm_dtable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t efer; uint64_t apic_base;
    ...;
};

struct kvm_cpuid_entry2 {
    uint32_t function; uint32_t index; uint32_t flags;
    uint32_t eax, ebx, ecx, edx; ...;
};
struct kvm_cpuid2 { uint32_t nent; struct kvm_cpuid_entry2 entries[]; ...; };

struct kvm_msr_entry { uint32_t index; uint64_t data; ...; };
struct kvm_msrs { uint32_t nmsrs; struct kvm_msr_entry entries[]; ...; };

/* coalesced port writes: a zone to register, and the ring page after kvm_run */
struct kvm_coalesced_mmio_zone { uint64_t addr; uint32_t size; uint32_t pio; ...; };
struct kvm_coalesced_mmio { uint64_t phys_addr; uint32_t len; uint32_t pio; uint8_t data[8]; ...; };
struct kvm_coalesced_mmio_ring { uint32_t first, last; struct kvm_coalesced_mmio coalesced_mmio[]; ...; };

struct kvm_translation {
    uint64_t linear_address; uint64_t physical_address;
    uint8_t valid, writeable, usermode; ...;
};

struct kvm_interrupt { uint32_t irq; };

struct kvm_guest_debug_arch { unsigned long long debugreg[8]; };  /* __u64 arrays */
struct kvm_guest_debug { uint32_t control; uint32_t pad; struct kvm_guest_debug_arch arch; };
struct kvm_debug_exit_arch { uint32_t exception; uint32_t pad; uint64_t pc; uint64_t dr6; uint64_t dr7; };
struct kvm_stats_header {
    uint32_t flags; uint32_t name_size; uint32_t num_desc;
    uint32_t id_offset; uint32_t desc_offset; uint32_t data_offset; ...;
};
struct kvm_stats_desc {
    uint32_t flags; int16_t exponent; uint16_t size; uint32_t offset;
    uint32_t bucket_size; ...;
};

struct kvm_vcpu_events {
    struct { uint8_t injected, nr, has_error_code, pending;
             uint32_t error_code; } exception;
    struct { uint8_t injected, nr, soft, shadow; } interrupt;
    struct { uint8_t injected, pending, masked, pad; } nmi;
    uint32_t sipi_vector; uint32_t flags; ...;
};

struct kvm_run {
    uint8_t request_interrupt_window;
    uint8_t immediate_exit;
    uint32_t exit_reason;
    uint8_t ready_for_interrupt_injection;
    uint8_t if_flag;
    uint16_t flags;
    uint64_t cr8;
    uint64_t apic_base;
    /* The exit-reason union. Nested anonymous members cannot be partial in
     * cffi, so these are complete copies of the header's field lists; cffi
     * still checks each offset against the compiler when it builds. */
    union {
        struct { uint64_t hardware_exit_reason; } hw;
        struct { uint64_t hardware_entry_failure_reason; uint32_t cpu; } fail_entry;
        struct { uint32_t exception; uint32_t error_code; } ex;
        struct { struct kvm_debug_exit_arch arch; } debug;
        struct { uint8_t direction; uint8_t size; uint16_t port;
                 uint32_t count; uint64_t data_offset; } io;
        struct { uint64_t phys_addr; uint8_t data[8]; uint32_t len;
                 uint8_t is_write; } mmio;
        struct { uint32_t suberror; uint32_t ndata; uint64_t data[16]; } internal;
        struct { uint32_t suberror; uint32_t ndata; uint64_t flags;
                 uint8_t insn_size; uint8_t insn_bytes[15]; } emulation_failure;
        struct { uint32_t type; uint32_t ndata; uint64_t data[16]; } system_event;
        char padding[256];
    };
    ...;
};

/* ioctl wrappers: return the result, or -errno on failure (no EINTR retry,
 * so a signal really does kick a vCPU out of KVM_RUN). Called without the GIL. */
long pyos_ioctl_ptr(int fd, unsigned long request, void *arg);
long pyos_ioctl_val(int fd, unsigned long request, unsigned long arg);

/* pyos_kvm_run and struct pyos_exit_stats: from run_exit.h (RUN_EXIT_HEADER). */

/* A one-shot CLOCK_MONOTONIC timer whose signal goes to the calling thread
 * (SIGEV_THREAD_ID): the vCPU thread's own alarm, which kicks it out of
 * KVM_RUN at the next PIT deadline (vmm/vcpu_timer.py). -errno on failure. */
long pyos_thread_timer_create(int signo, void **timer);
long pyos_timer_arm(void *timer, long long deadline_ns);   /* absolute; 0 disarms */
long pyos_timer_delete(void *timer);

/* The kick signal's handler, in C: it sets immediate_exit in the kvm_run of
 * the thread it lands in, so a signal that arrives while that thread is
 * outside KVM_RUN (handling an exit) makes the next KVM_RUN return at once
 * instead of being lost, then calls the handler it replaced (Python's).
 * attach() is called by the vCPU thread with its kvm_run; detach() before
 * that is unmapped. -errno on failure. */
long pyos_kick_attach(int signo, struct kvm_run *run);
void pyos_kick_detach(void);
"""

_SOURCE = r"""
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/kvm.h>
#include <pyos/bootinfo.h>
#include <pyos/counters.h>
#include <pyos/crash_report.h>

long pyos_ioctl_ptr(int fd, unsigned long request, void *arg)
{
    long r = ioctl(fd, request, arg);
    return r < 0 ? -errno : r;
}

long pyos_ioctl_val(int fd, unsigned long request, unsigned long arg)
{
    long r = ioctl(fd, request, arg);
    return r < 0 ? -errno : r;
}

long pyos_thread_timer_create(int signo, void **timer)
{
    struct sigevent sev = {0};
    timer_t t;
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = signo;
    sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    if (timer_create(CLOCK_MONOTONIC, &sev, &t) < 0)
        return -errno;
    *timer = (void *)t;
    return 0;
}

long pyos_timer_arm(void *timer, long long deadline_ns)
{
    struct itimerspec its = {0};
    if (deadline_ns > 0) {
        its.it_value.tv_sec = deadline_ns / 1000000000LL;
        its.it_value.tv_nsec = deadline_ns % 1000000000LL;
    }
    return timer_settime((timer_t)timer, TIMER_ABSTIME, &its, NULL) < 0 ? -errno : 0;
}

long pyos_timer_delete(void *timer)
{
    return timer_delete((timer_t)timer) < 0 ? -errno : 0;
}

static __thread struct kvm_run *volatile pyos_kick_run;
static struct sigaction pyos_kick_previous;

static void pyos_kick_handler(int signo, siginfo_t *info, void *context)
{
    struct kvm_run *run = pyos_kick_run;
    if (run)
        run->immediate_exit = 1;
    if (pyos_kick_previous.sa_flags & SA_SIGINFO) {
        if (pyos_kick_previous.sa_sigaction)
            pyos_kick_previous.sa_sigaction(signo, info, context);
    } else if (pyos_kick_previous.sa_handler != SIG_DFL && pyos_kick_previous.sa_handler != SIG_IGN) {
        pyos_kick_previous.sa_handler(signo);
    }
}

long pyos_kick_attach(int signo, struct kvm_run *run)
{
    struct sigaction now, ours;
    pyos_kick_run = run;
    if (sigaction(signo, NULL, &now) < 0)
        return -errno;
    if ((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == pyos_kick_handler)
        return 0;  /* already ours (another vCPU thread installed it) */
    pyos_kick_previous = now;
    ours = now;
    ours.sa_sigaction = pyos_kick_handler;
    ours.sa_flags = (now.sa_flags & ~(SA_RESETHAND | SA_RESTART)) | SA_SIGINFO;
    return sigaction(signo, &ours, NULL) < 0 ? -errno : 0;
}

void pyos_kick_detach(void)
{
    pyos_kick_run = 0;
}
"""

# The run loop's KVM_RUN wrapper (C, so its per-exit counting costs no Python): its
# header goes to cdef and its source is compiled into the module.
RUN_EXIT_HEADER = Path(__file__).with_name("run_exit.h")
_SOURCE += Path(__file__).with_name("run_exit.c").read_text()

SHARED_HEADERS = [GUEST_INCLUDE / "pyos" / name for name in ("bootinfo.h", "mm_stats.h", "blk_stats.h", "counters.h",
                                                                  "crash_report.h")]


def _header_as_cdef(path: Path) -> str:
    """Turn a shared C header into cdef text.

    The shared headers are written in the subset cffi parses: structs, plain
    integer #defines and comments. Include guards, #includes and extern
    declarations (symbols of the guest, not of this module) are dropped.
    """
    lines = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and not stripped.startswith("#define "):
            continue
        if stripped.startswith("#define ") and len(stripped.split()) < 3:
            continue  # the include guard's bare #define
        if stripped.startswith("extern "):
            continue
        lines.append(line)
    return "\n".join(lines)


def _module_name(cdef: str) -> str:
    digest = hashlib.sha256()
    for part in (cdef, _SOURCE, sys.version, "1"):
        digest.update(part.encode())
    return "_pyos_kvm_" + digest.hexdigest()[:16]


def _build(name: str, cdef: str, out_dir: Path) -> Path:
    import cffi

    builder = cffi.FFI()
    builder.cdef(cdef)
    builder.set_source(name, _SOURCE, include_dirs=[str(GUEST_INCLUDE), str(RUN_EXIT_HEADER.parent)],
                       libraries=["rt"])
    # Build in a private directory, then rename into place: parallel test
    # workers may race to build the same module.
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        try:
            built = Path(builder.compile(tmpdir=tmp, verbose=False))
        except Exception as e:  # cffi/setuptools raise several kinds; all mean the same to a user
            raise HostError(f"could not compile the KVM binding (cffi): {str(e).strip().splitlines()[-1:]}",
                            "it needs a C compiler and the kernel headers: "
                            "apt-get install gcc libc6-dev linux-libc-dev") from None
        final = out_dir / built.name
        os.replace(built, final)
    return final


def load():
    """Return the compiled module (with .ffi and .lib), building it if needed."""
    cdef = "\n".join([_CDEF, *map(_header_as_cdef, [*SHARED_HEADERS, RUN_EXIT_HEADER])])
    name = _module_name(cdef)
    out_dir = cache_dir() / "cffi"
    candidates = sorted(out_dir.glob(name + ".*.so")) + sorted(out_dir.glob(name + ".so"))
    path = candidates[0] if candidates else _build(name, cdef, cache_subdir("cffi"))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_module = load()
ffi = _module.ffi
lib = _module.lib
