"""The files image-build lays over the base tree carry the appliance's policy."""

from __future__ import annotations

import configparser
from pathlib import Path

OVERLAY = Path(__file__).resolve().parents[2] / "image-build" / "overlay"


def _ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_fstab_mounts_everything_noatime_and_by_label() -> None:
    rows = [
        line.split()
        for line in (OVERLAY / "etc/fstab").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    mounts = {row[1]: row for row in rows}
    assert mounts["/"][0] == "LABEL=rootfs" and mounts["/boot/firmware"][0] == "LABEL=bootfs"
    assert mounts["/data"][0] == "LABEL=bwdata"
    for row in rows:
        if row[2] in ("ext4", "vfat"):
            assert "noatime" in row[3].split(","), row
    # The data partition does not exist until first boot: its mounts must not stop the boot.
    for target in ("/data", "/var/lib/branchwatch", "/var/log/journal"):
        assert "nofail" in mounts[target][3].split(","), target


def test_journal_is_capped_for_sd_cards() -> None:
    journal = _ini(OVERLAY / "etc/systemd/journald.conf.d/50-branchwatch.conf")["Journal"]
    assert journal["Storage"] == "persistent"
    assert journal["SystemMaxUse"].endswith("M") and int(journal["SystemMaxUse"][:-1]) <= 128


def test_hardware_watchdog_is_fed_by_systemd() -> None:
    manager = _ini(OVERLAY / "etc/systemd/system.conf.d/50-branchwatch-watchdog.conf")["Manager"]
    assert manager["RuntimeWatchdogSec"].endswith("s")
    assert 0 < int(manager["RuntimeWatchdogSec"][:-1]) < 16  # bcm2835_wdt's limit is ~15 s
    assert (OVERLAY / "etc/modules-load.d/branchwatch-watchdog.conf").read_text().split() == [
        "bcm2835_wdt"
    ]
    assert "dtparam=watchdog=on" in (OVERLAY / "etc/default/raspi-firmware-custom").read_text()


def test_raspi_firmware_defaults_give_a_label_root_and_no_cma() -> None:
    defaults = (OVERLAY / "etc/default/raspi-firmware").read_text().splitlines()
    assert "ROOTPART=LABEL=rootfs" in defaults and "CMA=0" in defaults


def test_both_sensor_units_pin_the_lgpio_pin_factory() -> None:
    for unit in ("branchwatch.service", "branchwatch-fault.service"):
        service = _ini(OVERLAY / f"etc/systemd/system/{unit}.d/50-image.conf")["Service"]
        env = service["Environment"].split()
        assert "GPIOZERO_PIN_FACTORY=lgpio" in env and "LG_WD=/tmp" in env, unit


def test_gpio_character_devices_belong_to_the_gpio_group() -> None:
    rule = (OVERLAY / "etc/udev/rules.d/60-branchwatch-gpio.rules").read_text()
    assert 'KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"' in rule
