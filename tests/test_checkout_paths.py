"""A second checkout (a clone, a git worktree) uses its own kernel, configs and
built-in plugins, even when another checkout is the installed (editable) one.

Without this, tests run in a second checkout would build and judge the
installed tree's guest kernel and plugins: a test there could not fail on
the code it is meant to check (vmm/paths.py: running_from_checkout,
use_checkout_plugins).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
import vmm.paths as paths
from vmm.plugins.manager import discover
found = discover(cached=True)
again = discover(cached=True)      # the discovery cache's answer, for this tree
print(json.dumps({"tree": str(paths.SOURCE_TREE), "kernel": str(paths.GUEST_KERNEL_DIR),
                  "configs": str(paths.CONFIGS_DIR),
                  "sources": sorted(str(s) for d in (found, again) for by in d.values()
                                    for p in by.values() for s in p.sources)}))
"""


def probe(tree: Path, cache: Path) -> dict:
    env = dict(os.environ, PYOS_CACHE_DIR=str(cache))
    env.pop("PYTHONPATH", None)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=tree, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_second_checkout_uses_its_own_kernel_configs_and_plugins(tmp_path):
    copy = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files", "vmm", "plugins", "guest_kernel", "configs", "setup.py"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    if not files:  # not a git checkout (an sdist): copy the folders
        files = [str(p.relative_to(REPO)) for d in ("vmm", "plugins", "guest_kernel", "configs")
                 for p in (REPO / d).rglob("*") if p.is_file() and "__pycache__" not in p.parts] + ["setup.py"]
    for name in files:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, copy / name)
    cache = tmp_path / "cache"   # one discovery cache for both trees: each must get its own answer
    here, there = probe(REPO, cache), probe(copy, cache)
    assert there["tree"] == str(copy) and here["tree"] == str(REPO)
    assert there["kernel"] == str(copy / "guest_kernel") and there["configs"] == str(copy / "configs")
    assert there["sources"] and all(s.startswith(str(copy / "plugins")) for s in there["sources"])
    assert here["sources"] and not any(s.startswith(str(copy)) for s in here["sources"])
    assert probe(copy, cache) == there   # and again from the cache, still its own
