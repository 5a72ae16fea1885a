"""The mutation tool's own parts (docs/mutation.md): the C mutator never touches
comments, strings or preprocessor lines, mutant ids are stable, and the
compiler-equivalence check calls a mutant equivalent only when gcc turns it
into exactly the original's code; coverage-selected tests pick the tests that
execute a mutant's line and keep every test for a line without line data."""

from __future__ import annotations

import subprocess

from mutation import cmutate, coverage
from mutation.areas import Area
from mutation.cli import Mutant, generate, same_machine_code
from mutation.coverage import CoverageMap

SOURCE = """\
#define LIMIT 4   /* a < b */
static const char *name = "a < b";
long check(long a, long b, long unused)
{
    (void)unused;
    if (a < b)          // a < b
        return a + 1;
    return b;
}
"""


def test_c_mutator_swaps_operators_and_constants_outside_comments_and_strings():
    found = {(m.line, m.description) for m in cmutate.mutants(SOURCE, None)}
    assert (6, "'<' -> '<=' #1") in found and (6, "'<' -> '>=' #1") in found
    assert (7, "'+' -> '-' #1") in found and (7, "1 -> 0 #1") in found
    assert (5, "statement deleted #1") in found and (7, "statement deleted #1") in found
    assert not any(line in (1, 2) for line, _ in found), found   # the #define, the string
    for m in cmutate.mutants(SOURCE, None):
        assert m.source.count("\n") == SOURCE.count("\n")         # lines keep their numbers
        assert "// a < b" in m.source and '"a < b"' in m.source


def test_mutant_ids_are_stable_and_depend_on_the_line_text():
    a = Mutant("x", "f.c", 6, "'<' -> '<=' #1", "", SOURCE)
    assert a.id == Mutant("x", "f.c", 7, "'<' -> '<=' #1", "", "\n" + SOURCE).id     # the line moved
    assert a.id != Mutant("x", "f.c", 6, "'<' -> '<=' #1", "", SOURCE.replace("a < b)", "a < b + 0)")).id
    assert a.id != Mutant("x", "f.c", 6, "'<' -> '>=' #1", "", SOURCE).id


def test_same_machine_code_only_for_mutants_gcc_cannot_tell_apart():
    by = {(m.line, m.description): m.source for m in cmutate.mutants(SOURCE, None)}
    path = "plugins/heap_slab/x.c"
    assert same_machine_code(path, SOURCE, by[(5, "statement deleted #1")])      # (void)unused;
    assert not same_machine_code(path, SOURCE, by[(6, "'<' -> '<=' #1")])
    assert not same_machine_code(path, SOURCE, by[(7, "statement deleted #1")])
    assert not same_machine_code(path, SOURCE, SOURCE.replace("{", "{ syntax error", 1))


def test_an_area_limited_to_functions_mutates_only_their_lines():
    area = Area("t", ("guest_kernel/kernel/syscall.c::user_string",), ("tests/none.py",))
    mutants = generate(area, None)
    inside = cmutate.function_lines(mutants[0].original, ["user_string"])
    assert mutants and {m.line for m in mutants} <= inside
    assert len(inside) < mutants[0].original.count("\n") / 4


# -- coverage-selected tests (mutation/coverage.py) -------------------------------------------

def test_coverage_map_runs_a_mutant_against_the_tests_that_execute_its_line():
    cmap = CoverageMap(["t1", "t2", "t3", "check"], lines={"f.c": [3, 4, 5, 7, 9]},
                       executed={"t1": {"f.c": [3, 4]}, "t2": {"f.c": [3, 5]}, "t3": {"f.c": [3, 4, 5]}},
                       always=["check"])
    assert cmap.select("f.c", 4) == ["t1", "t3", "check"]          # in the list's order
    assert cmap.select("f.c", 5, "x = y + 1;") == ["t2", "t3", "check"]
    assert cmap.select("f.c", 6) is None and cmap.select("g.c", 3) is None   # no line data: every test
    assert cmap.select("f.c", 9, "    case 3: return 1;") is None  # a case constant decides who jumps there
    assert cmap.select("f.c", 7) == ["check"]                      # executed by no test: the checks only
    assert CoverageMap(["t1"], lines={"f.c": [7]}, executed={"t1": {"f.c": [3]}}).select("f.c", 7) == []
    assert CoverageMap.from_json(cmap.to_json()).select("f.c", 4) == ["t1", "t3", "check"]


PROGRAM = """\
#include <stdlib.h>
static const int table[3] = {1,
                             2, 3};
int main(int argc, char **argv)
{
    int n = atoi(argv[1]);
    if (n > 10)
        n -= table[1];
    if (n < 0)
        return 1;
    return 0;
}
"""


class _FakeSlot:
    """A job slot whose 'tests' run a gcov-instrumented program: `big` with 20, `small` with 1,
    `check` runs nothing (a compile-time check), `broken` runs it and fails."""

    def __init__(self, copy, exe):
        self.copy, self.exe, self.env = copy, exe, []

    def run(self, job):
        if job["kind"] == "collect":
            return {"how": "exit", "code": 0, "seconds": 0, "failed": "", "tests": ["big", "small", "check", "broken"]}
        (test,) = job["args"]
        self.env.append(job["env"])
        if test != "check":
            subprocess.run([str(self.exe), {"big": "20", "small": "1", "broken": "2"}[test]], check=True)
        return {"how": "exit", "code": int(test == "broken"), "seconds": 0, "failed": ""}


def test_coverage_is_measured_test_by_test_from_gcov_data(tmp_path):
    """The per-test map from real gcov data, the object built in one folder and moved to
    another (as the build cache publishes it): each test's lines, the tests kept always."""
    src = tmp_path / "tree" / "plugins" / "p.c"
    src.parent.mkdir(parents=True)
    src.write_text(PROGRAM)
    build = tmp_path / "cache" / "obj" / "staged"
    build.mkdir(parents=True)
    subprocess.run(["gcc", "-O0", "--coverage", "-c", str(src), "-o", str(build / "unit.o")], check=True)
    subprocess.run(["gcc", "--coverage", "-o", str(tmp_path / "prog"), str(build / "unit.o")], check=True)
    build.rename(build.with_name("final"))
    area = Area("t", ("plugins/p.c",), ("tests/none.py",), coverage="PYOS_T_COVERAGE")
    slot = _FakeSlot(tmp_path / "tree", tmp_path / "prog")
    cmap = coverage.measure(slot, area, area.tests, ["plugins/p.c"], tmp_path / "cache", 60, log=lambda s: None)
    assert slot.env[0] == {"PYOS_T_COVERAGE": "1", "PYOS_CACHE_DIR": str(tmp_path / "cache")}
    assert cmap.tests == ["big", "small", "check", "broken"] and cmap.always == ["check", "broken"]
    assert cmap.select("plugins/p.c", 8, "        n -= table[1];") == ["big", "check", "broken"]
    assert cmap.select("plugins/p.c", 7) == ["big", "small", "check", "broken"]
    assert cmap.select("plugins/p.c", 10) == ["check", "broken"]   # never executed
    assert cmap.select("plugins/p.c", 3) is None                    # the table's initialiser: no line data
    assert not list((tmp_path / "cache").rglob("*.gcda"))           # read once, then gone
