"""OUI lookup from the shipped IEEE registry file, and vendor normalisation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from capture import oui
from capture.vendors import canonical_vendor, is_device_maker, same_vendor, strip_vendor_prefix
from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("mac", "org"),
    [
        # MA-L assignments as published in the IEEE registry (oui.csv)
        ("b8:27:eb:b8:53:c8", "Raspberry Pi Foundation"),
        ("00:0c:29:40:0e:ef", "VMware, Inc."),
        ("B8-27-EB-00-00-01", "Raspberry Pi Foundation"),
        # MA-S (36-bit) assignment 70B3D5F2F = TELEPLATFORMS, inside the IEEE's own 70B3D5 block
        ("70:b3:d5:f2:f0:01", "TELEPLATFORMS"),
    ],
)
def test_lookup_returns_the_registered_organization(mac: str, org: str) -> None:
    assert oui.lookup(mac) == org


@pytest.mark.parametrize(
    "mac",
    [
        "42:b4:44:b4:f0:ee",  # locally administered (randomised) bit 0x02 set
        "92:dd:a4:8d:5f:de",  # locally administered
        "01:00:5e:00:00:fb",  # multicast (mDNS group address)
        "not-a-mac",
        None,
        "",
    ],
)
def test_local_multicast_and_malformed_macs_get_no_vendor(mac: str | None) -> None:
    assert oui.lookup(mac) is None


def test_local_bit_is_recognised() -> None:
    assert oui.is_locally_administered("42:b4:44:b4:f0:ee")
    assert not oui.is_locally_administered("b8:27:eb:b8:53:c8")


def test_longest_prefix_wins() -> None:
    table = oui.parse_table("=Block Owner\n=Small Maker\nACBBCC\t0\nACBBCC123\t1\n")
    assert table.lookup("ac:bb:cc:12:34:56") == "Small Maker"
    assert table.lookup("ac:bb:cc:99:34:56") == "Block Owner"
    assert len(table) == 2


def test_generator_output_matches_the_committed_table(tmp_path: Path) -> None:
    src = Path("/usr/share/ieee-data")
    require((src / "oui.csv").exists(), "Debian ieee-data not installed")
    out = tmp_path / "oui.txt"
    subprocess.run(
        [sys.executable, str(REPO / "scripts/build_oui.py"), "--src", str(src), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_text() == oui.DATA_FILE.read_text()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("HP Inc.", "Hewlett Packard"),
        ("Hewlett-Packard Company", "HP"),
        ("Cisco Systems, Inc", "Cisco"),
        ("TP-LINK TECHNOLOGIES CO.,LTD.", "TP-Link"),
        ("Nest Labs Inc.", "Google"),
        ("Juniper Networks", "Juniper Networks, Inc."),
    ],
)
def test_vendor_spellings_normalise_to_one_vendor(a: str, b: str) -> None:
    assert same_vendor(a, b)
    assert canonical_vendor(a) == canonical_vendor(b)


def test_different_vendors_stay_different() -> None:
    assert not same_vendor("HP", "HPE Aruba")
    assert not same_vendor("Sony", "Samsung")
    # Hewlett-Packard split in 2015 into HP Inc. (printers, PCs) and Hewlett Packard
    # Enterprise (servers, networking); "Enterprise" is a company name here, not a suffix.
    assert not same_vendor("HP Inc.", "Hewlett Packard Enterprise")
    assert canonical_vendor("Hewlett Packard Enterprise") == "HPE"
    assert canonical_vendor("Hewlett Packard Enterprise Company") == "HPE"
    assert canonical_vendor("Hewlett-Packard Company") == "HP"


@pytest.mark.parametrize(
    "org", ["Espressif Inc.", "VMware, Inc.", "PCS Systemtechnik GmbH", "AzureWave Technology Inc."]
)
def test_module_and_hypervisor_makers_are_not_device_makers(org: str) -> None:
    assert not is_device_maker(org)


def test_model_prefix_of_the_maker_is_stripped() -> None:
    assert (
        strip_vendor_prefix("HP Color LaserJet Pro MFP M177fw", "HP")
        == "Color LaserJet Pro MFP M177fw"
    )
    assert strip_vendor_prefix("Hewlett-Packard LaserJet 4250", "HP") == "LaserJet 4250"
    assert (
        strip_vendor_prefix("ProCurve Switch 2600-8-PWR", "Cisco") == "ProCurve Switch 2600-8-PWR"
    )
