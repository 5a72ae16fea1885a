"""Python mutants from mutmut's operators (numbers, strings, comparisons,
arithmetic, keywords such as True/False/and/or/is/in, assignments, call
arguments, decorators), generated through mutmut's library API so that this
tool can run each one in a private copy of the tree under a time budget."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from mutmut import Context, list_mutations, mutate


@dataclass(frozen=True)
class PyMutant:
    line: int
    description: str
    source: str


def mutants(source: str, filename: str, only_lines: set[int] | None = None):
    for mid in list_mutations(Context(source=source, filename=filename, dict_synonyms=[])):
        line = mid.line_number + 1
        if only_lines is not None and line not in only_lines:
            continue
        new, count = mutate(Context(source=source, filename=filename, mutation_id=mid, dict_synonyms=[]))
        if not count or new == source:
            continue
        before = source.split("\n")[mid.line_number].strip()
        after_lines = [d[1:].strip() for d in difflib.unified_diff(source.split("\n"), new.split("\n"), n=0, lineterm="")
                       if d.startswith("+") and not d.startswith("+++")]
        after = after_lines[0] if after_lines else "(line deleted)"
        yield PyMutant(line, f"{before!r} -> {after!r} #{mid.index + 1}", new)
