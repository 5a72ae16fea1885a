"""Config validation: every error names the key or value and what is allowed."""

from __future__ import annotations

import pytest

from vmm import config as config_mod
from vmm import errors
from vmm.errors import ConfigError

from .conftest import boot, write_config


def test_defaults_load():
    cfg = config_mod.load(config_mod.Path(__file__).parent.parent / "configs" / "default.toml")
    assert cfg.machine.memory_mib == 128
    assert cfg.kernel.path == ""


@pytest.mark.parametrize("text, expected", [
    ("[machin]\n", "unknown section [machin]"),
    ("[machine]\nmemroy_mib = 64\n", "unknown key 'memroy_mib' in [machine]"),
    ("[machine]\nmemory_mib = 8\n", "[machine] memory_mib = 8: must be from 16 to 3072"),
    ("[machine]\nmemory_mib = 65\n", "a multiple of 2"),
    ("[machine]\nmemory_mib = \"big\"\n", "must be an integer"),
    ("[machine]\nunclaimed_io = \"panic\"\n", 'must be one of "stop", "ignore"'),
    ("[serial]\ninput = \"keyboard\"\n", 'must be one of "stdin", "none"'),
    ("[kernel]\ncmdline = 3\n", "[kernel] cmdline = 3: must be a string"),
    ("machine = 3\n", "'machine' must be a [machine] table"),
    ("[machine\n", "is not valid TOML"),
])
def test_bad_config_names_the_problem(tmp_path, text, expected):
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config_mod.load(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_key_lists_allowed_keys(tmp_path):
    with pytest.raises(ConfigError) as info:
        config_mod.load(write_config(tmp_path, "[serial]\nbaud = 9600\n"))
    assert "allowed keys in [serial]: output, input" in str(info.value)


def test_cli_reports_config_error_without_traceback(tmp_path):
    result = boot(config=write_config(tmp_path, "[machine]\ntimer_hz = 0\n"))
    assert result.status == errors.EXIT_CONFIG
    assert "[machine] timer_hz = 0: must be from 19 to 1000" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_missing_config_file(tmp_path):
    result = boot(config=tmp_path / "nope.toml")
    assert result.status == errors.EXIT_CONFIG
    assert "nope.toml does not exist" in result.stderr
