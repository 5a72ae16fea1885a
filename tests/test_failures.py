"""Every failure a clear message and a documented status, never a traceback.

Each case here once ended in a Python traceback, a hang or the wrong status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vmm import errors

from .conftest import REPO, boot, vmm_command, write_config

QUIET = '[serial]\ninput = "none"\n'


def run_cli(*args, env=None, stdout=subprocess.PIPE, timeout=300, **kw):
    proc = subprocess.run(vmm_command(*args), stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, cwd=REPO, env=env, **kw)
    assert "Traceback (most recent call last)" not in proc.stderr, proc.stderr
    return proc


def test_serial_output_to_a_full_device(tmp_path):
    cfg = write_config(tmp_path, '[serial]\noutput = "/dev/full"\ninput = "none"\n')
    result = boot(config=cfg)
    assert result.status == errors.EXIT_OUTPUT
    assert "cannot write the guest's serial output to /dev/full: No space left on device" in result.stderr
    assert "Traceback" not in result.stderr


def test_overlapping_ports_name_both_devices(tmp_path):
    result = boot(config=write_config(tmp_path, "[machine]\nexit_port = 0x3f8\n" + QUIET))
    assert result.status == errors.EXIT_CONFIG
    assert "exit-port at port 0x3f8-0x3fb overlaps com1 at 0x3f8-0x3ff" in result.stderr
    assert "Traceback" not in result.stderr


def test_closed_stdout(tmp_path):
    cfg = write_config(tmp_path, QUIET)
    proc = subprocess.run(vmm_command("--config", cfg), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=300, cwd=REPO,
                          preexec_fn=lambda: os.close(1))
    assert proc.returncode == errors.EXIT_OUTPUT
    assert "standard output is closed" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_broken_pipe_ends_quietly(tmp_path):
    cfg = write_config(tmp_path, QUIET)
    vmm = subprocess.Popen(vmm_command("--config", cfg), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, cwd=REPO)
    first = vmm.stdout.readline()  # like `| head -1`
    vmm.stdout.close()
    stderr = vmm.stderr.read().decode()
    status = vmm.wait(timeout=300)
    assert first.startswith(b"pyos ")
    assert status == errors.EXIT_BROKEN_PIPE
    assert stderr == "", stderr


def test_no_c_compiler_names_the_tool(tmp_path):
    env = dict(os.environ, PYOS_CACHE_DIR=str(tmp_path / "cache"), CC=str(tmp_path / "no-such-gcc"))
    proc = run_cli("probe", env=env)
    assert proc.returncode == errors.EXIT_HOST
    assert "could not compile the KVM binding" in proc.stderr
    assert "apt-get install gcc" in proc.stderr


def test_unwritable_cache_dir(tmp_path):
    (tmp_path / "file").write_text("")
    env = dict(os.environ, PYOS_CACHE_DIR=str(tmp_path / "file" / "cache"))
    proc = run_cli("probe", env=env)
    assert proc.returncode == errors.EXIT_HOST
    assert "is not writable" in proc.stderr and "PYOS_CACHE_DIR" in proc.stderr


@pytest.mark.parametrize("path, expected", [("/tmp", "is not a regular file"),
                                            ("/dev/null", "is not a regular file"),
                                            ("/nonexistent/kernel.elf", "does not exist")])
def test_kernel_paths(path, expected):
    proc = run_cli("--kernel", path)
    assert proc.returncode == errors.EXIT_KERNEL
    assert expected in proc.stderr and "(--kernel)" in proc.stderr


def test_empty_plugin_name_is_an_error(tmp_path):
    result = boot(config=write_config(tmp_path, '[kernel]\nheap = ""\n'))
    assert result.status == errors.EXIT_CONFIG
    assert "[kernel] heap = '': must name a plugin" in result.stderr


@pytest.mark.parametrize("args", [["--harness-mib", "0"], ["--harness-mib", "1"], ["--harness-mib", "-64"],
                                  ["--harness-mib", "100000"], ["--bench", "-5"], ["--bench", "0"]])
def test_harness_bad_numbers(args):
    proc = run_cli("harness", *args, timeout=60)
    assert proc.returncode == errors.EXIT_CONFIG
    assert args[0] in proc.stderr


def test_version_and_subcommand_help():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("pyos-vmm ")
    run_help = run_cli("run", "--help").stdout
    probe_help = run_cli("probe", "--help").stdout
    harness_help = run_cli("harness", "--help").stdout
    assert "--stats" in run_help and "--status-file" in run_help
    assert "--stats" not in probe_help and "--config" not in probe_help
    assert "--harness-mib" in harness_help and "--stats" not in harness_help
    # An option of another subcommand is a usage error: argparse's status 2.
    wrong = run_cli("probe", "--stats")
    assert wrong.returncode == 2 and "unrecognized arguments: --stats" in wrong.stderr


def test_no_config_boots_the_default():
    proc = run_cli("--cmdline", "exit=5")
    assert proc.returncode == 5
    assert "powering off with status 5" in proc.stdout


def test_cmdline_dashes_alone_are_accepted():
    proc = run_cli("--cmdline", "--")
    assert proc.returncode == 0
    assert "hello from pid" in proc.stdout


def test_plugins_warns_about_an_uninstalled_choice(tmp_path):
    cfg = write_config(tmp_path, '[kernel]\nscheduler = "nosuch"\n')
    proc = run_cli("plugins", "--config", cfg)
    assert proc.returncode == 0
    assert "selects scheduler = 'nosuch', which is not installed" in proc.stderr


def test_status_file_says_who_decided(tmp_path):
    status_file = tmp_path / "status.json"
    proc = run_cli("--cmdline", "exit=7", "--status-file", status_file)
    assert proc.returncode == 7
    assert json.loads(status_file.read_text()) == {"status": 7, "origin": "guest",
                                                   "reason": "the guest powered off"}
    proc = run_cli("--cmdline", "crash=triple-fault", "--status-file", status_file)
    assert proc.returncode == errors.EXIT_TRIPLE_FAULT
    record = json.loads(status_file.read_text())
    assert record["origin"] == "vmm" and record["status"] == errors.EXIT_TRIPLE_FAULT


def test_vmm_statuses_avoid_shell_and_timeout_meanings():
    for status in errors.VMM_STATUSES:
        if status in (errors.EXIT_INTERRUPTED, errors.EXIT_TERMINATED, errors.EXIT_BROKEN_PIPE):
            continue  # 128 + the signal, as shells report it
        assert status not in (124, 125, 126, 127) and status < 128


def test_no_exit_port_powers_off_cleanly(tmp_path):
    result = boot(config=write_config(tmp_path, "[machine]\nexit_port = 0\n" + QUIET))
    assert result.status == 0, result.stderr
    assert "init: hello exited with status 0" in result.console
    assert "powered off through the ACPI port" in result.stderr


@pytest.mark.parametrize("word, expected", [
    ("selftets=pic", "unknown word 'selftets=pic'"),
    ("exit=abc", "exit= needs a status from 0 to 255, not 'abc'"),
])
def test_bad_kernel_command_line_words(word, expected):
    result = boot("--cmdline", word)
    assert result.status == 2
    assert "command line: " + expected in result.console
    assert "known words:" in result.console


def test_many_init_arguments_arrive_whole():
    words = [f"w{i}" for i in range(30)]
    result = boot("--cmdline", "-- hello " + " ".join(words))
    assert result.status == 0
    assert "hello world" not in result.console
    assert " ".join(words) in result.console


def test_too_many_init_arguments_are_refused():
    result = boot("--cmdline", "-- hello " + " ".join(f"w{i}" for i in range(40)))
    assert result.status == 2
    assert "more than 31 words after '--' for init" in result.console


def test_no_such_program_lists_the_programs():
    result = boot("--cmdline", "-- nosuchprog")
    assert result.status == 127
    assert "init: no such program 'nosuchprog'; the programs are:" in result.console
    assert "hello" in result.console.split("the programs are:")[1]


def test_sigterm_stops_the_vm(tmp_path):
    cfg = write_config(tmp_path, QUIET)
    proc = subprocess.Popen(vmm_command("--config", cfg, "--cmdline", "idle=1"), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        for line in proc.stdout:
            if "idling with interrupts enabled" in line:
                break
        proc.terminate()
        status = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert status == errors.EXIT_TERMINATED
    assert "terminated (SIGTERM); VM stopped" in proc.stderr.read()


