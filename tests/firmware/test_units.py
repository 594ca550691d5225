"""systemd units: they verify, and their exposure level is ≤ 2.5 (issue 7)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require

UNITS = Path(__file__).resolve().parents[2] / "firmware" / "units"
SERVICES = sorted(p.name for p in UNITS.glob("*.service"))


def _copy_units(tmp_path: Path) -> Path:
    """Copy the units, pointing ExecStart at /bin/true so verify can check the rest offline."""
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/opt/branchwatch/venv/bin/branchwatch", "/bin/true")
        text = re.sub(r"/bin/bash /usr/lib/branchwatch/\S+", "/bin/true", text)
        (tmp_path / unit.name).write_text(text)
    return tmp_path


def test_sensor_unit_keeps_its_contract() -> None:
    text = (UNITS / "branchwatch.service").read_text()
    for line in (
        "Type=notify",
        "RestartPreventExitStatus=78",
        "AmbientCapabilities=CAP_NET_RAW",
        "CapabilityBoundingSet=CAP_NET_RAW",
        "OnFailure=branchwatch-fault.service",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
    ):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert re.search(r"^WatchdogSec=\d+$", text, re.M)


def test_units_verify(tmp_path: Path) -> None:
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze not installed")
    folder = _copy_units(tmp_path)
    out = subprocess.run(
        ["systemd-analyze", "verify", *[str(folder / s) for s in SERVICES]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_unit_exposure_level_at_most_2_5(tmp_path: Path, service: str) -> None:
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze not installed")
    folder = _copy_units(tmp_path)
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(folder / service)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out.stdout)
    assert match, out.stdout[-500:] + out.stderr
    assert float(match.group(1)) <= 2.5
