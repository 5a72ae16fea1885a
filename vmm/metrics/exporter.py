"""The exporter's life around one VM run: serve, advertise, linger, write.

    session = MetricsSession(config, machine, textfile=...)  # registers the machine
    status = machine.run()
    session.vm_stopped()      # freeze the final values (before Machine.close)
    session.linger()          # keep serving them for [metrics] linger seconds
    machine.close(); session.close()   # textfile, file_sd target removed, server stopped

With [metrics] listen set, an HTTP server (prometheus-client, daemon thread)
serves /metrics from the process registry, and a file_sd target file
advertises it while the VM runs. The server thread only reads the
machine's plain-int counters; it never takes a lock the run loop holds.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, write_to_textfile

from ..config import parse_listen
from ..errors import ConfigError
from . import registry
from .file_sd import TargetFile, default_dir


class MetricsSession:
    def __init__(self, config, machine, textfile: str | None = None):
        self.config = config
        mc = config.metrics
        self.vm = mc.vm or registry.default_vm_name(config)
        self.collector = registry.register(machine, self.vm)
        self.textfile = Path(textfile) if textfile else None
        if self.textfile is not None and not self.textfile.parent.is_dir():
            registry.unregister(self.collector)
            raise ConfigError(f"--metrics-textfile {textfile}: cannot write there: no directory "
                              f"{self.textfile.parent}", "name a file in an existing directory")
        self.server = self.thread = self.target = None
        self.address = None
        if mc.listen:
            host, port = parse_listen(mc.listen)
            from prometheus_client import start_http_server
            try:
                self.server, self.thread = start_http_server(port, addr=host, registry=registry.REGISTRY)
            except OSError as e:
                registry.unregister(self.collector)
                raise ConfigError(f"[metrics] listen = {mc.listen!r}: cannot listen there: {e.strerror}",
                                  "pick another port (0 picks a free one) or address") from None
            shown = f"[{host}]" if ":" in host else host
            self.address = f"{shown}:{self.server.server_port}"
            directory = config.resolve(mc.file_sd_dir) if mc.file_sd_dir else default_dir()
            try:
                self.target = TargetFile(directory, self.address, self.vm)
            except OSError as e:
                print(f"pyos-vmm: [metrics] file_sd_dir: cannot write a target file in {directory}: "
                      f"{e.strerror}; Prometheus will not discover this VM", file=sys.stderr)
            # Printed once the target file is there: whoever reads this line finds both.
            print(f"pyos-vmm: metrics for vm {self.vm!r} at http://{self.address}/metrics", file=sys.stderr)

    def vm_stopped(self):
        self.collector.freeze()

    def families(self) -> list:
        """This VM's metric families (live, or final once stopped)."""
        return self.collector.collect()

    def linger(self):
        """Keep serving the final values for [metrics] linger seconds (Ctrl-C or SIGTERM ends it)."""
        seconds = self.config.metrics.linger
        if self.server is None or seconds <= 0:
            return
        print(f"pyos-vmm: serving the final metrics for {seconds:g} s (Ctrl-C to stop)", file=sys.stderr)
        from ..wakeup import Wakeup
        done = Wakeup()  # set by a signal handler: threading.Event's lock could deadlock it
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):  # either ends the linger, cleanly
                previous[signum] = signal.signal(signum, lambda *_: done.set())
        try:
            done.wait(seconds)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            done.close()

    def close(self):
        try:
            if self.textfile is not None:
                self.vm_stopped()
                only_this_vm = CollectorRegistry(auto_describe=False)
                only_this_vm.register(self.collector)  # not process_*: node_exporter has its own
                try:
                    write_to_textfile(str(self.textfile), only_this_vm)
                except OSError as e:
                    raise ConfigError(f"--metrics-textfile {self.textfile}: cannot write: {e.strerror}",
                                      "name a writable file, e.g. in node_exporter's textfile directory") from None
        finally:
            if self.target is not None:
                self.target.remove()
            if self.server is not None:
                self.server.shutdown()
                self.server.server_close()
            registry.unregister(self.collector)
