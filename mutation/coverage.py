"""Coverage-selected tests: a mutant runs only the tests that execute its line.

For a C area whose test builds can write gcov data (`Area.coverage` names the
environment variable that asks them to: -O0 --coverage), the unmutated code's
per-test line coverage is taken once: each test of the area's list runs on
its own (a forked pytest with that one node id), and after it the .gcda
files its processes wrote are read with `gcov --json-format` and deleted.
The result, a CoverageMap, is cached in the build cache under a key over the
content of the area's sources, the tests and the harness, so a later run
with the same code reuses it.

A mutant on line L then runs, in the list's order, the tests that executed L
(plus the tests that recorded no line at all: compile-time checks such as
-Werror=return-type, and any test that failed or timed out in the coverage
build, whose data cannot be trusted). A line without line data (declarations,
initialisers, static tables, lines gcc attributes to another) and a `case`
line (its constant decides which values jump there, whether or not the line
itself ran) keep every test. A line with line data that no test executed
cannot make any test behave differently: its mutant survives without a run.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

VERSION = 1   # bump when what is measured changes: old maps are then not reused
NO_TEST = "no test executes this line (per-test coverage of the unmutated code)"
_CASE = re.compile(r"\bcase\b")


@dataclass
class CoverageMap:
    tests: list[str]                                     # node ids, in the list's order
    lines: dict[str, list[int]] = field(default_factory=dict)     # file -> lines that have line data
    executed: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # test -> file -> lines it ran
    always: list[str] = field(default_factory=list)     # tests kept for every mutant (no data, or failed)
    seconds: float = 0.0                                 # what measuring it took

    def __post_init__(self):
        self._lines = {f: set(v) for f, v in self.lines.items()}
        self._ran = {t: {f: set(v) for f, v in by.items()} for t, by in self.executed.items()}

    def select(self, path: str, line: int, text: str = "") -> list[str] | None:
        """The tests that can see a mutant of `path`:`line` (whose text is `text`), in order;
        None when the line has no line data or is a `case` line (every test), [] when none."""
        if line not in self._lines.get(path, ()) or _CASE.search(text):
            return None
        keep = set(self.always)
        return [t for t in self.tests if t in keep or line in self._ran.get(t, {}).get(path, ())]

    def to_json(self) -> str:
        return json.dumps({"tests": self.tests, "lines": self.lines, "executed": self.executed,
                           "always": self.always, "seconds": self.seconds})

    @classmethod
    def from_json(cls, text: str) -> CoverageMap:
        return cls(**json.loads(text))


def _stamp(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(12)[8:12]     # magic, version, stamp: a .gcda carries its .gcno's stamp


def harvest(where: Path, root: Path, files) -> dict[str, dict[int, int]]:
    """{file: {line: count}} for the given repository-relative files, from every .gcda under
    `where` (each matched to the .gcno of the same stamp there); the .gcda files are deleted.
    Objects whose notes name none of the files are skipped without running gcov."""
    wanted = {f: f.encode() for f in files}
    notes = {}
    for gcno in where.rglob("*.gcno"):
        data = gcno.read_bytes()
        if any(name in data for name in wanted.values()):
            notes[data[8:12]] = gcno
    found: dict[str, dict[int, int]] = {}
    root = root.resolve()
    for gcda in sorted(where.rglob("*.gcda")):
        gcno = notes.get(_stamp(gcda))
        if gcno is not None:
            with tempfile.TemporaryDirectory() as tmp:
                shutil.copy(gcno, Path(tmp) / "u.gcno")
                shutil.copy(gcda, Path(tmp) / "u.gcda")
                out = subprocess.run(["gcov", "--json-format", "--stdout", "u.gcda"], cwd=tmp,
                                     capture_output=True, text=True, check=True).stdout
            for doc in out.splitlines():
                if not doc.strip():
                    continue
                for entry in json.loads(doc)["files"]:
                    name = _relative(entry["file"], root, wanted)
                    if name:
                        counts = found.setdefault(name, {})
                        for row in entry["lines"]:
                            counts[row["line_number"]] = counts.get(row["line_number"], 0) + row["count"]
        gcda.unlink()
    return found


def _relative(name: str, root: Path, wanted) -> str | None:
    try:
        rel = str(Path(name).resolve().relative_to(root))
        return rel if rel in wanted else None
    except ValueError:
        return next((f for f in wanted if name.endswith("/" + f)), None)


def cache_key(root: Path, area, tests) -> str:
    """Over the area's sources (and everything beside them), the tests, the harness and gcc."""
    digest = hashlib.sha256(repr((VERSION, area.name, area.files, tuple(tests), area.coverage)).encode())
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout
    digest.update(gcc.encode())
    paths = set()
    for folder in {Path(f.partition("::")[0]).parent for f in area.files} | {
            Path("tests"), Path("vmm/harness"), Path("vmm/build"), Path("guest_kernel/include")}:
        paths |= {p for p in (root / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    paths |= {root / "guest_kernel/kernel/block.c", root / "guest_kernel/kernel/vnode.c"}
    for p in sorted(paths):
        if p.exists():
            digest.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return digest.hexdigest()[:24]


def measure(slot, area, tests, files, scratch: Path, timeout: float, log=print) -> CoverageMap:
    """Run each test of `tests` (pytest arguments) alone in `slot` with the area's coverage build,
    and collect which lines of `files` it executed."""
    start = time.monotonic()
    scratch.mkdir(parents=True, exist_ok=True)
    env = {area.coverage: "1", "PYOS_CACHE_DIR": str(scratch)}
    listed = slot.run({"kind": "collect", "args": list(tests), "path": None, "source": None, "timeout": 600})
    ids = listed.get("tests") or []
    if listed["code"] != 0 or not ids:
        raise RuntimeError(f"collecting {' '.join(tests)} failed (status {listed['code']})")
    harvest(scratch, slot.copy, files)       # nothing left over from an earlier build
    cmap = CoverageMap(ids)
    lines: dict[str, set[int]] = {}
    for n, test in enumerate(ids, 1):
        r = slot.run({"kind": "pytest", "args": [test], "path": None, "source": None, "timeout": timeout,
                      "env": env})
        counts = harvest(scratch, slot.copy, files)
        for f, by in counts.items():
            lines.setdefault(f, set()).update(by)
        ran = {f: sorted(ln for ln, c in by.items() if c) for f, by in counts.items()}
        ran = {f: v for f, v in ran.items() if v}
        if r["how"] != "exit" or r["code"] != 0 or not ran:
            cmap.always.append(test)     # a compile-time check, or data that cannot be trusted
            if r["how"] != "exit" or r["code"] != 0:
                log(f"   coverage: {test} failed in the coverage build (status {r['code']}): kept for every mutant")
        else:
            cmap.executed[test] = ran
        if n % 20 == 0:
            log(f"   coverage: {n}/{len(ids)} tests measured ({time.monotonic() - start:.0f} s)")
    cmap.lines = {f: sorted(v) for f, v in lines.items()}
    cmap.seconds = round(time.monotonic() - start, 1)
    return CoverageMap.from_json(cmap.to_json())


def load_or_measure(slot, area, tests, files, scratch: Path, timeout: float, store: Path,
                    log=print) -> tuple[CoverageMap, bool]:
    """The cached map for this content (in `store`), else measured and cached: (map, cached?)."""
    path = store / f"{cache_key(slot.copy, area, tests)}.json"
    if path.exists():
        try:
            return CoverageMap.from_json(path.read_text()), True
        except (ValueError, TypeError, KeyError):
            pass
    cmap = measure(slot, area, tests, files, scratch, timeout, log)
    store.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(cmap.to_json())
    tmp.replace(path)
    return cmap, False
