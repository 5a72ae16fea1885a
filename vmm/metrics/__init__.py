"""Prometheus metrics: the process registry, the VMM, KVM and guest collectors, file_sd, textfile, --stats text and `pyos-vmm top` (see registry.py)."""
