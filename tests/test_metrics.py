"""The Prometheus exporter, its rules and dashboard, against real VMs and a real Prometheus.

- promtool checks the config and rules, and runs the rules' unit tests;
- a VM's final metrics (--metrics-textfile) pass `promtool check metrics`,
  and --stats prints the same names;
- a running idle VM is scraped by Debian's Prometheus (started here on
  127.0.0.1 with a temporary config made from monitoring/prometheus.yml,
  finding the VM through file_sd): every dashboard and recording-rule
  expression returns data through the HTTP API;
- every metric a panel or rule names exists in the exporter's real output;
- the exporter lingers with the final values, `pyos-vmm top` shows rates,
  bad [metrics] settings are clear errors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import promql_parser
import pytest
import yaml

from tests.conftest import REPO, boot, vmm_command, write_config
from vmm import errors

MONITORING = REPO / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "pyos.json"
RULE_FILES = [MONITORING / "rules" / "recording.yml", MONITORING / "rules" / "alerts.yml"]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
RATE_INTERVAL = "20s"  # what Grafana's $__rate_interval becomes at a 2 s scrape interval
WAIT = 300  # seconds: generous, for a loaded 2-core machine


def _promtool(*args, stdin=None):
    return subprocess.run([PROMTOOL, *map(str, args)], input=stdin, capture_output=True, text=True, timeout=60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def _wait_for(what: str, check, timeout: float = WAIT, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except OSError as e:
            result, last = None, e
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def dashboard_exprs(vm_regex: str = ".*") -> list[str]:
    """Every PromQL expression of the dashboard, with Grafana's macros substituted."""
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            # label_values(METRIC, LABEL): the variable's values, as a query
            exprs.append(re.sub(r"label_values\((\w+),\s*(\w+)\)", r"group by (\2) (\1)", var["definition"]))
    return [e.replace("$__rate_interval", RATE_INTERVAL).replace("$vm", vm_regex) for e in exprs]


def rules(kind: str) -> list[dict]:
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(r for r in group["rules"] if kind in r)
    return out


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects, from its syntax tree."""
    names = set()

    def walk(node):
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            return
        for attr in ("lhs", "rhs", "expr", "param", "vector_selector"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, (int, float, str)):
                walk(child)
        for arg in getattr(node, "args", None) or []:
            walk(arg)

    walk(promql_parser.parse(expr))
    return names


# -- promtool ----------------------------------------------------------------------

def test_promtool_checks_config_and_rules():
    config = _promtool("check", "config", MONITORING / "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    assert "SUCCESS: 2 rule files found" in config.stdout
    checked = _promtool("check", "rules", *RULE_FILES)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_rule_unit_tests():
    result = _promtool("test", "rules", MONITORING / "tests" / "rules_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


# -- the exporter's real output ----------------------------------------------------------

@pytest.fixture(scope="module")
def final_metrics(tmp_path_factory):
    """A hello-world run's final metrics (textfile) and its --stats text."""
    tmp = tmp_path_factory.mktemp("textfile")
    textfile = tmp / "pyos.prom"
    cfg = write_config(tmp, '[serial]\ninput = "none"\n[metrics]\nvm = "hello"\n')
    result = boot("--stats", "--metrics-textfile", textfile, config=cfg, timeout=600)
    assert result.status == 0, result.stderr
    return textfile.read_text(), result.stderr


def _series_names(text: str) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_exporter_output_passes_promtool_check_metrics(final_metrics):
    text, _ = final_metrics
    result = _promtool("check", "metrics", stdin=text)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr
    names = _series_names(text)
    assert all(n.startswith("pyos_") for n in names), [n for n in names if not n.startswith("pyos_")]
    # What a hello-world run must have shown, by name and label.
    assert re.search(r'^pyos_vm_exits_total\{reason="io",vm="hello"\} [1-9]', text, re.M)
    assert re.search(r'^pyos_pio_accesses_total\{device="com1",direction="write",vm="hello"\} [1-9]', text, re.M)
    assert re.search(r'^pyos_device_tx_bytes_total\{device="com1",vm="hello"\} [1-9]', text, re.M)
    assert re.search(r'^pyos_guest_syscalls_total\{name="write",vm="hello"\} [1-9]', text, re.M)
    assert re.search(r'^pyos_guest_plugin_info\{name="rr",subsystem="scheduler",vm="hello"\} 1', text, re.M)
    assert re.search(r'^pyos_guest_tasks_exited_total\{vm="hello"\} [1-9]', text, re.M)
    assert re.search(r'^pyos_exit_handling_seconds_bucket\{le="1.024e-06",reason="io",vm="hello"\}', text, re.M)
    assert re.search(r'^pyos_vm_running\{vm="hello"\} 0', text, re.M)
    # KVM's binary statistics, units converted (this host has KVM_GET_STATS_FD)
    assert re.search(r'^pyos_kvm_stats_available\{vm="hello"\} 1', text, re.M)
    assert re.search(r'^pyos_kvm_vcpu_exits_total\{vcpu="0",vm="hello"\} [1-9]', text, re.M)
    assert "pyos_kvm_vcpu_halt_wait_seconds_total" in names
    assert "pyos_kvm_vcpu_halt_wait_hist_seconds_bucket" in names


def test_stats_prints_the_registry_names(final_metrics):
    text, stats = final_metrics
    printed = set(re.findall(r"^(pyos_\w+)  ", stats, re.M))
    assert {"pyos_vm_exits_total", "pyos_guest_context_switches_total", "pyos_pit_ticks_lost_total",
            "pyos_exit_handling_seconds", "pyos_guest_plugin_info"} <= printed
    exported = _series_names(text) | {n for n in printed if n in text}
    assert printed <= exported | {n for n in printed if f"{n}_bucket" in text}
    # same value in both
    exits = int(re.search(r'^pyos_vm_exits_total\{reason="io",vm="hello"\} (\d+)', text, re.M)[1])
    assert re.search(rf"^pyos_vm_exits_total .*reason=io {exits}\b", stats, re.M)


def test_every_dashboard_and_rule_metric_exists_in_the_exporter(final_metrics):
    text, _ = final_metrics
    exported = _series_names(text)
    recorded = {r["record"] for r in rules("record")}
    problems = []
    exprs = dashboard_exprs() + [r["expr"] for r in rules("record")] + [r["expr"] for r in rules("alert")]
    for expr in exprs:
        for name in metric_names(expr):
            if name not in exported and name not in recorded and name != "up":
                problems.append(f"{name} (in {expr})")
    assert not problems, "metrics the dashboard/rules name but the exporter does not export:\n" + "\n".join(problems)
    assert len(exprs) > 20


# -- a running VM, a real Prometheus -------------------------------------------------------

@pytest.fixture(scope="module")
def running_vm(tmp_path_factory):
    """An idle VM with its exporter on a free loopback port, advertised by file_sd."""
    tmp = tmp_path_factory.mktemp("running")
    sd = tmp / "sd"
    cfg = write_config(tmp, '[serial]\ninput = "none"\noutput = "none"\n'
                            f'[metrics]\nlisten = "127.0.0.1:0"\nlinger = 0\nvm = "idle-vm"\nfile_sd_dir = "{sd}"\n')
    proc = subprocess.Popen(vmm_command("--config", cfg, "--cmdline", "idle=1"), cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        match = re.search(r"at http://(127\.0\.0\.1:\d+)/metrics", line)
        assert match, line + proc.stderr.read() if proc.poll() is not None else line
        # Booted and idling: the guest's timer ticks are counted.
        _wait_for("the guest to tick", lambda: re.search(r"^pyos_guest_timer_ticks_total\{\S+\} [1-9]",
                                                          _get(f"http://{match[1]}/metrics"), re.M))
        yield {"proc": proc, "address": match[1], "sd": sd}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def prometheus(running_vm, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="2s", evaluation_interval="2s", scrape_timeout="2s")
    config["rule_files"] = [str(p) for p in RULE_FILES]
    config["scrape_configs"][0]["file_sd_configs"][0]["files"] = [str(running_vm["sd"] / "*.json")]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={tmp / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "prometheus.log", "w"))
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for("Prometheus to be ready", lambda: "Ready" in _get(url + "/-/ready"))
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _query(url: str, expr: str) -> list:
    body = json.loads(_get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_finds_the_vm_and_every_expression_returns_data(running_vm, prometheus):
    def target_up():
        targets = json.loads(_get(prometheus + "/api/v1/targets"))["data"]["activeTargets"]
        return [t for t in targets if t["scrapeUrl"] == f"http://{running_vm['address']}/metrics"
                and t["health"] == "up"]
    (target,) = _wait_for("the VM's target to be discovered and up", target_up)
    assert target["labels"]["pyos_vm_name"] == "idle-vm"

    pending = {e: "dashboard" for e in dashboard_exprs("idle-vm")}
    pending.update({r["expr"]: "recording rule" for r in rules("record")})
    pending.update({r["record"]: "recorded series" for r in rules("record")})

    def all_have_data():
        for expr in list(pending):
            if _query(prometheus, expr):
                del pending[expr]
        return not pending
    try:
        _wait_for("every dashboard and recording-rule expression to return data", all_have_data)
    except AssertionError:
        raise AssertionError("no data for:\n" + "\n".join(f"{k}: {e}" for e, k in pending.items())) from None
    # The idle guest really is ticking, and handles the IRQ 0 edges the PIT raises.
    raised = float(_query(prometheus, 'increase(pyos_irq_edges_total{vm="idle-vm",line="0"}[1h])')[0]["value"][1])
    handled = float(_query(prometheus, 'increase(pyos_guest_irqs_total{vm="idle-vm",line="0"}[1h])')[0]["value"][1])
    assert raised > 0 and 0.5 < handled / raised < 2, (raised, handled)
    values = _query(prometheus, 'pyos_guest_plugin_info{vm="idle-vm",subsystem="frame_alloc"}')
    assert values[0]["metric"]["name"] == "buddy"


def test_top_shows_rates_of_the_running_vm(running_vm):
    result = subprocess.run(vmm_command("top", "--target", running_vm["address"], "--iterations", "2",
                                        "--interval", "2"), capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "vm idle-vm  (running)" in result.stdout
    assert re.search(r"VM exits/s +[\d,]+ +.*io", result.stdout), result.stdout
    assert re.search(r"IRQ edges/s +[\d,]+ +0 ", result.stdout), result.stdout
    assert "frames free" in result.stdout


def test_top_finds_vms_through_file_sd(running_vm):
    result = subprocess.run(vmm_command("top", "--file-sd-dir", running_vm["sd"], "--iterations", "1"),
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"{running_vm['address']}  vm idle-vm" in result.stdout


def test_stopping_the_vm_removes_its_file_sd_target(tmp_path):
    cfg = write_config(tmp_path, '[serial]\ninput = "none"\noutput = "none"\n'
                                 f'[metrics]\nlisten = "127.0.0.1:0"\nlinger = 0\nfile_sd_dir = "{tmp_path}"\n')
    proc = subprocess.Popen(vmm_command("--config", cfg, "--cmdline", "idle=1"), cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        address = re.search(r"at http://(\S+)/metrics", proc.stderr.readline())[1]
        (target,) = tmp_path.glob("pyos-*.json")
        assert json.loads(target.read_text())[0]["targets"] == [address]
        _wait_for("the guest to tick", lambda: re.search(r"^pyos_guest_timer_ticks_total\{\S+\} [1-9]",
                                                          _get(f"http://{address}/metrics"), re.M))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        assert not list(tmp_path.glob("pyos-*.json"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_top_without_vms_says_how_to_start_one(tmp_path):
    result = subprocess.run(vmm_command("top", "--file-sd-dir", tmp_path, "--iterations", "1"),
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 1
    assert "no running VM found" in result.stderr and "[metrics] listen" in result.stderr


# -- lingering, errors -----------------------------------------------------------------

def test_exporter_lingers_with_the_final_values(tmp_path):
    cfg = write_config(tmp_path, '[serial]\ninput = "none"\n'
                                 f'[metrics]\nlisten = "127.0.0.1:0"\nlinger = 600\nfile_sd_dir = "{tmp_path}"\n')
    proc = subprocess.Popen(vmm_command("--config", cfg, "--cmdline", "exit=7"), cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        address = re.search(r"at http://(\S+)/metrics", proc.stderr.readline())[1]
        while "serving the final metrics" not in (line := proc.stderr.readline()):
            assert line, "the exporter did not linger"
        text = _get(f"http://{address}/metrics")
        assert re.search(r"^pyos_vm_running\{vm=\"\S+\"\} 0", text, re.M)
        assert re.search(r"^pyos_guest_counters_valid\{vm=\"\S+\"\} 1", text, re.M)
        assert re.search(r"^pyos_guest_frames_managed\{plugin=\"buddy\",vm=\"\S+\"\} [1-9]", text, re.M)
        assert re.search(r"^pyos_vm_exits_total\{reason=\"io\",vm=\"\S+\"\} [1-9]", text, re.M)
        assert list(tmp_path.glob("pyos-*.json"))  # still advertised while lingering
        proc.send_signal(signal.SIGINT)  # Ctrl-C ends the linger; the guest's status stands
        assert proc.wait(timeout=60) == 7
        assert not list(tmp_path.glob("pyos-*.json"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("section, message", [
    ('listen = "localhost"', "[metrics] listen = 'localhost': expected HOST:PORT"),
    ('listen = "127.0.0.1:70000"', "port '70000' must be a number from 0 to 65535"),
    ("linger = -1", "[metrics] linger = -1: must be a number of seconds"),
    ('vm = "a b"', "[metrics] vm = 'a b': must be up to 64 letters"),
    ("port = 1", "unknown key 'port' in [metrics]"),
])
def test_bad_metrics_config_is_a_clear_error(tmp_path, section, message):
    result = boot(config=write_config(tmp_path, f"[metrics]\n{section}\n"))
    assert result.status == errors.EXIT_CONFIG
    assert message in result.stderr and "Traceback" not in result.stderr


def test_listen_address_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = write_config(tmp_path, f'[serial]\ninput = "none"\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
        result = boot(config=cfg)
    assert result.status == errors.EXIT_CONFIG, result.stderr
    assert f"[metrics] listen = '127.0.0.1:{port}': cannot listen there" in result.stderr
    assert "Traceback" not in result.stderr


def test_metrics_textfile_unwritable_is_a_clear_error(tmp_path):
    result = boot("--metrics-textfile", tmp_path / "missing" / "x.prom",
                  config=write_config(tmp_path, '[serial]\ninput = "none"\n'))
    assert "--metrics-textfile" in result.stderr and "cannot write there" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.status == errors.EXIT_CONFIG


def test_prometheus_binary_is_debians():
    version = subprocess.run([PROMETHEUS, "--version"], capture_output=True, text=True).stdout
    assert version.startswith("prometheus, version 2."), version
    assert os.access(PROMETHEUS, os.X_OK)


def test_file_sd_dir_default_is_under_the_cache(monkeypatch, tmp_path):
    from vmm.metrics.file_sd import default_dir
    monkeypatch.setenv("PYOS_CACHE_DIR", str(tmp_path))
    assert default_dir() == Path(tmp_path) / "file_sd"
