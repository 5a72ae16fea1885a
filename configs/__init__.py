"""Example machine configs, installed as the package `pyos_configs`
(`pyos-vmm` without --config boots default.toml from here)."""
