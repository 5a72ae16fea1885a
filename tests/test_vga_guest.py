"""The guest's VGA console, booted: what `vgatest` draws through the kernel's
driver (guest_kernel/drivers/vga.c) appears exactly in query_screen and in
the PNG screendump."""

from __future__ import annotations

import gzip
import threading
import time

import pytest

from vmm import config as config_mod
from vmm.console.screen import query_screen
from vmm.console.screenshot import screendump
from vmm.machine import Machine

DEFAULT = 0x07
CGA = [(0, 0, 0), (0, 0, 0xAA), (0, 0xAA, 0), (0, 0xAA, 0xAA), (0xAA, 0, 0), (0xAA, 0, 0xAA), (0xAA, 0x55, 0),
       (0xAA, 0xAA, 0xAA), (0x55, 0x55, 0x55), (0x55, 0x55, 0xFF), (0x55, 0xFF, 0x55), (0x55, 0xFF, 0xFF),
       (0xFF, 0x55, 0x55), (0xFF, 0x55, 0xFF), (0xFF, 0xFF, 0x55), (0xFF, 0xFF, 0xFF)]


def run_until_screen_shows(kernel_elf, cmdline, ready, timeout=120.0, actions=()):
    """Boot in-process; poll query_screen from a thread until ready(screen),
    then stop the VM. Returns (screen, machine) with the machine still open."""
    cfg = config_mod.from_dict({"kernel": {"cmdline": cmdline},
                                "serial": {"output": "none", "input": "none"}})
    machine = Machine(cfg, kernel_elf)
    seen = {}

    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = query_screen(machine)
            if ready(screen):
                seen["screen"] = screen
                machine.request_stop(0)
                return
            time.sleep(0.05)  # polling a condition, not racing: the deadline is generous
        machine.request_stop(99)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    status = machine.run()
    watcher.join()
    return status, seen.get("screen"), machine


def expected_vgatest_screen():
    """What vgatest.c draws, worked out by hand from its escapes."""
    text = [f"line {i:02d}" for i in range(6, 30)] + [""]
    attrs = [[DEFAULT] * 80 for _ in range(25)]
    rows = [list(t.ljust(80)) for t in text]

    def put(row, col, s, attr=DEFAULT):
        for i, ch in enumerate(s):
            rows[row][col + i] = ch
            attrs[row][col + i] = attr

    put(2, 19, "RED ON BLUE", 0x14)        # red (4) on blue (1)
    put(3, 19, "bright green", 0x0A)
    put(4, 19, "reverse", 0x70)
    put(5, 19, "blink", 0x80 | 0x40 | 0x0F)  # blink, red background, bright white
    put(6, 0, "XXXXX" + " " * 75)
    put(7, 0, " " * 80)
    put(7, 0, "\u2554\u2550\u2550\u2557 \u2500\u253c\u2502 \u2588\u2593\u2592\u2591")
    put(8, 74, "012345")
    put(9, 0, "6789")
    put(10, 0, "ab      c")
    put(11, 0, "abX")
    put(24, 0, "done", 0x03)
    return ["".join(r) for r in rows], attrs


@pytest.fixture(scope="module")
def vgatest(kernel_elf, tmp_path_factory):
    status, screen, machine = run_until_screen_shows(
        kernel_elf, "-- vgatest", lambda s: s["text"][24].startswith("done") and s["cursor"]["column"] == 4)
    try:
        png = tmp_path_factory.mktemp("shot") / "screen.png"
        screendump(machine, png)
        raw = machine.vga.screen()
    finally:
        machine.close()
    assert status == 0, "the guest never drew 'done' on the last row"
    return screen, png, raw


def test_text_and_attributes_are_exact(vgatest):
    screen, _, _ = vgatest
    text, attrs = expected_vgatest_screen()
    assert (screen["columns"], screen["rows"]) == (80, 25)
    for r in range(25):
        assert screen["text"][r] == text[r], f"row {r}"
    for r in range(25):
        assert screen["attributes"][r] == attrs[r], f"row {r}"
    assert screen["chars"][7][:4] == [0xC9, 0xCD, 0xCD, 0xBB]  # CP437 box drawing, as written


def test_cursor_follows_the_text(vgatest):
    screen, _, _ = vgatest
    assert screen["cursor"] == {"row": 24, "column": 4, "visible": True, "start": 14, "end": 15}
    assert screen["start_address"] == 0 and not screen["blanked"]


def reference_rendering(screen_chars, screen_attrs, cursor):
    """Pixels computed here from the PSF font: 9x16 cells, CGA colours,
    9th column = 8th for 0xC0-0xDF, bit 7 = blink (drawn visible), cursor."""
    data = gzip.open("/usr/share/consolefonts/default8x16.psf.gz").read()
    assert data[:2] == b"\x36\x04" and data[3] == 16
    glyph = lambda code, y: data[4 + code * 16 + y]  # noqa: E731
    width, height = 80 * 9, 25 * 16
    pixels = [[(0, 0, 0)] * width for _ in range(height)]
    for r in range(25):
        for c in range(80):
            code, attr = screen_chars[r][c], screen_attrs[r][c]
            fg, bg = CGA[attr & 15], CGA[attr >> 4 & 7]
            for y in range(16):
                bits = glyph(code, y)
                for x in range(9):
                    if x < 8:
                        on = bits >> (7 - x) & 1
                    else:
                        on = bits & 1 if 0xC0 <= code <= 0xDF else 0
                    if cursor and (r, c) == (cursor["row"], cursor["column"]) and \
                            cursor["start"] <= y <= cursor["end"]:
                        on = 1
                    pixels[r * 16 + y][c * 9 + x] = fg if on else bg
    return pixels


def test_png_screendump_matches_a_reference_rendering(vgatest):
    from PIL import Image
    screen, png, _ = vgatest
    image = Image.open(png).convert("RGB")
    assert image.size == (720, 400)
    expected = reference_rendering(screen["chars"], screen["attributes"], screen["cursor"])
    got = image.load()
    wrong = [(x, y) for y in range(400) for x in range(720) if got[x, y] != expected[y][x]]
    assert not wrong, f"{len(wrong)} pixels differ, first at {wrong[:5]}"
    # and the picture is not trivially blank: text and colours are there
    assert got[19 * 9 + 1, 2 * 16 + 8] in (CGA[1], CGA[4])


class Hmp:
    """QEMU's human monitor on a Unix socket: one command, its reply."""

    def __init__(self, path, timeout=60.0):
        import socket
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.settimeout(timeout)
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._reply()

    def _reply(self) -> str:
        buf = b""
        while not buf.endswith(b"(qemu) "):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QEMU closed its monitor")
            buf += chunk
        return buf.decode("latin-1")

    def command(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\n")
        return self._reply()

    def words(self, gpa: int, count: int) -> list[int]:
        import re
        reply = self.command(f"xp /{count}hx {gpa:#x}")
        return [int(w, 16) for line in re.findall(r"[0-9a-f]{16}: ((?:0x[0-9a-f]{4} ?)+)", reply)
                for w in line.split()]

    def inb(self, port: int) -> int:
        import re
        return int(re.search(r"portb\[0x[0-9a-f]+\] = 0x([0-9a-f]+)", self.command(f"i /b {port:#x}")).group(1), 16)


@pytest.mark.qemu
def test_same_screen_under_qemu_pc_vga(vgatest, kernel_elf, tmp_path):
    """QEMU -machine pc (its VGA, mode 3 set by SeaBIOS) runs the same kernel
    and program: its text memory and CRTC cursor must equal query_screen's."""
    import shutil
    import subprocess
    screen, _, _ = vgatest
    exe = shutil.which("qemu-system-x86_64")
    assert exe, "qemu-system-x86_64 is needed (apt-get install qemu-system-x86)"
    sock = tmp_path / "hmp.sock"
    proc = subprocess.Popen([exe, "-machine", "pc", "-accel", "tcg", "-m", "128", "-display", "none",
                             "-nodefaults", "-vga", "std", "-no-reboot", "-serial", "null",
                             "-monitor", f"unix:{sock},server,nowait",
                             "-kernel", str(kernel_elf), "-append", "-- vgatest"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        hmp = Hmp(sock)
        deadline = time.monotonic() + 240
        done = [0x0300 | ord(c) for c in "done"]
        while hmp.words(0xB8000 + 24 * 160, 4) != done:
            assert time.monotonic() < deadline, "QEMU's screen never showed 'done'"
            time.sleep(0.1)
        cells = hmp.words(0xB8000, 2000)
        hmp.command("o /b 0x3d4 0x0e")
        cursor = hmp.inb(0x3D5) << 8
        hmp.command("o /b 0x3d4 0x0f")
        cursor |= hmp.inb(0x3D5)
        hmp.sock.sendall(b"quit\n")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    qemu_chars = [[cells[r * 80 + c] & 0xFF for c in range(80)] for r in range(25)]
    qemu_attrs = [[cells[r * 80 + c] >> 8 for c in range(80)] for r in range(25)]
    assert qemu_chars == screen["chars"]
    assert qemu_attrs == screen["attributes"]
    assert divmod(cursor, 80) == (screen["cursor"]["row"], screen["cursor"]["column"])


def test_control_socket_query_screen_and_screendump(tmp_path):
    """The screen's commands over the JSON-lines control socket, through the
    `pyos-vmm ctl` client, while the VM runs vgatest."""
    import json
    import subprocess

    from vmm.control import request

    from .conftest import REPO, vmm_command, write_config
    sock = tmp_path / "ctl.sock"
    cfg = write_config(tmp_path, f'[control]\nsocket = "{sock}"\n[serial]\noutput = "none"\ninput = "none"\n')
    vm = subprocess.Popen(vmm_command("--config", cfg, "--cmdline", "-- vgatest"), cwd=REPO,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        screen = None
        while True:
            assert vm.poll() is None, vm.stderr.read().decode()
            if sock.exists():
                screen = request(str(sock), "query-screen").get("return")
                # The driver stores the cells first and moves the hardware cursor (CRTC
                # 0x0E/0x0F) after them: the screen is finished when both are.
                if (screen and screen["text"][24].startswith("done")
                        and screen["cursor"]["row"] == 24 and screen["cursor"]["column"] == 4):
                    break
            assert time.monotonic() < deadline, f"vgatest never finished drawing: {screen!r}"
            time.sleep(0.1)
        text, attrs = expected_vgatest_screen()
        assert screen["text"] == text and screen["attributes"] == attrs
        shot = tmp_path / "ctl.png"
        out = subprocess.run(vmm_command("ctl", sock, "screendump", f"filename={shot}"), cwd=REPO,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == {"filename": str(shot), "width": 720, "height": 400}
        from PIL import Image
        pixels = Image.open(shot).convert("RGB").load()
        expected = reference_rendering(screen["chars"], screen["attributes"], screen["cursor"])
        assert all(pixels[x, y] == expected[y][x] for y in range(0, 400, 3) for x in range(720))
        bad = request(str(sock), "screendump", {"filename": str(tmp_path / "x.gif")})
        assert bad["error"]["class"] == "GenericError" and "PNG" in bad["error"]["desc"]
        vm.terminate()
        assert vm.wait(timeout=60) == 143
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()
