"""`python -m mutation`: generate mutants, test them within a budget, list survivors.

    python -m mutation --list-areas
    python -m mutation pic uart --budget 600 -j 2
    python -m mutation syscall --sample 40 --budget 1800 -j 1
    python -m mutation pic --line 120-180 --show        # the survivors' diffs

Exit status: 0 when every tested mutant was killed or is a documented
equivalent, 1 when an undocumented survivor remains, 2 for usage errors or
when an area's tests fail on the unmutated code (nothing could be judged).
Results are also written as JSON (--json FILE) for docs/mutation.md's table.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import cmutate, coverage, pymutate
from .areas import AREAS, Area

REPO = Path(__file__).resolve().parent.parent
EQUIVALENTS_DOC = REPO / "docs" / "mutation.md"
COPY_DIRS = ("vmm", "tests", "plugins", "guest_kernel", "configs", "mutation", "benchmarks", "monitoring")
COPY_FILES = ("pyproject.toml", "setup.py")


@dataclass
class Mutant:
    area: str
    path: str          # relative to the repository
    line: int
    description: str
    source: str
    original: str
    id: str = ""
    status: str = "untested"   # killed, survived, equivalent, timeout, invalid, untested
    seconds: float = 0.0
    reason: str = ""
    killed_by: str = ""        # the first test that failed (pytest areas)
    tests_run: int = 0         # with coverage-selected tests: how many were selected (0: the whole list)

    occurrence: int = 0   # the same line text and mutation earlier in the file (reset() and ICW1 alike)

    def __post_init__(self):
        text = self.original.split("\n")[self.line - 1].strip()
        key = f"{self.path}\0{text}\0{self.description}" + (f"\0{self.occurrence}" if self.occurrence else "")
        self.id = hashlib.sha1(key.encode()).hexdigest()[:8]

    def diff(self) -> str:
        return "".join(difflib.unified_diff(self.original.splitlines(True), self.source.splitlines(True),
                                            f"a/{self.path}", f"b/{self.path}", n=1))


def equivalents(doc: Path = EQUIVALENTS_DOC) -> dict[str, str]:
    """id -> reason, from the table rows `| id | area | file:line | mutation | reason |` of docs/mutation.md."""
    found = {}
    if not doc.exists():
        return found
    for row in doc.read_text().splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) >= 5 and len(cells[0]) == 10 and cells[0].startswith("`") and cells[0].endswith("`"):
            found[cells[0].strip("`")] = cells[-1]
    return found


def _line_filter(spec: str | None) -> set[int] | None:
    if not spec:
        return None
    lines = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        lines.update(range(int(lo), int(hi or lo) + 1))
    return lines


def generate(area: Area, lines: set[int] | None) -> list[Mutant]:
    out = []
    for entry in area.files:
        path, _, functions = entry.partition("::")   # "file.c::fn1,fn2": only those functions
        source = (REPO / path).read_text()
        only = cmutate.function_lines(source, functions.split(",")) if functions else None
        if path.endswith(".py"):
            found = pymutate.mutants(source, path, only)
        else:
            found = cmutate.mutants(source, only)
        rows, seen = source.split("\n"), {}
        for m in found:     # occurrences counted over the whole file (or functions), so --line keeps the ids
            key = (rows[m.line - 1].strip(), m.description)
            if lines is None or m.line in lines:
                out.append(Mutant(area.name, path, m.line, m.description, m.source, source,
                                  occurrence=seen.get(key, 0)))
            seen[key] = seen.get(key, 0) + 1
    return out


def _syntax_ok(path: str, source: str) -> bool:
    """A C mutant that does not compile is invalid, not killed."""
    include = [f"-I{REPO / 'guest_kernel' / 'include'}", f"-I{(REPO / path).parent}",
               f"-I{REPO / 'guest_kernel' / 'user' / 'include'}"]
    proc = subprocess.run(["gcc", "-std=gnu11", "-fsyntax-only", "-w", "-Werror=implicit-function-declaration",
                           "-DPYOS_HARNESS", *include, "-x", "c", "-"], input=source, text=True,
                          capture_output=True)
    return proc.returncode == 0


@functools.lru_cache(maxsize=16)   # the original's, once per file and build
def _assembly(path: str, source: str, harness: bool) -> str | None:
    """gcc -O2 -S of one C file with the kernel's code-generation flags (no debug info)."""
    from vmm.build.kernel import CFLAGS
    flags = [f for f in CFLAGS if f != "-g" and not f.startswith("-W")]
    include = [f"-I{REPO / 'guest_kernel' / 'include'}", f"-I{(REPO / path).parent}"]
    proc = subprocess.run(["gcc", *flags, "-w", "-g0", *(["-DPYOS_HARNESS"] if harness else []), *include,
                           "-S", "-o", "-", "-x", "c", "-"], input=source, text=True, capture_output=True)
    return proc.stdout if proc.returncode == 0 else None


def same_machine_code(path: str, original: str, source: str) -> bool:
    """Trivial compiler equivalence: the mutant compiles to exactly the original's
    assembly, in the kernel build and in the host harness's (-DPYOS_HARNESS), so no
    test can tell them apart (e.g. a deleted `(void)unused;`, a constant in one)."""
    compared = 0
    for harness in (False, True):
        theirs = _assembly(path, original, harness)
        if theirs is None:           # e.g. kernel code that has no harness build
            continue
        if _assembly.__wrapped__(path, source, harness) != theirs:
            return False
        compared += 1
    return compared > 0


SAME_CODE = "same machine code as the original (gcc -O2 -S, kernel and harness builds)"


def make_copy(root: Path) -> Path:
    root.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")
    for d in COPY_DIRS:
        if (REPO / d).exists():
            shutil.copytree(REPO / d, root / d, ignore=ignore, symlinks=True)
    for f in COPY_FILES:
        shutil.copy2(REPO / f, root / f)
    return root


class Slot:
    """A worker process with its own copy of the tree and its own build cache."""

    def __init__(self, base: Path, index: int):
        self.copy = make_copy(base / f"slot{index}")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYOS_CACHE_DIR=str(base / f"cache{index}"),
                   PYTHONPATH=str(self.copy))
        self.env = env
        self.proc = subprocess.Popen([sys.executable, "-m", "mutation.worker", str(self.copy)], cwd=self.copy,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, job: dict) -> dict:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("mutation worker died")
        return json.loads(line)

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


def _coverage_maps(area: Area, test_sets, slot: Slot, base: Path, timeouts) -> dict:
    """test set -> CoverageMap, for an area with coverage-selected tests (cached in the build cache).
    Each map holds the lines of all the area's files, whichever the run's mutants are in."""
    from vmm.paths import cache_dir
    maps = {}
    files = sorted({f.partition("::")[0] for f in area.files})
    for tests, paths in test_sets.items():
        try:
            cmap, cached = coverage.load_or_measure(slot, area, tests, files, base / "coverage-cache",
                                                    timeouts[tests], cache_dir() / "mutation-coverage")
        except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
            print(f"   coverage: not measured ({e}): every mutant runs every test", flush=True)
            continue
        ran = sum(1 for t in cmap.tests if t not in cmap.always)
        print(f"   coverage ({', '.join(sorted({Path(p).name for p in paths}))}): {len(cmap.tests)} tests, {ran} with "
              f"line data; {'cached' if cached else 'measured'} ({cmap.seconds:.0f} s to measure)", flush=True)
        maps[tests] = cmap
    return maps


def _job(area: Area, path: str | None, source: str | None, timeout: float, tests=None) -> dict:
    if area.command and not tests:
        return {"kind": "command", "args": list(area.command), "path": path, "source": source, "timeout": timeout}
    return {"kind": "pytest", "args": list(tests or area.tests), "path": path, "source": source, "timeout": timeout}


def _selected(area: Area, args) -> list:
    """The area's mutants that --line, --file, --ids and --sample leave (for a run and for --list alike)."""
    mutants = generate(area, _line_filter(args.line))
    if args.file:
        mutants = [m for m in mutants if any(m.path.endswith(f) for f in args.file)]
    if args.ids:  # e.g. the survivors of an earlier run: `--ids survivors.txt`
        wanted = set(Path(args.ids).read_text().split())
        mutants = [m for m in mutants if m.id in wanted]
    if args.sample and len(mutants) > args.sample:
        mutants = sorted(random.Random(args.seed).sample(mutants, args.sample),
                         key=lambda m: (m.path, m.line))
    return mutants


def run(args) -> int:
    names = args.areas or list(AREAS)
    unknown = [n for n in names if n not in AREAS]
    if unknown:
        print(f"mutation: unknown area {', '.join(unknown)}; known: {', '.join(AREAS)}", file=sys.stderr)
        return 2
    # A run started in the background (SIGINT ignored) or by a timeout(1) still
    # stops cleanly: the mutants under test finish, their files are restored.
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    known_equivalent = equivalents()
    deadline = time.monotonic() + args.budget
    base = Path(tempfile.mkdtemp(prefix="pyos-mutation-"))
    slots = [Slot(base, i) for i in range(args.jobs)]
    results: list[Mutant] = []
    broken = False
    stop = threading.Event()
    try:
        for name in names:
            area = AREAS[name]
            mutants = _selected(area, args)
            print(f"== {name}: {area.what}: {len(mutants)} mutants", flush=True)
            override = tuple(args.tests.split()) if args.tests else None
            for m in mutants:
                if m.id in known_equivalent:
                    m.status, m.reason = "equivalent", known_equivalent[m.id]
            todo = [m for m in mutants if m.status == "untested"]
            # The clean run of each set of tests the mutants need (one per file with tests of its own):
            # they must pass on the unmutated code, and 4x their time stops a mutant's run.
            test_sets = {}
            for m in todo or mutants[:1]:
                test_sets.setdefault(override or area.tests_for(m.path), []).append(m.path)
            timeouts, failing = {}, False
            for tests, paths in test_sets.items():
                clean = slots[0].run(_job(area, None, None, 1800, tests))
                files = ", ".join(sorted({Path(p).name for p in paths}))
                if clean["how"] != "exit" or clean["code"] != 0:
                    print(f"   the tests of {files} fail on the unmutated code (status {clean['code']}"
                          f"{', first failure ' + clean['failed'] if clean.get('failed') else ''}): "
                          f"fix them first; nothing judged", flush=True)
                    broken = failing = True
                    break
                timeouts[tests] = max(area.timeout_floor, 4 * clean["seconds"])
                print(f"   clean run {clean['seconds']:.1f} s ({files}); a mutant's run is stopped after "
                      f"{timeouts[tests]:.0f} s", flush=True)
            if failing:
                continue
            maps = {}
            if area.coverage and not args.all_tests and not area.command:
                maps = _coverage_maps(area, {t: test_sets[t] for t in timeouts}, slots[0], base, timeouts)
            lock = threading.Lock()

            def work(slot):
                while True:
                    with lock:
                        if not todo or time.monotonic() > deadline or stop.is_set():
                            return
                        m = todo.pop(0)
                    # C mutants: compiled first (in this slot's thread, so -j runs these in parallel too)
                    if m.path.endswith(".c") and not _syntax_ok(m.path, m.source):
                        m.status = "invalid"
                        continue
                    if m.path.endswith(".c") and same_machine_code(m.path, m.original, m.source):
                        m.status, m.reason = "equivalent", SAME_CODE
                        continue
                    tests = override or area.tests_for(m.path)
                    run_tests = tests
                    if tests in maps:
                        chosen = maps[tests].select(m.path, m.line, m.original.split("\n")[m.line - 1])
                        if chosen is not None:
                            run_tests, m.tests_run = tuple(chosen), len(chosen)
                    if run_tests == ():   # no test executes the line: nothing can see the mutant
                        m.status, m.reason = "survived", coverage.NO_TEST
                        how = m.reason
                    else:
                        r = slot.run(_job(area, m.path, m.source, timeouts[tests], run_tests))
                        m.seconds = r["seconds"]
                        m.status = ("timeout" if r["how"] == "timeout" else "survived" if r["code"] == 0
                                    else "killed")
                        m.killed_by = r.get("failed", "") if m.status == "killed" else ""
                        by = f" by {m.killed_by}" if m.killed_by else ""
                        of = f", {m.tests_run} tests" if m.tests_run else ""
                        how = f"{m.seconds:.1f} s{of}{by}"
                    if m.status == "survived" or args.verbose:
                        with lock:
                            print(f"   {m.status:9} {m.id} {m.path}:{m.line}: {m.description} ({how})", flush=True)
                            if args.show and m.status == "survived":
                                print("      " + m.diff().replace("\n", "\n      "), flush=True)

            threads = [threading.Thread(target=work, args=(s,)) for s in slots]
            for t in threads:
                t.start()
            try:
                for t in threads:
                    while t.is_alive():
                        t.join(0.5)
            except KeyboardInterrupt:
                stop.set()  # the mutants under test finish; nothing new starts
                for t in threads:
                    t.join()
                results += mutants
                _summary(name, mutants)
                raise
            results += mutants
            _summary(name, mutants)
    except KeyboardInterrupt:
        print("mutation: interrupted", file=sys.stderr)
    finally:
        for s in slots:
            s.close()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{k: getattr(m, k) for k in ("area", "id", "path", "line", "description", "status", "reason", "seconds",
                                      "killed_by", "tests_run")}
             for m in results], indent=1))
    if time.monotonic() > deadline:
        print(f"mutation: the budget of {args.budget:.0f} s ran out; untested mutants are listed as such")
    if broken:
        return 2
    return 1 if any(m.status == "survived" for m in results) else 0


def _summary(name: str, mutants: list[Mutant]):
    count = {s: sum(m.status == s for m in mutants) for s in
             ("killed", "timeout", "survived", "equivalent", "invalid", "untested")}
    judged = count["killed"] + count["timeout"] + count["survived"] + count["equivalent"]
    killed = count["killed"] + count["timeout"]
    score = f"{killed}/{judged - count['equivalent']}" if judged else "-"
    print(f"   {name}: score {score} killed (+{count['equivalent']} equivalent); "
          f"{count['survived']} survived, {count['timeout']} of the killed by timeout, "
          f"{count['invalid']} invalid (do not compile), {count['untested']} untested (budget)", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mutation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("areas", nargs="*", help="areas to mutate (default: all; see --list-areas)")
    p.add_argument("--budget", type=float, default=900, help="stop starting mutants after this many seconds (default 900)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="mutants tested at once (default 1; this box has 2 cores)")
    p.add_argument("--sample", type=int, default=0, help="test a random sample of N mutants per area (--seed)")
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--file", action="append", help="only mutants in files ending with this (repeatable)")
    p.add_argument("--ids", help="only the mutants whose ids are listed in this file (whitespace-separated)")
    p.add_argument("--line", help="only mutants on these lines, e.g. 120-180,200")
    p.add_argument("--tests", help="pytest arguments to judge the mutants with instead of the area's own "
                                   "(e.g. to score an older test suite)")
    p.add_argument("--all-tests", action="store_true",
                   help="run every mutant against all of its area's tests (default for areas with per-test "
                        "coverage: only the tests that execute the mutant's line)")
    p.add_argument("--list-areas", action="store_true", help="list the areas and their tests, then exit")
    p.add_argument("--list", action="store_true", help="list the mutants (id, place, mutation) without running")
    p.add_argument("--show", action="store_true", help="print each survivor's diff")
    p.add_argument("-v", "--verbose", action="store_true", help="print every mutant's outcome, not only survivors")
    p.add_argument("--json", help="write every mutant's outcome to this JSON file")
    p.add_argument("--keep", action="store_true", help="keep the scratch copies (printed) for a post-mortem")
    args = p.parse_args(argv)
    if args.jobs < 1 or args.budget <= 0:
        p.error("--jobs and --budget must be positive")
    if args.list_areas:
        for a in AREAS.values():
            print(f"{a.name:9} {a.what}")
            if a.command or a.tests:
                print(f"          files: {' '.join(a.files)}\n          tests: {' '.join(a.command or a.tests)}")
            shared = {}
            for f in a.files:
                if f in a.file_tests:
                    shared.setdefault(a.file_tests[f], []).append(f)
            for tests, files in shared.items():
                print(f"          files: {' '.join(files)}\n          tests: {' '.join(tests)}")
        return 0
    if args.list:
        try:
            for name in args.areas or AREAS:
                if name not in AREAS:
                    p.error(f"unknown area {name}")
                for m in _selected(AREAS[name], args):
                    print(f"{m.id} {name} {m.path}:{m.line}: {m.description}")
        except BrokenPipeError:  # | head
            sys.stderr.close()
        return 0
    return run(args)
