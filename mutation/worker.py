"""One job slot: a private copy of the tree, mutants tested in it one at a time.

Runs as `python -m mutation.worker COPY`, reading one JSON job a line on
stdin and answering one JSON result a line on stdout. For pytest jobs it
forks per mutant from a process that has already imported pytest and the
heavy third-party packages (never the project's own modules), which saves
about a second per mutant over a fresh interpreter. The mutated file is
written into the copy, and the original put back before the answer.
A job may add to the tests' environment (`env`: the per-test coverage runs
of mutation/coverage.py) or only list the tests (`kind` "collect").
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _preload():
    import pytest  # noqa: F401
    for name in ("cffi", "prometheus_client", "hypothesis", "PIL.Image", "elftools.elf.elffile", "pluggy"):
        try:
            __import__(name)
        except ImportError:
            pass


class _FirstFailure:
    """A pytest plugin: writes the id of the first test that fails (the one -x stops at) to a file."""

    def __init__(self, path: Path):
        self.path = path

    def pytest_runtest_logreport(self, report):
        if report.failed and not self.path.exists():
            self.path.write_text(report.nodeid)


class _Collected:
    """A pytest plugin: writes the node ids it collected, in run order, one a line (a `collect` job)."""

    def __init__(self, path: Path):
        self.path = path

    def pytest_collection_finish(self, session):
        self.path.write_text("".join(item.nodeid + "\n" for item in session.items))


def _run_pytest(copy: Path, args: list[str], timeout: float, env: dict | None = None,
                collect: Path | None = None) -> tuple[str, int, str]:
    """(how, exit code, the first failing test's id or ""). `env` is added to the run's
    environment (e.g. a coverage build); with `collect`, the tests are only listed there."""
    first = copy / ".mutation-first-failure"
    for stale in (first, collect):
        if stale:
            stale.unlink(missing_ok=True)
    pid = os.fork()
    if pid == 0:  # child: the tests, quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.setpgid(0, 0)
            os.environ.update(env or {})
            import pytest
            # --basetemp: pytest empties it at the start of each run; its default, a new
            # /tmp/pytest-of-USER/pytest-N per run, is never cleaned up after a child that
            # ends with os._exit (its lock file stays), and a filesystem test's images
            # take about a GiB a run.
            code = pytest.main([*args, *(["--collect-only"] if collect else []), "-x", "-q", "-p", "no:cacheprovider",
                                "-p", "no:randomly", "-o", "addopts=", "--basetemp", str(copy / ".pytest-tmp")],
                               plugins=[_Collected(collect) if collect else _FirstFailure(first)])
            os._exit(int(code))
        except BaseException:
            os._exit(99)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            failed = first.read_text() if first.exists() else ""
            return "exit", os.waitstatus_to_exitcode(status), failed
        if time.monotonic() > deadline:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    pass
                time.sleep(0.5)
            os.waitpid(pid, 0)
            return "timeout", -1, ""
        time.sleep(0.02)


def _run_command(copy: Path, argv: list[str], timeout: float) -> tuple[str, int]:
    try:
        proc = subprocess.run(argv, cwd=copy, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout, start_new_session=True)
        return "exit", proc.returncode
    except subprocess.TimeoutExpired:
        return "timeout", -1


def main(copy: str) -> int:
    copy = Path(copy)
    os.chdir(copy)
    sys.path[:0] = [str(copy)]  # a checkout: it uses its own kernel and plugins (vmm/paths.py)
    _preload()
    for line in sys.stdin:
        job = json.loads(line)
        path = copy / job["path"] if job.get("path") else None
        original = path.read_bytes() if path else None
        start = time.monotonic()
        try:
            if path:
                path.write_text(job["source"])
            listed = None
            if job["kind"] in ("pytest", "collect"):  # "tests/test_pic8259*.py": every test file of that device
                args = [a for arg in job["args"] for a in (sorted(glob.glob(arg)) if "*" in arg else [arg])]
                out = copy / ".mutation-collected" if job["kind"] == "collect" else None
                how, code, failed = _run_pytest(copy, args, job["timeout"], job.get("env"), out)
                if out:
                    listed = out.read_text().split("\n")[:-1] if out.exists() else []
            else:
                (how, code), failed = _run_command(copy, job["args"], job["timeout"]), ""
        finally:
            if path:
                path.write_bytes(original)
        answer = {"how": how, "code": code, "seconds": round(time.monotonic() - start, 2), "failed": failed}
        if listed is not None:
            answer["tests"] = listed
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
