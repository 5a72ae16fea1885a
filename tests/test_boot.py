"""Boot the real kernel in the VMM and check what the guest printed and did."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest

from vmm import errors
from vmm.probe import host_kind

from .conftest import DEFAULT_CONFIG, REPO, boot, vmm_command, write_config


@pytest.fixture(scope="module")
def default_boot():
    """One boot of the default config, shared by the checks on its output."""
    return boot("--cmdline", "-- hello from the test")


def test_banner_names_pyos_and_entry_path(default_boot):
    assert default_boot.status == 0, default_boot.stderr
    assert "pyos 0.1.0 x86_64 kernel, booted via pyos-vmm direct 64-bit entry" in default_boot.console


def test_memory_map_matches_configured_ram(default_boot):
    console = default_boot.console
    entries = re.findall(r"\[0x([0-9a-f]+)-0x([0-9a-f]+)\] (\w[\w ]*)", console)
    assert entries, console
    spans = [(int(a, 16), int(b, 16), kind) for a, b, kind in entries]
    # Contiguous from 0 to the end of the 128 MiB the default config asks for.
    assert spans[0][0] == 0
    for (_, end, _), (start, _, _) in zip(spans, spans[1:]):
        assert start == end + 1
    assert spans[-1][1] == 128 * 1024 * 1024 - 1
    kinds = [k for _, _, k in spans]
    assert "kernel" in kinds and "boot data" in kinds and kinds[-1] == "usable"
    usable = sum(e - s + 1 for s, e, k in spans if k == "usable")
    assert f"usable memory: {usable // 1024} KiB" in console


def test_kernel_sees_command_line(default_boot):
    assert 'command line: "-- hello from the test"' in default_boot.console
    assert "hello from pid 3: hello from the test" in default_boot.console


def test_memory_size_from_config(tmp_path):
    cfg = write_config(tmp_path, "[machine]\nmemory_mib = 64\n[serial]\ninput = \"none\"\n")
    result = boot(config=cfg)
    assert result.status == 0, result.stderr
    assert "-0x0000000003ffffff] usable" in result.console


def test_guest_chosen_exit_status():
    result = boot("--cmdline", "exit=42")
    assert result.status == 42
    assert "powering off with status 42" in result.console


def test_a_word_after_fifty_others_counts_and_the_first_of_a_name_wins():
    """The kernel indexes its command line's words once (kernel/cmdline.c): a full
    command line (up to the VMM's 255 bytes; `vga=` is the shortest word it knows,
    an empty value) is all indexed, and a name given twice takes its first value."""
    words = "vga= " * 48 + "exit=5 exit=7"
    assert len(words) <= 255
    result = boot("--cmdline", words)
    assert result.status == 5, result.console[-500:]
    assert "powering off with status 5" in result.console


def test_triple_fault_report():
    result = boot("--cmdline", "crash=triple-fault")
    assert result.status == errors.EXIT_TRIPLE_FAULT
    assert "triple fault" in result.stderr
    for reg in ("RIP", "RSP", "RFLAGS", "CR0", "CR2", "CR3", "CR4", "EFER", "CS 0010", "SS 0018"):
        assert reg in result.stderr
    # The faulting instruction is the ud2 (0f 0b) that could not be delivered.
    assert "bytes at RIP: 0f 0b" in result.stderr
    assert "Traceback" not in result.stderr


def test_unclaimed_port_report():
    result = boot("--cmdline", "crash=bad-port")
    assert result.status == errors.EXIT_UNCLAIMED_IO
    assert "1-byte read at port 0xbad, which no device claims" in result.stderr
    assert "bytes at RIP: ec" in result.stderr  # inb (%dx), %al
    assert "Traceback" not in result.stderr


def test_unclaimed_mmio_report():
    result = boot("--cmdline", "crash=bad-mmio")
    assert result.status == errors.EXIT_UNCLAIMED_IO
    assert "4-byte write of 0x1234 at MMIO address 0xfeb00000" in result.stderr


def test_unclaimed_port_ignored_when_configured(tmp_path):
    cfg = write_config(tmp_path, '[machine]\nunclaimed_io = "ignore"\n[serial]\ninput = "none"\n')
    result = boot("--cmdline", "crash=bad-port", config=cfg)
    # The read returns all ones and the kernel goes on to panic (status 1)
    # because the crash it asked for did not happen.
    assert result.status == 1
    assert "KERNEL PANIC: crash=bad-port" in result.console


def test_sse_in_kernel_mode():
    """PVM-style hosts cannot emulate SSE at CPL0; VT-x hosts run it natively."""
    result = boot("--cmdline", "crash=sse")
    if host_kind()[0] == "pvm":
        assert result.status == errors.EXIT_INTERNAL
        assert "emulation failure" in result.stderr
        assert "bytes at RIP: 66 0f ef c0" in result.stderr  # pxor %xmm0, %xmm0
    else:
        assert result.status == 1
        assert "KERNEL PANIC: crash=sse" in result.console


def test_missing_kernel_is_a_clear_error(tmp_path):
    cfg = write_config(tmp_path, '[kernel]\npath = "no-such-kernel.elf"\n')
    result = boot(config=cfg)
    assert result.status == errors.EXIT_KERNEL
    assert "no-such-kernel.elf does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_non_elf_kernel_is_a_clear_error(tmp_path):
    (tmp_path / "kernel.bin").write_bytes(b"not an elf at all")
    cfg = write_config(tmp_path, '[kernel]\npath = "kernel.bin"\n')
    result = boot(config=cfg)
    assert result.status == errors.EXIT_KERNEL
    assert "is not an ELF file" in result.stderr


def test_prebuilt_kernel_path(tmp_path, kernel_elf):
    cfg = write_config(tmp_path, f'[kernel]\npath = "{kernel_elf}"\n[serial]\ninput = "none"\n')
    result = boot(config=cfg)
    assert result.status == 0
    assert "pyos 0.1.0 x86_64 kernel" in result.console


def test_serial_output_to_file(tmp_path):
    cfg = write_config(tmp_path, '[serial]\noutput = "console.log"\ninput = "none"\n')
    result = boot(config=cfg)
    assert result.status == 0
    assert result.stdout == ""
    assert "pyos 0.1.0 x86_64 kernel" in (tmp_path / "console.log").read_text()


def _start_and_wait_for(line: str, *args):
    proc = subprocess.Popen(vmm_command("--config", DEFAULT_CONFIG, *args), cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for out in proc.stdout:
        seen.append(out)
        if line in out:
            return proc, "".join(seen)
    proc.kill()
    raise AssertionError(f"guest never printed {line!r}; got:\n{''.join(seen)}\n{proc.stderr.read()}")


@pytest.mark.parametrize("mode", ["idle", "spin"])
def test_ctrl_c_stops_the_vm(mode):
    """SIGINT stops a halted guest and one spinning in kernel mode alike."""
    proc, _ = _start_and_wait_for(f"{mode}=1:", "--cmdline", f"{mode}=1")
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    finally:
        proc.kill()
    stderr = proc.stderr.read()
    assert proc.returncode == errors.EXIT_INTERRUPTED, stderr
    assert "interrupted (Ctrl-C); VM stopped" in stderr
    assert "Traceback" not in stderr
