"""One job slot: a private copy of the tree, mutants tested in it one at a time.

Runs as `python -m mutation.worker COPY`, reading one JSON job a line on
stdin and answering one JSON result a line on stdout. For pytest jobs it
forks per mutant from a process that has already imported pytest and the
heavy third-party packages (never the project's own modules), which saves
about a second per mutant over a fresh interpreter. The mutated file is
written into the copy, and the original put back before the answer.
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


def _run_pytest(copy: Path, args: list[str], timeout: float) -> tuple[str, int, str]:
    """(how, exit code, the first failing test's id or "")."""
    first = copy / ".mutation-first-failure"
    first.unlink(missing_ok=True)
    pid = os.fork()
    if pid == 0:  # child: the tests, quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.setpgid(0, 0)
            import pytest
            # --basetemp: pytest empties it at the start of each run; its default, a new
            # /tmp/pytest-of-USER/pytest-N per run, is never cleaned up after a child that
            # ends with os._exit (its lock file stays), and a filesystem test's images
            # take about a GiB a run.
            code = pytest.main([*args, "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-o", "addopts=",
                                "--basetemp", str(copy / ".pytest-tmp")], plugins=[_FirstFailure(first)])
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
            if job["kind"] == "pytest":  # "tests/test_pic8259*.py": every test file of that device
                args = [a for arg in job["args"] for a in (sorted(glob.glob(arg)) if "*" in arg else [arg])]
                how, code, failed = _run_pytest(copy, args, job["timeout"])
            else:
                (how, code), failed = _run_command(copy, job["args"], job["timeout"]), ""
        finally:
            if path:
                path.write_bytes(original)
        print(json.dumps({"how": how, "code": code, "seconds": round(time.monotonic() - start, 2), "failed": failed}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
