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
    if (virt == VDSO_ADDR || virt == USER_TOP - FRAME_SIZE || virt == 0)
        return 0x5000;  /* mapped (the vDSO, the top user page, page 0), but see the range rules */
    return PAGING_NOT_MAPPED;
}
const struct paging_ops paging_plugin = {.translate = fake_translate};

FUNCTIONS

int main(void)
{
    char *m = mmap((void *)0x10000000, 3 * FRAME_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);  /* the same in every run */
    if (m == MAP_FAILED || mprotect(m + 2 * FRAME_SIZE, FRAME_SIZE, PROT_NONE))
        return 2;
    base = (uint64_t)m;
    printf("base %lu\n", base);
    char line[128], dst[64];
    while (fgets(line, sizeof line, stdin)) {
        uint64_t a = 0, b = 0;
        if (sscanf(line, "range %lu %lu", &a, &b) == 2) {
            printf("%d\n", user_range_ok(a, b));
        } else if (sscanf(line, "fill %lu %lu", &a, &b) == 2) {  /* b bytes of 'x' at a, then a NUL if it fits */
            memset((char *)a, 'x', b);
            if (a + b < base + 2 * FRAME_SIZE)
                ((char *)a)[b] = 0;
            printf("ok\n");
        } else if (sscanf(line, "string %lu %lu", &a, &b) == 2) {
            printf("%ld\n", user_string(dst, a, b));
        }
        fflush(stdout);
    }
    return 0;
}
"""


def _functions(source: str, names) -> str:
    out = []
    for name in names:
        m = re.search(rf"^(?:int|long) {name}\(.*?^}}\n", source, re.S | re.M)
        assert m, f"{name} not found in {SYSCALL_C}"
        out.append(m.group())
    return "\n".join(out)


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    d = tmp_path_factory.mktemp("userrange")
    src = d / "driver.c"
    src.write_text(DRIVER.replace("FUNCTIONS", _functions(SYSCALL_C.read_text(), ["user_range_ok", "user_string"])))
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
        ((USER_TOP - PAGE, PAGE), 0),                                  # the top user page (fake-mapped)
        ((USER_TOP - PAGE, PAGE + 1), EFAULT),                         # and past USER_TOP
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
