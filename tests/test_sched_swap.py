"""Live scheduler swap and its watchdog, in a booted guest.

Several schedulers are linked into one kernel ([kernel] schedulers); the
sched_swap system call and the control socket's swap-scheduler command move
every runnable task from one policy to the other. A deliberately broken
scheduler (installed with pip like any third-party plugin) is swapped in and
the kernel's watchdog must revert to the default and say which plugin failed.
Nothing here depends on wall-clock timing: the checks are on what the guest
printed and on its counters.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO, vmm_command, write_config
from tests.test_ps2_guest import VM

TIMEOUT = 600   # kernel mode is emulated: a loaded 2-core box boots slowly


def run(tmp_path, kernel_toml, cmdline, env=None):
    cfg = write_config(tmp_path, f'[kernel]\n{kernel_toml}\ncmdline = "{cmdline}"\n[serial]\ninput = "none"\n')
    proc = subprocess.run(vmm_command("--config", cfg, "--stats"), capture_output=True, text=True, cwd=REPO,
                          env=env, stdin=subprocess.DEVNULL, timeout=TIMEOUT)
    return proc, proc.stdout.replace("\r\n", "\n")


def stat(stderr: str, name: str) -> str:
    m = re.search(rf"^{name}\s+(.*)$", stderr, re.M)
    assert m, f"{name} not in --stats:\n{stderr}"
    return m.group(1).strip()


def result(console: str) -> dict[str, int]:
    line = [x for x in console.splitlines() if x.startswith("result workload=swap ")]
    assert line, console
    return {k: int(v) for k, v in (w.split("=") for w in line[-1].split()[2:])}


def test_swaps_back_and_forth_under_a_mixed_load(tmp_path):
    proc, console = run(tmp_path, 'schedulers = ["rr", "stride"]', "-- swaptest 400")
    assert proc.returncode == 0, proc.stderr + console
    r = result(console)
    # Every CPU-bound and sleeping child exited with its own expected status,
    # every swap was accepted, and a name not linked in was refused (-EINVAL).
    assert r == {"swaps": 400, "failed": 0, "bad_name": -22, "children": 6, "ok_children": 6}, console
    assert "tasks: scheduler 'rr'" in console
    assert stat(proc.stderr, "pyos_guest_sched_swaps_total") == "400"
    assert stat(proc.stderr, "pyos_guest_sched_fallbacks_total") == "0"
    assert "watchdog" not in console


def test_single_scheduler_key_still_works_and_swap_to_others_is_refused(tmp_path):
    proc, console = run(tmp_path, 'scheduler = "stride"', "-- swaptest 4 stride rr")
    assert proc.returncode == 1, proc.stderr + console
    assert "tasks: scheduler 'stride'" in console
    r = result(console)
    assert r["swaps"] == 2 and r["failed"] == 2 and r["ok_children"] == 6, console   # only stride itself


def test_unknown_scheduler_in_the_list_is_a_config_error(tmp_path):
    proc, _ = run(tmp_path, 'schedulers = ["rr", "nosuch"]', "exit=0")
    assert proc.returncode != 0
    assert "schedulers" in proc.stderr or "scheduler" in proc.stderr
    assert "nosuch" in proc.stderr and "Traceback" not in proc.stderr


def test_control_socket_swap_reaches_the_guest(tmp_path):
    vm = VM(tmp_path, "-- swaptest watch stride", '[kernel]\nschedulers = ["rr", "stride"]\n')
    try:
        vm.wait_for(r"swaptest: scheduler 'rr', waiting for 'stride'", timeout=TIMEOUT)
        assert vm.ctl("swap-scheduler", scheduler="stride") == {"requested": "stride"}
        vm.wait_for(r"swaptest: scheduler is now 'stride'", timeout=TIMEOUT)
        assert vm.finish(TIMEOUT) == 0
        assert "sched: swapped to 'stride' on the VMM's request" in "\n".join(vm.lines)
    finally:
        vm.kill()


# -- deliberately broken schedulers, installed with pip like any third-party plugin --------------
STUCK_C = """
/* Accepts tasks and never picks anyone: everything starves. */
#include <pyos/sched.h>

static struct runqueue queue;
static void stuck_init(uint32_t hz) { (void)hz; }
static void stuck_enqueue(struct task *t) { if (!t->sched.on_queue) runqueue_add(&queue, t); }
static void stuck_dequeue(struct task *t) { if (t->sched.on_queue) runqueue_remove(&queue, t); }
static struct task *stuck_pick_next(void) { return NULL; }
static int stuck_tick(struct task *running) { (void)running; return 1; }
static void stuck_yielded(struct task *t) { (void)t; }

const struct sched_ops sched_plugin = {
    .interface_version = SCHED_INTERFACE, .name = "stuck",
    .init = stuck_init, .enqueue = stuck_enqueue, .dequeue = stuck_dequeue,
    .pick_next = stuck_pick_next, .tick = stuck_tick, .yielded = stuck_yielded,
};
"""

BLOCKED_C = """
/* Round-robin, except that it hands back the last task that left it (which
 * blocked, slept or exited) whenever it has one: a task that is not runnable. */
#include <pyos/sched.h>

static struct runqueue queue;
static struct task *left;
static void bl_init(uint32_t hz) { (void)hz; }
static void bl_enqueue(struct task *t) { if (!t->sched.on_queue) runqueue_add(&queue, t); }
static void bl_dequeue(struct task *t) { if (t->sched.on_queue) runqueue_remove(&queue, t); left = t; }
static struct task *bl_pick_next(void)
{
    struct task *t = left ? left : queue.head;
    left = NULL;
    if (t && t->sched.on_queue)
        runqueue_remove(&queue, t);
    return t;
}
static int bl_tick(struct task *running) { (void)running; return queue.head != NULL; }
static void bl_yielded(struct task *t) { (void)t; }

const struct sched_ops sched_plugin = {
    .interface_version = SCHED_INTERFACE, .name = "pickblocked",
    .init = bl_init, .enqueue = bl_enqueue, .dequeue = bl_dequeue,
    .pick_next = bl_pick_next, .tick = bl_tick, .yielded = bl_yielded,
};
"""

BROKEN_PY = '''
from pathlib import Path
from vmm.plugins import Plugin, hookimpl

HERE = Path(__file__).parent

@hookimpl
def pyos_plugins():
    return [Plugin(subsystem="scheduler", name="stuck", version="0.1", interface_version=1,
                   sources=[HERE / "stuck.c"], description="never picks anyone (test)"),
            Plugin(subsystem="scheduler", name="pickblocked", version="0.1", interface_version=1,
                   sources=[HERE / "pickblocked.c"], description="picks a task that is not runnable (test)")]
'''

BROKEN_TOML = '''
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "pyos-broken-sched"
version = "0.1"

[project.entry-points."pyos.plugins"]
broken = "pyos_broken_sched"

[tool.setuptools]
packages = ["pyos_broken_sched"]

[tool.setuptools.package-data]
pyos_broken_sched = ["*.c"]
'''


@pytest.fixture(scope="module")
def broken_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken_sched")
    pkg = root / "pkg"
    (pkg / "pyos_broken_sched").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(BROKEN_TOML)
    (pkg / "pyos_broken_sched" / "__init__.py").write_text(BROKEN_PY)
    (pkg / "pyos_broken_sched" / "stuck.c").write_text(textwrap.dedent(STUCK_C))
    (pkg / "pyos_broken_sched" / "pickblocked.c").write_text(textwrap.dedent(BLOCKED_C))
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(pkg)], check=True, capture_output=True)
    return {**os.environ, "PYTHONPATH": str(site)}


@pytest.mark.parametrize("broken, why", [
    ("stuck", "a runnable task was not run within the watchdog's limit"),
    ("pickblocked", "pick_next returned a task that is not runnable"),
])
def test_watchdog_reverts_a_broken_scheduler_and_names_it(broken_env, tmp_path, broken, why):
    # One swap into the broken plugin (swaptest 1 rr BROKEN swaps to BROKEN first);
    # the watchdog must put rr back, and every child must still finish.
    proc, console = run(tmp_path, f'schedulers = ["rr", "{broken}"]',
                        f"sched_watchdog=30 -- swaptest 1 rr {broken}", env=broken_env)
    assert proc.returncode == 0, proc.stderr + console
    assert result(console)["ok_children"] == 6, console
    assert f"sched: watchdog: scheduler '{broken}' failed: {why}" in console, console
    assert f"reverting to 'rr'" in console
    assert stat(proc.stderr, "pyos_guest_sched_fallbacks_total") == "1"
    assert stat(proc.stderr, "pyos_guest_sched_swaps_total") == "2"   # the swap in and the fallback
    assert stat(proc.stderr, "pyos_guest_sched_failed_info") == f"name={broken}"
    assert "subsystem=scheduler,name=rr" in stat(proc.stderr, "pyos_guest_plugin_info")


@pytest.mark.parametrize("value", ["abc", "0", "12x"])
def test_bad_watchdog_word_stops_the_boot_with_status_2(tmp_path, value):
    proc, console = run(tmp_path, 'schedulers = ["rr", "stride"]', f"sched_watchdog={value} -- hello")
    assert proc.returncode == 2, proc.stderr + console
    assert f"sched_watchdog={value}: want a number of timer ticks" in console


def test_schedulers_key_is_validated():
    from vmm import config
    from vmm.errors import ConfigError
    for bad, words in (([], "at least one"), (["rr", "rr"], "more than once"), ("rr", "list")):
        with pytest.raises(ConfigError, match=r"\[kernel\] schedulers") as e:
            config.from_dict({"kernel": {"schedulers": bad}})
        assert words in str(e.value)
    from vmm.plugins.manager import select
    chosen = [p.name for p in select({"scheduler": "rr", "schedulers": ["stride", "rr"]}) if p.subsystem == "scheduler"]
    assert chosen == ["stride", "rr"]   # schedulers wins; its first is the active default
