"""Prometheus file-based service discovery: one target file per running VM.

While a VM's exporter listens, <dir>/pyos-<pid>.json names its address;
monitoring/prometheus.yml reads <dir>/*.json, so Prometheus finds every
running VM by itself. The file is written atomically (temp file + rename, as
Prometheus watches the directory) and removed when the exporter stops. A VM
killed outright leaves its file behind: Prometheus then sees the target down
(the PyosVmNotAnswering alert), and the next pyos-vmm to start removes files
whose process no longer exists.

The target's label is pyos_vm_name, not `vm`: the exporter's series already
carry `vm`, and a target label of that name would rename theirs to
exported_vm. pyos_vm_name lets `up == 0` (a VM that stopped answering) say
which VM it was.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..paths import cache_dir

_NAME = re.compile(r"^pyos-(\d+)\.json$")


def default_dir() -> Path:
    return cache_dir() / "file_sd"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TargetFile:
    def __init__(self, directory: Path, address: str, vm: str):
        self.directory = Path(directory)
        self.path = self.directory / f"pyos-{os.getpid()}.json"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._remove_stale()
        entry = [{"targets": [address], "labels": {"pyos_vm_name": vm}}]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entry, indent=2) + "\n")
        os.replace(tmp, self.path)

    def _remove_stale(self):
        for path in self.directory.glob("pyos-*.json"):
            match = _NAME.match(path.name)
            if match and int(match[1]) != os.getpid() and not _alive(int(match[1])):
                try:
                    path.unlink()
                except OSError:
                    pass

    def remove(self):
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
