"""The kernel's vsnprintf and strlen (guest_kernel/lib/format.c, string.c)
compiled natively and checked against the host C library's snprintf.

Both work eight bytes at a time (pyos/word.h): literal text is copied a word
at a time up to its first '%' or NUL, hex digits are made eight per word, and
strlen reads words. So the edges that matter are where a run ends inside a
word, where a word would cross into an unmapped page (the string's last byte
is the last of a mapped page here, the next page PROT_NONE, so a read past it
faults), and where the output buffer is too small for a whole word. Every
boot prints through this code (tests/test_boot.py checks the memory map and
the banner it prints); this test covers what a boot never prints."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import REPO

LIB = REPO / "guest_kernel" / "lib"
INCLUDE = REPO / "guest_kernel" / "include"
RENAMED = ["vsnprintf", "snprintf", "strlen", "memset", "memcpy", "memmove", "memcmp", "strcmp", "strncmp",
           "strncpy_z", "strtol"]

DRIVER = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int pyos_snprintf(char *buf, size_t size, const char *fmt, ...);
size_t pyos_strlen(const char *s);

static void hex(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        printf("%02x", (unsigned char)s[i]);
}

/* In place: text given as hex digits (so it may hold tabs and newlines). */
static char *unhex(char *s)
{
    size_t n = strlen(s) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned byte;
        sscanf(s + 2 * i, "%2x", &byte);
        s[i] = (char)byte;
    }
    s[n] = 0;
    return s;
}

/* One case per line: SIZE TYPE VALUE FORMAT, tab-separated, VALUE and FORMAT in hex. Prints
 * "ours-length ours-bytes theirs-length theirs-bytes" (bytes in hex, the
 * buffer up to its NUL; a size of 0 leaves the buffer alone: "-"). */
static void one(char *line)
{
    line[strcspn(line, "\n")] = 0;
    char *size_s = strsep(&line, "\t"), *type = strsep(&line, "\t"), *value = unhex(strsep(&line, "\t")),
         *fmt = unhex(line);
    size_t size = strtoul(size_s, NULL, 10);
    char ours[256], theirs[256];
    memset(ours, 'X', sizeof ours);
    memset(theirs, 'X', sizeof theirs);
    int a, b;
#define BOTH(...) (a = pyos_snprintf(ours, size, fmt, __VA_ARGS__), b = snprintf(theirs, size, fmt, __VA_ARGS__))
    switch (type[0]) {
    case 'i': BOTH((int)strtol(value, NULL, 10)); break;
    case 'l': BOTH(strtoll(value, NULL, 10)); break;
    case 'u': BOTH((unsigned)strtoul(value, NULL, 10)); break;
    case 'U': BOTH(strtoull(value, NULL, 10)); break;
    case 's': BOTH(value); break;
    case 'c': BOTH((int)strtol(value, NULL, 10)); break;
    default: a = pyos_snprintf(ours, size, fmt, 0); b = snprintf(theirs, size, fmt, 0);
    }
    printf("%d ", a);
    if (size) hex(ours, (int)strlen(ours) + 1); else printf("%c", ours[0] == 'X' ? '-' : '!');
    printf(" %d ", b);
    if (size) hex(theirs, (int)strlen(theirs) + 1); else printf("%c", theirs[0] == 'X' ? '-' : '!');
    printf("\n");
}

/* Strings (and formats) whose NUL is the last byte of a mapped page, at every
 * length up to 40: a word read past the page would fault here. */
static int page_edges(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED || mprotect(area + page, page, PROT_NONE))
        return 1;
    char buf[128];
    for (int n = 0; n <= 40; n++) {
        char *s = area + page - 1 - n;
        for (int i = 0; i < n; i++)
            s[i] = (char)('a' + i % 26);
        s[n] = 0;
        if (pyos_strlen(s) != (size_t)n)
            return printf("strlen of %d bytes ending a page: %zu\n", n, pyos_strlen(s)), 1;
        if (pyos_snprintf(buf, sizeof buf, "<%s>", s) != n + 2 || buf[n + 1] != '>' || memcmp(buf + 1, s, n))
            return printf("%%s of %d bytes ending a page: %s\n", n, buf), 1;
        if (pyos_snprintf(buf, sizeof buf, "%-44s|", s) != 45 || buf[44] != '|')
            return printf("%%-44s of %d bytes ending a page: %s\n", n, buf), 1;
        if (pyos_snprintf(buf, sizeof buf, s) != n || strcmp(buf, s))
            return printf("a format of %d bytes ending a page: %s\n", n, buf), 1;
    }
    printf("edges ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return page_edges();
    char line[1024];
    while (fgets(line, sizeof line, stdin))
        one(line);
    return 0;
}
"""


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = tmp_path_factory.mktemp("format")
    renames = [f"-D{name}=pyos_{name}" for name in RENAMED]
    objects = []
    for source in ("format.c", "string.c"):
        obj = d / source.replace(".c", ".o")
        subprocess.run(["gcc", "-std=gnu11", "-O2", "-ffreestanding", "-fno-builtin", "-Wall", "-Werror",
                        "-Wno-format-security", *renames, f"-I{INCLUDE}", "-c", str(LIB / source), "-o", str(obj)],
                       check=True)
        objects.append(str(obj))
    src = d / "driver.c"
    src.write_text(DRIVER)
    exe = d / "driver"
    subprocess.run(["gcc", "-std=gnu11", "-O1", "-w", "-o", str(exe), str(src), *objects], check=True)
    return exe


def run_cases(driver, cases):
    """[(size, type, value, fmt)] -> [(ours, theirs)] as (length, bytes) pairs."""
    text = "".join(f"{size}\t{kind}\t{str(value).encode().hex()}\t{fmt.encode().hex()}\n"
                   for size, kind, value, fmt in cases)
    out = subprocess.run([str(driver)], input=text, capture_output=True, text=True, check=True).stdout.split("\n")
    results = []
    for line in out[:len(cases)]:
        a, ours, b, theirs = line.split()
        results.append(((int(a), ours), (int(b), theirs)))
    return results


def check(driver, cases):
    for case, (ours, theirs) in zip(cases, run_cases(driver, cases), strict=True):
        assert ours == theirs, (f"vsnprintf differs from the C library for {case}: ours {ours[0]} "
                                f"{bytes.fromhex(ours[1]) if ours[1] not in '-!' else ours[1]!r}, "
                                f"libc {theirs[0]} {bytes.fromhex(theirs[1]) if theirs[1] not in '-!' else theirs[1]!r}")


def test_what_the_kernel_prints(driver):
    cases = [
        (256, "U", 0, "  [0x%016lx-"),
        (256, "U", 0x7FFFFFF, "-0x%016lx] usable\n"),
        (256, "U", 0xFFFF_8000_0000_0000, "direct-mapped at %#lx, and more"),
        (256, "U", 0x2A04BF, "kernel image: phys %#lx-"),
        (256, "U", 2**64 - 1, "%lx"), (256, "U", 2**64 - 1, "%lX"), (256, "U", 2**64 - 1, "%lu"),
        (256, "U", 2**64 - 1, "%lo"),
        (256, "l", -(2**63), "%ld|"), (256, "l", -(2**63), "%lld|"),
        (256, "i", -42, "%05d|"), (256, "i", -42, "%-6d|"), (256, "i", -42, "%6d|"), (256, "i", -42, "%x"),
        (256, "s", "hda", "ata: %s: primary master"),
        (256, "c", ord("q"), "[%c]"), (256, "c", ord("q"), "[%3c]"), (256, "c", ord("q"), "[%-3c]"),
        (256, "n", 0, "100%% literal text longer than a word, and %% again"),
        (256, "n", 0, ""),
        (256, "U", 0x1234_5678_9ABC_DEF0, "%016lx"), (256, "U", 0x1234_5678_9ABC_DEF0, "%16lX"),
        (256, "U", 0x1234_5678_9ABC_DEF0, "%-18lx|"), (256, "U", 0x1234_5678_9ABC_DEF0, "%#018lx"),
        (256, "U", 0xABCDEF, "%#lx"), (256, "u", 0x1A, "[%#8X]"), (256, "u", 0x1A, "[%#08x]"),
        (256, "u", 0x1A, "[%-#8x]"),
    ]
    check(driver, cases)


def test_alternate_form_prefixes_zero_too(driver):
    """'#' puts "0x" before 0 as well, as Linux's printk does (the C library prints a bare 0): the
    register dumps and the memory map keep their columns."""
    out = run_cases(driver, [(256, "U", 0, "[%#018lx]"), (256, "u", 0, "[%#x]"), (256, "u", 0, "[%#6X]")])
    assert [bytes.fromhex(ours[1]) for ours, _ in out] == [b"[0x0000000000000000]\0", b"[0x0]\0", b"[   0X0]\0"]


def test_zero_padding_wider_than_the_digit_buffer(driver):
    check(driver, [(256, "i", v, f"%0{w}d|") for v in (-7, 0, 123) for w in (30, 31, 32, 33, 40)]
          + [(256, "U", v, f"%0{w}lx|") for v in (0, 0xABC, 2**64 - 1) for w in (15, 16, 17, 31, 32, 40)])


def test_every_truncation(driver):
    check(driver, [(size, "s", "a-rather-long-device-name", "[%-30s] and the end") for size in range(0, 80)]
          + [(size, "U", 0xDEAD_BEEF_F00D, "x=%016lx literal tail") for size in range(0, 60)]
          + [(size, "n", 0, "12345678abcdefgh%%ijklmnop") for size in range(0, 30)]
          + [(size, "i", -1234, "block hda: %08d sectors") for size in range(0, 40)])


def test_no_read_crosses_into_an_unmapped_page(driver):
    out = subprocess.run([str(driver), "edges"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "edges ok\n", (out.returncode, out.stdout, out.stderr)


literal = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="%"), max_size=24)
width = st.one_of(st.just(""), st.integers(1, 40).map(str))


@st.composite
def cases(draw):
    conv = draw(st.sampled_from("diuxXosc"))
    flags = draw(st.sets(st.sampled_from("-0" if conv not in "sc" else "-")))
    if conv in "xX" and draw(st.booleans()):
        flags.add("#")
    spec = "%" + "".join(sorted(flags)) + draw(width)
    if conv in "di":
        kind, length = draw(st.sampled_from([("i", ""), ("l", "l"), ("l", "ll"), ("l", "z")]))
        value = draw(st.integers(-(2**31), 2**31 - 1) if kind == "i" else st.integers(-(2**63), 2**63 - 1))
    elif conv in "uxXo":
        kind, length = draw(st.sampled_from([("u", ""), ("U", "l"), ("U", "ll"), ("U", "z")]))
        value = draw(st.integers(0, 2**32 - 1) if kind == "u" else
                     st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 2**40), st.integers(0, 300)))
        if "#" in flags and value == 0:
            value = 1  # the kernel prefixes 0 too ("0x0", as Linux's printk); the C library prints "0"
    elif conv == "s":
        kind, length, value = "s", "", draw(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                                                    max_size=40))
    else:
        kind, length, value = "c", "", draw(st.integers(0x20, 0x7E))
    fmt = draw(literal) + spec + length + conv + draw(literal)
    size = draw(st.one_of(st.just(256), st.integers(0, 100)))
    return size, kind, value, fmt


@settings(max_examples=300, deadline=None)
@given(st.lists(cases(), min_size=1, max_size=20))
def test_random_formats_match_the_c_library(driver, batch):
    check(driver, batch)
