"""A small mutator for the project's C: one fault per mutant.

Operators (mutmut's for Python have the same spirit):
  comparison   <  <=  >  >=  ==  !=   swapped with their neighbour or opposite
  logical      &&  ||                  swapped
  arithmetic   +  -  (binary)  <<  >>  +=  -=  ++  --  |  & (binary)  ^   swapped
  constant     an integer literal N becomes N+1 (0 becomes 1, 1 becomes 0)
  statement    an expression statement or return on its own line is deleted

The scanner knows comments, string and character literals and preprocessor
lines, so it never mutates inside them. It is a token scanner, not a C
parser: a mutant that no longer compiles is reported as "invalid" and does
not count in the score (cli checks each mutant with `gcc -fsyntax-only`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TOKEN = re.compile(r"""
    (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
  | (?P<number>0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*)
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<op><<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||\+\+|--|\+=|-=|->|[-+*/%<>=!&|^~?:;,.(){}\[\]])
  | (?P<space>\s+)
  | (?P<other>.)
""", re.S | re.X)

SWAPS = {
    "<": ["<=", ">="], "<=": ["<", ">"], ">": [">=", "<="], ">=": [">", "<"],
    "==": ["!="], "!=": ["=="], "&&": ["||"], "||": ["&&"],
    "+": ["-"], "-": ["+"], "<<": [">>"], ">>": ["<<"], "+=": ["-="], "-=": ["+="],
    "++": ["--"], "--": ["++"], "|": ["&"], "&": ["|"], "^": ["|"],
}
BINARY_ONLY = {"+", "-", "&", "|", "^"}   # unary minus, address-of: left alone
KEYWORDS = {"return", "case", "sizeof", "if", "while", "for", "switch", "else", "do", "goto"}
STATEMENT = re.compile(r"^\s*(?!(?:if|for|while|switch|case|default|else|do|static|const|struct|union|enum|"
                       r"typedef|unsigned|signed|int|long|char|short|void|uint\d+_t|int\d+_t|size_t|uint64_t|"
                       r"bool|goto)\b)[A-Za-z_*(][^;{}]*;\s*(?://.*)?$")


@dataclass(frozen=True)
class CMutant:
    line: int           # 1-based
    description: str    # e.g. "'<' -> '<=' #1", "17 -> 18 #1", "statement deleted"
    source: str         # the whole mutated file


def _tokens(source: str):
    """(kind, text, start) for every token, with the line each starts on."""
    line = 1
    for m in TOKEN.finditer(source):
        yield m.lastgroup, m.group(), m.start(), line
        line += m.group().count("\n")


def _preprocessor_lines(source: str) -> set[int]:
    lines, continued = set(), False
    for number, text in enumerate(source.split("\n"), 1):
        if continued or text.lstrip().startswith("#"):
            lines.add(number)
            continued = text.rstrip().endswith("\\")
    return lines


def _bump(literal: str) -> str:
    digits = re.match(r"0[xX][0-9a-fA-F]+|\d+", literal).group()
    suffix = literal[len(digits):]
    value = int(digits, 0)
    new = {0: 1, 1: 0}.get(value, value + 1)
    return (hex(new) if digits[:2].lower() == "0x" else str(new)) + suffix


def function_lines(source: str, names) -> set[int]:
    """The lines of the named functions' definitions (header to closing brace)."""
    wanted, lines = set(names), set()
    text = source.split("\n")
    for i, row in enumerate(text):
        m = re.match(r"^[A-Za-z_][\w \*]*?\b(\w+)\s*\(", row)
        if not m or m.group(1) not in wanted or row.rstrip().endswith(";"):
            continue
        depth, seen = 0, False
        for j in range(i, len(text)):
            depth += text[j].count("{") - text[j].count("}")
            seen |= "{" in text[j]
            lines.add(j + 1)
            if seen and depth <= 0:
                break
    return lines


def mutants(source: str, only_lines: set[int] | None = None):
    """Every mutant of one C file (optionally only on the given lines), in file order."""
    skip = _preprocessor_lines(source)
    toks = [t for t in _tokens(source) if t[0] not in ("space", "comment")]
    seen: dict[tuple[int, str], int] = {}

    def numbered(line, desc):
        seen[(line, desc)] = seen.get((line, desc), 0) + 1
        return f"{desc} #{seen[(line, desc)]}"

    depth = 0
    for i, (kind, text, start, line) in enumerate(toks):
        if text == "{":
            depth += 1
        elif text == "}":
            depth -= 1
        if depth <= 0 or line in skip or (only_lines is not None and line not in only_lines):
            continue  # outside function bodies: initialisers of tables, declarations
        prev = toks[i - 1] if i else None
        if kind == "op" and text in SWAPS:
            if text in BINARY_ONLY and not (prev and ((prev[0] == "ident" and prev[1] not in KEYWORDS) or prev[0] == "number"
                                                         or prev[1] in (")", "]"))):
                continue
            for new in SWAPS[text]:
                yield CMutant(line, numbered(line, f"'{text}' -> '{new}'"),
                              source[:start] + new + source[start + len(text):])
        elif kind == "number":
            new = _bump(text)
            yield CMutant(line, numbered(line, f"{text} -> {new}"), source[:start] + new + source[start + len(text):])
    rows = source.split("\n")
    offset = 0
    depth = 0
    for number, row in enumerate(rows, 1):
        inside = depth > 0
        depth += row.count("{") - row.count("}")
        if (inside and number not in skip and (only_lines is None or number in only_lines)
                and STATEMENT.match(row) and not row.rstrip().endswith(",")):
            indent = row[:len(row) - len(row.lstrip())]
            yield CMutant(number, numbered(number, "statement deleted"),
                          source[:offset] + indent + ";" + source[offset + len(row):])
        offset += len(row) + 1
