"""The mutation tool's own parts (docs/mutation.md): the C mutator never touches
comments, strings or preprocessor lines, mutant ids are stable, and the
compiler-equivalence check calls a mutant equivalent only when gcc turns it
into exactly the original's code."""

from __future__ import annotations

from mutation import cmutate
from mutation.areas import Area
from mutation.cli import Mutant, generate, same_machine_code

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
