"""The exporter's life around one VM (vmm/metrics/exporter.py), without a Prometheus server.

A Machine is created (not run: its counters are all there, at zero) and a
MetricsSession wraps it as `pyos-vmm run` does: the HTTP endpoint and its
file_sd target while it lives, the final values frozen, the linger that Ctrl-C
or SIGTERM ends, the textfile written at close, and every resource given back
(the collector unregistered, so the same VM name can be registered again).
tests/test_metrics.py does the same against a real Prometheus and a booted guest.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import threading
import time
import urllib.request

import pytest

from vmm import config as config_mod
from vmm.errors import ConfigError
from vmm.machine import Machine
from vmm.metrics import registry
from vmm.metrics.exporter import MetricsSession


def _config(tmp_path, **metrics):
    return config_mod.from_dict({"metrics": metrics, "serial": {"output": "none", "input": "none"}},
                                source=tmp_path / "vm.toml")


@pytest.fixture
def machine_for(kernel_elf):
    made = []

    def make(cfg):
        machine = Machine(cfg, kernel_elf)
        made.append(machine)
        return machine
    yield make
    for machine in made:
        machine.close()


def _registered(collector) -> bool:
    return collector in registry.REGISTRY._collector_to_names


def test_textfile_holds_this_vms_final_series_only(tmp_path, machine_for, capsys):
    cfg = _config(tmp_path, vm="tf")
    machine = machine_for(cfg)
    out = tmp_path / "pyos.prom"
    session = MetricsSession(cfg, machine, textfile=str(out))
    assert session.vm == "tf" and session.server is None and session.address is None
    assert _registered(session.collector)
    session.linger()   # no server: returns at once, whatever [metrics] linger says (10 s by default)
    assert "serving the final metrics" not in capsys.readouterr().err
    kvm_stats = 1 if session.collector.kvm_sources else 0  # KVM_GET_STATS_FD: this host's kernel decides
    session.vm_stopped()
    session.close()
    text = out.read_text()
    assert 'pyos_vm_running{vm="tf"} 0.0' in text
    assert 'pyos_vm_memory_bytes{vm="tf"} 1.34217728e+08' in text
    assert f'pyos_kvm_stats_available{{vm="tf"}} {kvm_stats:.1f}' in text
    assert "# HELP pyos_vm_running 1 while the guest runs, 0 once it has stopped (the exporter lingers " \
           "with the final values)" in text
    assert "# HELP pyos_exporter_collect_seconds how long the previous collection of this VM's metrics took" in text
    assert "# HELP pyos_kvm_stats_available 1 if KVM's binary statistics (KVM_GET_STATS_FD) are exported for " \
           "this VM" in text
    assert "process_cpu_seconds_total" not in text, "node_exporter has its own process_* series"
    assert "# HELP" in text and "# TYPE" in text
    assert not _registered(session.collector)


def test_default_vm_name_is_the_config_stem_and_pid(tmp_path, machine_for):
    cfg = _config(tmp_path)
    session = MetricsSession(cfg, machine_for(cfg))
    try:
        assert session.vm == f"vm-{os.getpid()}"
    finally:
        session.close()


def test_textfile_in_a_missing_directory_is_refused_and_releases_the_name(tmp_path, machine_for):
    cfg = _config(tmp_path, vm="nodir")
    machine = machine_for(cfg)
    with pytest.raises(ConfigError) as info:
        MetricsSession(cfg, machine, textfile=str(tmp_path / "no" / "such.prom"))
    assert f"cannot write there: no directory {tmp_path / 'no'}" in info.value.message
    assert info.value.hint == "name a file in an existing directory"
    MetricsSession(cfg, machine).close()   # the failed session left nothing registered under that name


def test_endpoint_and_file_sd_target_live_while_the_session_does(tmp_path, machine_for, capsys):
    sd = tmp_path / "sd"
    cfg = _config(tmp_path, vm="web", listen="127.0.0.1:0", file_sd_dir=str(sd), linger=0)
    session = MetricsSession(cfg, machine_for(cfg))
    try:
        assert session.server is not None and session.thread.daemon
        host, port = session.address.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) == session.server.server_port > 0
        err = capsys.readouterr().err.splitlines()
        assert f"pyos-vmm: metrics for vm 'web' at http://{session.address}/metrics" in err
        body = urllib.request.urlopen(f"http://{session.address}/metrics", timeout=30).read().decode()
        assert 'pyos_vm_running{vm="web"} 1.0' in body
        (target,) = sd.glob("pyos-*.json")
        assert json.loads(target.read_text()) == [{"targets": [session.address],
                                                   "labels": {"pyos_vm_name": "web"}}]
        session.vm_stopped()
        body = urllib.request.urlopen(f"http://{session.address}/metrics", timeout=30).read().decode()
        assert 'pyos_vm_running{vm="web"} 0.0' in body, "the final values are served once stopped"
        session.linger()   # linger = 0: returns at once, and says nothing
        assert "serving the final metrics" not in capsys.readouterr().err
    finally:
        session.close()
    assert not list(sd.glob("pyos-*.json"))
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{session.address}/metrics", timeout=5)
    assert not _registered(session.collector)


def test_a_port_in_use_is_a_config_error_naming_the_key(tmp_path, machine_for):
    cfg = _config(tmp_path, vm="first", listen="127.0.0.1:0", file_sd_dir=str(tmp_path / "sd"))
    first = MetricsSession(cfg, machine_for(cfg))
    try:
        taken = f"127.0.0.1:{first.server.server_port}"
        cfg2 = _config(tmp_path, vm="second", listen=taken, file_sd_dir=str(tmp_path / "sd"))
        machine = machine_for(cfg2)
        with pytest.raises(ConfigError) as info:
            MetricsSession(cfg2, machine)
        assert info.value.message == (f"[metrics] listen = {taken!r}: cannot listen there: "
                                      f"{os.strerror(errno.EADDRINUSE)}")
        assert info.value.hint == "pick another port (0 picks a free one) or address"
        cfg3 = _config(tmp_path, vm="second")
        MetricsSession(cfg3, machine).close()   # "second" was released by the failed session
    finally:
        first.close()


def test_a_short_linger_is_served_in_full(tmp_path, machine_for, capsys):
    cfg = _config(tmp_path, vm="short", listen="127.0.0.1:0", file_sd_dir=str(tmp_path / "sd"), linger=0.05)
    session = MetricsSession(cfg, machine_for(cfg))
    try:
        session.vm_stopped()
        start = time.monotonic()
        session.linger()
        assert time.monotonic() - start >= 0.04  # waited (Event.wait may wake a hair early)
        assert "pyos-vmm: serving the final metrics for 0.05 s (Ctrl-C to stop)" in capsys.readouterr().err.splitlines()
    finally:
        session.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_linger_serves_until_a_signal_and_restores_the_handlers(tmp_path, machine_for, capsys, signum):
    cfg = _config(tmp_path, vm="linger", listen="127.0.0.1:0", file_sd_dir=str(tmp_path / "sd"), linger=600)
    session = MetricsSession(cfg, machine_for(cfg))
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def send_once_lingering():
        # Wait for linger's own handler (not a fixed sleep), then signal the process.
        while signal.getsignal(signum) is before[signum]:
            time.sleep(0.01)
        os.kill(os.getpid(), signum)
    sender = threading.Thread(target=send_once_lingering, daemon=True)
    try:
        session.vm_stopped()
        sender.start()
        start = time.monotonic()
        session.linger()
        assert time.monotonic() - start < 300, "the signal ended the 600 s linger"
        assert "serving the final metrics for 600 s (Ctrl-C to stop)" in capsys.readouterr().err
        assert {s: signal.getsignal(s) for s in before} == before
    finally:
        sender.join(timeout=60)
        session.close()


class _FakeServer:
    """What start_http_server returns, without a socket: its port, shutdown, close."""

    def __init__(self, port):
        self.server_port = port
        self.calls = []

    def shutdown(self):
        self.calls.append("shutdown")

    def server_close(self):
        self.calls.append("server_close")


def test_an_ipv6_listen_address_is_shown_in_brackets(tmp_path, machine_for, monkeypatch, capsys):
    """[metrics] listen = "[::1]:9150": the URL printed and the file_sd target are
    [::1]:9150 (an IPv6 host goes in brackets in a URL and a Prometheus target);
    the server is asked for exactly that address and port, and stopped at close."""
    import prometheus_client
    asked = []
    server = _FakeServer(9150)

    def fake_start(port, addr, registry):
        asked.append((port, addr, registry))
        return server, threading.Thread(daemon=True)
    monkeypatch.setattr(prometheus_client, "start_http_server", fake_start)
    sd = tmp_path / "sd"
    cfg = _config(tmp_path, vm="six", listen="[::1]:9150", file_sd_dir=str(sd), linger=0)
    session = MetricsSession(cfg, machine_for(cfg))
    try:
        assert asked == [(9150, "::1", registry.REGISTRY)]
        assert session.address == "[::1]:9150"
        assert "pyos-vmm: metrics for vm 'six' at http://[::1]:9150/metrics" in capsys.readouterr().err
        (target,) = sd.glob("pyos-*.json")
        assert json.loads(target.read_text())[0]["targets"] == ["[::1]:9150"]
    finally:
        session.close()
    assert server.calls == ["shutdown", "server_close"]


def test_an_unwritable_file_sd_dir_is_reported_and_the_endpoint_still_serves(tmp_path, machine_for, capsys):
    """file_sd_dir that cannot hold the target file (here: it is a regular file): the
    session still serves /metrics, and says why Prometheus will not discover the VM."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cfg = _config(tmp_path, vm="nosd", listen="127.0.0.1:0", file_sd_dir=str(blocker), linger=0)
    session = MetricsSession(cfg, machine_for(cfg))
    try:
        assert session.target is None and session.server is not None
        err = capsys.readouterr().err
        assert (f"pyos-vmm: [metrics] file_sd_dir: cannot write a target file in {blocker}: File exists; "
                "Prometheus will not discover this VM\n") in err
        assert f"pyos-vmm: metrics for vm 'nosd' at http://{session.address}/metrics" in err
    finally:
        session.close()


def test_a_textfile_that_cannot_be_written_is_a_config_error_at_close(tmp_path, machine_for):
    """--metrics-textfile naming something that cannot be replaced by a file (here a
    directory): close() says which file and why, with a hint, and still releases the
    collector (the VM name can be registered again)."""
    cfg = _config(tmp_path, vm="tfdir")
    machine = machine_for(cfg)
    target = tmp_path / "out.prom"
    target.mkdir()
    session = MetricsSession(cfg, machine, textfile=str(target))
    with pytest.raises(ConfigError) as info:
        session.close()
    assert info.value.message == f"--metrics-textfile {target}: cannot write: Is a directory"
    assert info.value.hint == "name a writable file, e.g. in node_exporter's textfile directory"
    assert not _registered(session.collector)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("out.prom")] == ["out.prom"]


def test_without_kvm_binary_stats_the_gauge_says_0_and_no_kvm_series(tmp_path, machine_for, monkeypatch):
    """A host kernel without KVM_CAP_BINARY_STATS_FD: pyos_kvm_stats_available is 0
    and no pyos_kvm_* series are exported (the textfile says so too)."""
    from vmm.kvm import Kvm
    real = Kvm.check_extension
    monkeypatch.setattr(Kvm, "check_extension",
                        lambda self, cap: 0 if cap == "KVM_CAP_BINARY_STATS_FD" else real(self, cap))
    cfg = _config(tmp_path, vm="nostats")
    out = tmp_path / "nostats.prom"
    session = MetricsSession(cfg, machine_for(cfg), textfile=str(out))
    assert session.collector.kvm_sources == []
    session.close()
    text = out.read_text()
    assert 'pyos_kvm_stats_available{vm="nostats"} 0.0' in text
    assert "pyos_kvm_vcpu" not in text and "pyos_kvm_vm" not in text


def test_default_vm_name_without_a_config_file_is_pyos_and_the_pid():
    """A machine configured without a file (no stem to take) is named pyos-<pid>."""
    cfg = config_mod.from_dict({"serial": {"output": "none", "input": "none"}})
    assert cfg.source is None
    assert registry.default_vm_name(cfg) == f"pyos-{os.getpid()}"


def test_collect_seconds_is_the_previous_collections_cost(tmp_path, machine_for):
    """pyos_exporter_collect_seconds: 0 at the first collection (there was no
    previous one), then how long the previous collection took: more than 0 and
    well under a minute (a collection reads plain ints)."""
    cfg = _config(tmp_path, vm="cost")
    session = MetricsSession(cfg, machine_for(cfg))

    def cost():
        (sample,) = [s for f in session.families() for s in f.samples
                     if s.name == "pyos_exporter_collect_seconds"]
        assert sample.labels == {"vm": "cost"}
        return sample.value
    try:
        assert cost() == 0.0
        second = cost()
        assert 0.0 < second < 60.0
        assert session.collector.last_collect_seconds < 60.0
    finally:
        session.close()


def test_kvm_series_carry_the_vm_label(tmp_path, machine_for):
    """KVM's binary statistics, read through the machine's collector, are labelled
    with the VM's name (vm) besides their own (vcpu) like every other series."""
    cfg = _config(tmp_path, vm="kvmlabel")
    session = MetricsSession(cfg, machine_for(cfg))
    try:
        assert session.collector.kvm_sources, session.collector.kvm_absent_reason  # this project's hosts
        exits = [s for f in session.families() for s in f.samples if s.name == "pyos_kvm_vcpu_exits_total"]
        assert [s.labels for s in exits] == [{"vm": "kvmlabel", "vcpu": "0"}]
    finally:
        session.close()


def test_accesses_are_named_by_the_board_slot_of_their_own_bus(tmp_path, machine_for):
    """pyos_pio_accesses and pyos_mmio_accesses name a range by the board slot on
    that bus ("io" or "mmio", vmm/machine.py's Slot.bus). The board has no MMIO
    device today; one placed as the board table would place it is named too, and
    an I/O slot at the same base does not name the MMIO range."""
    from vmm.machine import Slot
    from vmm.metrics.machine import machine_families

    class _Mmio:
        name = "mmio-dev"

        def read(self, offset, size):
            return 0

        def write(self, offset, size, value):
            pass
    cfg = _config(tmp_path, vm="buses")
    machine = machine_for(cfg)
    machine.board.append(Slot("hpet", "mmio", 0xFED00000, 0x400, _Mmio()))
    machine.mmio_bus.register(0xFED00000, 0x400, _Mmio())
    machine.mmio_bus.register(0x3F8, 8, _Mmio())    # com1's base, on the other bus
    machine.mmio_bus.write(0xFED00000, 4, 1)
    machine.mmio_bus.read(0x3F8, 1)
    machine.io_bus.read(0x3F8 + 5, 1)
    fams = {f.name: f for f in machine_families(machine, "m")}
    mmio = {(s.labels["device"], s.labels["direction"]): s.value for s in fams["pyos_mmio_accesses"].samples}
    pio = {(s.labels["device"], s.labels["direction"]): s.value for s in fams["pyos_pio_accesses"].samples}
    assert mmio == {("hpet", "write"): 1, ("0x3f8", "read"): 1}
    assert pio == {("com1", "read"): 1}
