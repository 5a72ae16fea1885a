"""Variants: the base config with some keys varied, one kernel build each.

`--vary scheduler=rr,stride --vary heap=slab,freelist` gives the cross
product (4 variants), named `scheduler=rr,heap=slab` and so on. A bare key
is a [kernel] key (the plugin choices); `machine.timer_hz=100,1000` names
any other section's key. Each variant's config goes through the same
validation as a config file, so a bad value is reported for that variant.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from dataclasses import dataclass, field

from ..errors import ConfigError, PyosError


@dataclass
class Variant:
    name: str
    settings: dict                  # {"kernel.scheduler": "rr", ...}
    config_data: dict               # the TOML data with the settings applied
    kernel: str | None = None       # the built ELF
    kernel_hash: str | None = None  # sha256 of the ELF
    plugins: dict = field(default_factory=dict)  # subsystem -> "name version"
    error: dict | None = None       # {"status": ..., "message": ...} when it cannot be built


def parse_vary(specs: list[str]) -> list[tuple[str, list[str]]]:
    """["scheduler=rr,stride"] → [("kernel.scheduler", ["rr", "stride"])]."""
    out = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        choices = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key or not choices:
            raise ConfigError(f"--vary {spec!r}: expected KEY=VALUE[,VALUE...]",
                              "e.g. --vary scheduler=rr,priority,stride or --vary machine.timer_hz=100,1000")
        if "." not in key:
            key = f"kernel.{key}"
        if any(k == key for k, _ in out):
            raise ConfigError(f"--vary {key} is given twice", "list all its values in one --vary")
        out.append((key, choices))
    return out


def _convert(value: str):
    try:
        return int(value, 0)
    except ValueError:
        return value


def make_variants(base: dict, vary: list[tuple[str, list[str]]]) -> list[Variant]:
    variants = []
    keys = [k for k, _ in vary]
    for combo in itertools.product(*[values for _, values in vary]) if vary else [()]:
        data = copy.deepcopy(base)
        settings = {}
        for key, value in zip(keys, combo):
            section, _, name = key.partition(".")
            data.setdefault(section, {})[name] = _convert(value)
            settings[key] = value
        label = ",".join(f"{k.removeprefix('kernel.')}={v}" for k, v in settings.items()) or "base"
        variants.append(Variant(label, settings, data))
    return variants


def build_variant(variant: Variant, source=None) -> Variant:
    """Validate and build one variant's kernel; failures land in variant.error."""
    from .. import config as config_mod
    from ..build.kernel import build_kernel
    from ..plugins.manager import discover, select
    try:
        cfg = config_mod.from_dict(variant.config_data, where=f"variant {variant.name}", source=source)
        if cfg.kernel.path:
            kernel = cfg.resolve(cfg.kernel.path)
            chosen = {}
        else:
            chosen = select(cfg.kernel.plugin_choices())
            kernel = build_kernel(chosen)
            chosen = {p.subsystem: f"{p.name} {p.version}" for p in chosen}
        variant.kernel = str(kernel)
        variant.kernel_hash = hashlib.sha256(open(kernel, "rb").read()).hexdigest()[:16]
        variant.plugins = chosen
    except PyosError as e:
        variant.error = {"status": "unknown-plugin" if "no such" in e.message else "build-failed",
                         "message": e.message.strip().splitlines()[:8]}
    return variant
