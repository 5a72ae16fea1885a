"""The user's terminal: the display in a real terminal (tmux), the Ctrl-A
escape and monitor, and the console fixes (typed-ahead input, end of input,
SIGTERM, job control, backspace)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from vmm import errors

from .conftest import DEFAULT_CONFIG, REPO, vmm_command
from .test_vga_guest import expected_vgatest_screen

WAIT = 180.0  # seconds: generous, for a loaded 2-core machine


class Tmux:
    """A detached tmux session of our own, 100x30, running `command` in bash."""

    def __init__(self, command: str, tmp_path):
        assert shutil.which("tmux"), "tmux is needed for the terminal tests (apt-get install tmux)"
        self.name = "pyos-" + uuid.uuid4().hex[:10]
        self.status_file = tmp_path / f"{self.name}.status"
        script = (f"cd {shlex.quote(str(REPO))}; {command}; echo $? > {shlex.quote(str(self.status_file))}; "
                  "stty -a; exec sleep 600")
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "100", "-y", "30",
                        "bash", "--norc", "--noprofile", "-c", script], check=True)

    def capture(self, history: bool = False) -> str:
        scroll = ["-S", "-2000"] if history else []
        text = subprocess.run(["tmux", "capture-pane", "-p", "-J", *scroll, "-t", self.name], capture_output=True,
                              text=True).stdout  # -J: wrapped lines joined (and trailing blanks kept)
        return "\n".join(line.rstrip() for line in text.split("\n"))

    def cursor(self) -> tuple[int, int]:
        out = subprocess.run(["tmux", "display", "-p", "-t", self.name, "#{cursor_y},#{cursor_x}"],
                             capture_output=True, text=True).stdout
        row, col = out.strip().split(",")
        return int(row), int(col)

    def keys(self, *keys: str, literal=False):
        subprocess.run(["tmux", "send-keys", "-t", self.name, *(["-l"] if literal else []), *keys], check=True)

    def wait_for(self, predicate, what: str, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.capture()
            if predicate(text):
                return text
            assert time.monotonic() < deadline, f"timed out waiting for {what}; the pane shows:\n{text}"
            time.sleep(0.1)

    def status(self) -> int:
        self.wait_for(lambda _: self.status_file.exists() and self.status_file.read_text().strip(),
                      "the VMM to exit")
        return int(self.status_file.read_text())

    def exits_with(self, expected: int) -> str:
        """Wait for the VMM to exit; check its status; the pane's whole text
        (with history: `stty -a` after it may have scrolled the guest's last
        lines out of the visible 30 rows)."""
        status = self.status()
        text = self.capture(history=True)
        assert status == expected, f"the VMM exited with {status}, not {expected}; the pane shows:\n{text}"
        return text

    def vmm_pid(self) -> int:
        """The VMM: the python child of the pane's shell."""
        pane = int(subprocess.run(["tmux", "display", "-p", "-t", self.name, "#{pane_pid}"],
                                  capture_output=True, text=True).stdout)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for child in _children(pane):
                if "vmm.cli" in open(f"/proc/{child}/cmdline").read():
                    return child
            time.sleep(0.05)
        raise AssertionError("the VMM process did not start")

    def close(self):
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return found


def vmm_line(*args) -> str:
    return " ".join(shlex.quote(str(a)) for a in vmm_command("--config", DEFAULT_CONFIG, *args))


@pytest.fixture
def tmux_session(tmp_path):
    sessions = []

    def start(command):
        session = Tmux(command, tmp_path)
        sessions.append(session)
        return session

    yield start
    for s in sessions:
        s.close()


def terminal_modes(text: str) -> set[str]:
    """The lflag words `stty -a` printed after the VMM exited."""
    words = set(text.split())
    return {w for w in ("echo", "-echo", "icanon", "-icanon", "isig", "-isig") if w in words}


def test_terminal_display_shows_the_guest_screen(tmux_session):
    t = tmux_session(vmm_line("--display", "terminal", "--cmdline", "-- vgatest"))
    pane = t.wait_for(lambda s: s.splitlines()[24:25] == ["done"], "vgatest's screen")
    text, _ = expected_vgatest_screen()
    assert pane.splitlines()[:25] == [line.rstrip() for line in text]
    t.wait_for(lambda s: t.cursor() == (24, 4), "the cursor after 'done'")
    # Ctrl-A x stops the VM; the terminal gets its screen and modes back.
    t.keys("C-a", "x")
    t.exits_with(130)
    pane = t.wait_for(lambda s: "VM stopped: quit (Ctrl-A x); exit status 130" in s and "speed" in s, "the exit message")
    assert "line 06" not in pane  # the alternate screen is gone
    assert terminal_modes(pane) == {"echo", "icanon", "isig"}


def test_monitor_prompt_screendump_and_quit(tmux_session, tmp_path):
    shot = tmp_path / "mon.png"
    t = tmux_session(vmm_line("--display", "terminal", "--cmdline", "-- vgatest"))
    t.wait_for(lambda s: s.splitlines()[24:25] == ["done"], "vgatest's screen")
    t.keys("C-a", "c")
    t.wait_for(lambda s: "(pyos)" in s, "the monitor prompt")
    t.keys(f"screendump {shot}", "Enter")
    t.wait_for(lambda s: f"saved {shot}" in s, "the screendump reply")
    t.keys("screen", "Enter")
    t.wait_for(lambda s: "cursor: row 24, column 4" in s, "the screen command")
    t.keys("bogus", "Enter")
    t.wait_for(lambda s: "unknown command 'bogus'" in s, "an error for a bad command")
    t.keys("C-a", "c")  # back to the guest: a full repaint
    t.wait_for(lambda s: s.splitlines()[:1] == ["line 06"] and "(pyos)" not in s, "the guest screen again")
    t.keys("C-a", "c")
    t.wait_for(lambda s: "(pyos)" in s, "the monitor prompt again")
    t.keys("quit", "Enter")
    t.exits_with(130)
    from PIL import Image
    assert Image.open(shot).size == (720, 400)


def test_serial_console_is_raw_ctrl_c_goes_to_the_guest(tmux_session):
    t = tmux_session(vmm_line("--cmdline", "echo=1"))
    t.wait_for(lambda s: "echo: type" in s, "the echo prompt")
    t.keys("C-c")  # not a signal: byte 3 reaches the guest, which echoes it and goes on
    t.keys("hi", literal=True)
    t.wait_for(lambda s: "hi" in s.split("echo: type", 1)[1], "the guest's echo after Ctrl-C")
    t.keys("C-a", "C-a")  # a literal Ctrl-A reaches the guest too; the VM still runs
    t.keys("C-d")
    pane = t.exits_with(0)
    assert "^C\nhi^A\necho: Ctrl-D" in pane, pane


def test_backspace_erases(tmux_session):
    t = tmux_session(vmm_line("--cmdline", "echo=1"))
    t.wait_for(lambda s: "echo: type" in s, "the echo prompt")
    t.keys("abc", literal=True)
    t.keys("BSpace")
    t.keys("d", literal=True)
    t.keys("Enter")
    t.keys("C-d")
    lines = t.exits_with(0).splitlines()
    start = next(i for i, line in enumerate(lines) if "(Ctrl-D powers off)" in line)  # the prompt's end
    assert lines[start + 1].rstrip() == "abd"


def test_sigterm_restores_the_terminal(tmux_session):
    t = tmux_session(vmm_line("--cmdline", "echo=1"))
    t.wait_for(lambda s: "echo: type" in s, "the echo prompt")
    os.kill(t.vmm_pid(), signal.SIGTERM)
    t.exits_with(143)
    pane = t.wait_for(lambda s: "speed" in s, "stty after the VMM")
    assert "terminated (SIGTERM)" in pane
    assert terminal_modes(pane) == {"echo", "icanon", "isig"}


def test_job_control_stop_and_fg_returns_to_raw_mode(tmp_path):
    """kill -TSTP (what Ctrl-Z sends in a cooked terminal), then fg: the VMM
    put the terminal back while stopped and is raw again after fg, so Ctrl-D
    reaches the guest as a byte instead of being eaten by the line discipline."""
    assert shutil.which("tmux")
    name = "pyos-" + uuid.uuid4().hex[:10]
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "100", "-y", "30",
                    "bash", "--norc", "--noprofile", "-i"], check=True)
    t = Tmux.__new__(Tmux)
    t.name, t.status_file = name, tmp_path / "status"
    try:
        t.keys(f"PS1='READY> '; cd {shlex.quote(str(REPO))}", "Enter")
        t.keys(vmm_line("--cmdline", "echo=1"), "Enter")
        t.wait_for(lambda s: "echo: type" in s, "the echo prompt")
        pid = t.vmm_pid()
        os.kill(pid, signal.SIGTSTP)
        t.wait_for(lambda s: "Stopped" in s, "the shell's job-stopped report")
        t.keys("stty -a | grep -o -- ' -\\?icanon'", "Enter")
        t.wait_for(lambda s: " icanon" in s.split("Stopped", 1)[1], "cooked mode while stopped")
        t.keys("fg", "Enter")
        t.wait_for(lambda s: "echo=1" in s.split("Stopped", 1)[1] or "vmm.cli" in s.split("Stopped", 1)[1],
                   "fg")
        t.keys("q", literal=True)
        t.keys("C-d")
        t.wait_for(lambda s: "echo: Ctrl-D" in s, "Ctrl-D reaching the guest after fg")
        t.wait_for(lambda s: "powering off" in s and s.split("powering off", 1)[1].rstrip().endswith("READY>"),
                   "the shell's prompt after the VMM")
        t.keys("echo STATUS=$?", "Enter")
        t.wait_for(lambda s: "STATUS=0" in s, "the VMM's exit status 0")
    finally:
        t.close()


def test_typed_ahead_input_is_not_lost():
    proc = subprocess.run(vmm_command("--config", DEFAULT_CONFIG, "--cmdline", "echo=1"),
                          input=b"abcdef\n\x04", capture_output=True, timeout=WAIT, cwd=REPO)
    out = proc.stdout.decode().replace("\r\n", "\n")
    assert proc.returncode == 0, proc.stderr
    assert "\nabcdef\n" in out


def test_end_of_input_ends_the_echo_console():
    proc = subprocess.run(vmm_command("--config", DEFAULT_CONFIG, "--cmdline", "echo=1"),
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=WAIT, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert b"echo: Ctrl-D" in proc.stdout


def test_display_config_is_validated(tmp_path):
    from .conftest import boot, write_config
    cfg = write_config(tmp_path, '[display]\nmode = "curses"\n')
    result = boot(config=cfg)
    assert result.status == errors.EXIT_CONFIG
    assert "[display] mode = 'curses'" in result.stderr and '"terminal"' in result.stderr
    result = boot("--display", "terminal", "--cmdline", "exit=0")  # stdout is a pipe here
    assert result.status == errors.EXIT_CONFIG
    assert "needs a terminal" in result.stderr and "Traceback" not in result.stderr


def test_png_display_keeps_a_file_updated(tmp_path):
    from .conftest import boot, write_config
    png = tmp_path / "live.png"
    cfg = write_config(tmp_path, f'[display]\nmode = "png"\npng = "{png}"\n')
    result = boot("--cmdline", "exit=0", config=cfg)
    assert result.status == 0, result.stderr
    from PIL import Image
    image = Image.open(png)
    assert image.size == (720, 400)
    assert image.convert("L").getextrema()[1] > 0  # the boot messages are on it


def test_screenshot_at_exit_rejects_bad_targets(tmp_path):
    from .conftest import boot
    result = boot("--screenshot-at-exit", tmp_path / "x.jpg", "--cmdline", "exit=0")
    assert result.status == errors.EXIT_CONFIG and "PNG" in result.stderr
    result = boot("--screenshot-at-exit", tmp_path / "no" / "x.png", "--cmdline", "exit=0")
    assert result.status == errors.EXIT_CONFIG and "does not exist" in result.stderr


def test_keys_typed_in_the_terminal_display_reach_the_guest_keyboard(tmux_session):
    """--display terminal: typed keys become PS/2 key presses (IRQ 1), not
    serial bytes; the guest's echo draws them on the VGA screen we show."""
    t = tmux_session(vmm_line("--display", "terminal", "--stats", "--cmdline", "echo=1"))
    t.wait_for(lambda s: "echo: type" in s, "the echo prompt on the VGA screen")
    t.keys("Hello, World!", literal=True)
    t.wait_for(lambda s: "Hello, World!" in s, "the typed text echoed by the guest")
    t.keys("C-d")  # ctrl + d on the keyboard: the guest's driver makes it EOT
    t.exits_with(0)
    t.wait_for(lambda s: "speed" in s, "the VMM's exit")
    pane = t.capture(history=True)
    edges = pane[pane.index("pyos_irq_edges_total"):].split("\n", 1)[0]  # --stats, by metric name
    assert "line=1 " in edges and "line=4" not in edges  # keyboard interrupts, no serial input
