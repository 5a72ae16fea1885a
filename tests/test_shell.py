"""The shell and the Unix tools, in VMs booted by pyos-vmm: scripted sessions
typed into the serial console, each command sent after the previous prompt
came back, and the transcript checked; files the guest wrote are read back
from its disk image with the host's debugfs after power-off.

Waits are on the guest's output, with generous timeouts (kernel mode is
emulated on PVM hosts and a loaded 2-core machine is slow); none races a
fixed sleep.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from .conftest import DEFAULT_CONFIG, REPO, vmm_command, write_config

WAIT = 300.0        # seconds for any one step
PROMPT = re.compile(r"pyos:[^\s$]*\$ ")
TOOLS = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]

# The test disk's files: what the tools are checked against.
FRUIT = "apple\nbanana\ncherry\ndate\nelderberry\nfig\ngrape\n"
FILES = {
    "data/fruit.txt": FRUIT,
    "data/numbers.txt": "".join(f"line {i}\n" for i in range(1, 31)),
    "scripts/count.sh": "# a script on the image\necho \"args: $# first: $1\"\n"
                        "for_each=no\ncat /mnt/data/fruit.txt | grep an | wc -l\nexit 7\n",
    "scripts/fail.sh": "echo before\nfalse && echo not-printed\nfalse || echo recovered\n"
                       "nosuchprogram\necho \"status $?\"\n",
}


def tool(name: str) -> str:
    path = shutil.which(name, path=os.pathsep.join(TOOLS))
    assert path, f"{name} is needed (apt-get install e2fsprogs)"
    return path


def config_with_data_disk(tmp_path: Path, disk: Path) -> Path:
    """The default machine (its root disk, a snapshot, with the programs) plus
    `disk`, writable, as the primary slave: the kernel mounts it on /mnt."""
    text = DEFAULT_CONFIG.read_text()
    rootfs = 'from = "rootfs"'
    assert rootfs in text, "configs/default.toml's root disk is no longer made from rootfs/"
    text = text.replace(rootfs, f'from = "{DEFAULT_CONFIG.parent / "rootfs"}"')
    return write_config(tmp_path, f'{text}\n[[disk]]\npath = "{disk}"\n')


class Session:
    """pyos-vmm booted with `cmdline`, its serial console on our pipes; with
    `disk`, that image is mounted on /mnt."""

    def __init__(self, tmp_path: Path, cmdline: str = "-- sh", disk: Path | None = None):
        config = DEFAULT_CONFIG
        if disk:
            config = config_with_data_disk(tmp_path, disk)
            cmdline = f"mount=hdb:/mnt {cmdline}"
        self.proc = subprocess.Popen(vmm_command("--config", config, "--cmdline", cmdline), cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._out = bytearray()
        self._err = bytearray()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._pump, args=(s, b), daemon=True)
                         for s, b in ((self.proc.stdout, self._out), (self.proc.stderr, self._err))]
        for t in self._threads:
            t.start()
        self.mark = 0           # where the output not yet looked at starts

    def _pump(self, stream, buf):
        while chunk := stream.read1(4096):
            with self._lock:
                buf.extend(chunk)

    @property
    def text(self) -> str:
        with self._lock:
            return self._out.decode("utf-8", "replace").replace("\r\n", "\n")

    @property
    def errors(self) -> str:
        with self._lock:
            return self._err.decode("utf-8", "replace")

    def wait_for(self, pattern: re.Pattern | str, what: str, timeout: float = WAIT) -> re.Match:
        """The first match of pattern in the output after self.mark; moves the mark past it."""
        if isinstance(pattern, str):
            pattern = re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout
        while True:
            m = pattern.search(self.text, self.mark)
            if m:
                self.mark = m.end()
                return m
            if self.proc.poll() is not None:
                time.sleep(0.2)   # the pumps drain what is left
                m = pattern.search(self.text, self.mark)
                if m:
                    self.mark = m.end()
                    return m
                raise AssertionError(f"the VM ended (status {self.proc.returncode}) before {what}:\n"
                                     f"{self.text[-4000:]}\n{self.errors[-2000:]}")
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{self.text[-4000:]}"
            time.sleep(0.05)

    def send(self, data: str):
        self.proc.stdin.write(data.encode())
        self.proc.stdin.flush()

    def prompt(self):
        self.wait_for(PROMPT, "the shell's prompt")

    def run(self, command: str, timeout: float = WAIT) -> str:
        """Type command at the prompt; what it printed before the next prompt (the
        tty's echo of the command line, if any, left out)."""
        start = self.mark
        self.send(command + "\n")
        m = self.wait_for(PROMPT, f"the prompt after {command!r}", timeout)
        out = self.text[start:m.start()]
        if out.startswith(command + "\n"):
            out = out[len(command) + 1:]
        return out

    def finish(self, status: int = 0, timeout: float = WAIT) -> int:
        """Leave the shell with `exit status` (init then powers off); the VMM's exit status."""
        self.send(f"exit {status}\n")
        return self.close(timeout)

    def close(self, timeout: float = WAIT) -> int:
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the VM did not power off:\n{self.text[-3000:]}")
        for t in self._threads:
            t.join(10)
        return status


def make_disk(tmp_path: Path, files: dict[str, str] = FILES) -> Path:
    """A writable ext2 disk (not a snapshot) holding `files`."""
    src = tmp_path / "files"
    src.mkdir()
    for name, content in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(content)
    from vmm.mkimage import make_image
    return make_image(tmp_path / "data.img", "ext2", 8, src)


def disk_file(image: Path, path: str) -> str:
    r = subprocess.run([tool("debugfs"), "-R", f"cat {path}", str(image)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def disk_ls(image: Path, path: str) -> list[str]:
    r = subprocess.run([tool("debugfs"), "-R", f"ls -p {path}", str(image)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    names = [line.split("/")[5] for line in r.stdout.splitlines() if line.count("/") >= 6]
    return sorted(n for n in names if n not in (".", ".."))


def fsck_clean(image: Path):
    r = subprocess.run([tool("e2fsck"), "-fn", str(image)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def session(tmp_path):
    sessions = []

    def start(*args, **kw):
        s = Session(tmp_path, *args, **kw)
        sessions.append(s)
        s.prompt()
        return s

    yield start
    for s in sessions:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").split("\n")] if text.strip() else []


def test_pipelines_and_redirections_reach_the_disk(session, tmp_path):
    disk = make_disk(tmp_path)
    sh = session(disk=disk)
    # A three-stage pipeline, and a longer one.
    assert lines(sh.run("cat /mnt/data/fruit.txt | grep e | wc -l")) == ["5"]
    assert lines(sh.run("cat /mnt/data/numbers.txt | grep 2 | grep -v 20 | head -n 3 | tail -n 2")) == \
        ["line 12", "line 21"]
    # > creates, >> appends, < reads, 2> takes the errors only.
    assert sh.run("echo first > /mnt/out.txt") == ""
    assert sh.run("echo second >> /mnt/out.txt") == ""
    assert lines(sh.run("wc -l < /mnt/out.txt")) == ["2"]
    assert sh.run("cat /mnt/no/such/file 2> /mnt/err.txt") == ""
    assert lines(sh.run("cat /mnt/err.txt")) == ["cat: /mnt/no/such/file: No such file or directory"]
    assert lines(sh.run("grep -c an < /mnt/data/fruit.txt > /mnt/count.txt; cat /mnt/count.txt")) == ["1"]
    # 2>&1 into a pipe: the error message is counted.
    assert lines(sh.run("cat /mnt/nothing 2>&1 | wc -l")) == ["1"]
    assert sh.finish() == 0
    assert disk_file(disk, "/out.txt") == "first\nsecond\n"
    assert disk_file(disk, "/err.txt") == "cat: /mnt/no/such/file: No such file or directory\n"
    assert disk_file(disk, "/count.txt") == "1\n"
    fsck_clean(disk)


def test_exit_statuses_and_or_and_variables(session):
    sh = session()
    assert lines(sh.run("true; echo $?")) == ["0"]
    assert lines(sh.run("false; echo $?")) == ["1"]
    assert lines(sh.run("true && echo yes || echo no")) == ["yes"]
    assert lines(sh.run("false && echo yes || echo no")) == ["no"]
    assert lines(sh.run("false || false || echo third")) == ["third"]
    assert lines(sh.run("true || echo skipped; echo after")) == ["after"]
    assert lines(sh.run("nosuchcommand; echo $?")) == ["sh: nosuchcommand: command not found", "127"]
    assert lines(sh.run("grep -q zzz /etc/motd; echo $?")) == ["1"]
    # Variables: set, expanded, exported to children, unset.
    assert lines(sh.run("GREETING='hello   there'; echo $GREETING; echo \"$GREETING\"")) == \
        ["hello there", "hello   there"]
    assert lines(sh.run("export WHO=pyos; sh -c 'echo child sees $WHO'")) == ["child sees pyos"]
    assert lines(sh.run("LOCAL=1; sh -c 'echo [$LOCAL]'")) == ["[]"]
    assert lines(sh.run("unset GREETING; echo [${GREETING}]")) == ["[]"]
    assert lines(sh.run("sh -c 'exit 42'; echo $?")) == ["42"]
    assert sh.finish() == 0


def test_quoting(session):
    sh = session()
    assert lines(sh.run("echo 'single $HOME \"quoted\"'")) == ["single $HOME \"quoted\""]
    assert lines(sh.run('echo "double $HOME \\"escaped\\" \\$HOME"')) == ['double / "escaped" $HOME']
    assert lines(sh.run("echo back\\ slash\\;semi \\| bar")) == ["back slash;semi | bar"]
    assert lines(sh.run("echo 'a|b' \"c;d\" 'e&&f' '>g'")) == ["a|b c;d e&&f >g"]
    assert lines(sh.run("echo '' x \"\" y | wc -w")) == ["2"]
    assert sh.run("echo 'one\ntwo'").endswith("one\ntwo\n")    # a quote open across lines
    assert sh.run("echo #comment") == "\n"
    assert lines(sh.run("echo a#b")) == ["a#b"]
    assert sh.finish() == 0


def test_background_jobs_jobs_and_wait(session):
    sh = session()
    # wait with no argument waits for every job; the table is empty afterwards.
    out = sh.run("sleep 2 & sleep 3 & wait; echo $?; jobs")
    assert re.fullmatch(r"\[1\] \d+\n\[2\] \d+\n0\n", out), out
    # A job is listed while it runs (jobs comes right after it on the same line).
    out = sh.run("sleep 10 & jobs")
    m = re.fullmatch(r"\[1\] (\d+)\n\[1\]  Running +sleep 10 &\n", out)
    assert m, out
    assert lines(sh.run("echo $!")) == [m[1]]
    out = sh.run("sleep 1000 & jobs")       # never ends during the test: nothing races it
    assert re.search(r"^\[2\] \d+\n", out) and re.search(r"^\[2\]  Running +sleep 1000 &$", out, re.M), out
    assert lines(sh.run("wait %1; echo waited $?")) == ["waited 0"]
    assert lines(sh.run("jobs")) == ["[2]  Running  sleep 1000 &"]
    # wait PID gives that job's status; a finished job is announced before a later prompt.
    assert lines(sh.run("sh -c 'exit 3' & wait $!; echo $?"))[-1] == "3"
    out = sh.run("false &")
    # The job may already be done when the next prompt is printed (then the
    # announcement comes with this command's output) or later.
    assert re.fullmatch(r"\[3\] \d+\n(\[3\]  Done\(1\)  false &\n)?", out), out
    seen, deadline = out, time.monotonic() + WAIT
    while "Done" not in seen:          # each empty line is one more prompt; no fixed sleep
        assert time.monotonic() < deadline, "the finished job was never announced"
        seen = sh.run("")
    assert lines(seen)[-1] == "[3]  Done(1)  false &" and seen.count("Done") == 1, seen
    assert lines(sh.run("jobs")) == ["[2]  Running  sleep 1000 &"]
    assert sh.finish() == 0            # init powers off with the job still sleeping


def test_scripts_from_the_image(session, tmp_path):
    disk = make_disk(tmp_path)
    sh = session(disk=disk)
    out = sh.run("sh /mnt/scripts/count.sh one two; echo status $?")
    assert lines(out) == ["args: 2 first: one", "1", "status 7"]
    out = sh.run("sh /mnt/scripts/fail.sh")
    assert lines(out) == ["before", "recovered", "sh: nosuchprogram: command not found", "status 127"]
    assert lines(sh.run("sh /mnt/scripts/missing.sh; echo $?")) == \
        ["sh: /mnt/scripts/missing.sh: No such file or directory", "127"]
    assert lines(sh.run("echo 'echo written by the shell; exit 5' > /mnt/s.sh; sh /mnt/s.sh; echo $?")) == \
        ["written by the shell", "5"]
    assert sh.finish() == 0


def test_file_tools(session, tmp_path):
    disk = make_disk(tmp_path)
    sh = session(disk=disk)
    assert sh.run("ls /mnt/data").split() == ["fruit.txt", "numbers.txt"]
    out = lines(sh.run("ls -l /mnt/data"))
    assert len(out) == 2
    assert re.fullmatch(rf"-rw-r--r-- +1 +{len(FRUIT)} \d{{4}}-\d\d-\d\d \d\d:\d\d fruit.txt", out[0]), out
    assert re.fullmatch(r"-rw-r--r-- +1 +\d+ .* numbers.txt", out[1]), out
    assert lines(sh.run("cat /mnt/data/fruit.txt")) == FRUIT.split()
    assert lines(sh.run("wc /mnt/data/fruit.txt")) == [f"{7:7d} {7:7d} {len(FRUIT):7d} /mnt/data/fruit.txt"]
    assert lines(sh.run("grep -n rr /mnt/data/fruit.txt")) == ["3:cherry", "5:elderberry"]
    assert lines(sh.run("grep -c -v a /mnt/data/fruit.txt")) == ["3"]
    assert lines(sh.run("head -n 2 /mnt/data/fruit.txt")) == ["apple", "banana"]
    assert lines(sh.run("tail -n 2 /mnt/data/fruit.txt")) == ["fig", "grape"]
    assert lines(sh.run("head -3 /mnt/data/numbers.txt | tail -1")) == ["line 3"]
    assert sh.run("mkdir /mnt/d1 /mnt/d1/sub && cp /mnt/data/fruit.txt /mnt/d1/sub/copy.txt && echo ok") == "ok\n"
    assert sh.run("cp /mnt/data/fruit.txt /mnt/data/numbers.txt /mnt/d1 && mv /mnt/d1/numbers.txt /mnt/d1/n.txt") == ""
    assert sh.run("ls /mnt/d1").split() == ["fruit.txt", "n.txt", "sub"]
    assert sh.run("touch /mnt/d1/empty; rm /mnt/d1/fruit.txt; rmdir /mnt/d1/sub") == \
        "rmdir: /mnt/d1/sub: Directory not empty\n"
    assert lines(sh.run("mkdir -p /mnt/d2/a/b; mv /mnt/d1/sub /mnt/d2/a/b; ls /mnt/d2/a/b/sub")) == ["copy.txt"]
    assert lines(sh.run("rm /mnt/d2; echo $?")) == ["rm: /mnt/d2: is a directory (rm -r removes directories)", "1"]
    assert sh.run("mkdir /mnt/gone; touch /mnt/gone/x; rm -r /mnt/gone; ls /mnt/gone") == \
        "ls: /mnt/gone: No such file or directory\n"
    status = sh.finish(3)
    assert disk_ls(disk, "/d1") == ["empty", "n.txt"]
    assert disk_file(disk, "/d1/n.txt") == FILES["data/numbers.txt"]
    assert disk_file(disk, "/d1/empty") == ""
    assert disk_file(disk, "/d2/a/b/sub/copy.txt") == FRUIT
    assert "gone" not in disk_ls(disk, "/")
    assert status == 3      # exit 3: the shell's, init's, the VMM's
    fsck_clean(disk)


def test_ps_lists_itself_and_the_shell(session):
    sh = session()
    shell_pid = lines(sh.run("echo $$"))[0]
    out = lines(sh.run("ps"))
    assert out[0].split() == ["PID", "PPID", "PGID", "STATE", "PRI", "TICKS", "PAGES", "NAME"]
    rows = [line.split() for line in out[1:]]
    by_name = {}
    for r in rows:
        by_name.setdefault(r[7], []).append(r)
    (ps,) = by_name["ps"]
    assert ps[1] == shell_pid and ps[3] == "running" and int(ps[6]) > 0
    assert ps[2] == ps[0]                      # a job of its own: its own process group
    (shell,) = [r for r in by_name["sh"] if r[0] == shell_pid]
    assert shell[1] == "1" and int(shell[4]) == 20 and shell[2] == shell_pid
    assert by_name["init"][0][0] == "1"
    # The other tools that read the kernel's figures.
    assert re.fullmatch(r"up \d+:\d\d:\d\d\.\d\d \(\d+ ticks at 100 Hz\), \d+ processes, \d+ context switches, "
                        r"scheduler rr\n", sh.run("uptime"))
    free = sh.run("free")
    assert re.search(r"^Mem: +\d+ +\d+ +\d+  frames: \d+ of \d+ free, allocator 'buddy'$", free, re.M), free
    assert re.search(r"^Heap: +\d+ +\d+ +-  heap 'slab': \d+ bytes in use", free, re.M), free
    assert sh.finish() == 0


def test_interactive_boot_runs_etc_rc_then_a_shell(session):
    # What pyos-vmm adds in a terminal, given here by hand since stdin is a pipe.
    sh = session(cmdline="interactive=1")
    assert "Welcome to pyos." in sh.text and re.search(r"^up \d+:\d\d:\d\d", sh.text, re.M), sh.text
    assert lines(sh.run("cat /etc/rc | grep -c uptime")) == ["1"]
    assert sh.finish(4) == 4
    assert "init: the shell exited with status 4; powering off" in sh.text


def test_default_config_in_a_terminal_boots_to_a_shell_prompt(tmp_path):
    from .test_console import Tmux, vmm_line
    t = Tmux(vmm_line(), tmp_path)
    try:
        t.wait_for(lambda s: "Welcome to pyos." in s and re.search(r"^pyos:/\$$", s, re.M), "the shell prompt")
        t.keys("echo 1234567890 | wc -c", "Enter")
        t.wait_for(lambda s: re.search(r"(^|\$ )11$", s, re.M), "wc's answer")
        t.keys("exit 5", "Enter")
        assert t.status() == 5
        assert "interactive=1" in t.capture(history=True)
    finally:
        t.close()


def test_ctrl_c_interrupts_the_foreground_job_not_the_shell(session):
    sh = session()
    sh.send("echo started; sleep 100\n")
    sh.wait_for("started\n", "the job to start")
    # The first ^C may arrive while the shell still owns the terminal (it ignores
    # SIGINT): type it again until the prompt is back, a poll rather than a sleep.
    deadline = time.monotonic() + WAIT
    while True:
        sh.send("\x03")
        try:
            sh.wait_for(PROMPT, "the prompt after ^C", timeout=5)
            break
        except AssertionError:
            assert time.monotonic() < deadline and sh.proc.poll() is None, sh.text[-3000:]
    assert lines(sh.run("echo $?")) == ["130"]           # 128 + SIGINT
    assert lines(sh.run("echo the shell is alive")) == ["the shell is alive"]
    # ^C at the prompt throws the half-typed line away (the shell ignores SIGINT).
    sh.send("echo never run\x03")
    out = sh.run("echo after")
    assert out.endswith("after\n") and "never run\n" not in out and "never runecho" not in out, out
    # kill: a background job by pid, with the default SIGTERM and with -KILL.
    out = sh.run("sleep 100 &")
    pid = re.fullmatch(r"\[1\] (\d+)\n", out)[1]
    assert lines(sh.run(f"kill {pid}; wait {pid}; echo $?")) == ["143"]
    out = sh.run("sleep 100 &")
    pid = re.fullmatch(r"\[1\] (\d+)\n", out)[1]
    assert lines(sh.run(f"kill -KILL {pid}; wait %1; echo $?")) == ["137"]
    assert lines(sh.run("kill -s NOSUCH 1; echo $?")) == ["kill: unknown signal NOSUCH; kill -l lists them", "2"]
    assert "15 TERM" in sh.run("kill -l")
    assert sh.finish() == 0
