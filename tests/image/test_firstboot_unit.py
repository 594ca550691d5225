"""The first-boot units: branchwatch-datapart.service (partition + mkfs, no mount),
the /data mount that systemd makes from fstab, and branchwatch-firstboot.service (ssh host keys,
provisioning). They verify offline together with the mounts systemd-fstab-generator makes from the
image's fstab (no ordering cycle), keep their ordering, and their sandboxes leave writable exactly
what the scripts and `branchwatch firstboot` write. Exposure <= 2.5: tests/firmware/test_units.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from firmware.firstboot import network_files
from tests.conftest import require
from tests.firmware.test_firstboot import BUNDLE

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "firmware" / "units"
OVERLAY = REPO / "image-build" / "overlay"
SCRIPTS = OVERLAY / "usr" / "lib" / "branchwatch"
DATAPART = UNITS / "branchwatch-datapart.service"
FIRSTBOOT = UNITS / "branchwatch-firstboot.service"
GENERATOR = Path("/lib/systemd/system-generators/systemd-fstab-generator")


def _directives(unit: Path, name: str) -> list[str]:
    return re.findall(rf"^{name}=(.*)$", unit.read_text(), re.M)


def _words(unit: Path, name: str) -> set[str]:
    return set(" ".join(_directives(unit, name)).split())


def _unit_copies(folder: Path) -> list[Path]:
    """The units with ExecStart pointed at /bin/true, so verify checks the rest offline."""
    copies = []
    for unit in UNITS.glob("*.service"):
        text = re.sub(r"/bin/bash /usr/lib/branchwatch/\S+", "/bin/true", unit.read_text())
        text = text.replace("/opt/branchwatch/venv/bin/branchwatch", "/bin/true")
        copies.append(folder / unit.name)
        copies[-1].write_text(text)
    return copies


def test_units_and_fstab_mounts_verify_without_an_ordering_cycle(tmp_path: Path) -> None:
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze not installed")
    require(GENERATOR.exists(), f"{GENERATOR} missing (systemd)")
    generated = tmp_path / "generated"
    for sub in ("normal", "early", "late"):
        (generated / sub).mkdir(parents=True)
    subprocess.run(
        [str(GENERATOR), *(str(generated / s) for s in ("normal", "early", "late"))],
        env={"SYSTEMD_FSTAB": str(OVERLAY / "etc/fstab"), "PATH": "/usr/bin:/bin"},
        check=True, timeout=60,
    )  # fmt: skip
    mounts = sorted((generated / "normal").glob("*.mount"))
    data_mount = (generated / "normal" / "data.mount").read_text()
    # systemd mounts the data partition only after the disk step (Requires= + After=), noatime.
    assert "Requires=branchwatch-datapart.service" in data_mount
    assert "After=branchwatch-datapart.service" in data_mount
    assert re.search(r"^Options=.*\bnoatime\b", data_mount, re.M)
    units = tmp_path / "units"
    units.mkdir()
    copies = _unit_copies(units)
    for mount in mounts:
        shutil.copy(mount, units / mount.name)
    out = subprocess.run(
        ["systemd-analyze", "verify", *map(str, copies), *(str(units / m.name) for m in mounts)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    # verify reports a cycle (and breaks it) without failing: look for it.
    assert "ordering cycle" not in out.stderr, out.stderr


def test_disk_step_mounts_nothing_and_runs_before_the_data_mount() -> None:
    assert _directives(DATAPART, "Type") == ["oneshot"]
    assert "data.mount" in _words(DATAPART, "Before")
    assert "[Install]" not in DATAPART.read_text()  # pulled in by fstab, not enabled
    assert _words(DATAPART, "CapabilityBoundingSet") == {"CAP_SYS_ADMIN"}  # BLKPG only
    assert "@mount" in _words(DATAPART, "SystemCallFilter")  # as a denied group (~)
    assert _directives(DATAPART, "SystemCallFilter")[1].startswith("~")
    assert _directives(DATAPART, "ProtectSystem") == ["strict"]
    assert _directives(DATAPART, "PrivateNetwork") == ["yes"]
    # No PrivateTmp=: it would order the unit after systemd-tmpfiles-setup.service, itself after
    # the journal flush on /var/log/journal, on the data partition (the cycle test above).
    assert _directives(DATAPART, "PrivateTmp") == []
    devices = {d.split()[0] for d in _directives(DATAPART, "DeviceAllow")}
    assert {d.split("-")[0] for d in devices} == {"block", "char"}
    assert {d for d in devices if d.startswith("char")} == {"char-gpiochip"}


def test_provisioning_runs_after_the_mounts_and_before_the_sensor_network_and_ssh() -> None:
    assert _directives(FIRSTBOOT, "Type") == ["oneshot"]
    before = _words(FIRSTBOOT, "Before")
    for unit in (
        "branchwatch.service",
        "ssh.service",
        "systemd-networkd.service",
        "network-pre.target",
        "systemd-timesyncd.service",
    ):
        assert unit in before, unit
    after = _words(FIRSTBOOT, "After")
    for unit in (
        "var-lib-branchwatch.mount",
        "boot-firmware.mount",
        "data.mount",
        "systemd-tmpfiles-setup.service",
    ):
        assert unit in after, unit
    assert "var-lib-branchwatch.mount" in _words(FIRSTBOOT, "Wants")
    assert _words(FIRSTBOOT, "CapabilityBoundingSet") == {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
    }  # fmt: skip
    assert _directives(FIRSTBOOT, "ProtectSystem") == ["strict"]
    assert _directives(FIRSTBOOT, "PrivateNetwork") == ["yes"]
    assert _directives(FIRSTBOOT, "ExecStart") == [
        "/bin/bash /usr/lib/branchwatch/branchwatch-firstboot"
    ]
    assert _directives(DATAPART, "ExecStart") == [
        "/bin/bash /usr/lib/branchwatch/branchwatch-datapart"
    ]


def _writable(path: str, allowed: set[str]) -> bool:
    return any(path == a or path.startswith(a + "/") for a in allowed)


def test_provisioning_sandbox_leaves_writable_every_path_it_writes() -> None:
    """ProtectSystem=strict: each path the script or `branchwatch firstboot` writes must be
    under a ReadWritePaths= entry, and each optional ("-") entry made by tmpfiles.d first."""
    entries = _words(FIRSTBOOT, "ReadWritePaths")
    allowed = {e.lstrip("-") for e in entries}
    written = [f"/etc/{rel}" for rel in network_files(_bundle())]
    written += [
        "/etc/ssh/ssh_host_rsa_key",
        "/etc/branchwatch/branchwatch.toml",
        "/root/.ssh/authorized_keys",
        "/var/lib/branchwatch/keys/signing.key",
        "/boot/firmware/PROVISIONED.txt",
    ]
    for path in written:
        assert _writable(path, allowed), path
    tmpfiles = (OVERLAY / "usr/lib/tmpfiles.d/branchwatch-firstboot.conf").read_text()
    made = {line.split()[1] for line in tmpfiles.splitlines() if line.startswith("d ")}
    optional = {e[1:] for e in entries if e.startswith("-")}
    # /etc/sysctl.d comes with systemd and procps; /var/lib/branchwatch is a mount point.
    assert optional - made <= {"/etc/sysctl.d", "/var/lib/branchwatch"}


def _bundle() -> dict[str, object]:
    import tomllib

    data: dict[str, object] = tomllib.loads(BUNDLE)
    # Every optional file: proxy and Wi-Fi, NTP.
    uplink = dict(data["uplink"])  # type: ignore[call-overload]
    uplink["proxy"] = "http://proxy.example.net:3128"
    data["uplink"] = uplink
    return data


def test_image_mounts_data_with_the_sensor_and_journal_binds_after_it() -> None:
    rows = [
        line.split()
        for line in (OVERLAY / "etc/fstab").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    mounts = {row[1]: row for row in rows}
    options = mounts["/data"][3].split(",")
    assert "x-systemd.requires=branchwatch-datapart.service" in options
    assert "nofail" in options and "noatime" in options
    assert mounts["/data"][5] == "0"  # the disk step is its check (e2fsck), not systemd-fsck
    for target in ("/var/lib/branchwatch", "/var/log/journal"):
        assert "x-systemd.requires-mounts-for=/data" in mounts[target][3].split(",")


def test_scripts_parse_and_call_the_provisioning_subcommand() -> None:
    require(shutil.which("bash") is not None, "bash missing")
    for name in ("branchwatch-datapart", "branchwatch-firstboot", "firstboot-lib.sh"):
        assert subprocess.run(["bash", "-n", str(SCRIPTS / name)]).returncode == 0, name
    text = (SCRIPTS / "branchwatch-firstboot").read_text()
    assert "firstboot --root" in text and "--state-dir var/lib/branchwatch" in text
    assert "leds --state P" in (SCRIPTS / "firstboot-lib.sh").read_text()
    # Neither script mounts anything any more: systemd does.
    for name in ("branchwatch-datapart", "branchwatch-firstboot"):
        assert not re.search(r"^\s*(mount|umount)\b", (SCRIPTS / name).read_text(), re.M), name
