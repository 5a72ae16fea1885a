"""Shared helpers: boot the VM through the real CLI and collect what it printed."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "configs" / "default.toml"


@dataclass
class Boot:
    status: int
    stdout: str
    stderr: str

    @property
    def console(self) -> str:
        """The guest's serial output with CR LF turned into LF."""
        return self.stdout.replace("\r\n", "\n")


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "test.toml"
    path.write_text(text)
    return path


def vmm_command(*args) -> list[str]:
    return [sys.executable, "-m", "vmm.cli", *map(str, args)]


def boot(*args, config: Path = DEFAULT_CONFIG, timeout: float = 600) -> Boot:
    """Run pyos-vmm to completion with stdin closed.

    The timeout only catches a hang: kernel mode is emulated on PVM hosts, so
    a boot on a loaded 2-core machine can take minutes."""
    proc = subprocess.run(vmm_command("--config", config, *args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)
    return Boot(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def kernel_elf() -> Path:
    """The kernel built from guest_kernel/ (built once, then cached)."""
    from vmm.build.kernel import build_kernel
    return build_kernel()
