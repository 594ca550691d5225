"""Configuration loader: defaults, key-by-key override, every problem reported at once."""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from firmware.config import Config, config_from_dict, load_config
from firmware.errors import ConfigError


def test_shipped_defaults_match_dataclass_defaults() -> None:
    """default.toml documents every option with the same default as the code."""
    text = resources.files("firmware").joinpath("default.toml").read_text()
    shipped = tomllib.loads(text)
    code = Config()
    for section in dataclasses.fields(Config):
        values = getattr(code, section.name)
        keys = {f.name for f in dataclasses.fields(values)}
        assert set(shipped[section.name]) == keys, section.name
        for key in keys:
            want = getattr(values, key)
            got = shipped[section.name][key]
            assert (tuple(got) if isinstance(got, list) else got) == want, f"{section.name}.{key}"
    # Every option is documented: a comment precedes it or the run of options it belongs to,
    # except self-explanatory groups that follow a commented one in the same section.
    undocumented = []
    commented = False
    for line in text.splitlines():
        if line.startswith("["):
            commented = False
        elif line.startswith("#"):
            commented = True
        elif "=" in line and not commented:
            undocumented.append(line)
    assert not undocumented


def test_operator_file_overrides_key_by_key(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[uplink]\nbroker_host = "mqtt.example.net"\n[detect]\nport_scan_ports = 30\n')
    config = load_config(path)
    assert config.uplink.broker_host == "mqtt.example.net"
    assert config.uplink.broker_port == 8883  # untouched keys keep the default
    assert config.detect.port_scan_ports == 30
    assert config.detect.port_scan_window_s == 120.0


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"capture": {"snaplen": 10}}, "capture.snaplen"),
        ({"capture": {"snaplen": "big"}}, "capture.snaplen"),
        ({"capture": {"promiscuous": 1}}, "capture.promiscuous"),
        ({"inventory": {"devices_max": 0}}, "inventory.devices_max"),
        ({"classify": {"min_confidence": 1.5}}, "classify.min_confidence"),
        ({"uplink": {"broker_port": 70000}}, "uplink.broker_port"),
        ({"uplink": {"batch_seal_bytes": 300_000}}, "uplink.batch_seal_bytes"),
        ({"uplink": {"retry_min_s": 10.0, "retry_max_s": 5.0}}, "uplink.retry_min_s"),
        ({"uplink": {"username": "bw"}}, "uplink.password_file"),
        ({"leds": {"green_pin": 5, "red_pin": 5}}, "leds.red_pin"),
        ({"leds": {"red_pin": 40}}, "leds.red_pin"),
        ({"privacy": {"upload_hostnames": "some"}}, "privacy.upload_hostnames"),
        ({"detect": {"scanner_allowlist": "10.0.0.1"}}, "detect.scanner_allowlist"),
        ({"uplink": {"brokr_host": "x"}}, "uplink.brokr_host"),
        ({"nosuchsection": {}}, "nosuchsection"),
        ({"capture": 5}, "capture"),
    ],
)
def test_invalid_value_is_reported_with_its_key_path(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert key in [problem[0] for problem in info.value.problems]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"capture": {"snaplen": 1, "typo": 2}, "uplink": {"broker_port": 0}})
    keys = sorted(p[0] for p in info.value.problems)
    assert keys == ["capture.snaplen", "capture.typo", "uplink.broker_port"]


def test_toml_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[capture\n")
    with pytest.raises(ConfigError, match="TOML syntax"):
        load_config(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_check_config_exits_78_listing_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from firmware.cli import main

    path = tmp_path / "bad.toml"
    path.write_text("[capture]\nsnaplen = 1\nbogus = true\n")
    assert main(["check-config", str(path)]) == 78
    err = capsys.readouterr().err
    assert "capture.snaplen" in err and "capture.bogus: unknown key" in err
    good = tmp_path / "good.toml"
    good.write_text("[capture]\ninterface = 'eth1'\n")
    assert main(["check-config", str(good)]) == 0
