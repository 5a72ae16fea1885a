"""The kernel's user-pointer checks (user_range_ok, user_string in
guest_kernel/kernel/syscall.c) compiled natively against a fake page table,
so their contract is checked on every edge, including the ones no system
call can reach today: every caller rejects a negative length itself, so
user_range_ok's own guard against a range wrapping past 2^64 is checked
only here. The "user memory" is real host memory whose last page is
PROT_NONE, so a check that lets a copy run on faults (SIGSEGV) here, as the
kernel would take a page fault. The in-guest side: tests/test_usercopy.py."""

from __future__ import annotations

import re
import subprocess

import pytest

from .conftest import REPO

SYSCALL_C = REPO / "guest_kernel" / "kernel" / "syscall.c"
VM_C = REPO / "guest_kernel" / "kernel" / "vm.c"
INCLUDE = REPO / "guest_kernel" / "include"

DRIVER = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <pyos/frame_alloc.h>
#include <pyos/paging.h>
#include <pyos/syscall_nr.h>
#include <pyos/user.h>

static uint64_t base;  /* three host pages: two mapped user pages, then one that is not */
static uint64_t fake_translate(uint64_t virt)
{
    if (virt >= base && virt < base + 2 * FRAME_SIZE)
        return virt;
    /* Mapped in this fake page table, so only the range rules can refuse them:
     * page 0, the vDSO, the kernel half's first page and the page at USER_TOP;
     * page 1 and the top user page are ordinary user pages. */
    if (virt == 0 || virt == FRAME_SIZE || virt == VDSO_ADDR || virt == USER_TOP - FRAME_SIZE || virt == USER_TOP)
        return 0x5000;
    return PAGING_NOT_MAPPED;
}
const struct paging_ops paging_plugin = {.translate = fake_translate};

/* vm.c's range walk. With no address space (space 0, the default) it has no
 * page tables: every page "faults in" through the fake table above (a page it
 * does not map cannot be faulted in). With "space 1" it also sees the page
 * table entries set by "pte PAGE VALUE AREA": a page whose entry already
 * grants the access needs no fault; any other goes through vm_fault, which
 * logs (page, write, exec) and succeeds only as the page's area allows
 * (AREA 0: no area, 1: readable, 2: writable), as fault_in would. */
static struct { uint64_t space; } fake_task;
#define current (&fake_task)
static struct { uint64_t page, pte; int area; } fake_ptes[8];
static int nfake_ptes;
static char fault_log[512];
static uint64_t *vm_pte(uint64_t space, uint64_t page)
{
    (void)space;
    for (int i = 0; i < nfake_ptes; i++)
        if (fake_ptes[i].page == page)
            return &fake_ptes[i].pte;
    return NULL;
}
static int vm_fault(uint64_t page, int write, int how)
{
    size_t used = strlen(fault_log);
    snprintf(fault_log + used, sizeof fault_log - used, " %lx:%d%d", page, write, how);
    for (int i = 0; i < nfake_ptes; i++)
        if (fake_ptes[i].page == page)
            return fake_ptes[i].area == 2 || (fake_ptes[i].area == 1 && !write) ? 0 : -1;
    return fake_translate(page) == PAGING_NOT_MAPPED ? -1 : 0;
}
#ifndef PAGE_MASK
#define PAGE_MASK (~(FRAME_SIZE - 1))
#endif

struct file;
static struct file *fd_file(long fd)  /* descriptor 3 is open, nothing else */
{
    return fd == 3 ? (struct file *)&base : NULL;
}

FUNCTIONS

int main(void)
{
    /* at an odd page number, so the unmapped page's address has bit 12 set */
    char *m = mmap((void *)0x10001000, 3 * FRAME_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);  /* the same in every run */
    if (m == MAP_FAILED || mprotect(m + 2 * FRAME_SIZE, FRAME_SIZE, PROT_NONE))
        return 2;
    base = (uint64_t)m;
    printf("base %lu\n", base);
    char line[128], dst[64];
    while (fgets(line, sizeof line, stdin)) {
        uint64_t a = 0, b = 0, c = 0;
        int area = 0;
        if (sscanf(line, "range %lu %lu", &a, &b) == 2) {
            printf("%d\n", user_range_ok(a, b));
        } else if (sscanf(line, "space %lu", &a) == 1) {
            fake_task.space = a;
            printf("ok\n");
        } else if (sscanf(line, "pte %lx %lx %d", &a, &b, &area) == 3 && nfake_ptes < 8) {
            fake_ptes[nfake_ptes].page = a;
            fake_ptes[nfake_ptes].pte = b;
            fake_ptes[nfake_ptes++].area = area;
            printf("ok\n");
        } else if (sscanf(line, "wrange %lx %lu", &a, &b) == 2 || sscanf(line, "rrange %lx %lu", &a, &b) == 2) {
            fault_log[0] = 0;
            int r = line[0] == 'w' ? user_range_ok(a, b) : user_range_readable(a, b);
            printf("%d%s\n", r, fault_log);
        } else if (sscanf(line, "fill %lu %lu", &a, &b) == 2) {  /* b bytes of 'x' at a, then a NUL if it fits */
            memset((char *)a, 'x', b);
            if (a + b < base + 2 * FRAME_SIZE)
                ((char *)a)[b] = 0;
            printf("ok\n");
        } else if (sscanf(line, "string %lu %lu", &a, &b) == 2) {
            printf("%ld\n", user_string(dst, a, b));
        } else if (sscanf(line, "io %lu %lu %lu", &c, &a, &b) == 3) {  /* read/write's checks: fd buf len */
            struct file *f = 0;
            long r = io_file((long)c, (long)a, (long)b, &f, 1);
            printf("%ld\n", r == 0 && f == (struct file *)&base ? 99 : r);
        }
        fflush(stdout);
    }
    return 0;
}
"""


def _functions(source: str, names) -> str:
    out = []
    for name in names:
        m = (re.search(rf"^(?:static )?(?:int|long) {name}\([^\n]*\}}\n", source, re.M)  # a one-line function
             or re.search(rf"^(?:static )?(?:int|long) {name}\(.*?^}}\n", source, re.S | re.M))
        assert m, f"{name} not found in {SYSCALL_C}"
        out.append(m.group())
    return "\n".join(out)


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    d = tmp_path_factory.mktemp("userrange")
    src = d / "driver.c"
    functions = _functions(VM_C.read_text(), ["vm_user_range"]) + _functions(
        SYSCALL_C.read_text(), ["user_range_ok", "user_range_readable", "user_string", "io_file"])
    src.write_text(DRIVER.replace("FUNCTIONS", functions))
    exe = d / "driver"
    subprocess.run(["gcc", "-std=gnu11", "-O1", "-w", "-DPYOS_HARNESS", f"-I{INCLUDE}", "-o", str(exe), str(src)],
                   check=True, capture_output=True, text=True)
    return exe


def run(exe, *commands):
    proc = subprocess.run([str(exe)], input="".join(c + "\n" for c in commands), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, f"the checks let a copy run into an unmapped page (status {proc.returncode})"
    lines = proc.stdout.split("\n")
    base = int(lines[0].split()[1])
    return base, [int(x) if x.lstrip("-").isdigit() else x for x in lines[1:len(commands) + 1]]


EFAULT, EINVAL = -14, -22
PAGE = 4096
USER_TOP = 0x00007FFFFFFFF000
VDSO = 0x00007FFFF0000000


def test_ranges(checker):
    base, _ = run(checker)
    cases = [
        ((base, 0), 0), ((base, 1), 0), ((base, 2 * PAGE), 0),          # all mapped
        ((base + 2 * PAGE - 1, 1), 0), ((base + 2 * PAGE - 8, 8), 0),    # ends at the last mapped byte
        ((base + 2 * PAGE - 8, 9), EFAULT),                            # one byte into the unmapped page
        ((base + PAGE, PAGE + 1), EFAULT),
        ((base + 5, 2 * PAGE), EFAULT),
        ((base, 2**64 - base), EFAULT),                                # wraps to exactly 0
        ((base + 8, 2**64 - 16), EFAULT),                              # wraps past 2^64 to below addr
        ((base, 2**63), EFAULT),
        ((0, 8), EFAULT), ((PAGE - 1, 1), EFAULT), ((8, 0), EFAULT),    # page 0 is never user memory
        ((PAGE, 8), 0), ((PAGE, PAGE), 0),                             # page 1 may be
        ((USER_TOP - PAGE, PAGE), 0),                                  # the top user page (fake-mapped)
        ((USER_TOP - PAGE, PAGE + 1), EFAULT),                         # and past USER_TOP
        ((USER_TOP - 8, 16), EFAULT),                                  # the page at USER_TOP is mapped, not user's
        ((USER_TOP, 0), EFAULT), ((USER_TOP + PAGE, 8), EFAULT),
        ((0xFFFF800000000000, 8), EFAULT), ((0xFFFFFFFF80100000, 0), EFAULT),
        ((VDSO, 1), EFAULT), ((VDSO + 100, 8), EFAULT),               # the vDSO is mapped but not the user's
    ]
    _, got = run(checker, *(f"range {a} {n}" for (a, n), _ in cases))
    for ((a, n), want), result in zip(cases, got):
        assert result == want, f"user_range_ok({a:#x}, {n:#x}) = {result}, expected {want}"


def test_strings(checker):
    base, _ = run(checker)
    edge = base + 2 * PAGE
    _, got = run(checker,
                 f"fill {edge - 16} 16", f"string {edge - 16} 64",     # runs into the unmapped page
                 f"fill {edge - 16} 15", f"string {edge - 16} 64",     # NUL in the last mapped byte
                 f"fill {base + PAGE - 10} 20", f"string {base + PAGE - 10} 64",  # crosses into a mapped page
                 f"string {base + PAGE - 10} 20",                       # no NUL within 20 bytes
                 f"string {base + PAGE - 10} 21",                       # the NUL is the 21st
                 f"string {edge} 8", f"string 16 8", f"string {VDSO} 8")
    assert got[1] == EFAULT
    assert got[3] == 15
    assert got[5] == 20
    assert got[6] == EINVAL and got[7] == 20
    assert got[8:] == [EFAULT, EFAULT, EFAULT]


def test_read_write_argument_checks(checker):
    """io_file: the checks sys_read and sys_write share (99: accepted, the file returned)."""
    base, _ = run(checker)
    edge = base + 2 * PAGE
    cases = [
        ((3, base, 10), 99), ((3, edge - 10, 10), 99), ((3, edge, 0), 99), ((3, base, 0), 99),
        ((3, edge - 10, 11), EFAULT), ((3, base, 2**64 - 1), EFAULT), ((3, base, 2**63), EFAULT),
        ((3, 16, 4), EFAULT),
        ((4, base, 10), -9), ((2**64 - 1, base, 10), -9), ((4, edge, 2**64 - 1), -9),  # EBADF comes first
    ]
    _, got = run(checker, *(f"io {fd} {a} {n}" for (fd, a, n), _ in cases))
    for ((fd, a, n), want), result in zip(cases, got):
        assert result == want, f"io_file({fd}, {a:#x}, {n:#x}) = {result}, expected {want}"


P, W, U = 0x1, 0x2, 0x4     # PTE_PRESENT, PTE_WRITE, PTE_USER
NO_AREA, READ_AREA, WRITE_AREA = 0, 1, 2


def test_present_pages_are_not_faulted_and_the_rest_are_faulted_for_the_access(checker):
    """vm_user_range with page tables (kernel/vm.c): a page whose entry is present,
    user and (for a write) writable is used as it is; any other page is faulted in
    for the access being made -- write=1 for user_range_ok (copy-on-write pages are
    copied before the kernel writes them: it runs with CR0.WP clear), write=0 for
    user_range_readable, never as an instruction fetch (exec=0) -- and the range is
    refused if the fault cannot be served. Each result is the return value and the
    faults taken, as " page:write exec"."""
    pages = {
        0x400000: (P | U | W, WRITE_AREA),   # ordinary writable page
        0x401000: (P | U, WRITE_AREA),       # copy-on-write: present, read-only
        0x402000: (U | W, WRITE_AREA),       # not present (demand paging)
        0x403000: (P | W, NO_AREA),          # present but the kernel's (no U bit)
        0x404000: (P | U, READ_AREA),        # a read-only mapping
    }
    setup = ["space 1"] + [f"pte {page:x} {pte:x} {area}" for page, (pte, area) in pages.items()]
    cases = [
        ("rrange 400000 4096", "0"), ("wrange 400000 4096", "0"),
        ("rrange 401000 4096", "0"), ("wrange 401000 4096", "0 401000:10"),
        ("rrange 402000 1", "0 402000:00"), ("wrange 402000 1", "0 402000:10"),
        ("rrange 403000 8", "-14 403000:00"), ("wrange 403000 8", "-14 403000:10"),
        ("rrange 404000 8", "0"), ("wrange 404000 8", "-14 404000:10"),
        ("wrange 400ff0 32", "0 401000:10"),                  # only the page that needs it
        ("rrange 400ff0 8208", "0 402000:00"),                # three pages, the third faulted
        ("wrange 400000 20480", "-14 401000:10 402000:10 403000:10"),   # stops at the first refusal
        ("rrange 405000 8", "-14 405000:00"),                 # no entry, no area
    ]
    _, got = run(checker, *setup, *(c for c, _ in cases))
    got = [str(g) for g in got[len(setup):]]
    for (command, want), result in zip(cases, got):
        assert result == want, f"{command}: {result!r}, expected {want!r}"
