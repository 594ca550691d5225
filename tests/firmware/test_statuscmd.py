"""status / diag / leds subcommands."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from firmware.cli import main
from firmware.statefile import write_status


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "bw.toml"
    path.write_text(f'[sensor]\nstate_dir = "{tmp_path}"\n[capture]\ninterface = "lo"\n')
    return path


def test_status_prints_state_words_and_counters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_status(
        tmp_path,
        {
            "written_at": time.time(),
            "state": "W",
            "active": ["W", "OK"],
            "counters": {"packets": 42, "inventory_save_failures": 0},
            "inventory_restored": 17,
            "inventory_saved_at": 1_800_000_000.0,
        },
    )
    assert main(["status", "--config", str(config_file(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "state W: capturing; uplink down" in out and "what to do: check the WAN" in out
    assert "packets: 42" in out
    assert "inventory_save_failures: 0" in out
    assert "devices restored at start: 17" in out
    assert "inventory saved at: 1800000000" in out


def test_stale_status_says_daemon_not_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_status(tmp_path, {"written_at": time.time() - 120, "state": "OK", "counters": {}})
    assert main(["status", "--config", str(config_file(tmp_path))]) == 69
    assert "not running or is hung" in capsys.readouterr().out


def test_diag_json_reports_checks_without_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diag", "--json", "--config", str(config_file(tmp_path))]) == 69
    report = json.loads(capsys.readouterr().out)
    assert report["daemon"] is None
    checks = report["checks"]
    assert checks["provisioned"] is False and checks["capture_interface"] == "lo"
    assert checks["state"] == "3"  # loopback has carrier; no identity: not provisioned


def test_status_with_bad_config_exits_78(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[capture]\nsnaplen = 1\n")
    assert main(["status", "--config", str(bad)]) == 78


@pytest.fixture
def mock_pins(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockFactory]:
    saved = Device.pin_factory
    factory = MockFactory(revision="c03111")
    Device.pin_factory = factory
    yield factory
    factory.close()
    Device.pin_factory = saved


def test_leds_lamp_test_lights_both_pins(tmp_path: Path, mock_pins: MockFactory) -> None:
    assert main(["leds", "--test", "--config", str(config_file(tmp_path))]) == 0
    for pin in (17, 27):
        assert any(s.state for s in mock_pins.pin(pin).states), pin
