"""The real NVD records of tests/fixtures/nvd against devices as the classifier reports them.

Every expected value here comes from the record (its README row says where each record was
checked): CVSS, CISA KEV, and which firmware falls inside the stated version bounds. A case
that must match sits inside the range; one that must not sits at the excluded bound, past an
included bound, on a version the record does not list, on another model, or has only the
hardware CPE.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector.__main__ import main
from collector.cpe import evaluate
from collector.cve import CpeMap, CveRecord, read_records
from collector.ingest import Ingestor, Received
from collector.store import open_store
from tests.collector.conftest import NOW, Sensor
from tests.collector.items import device

NVD = Path(__file__).resolve().parent.parent / "fixtures" / "nvd"
FILES = sorted(NVD.glob("*.json"))


def _records() -> dict[str, CveRecord]:
    return {r.cve_id: r for f in FILES for r in read_records(f)}


RECORDS = _records()
CPE_MAP = CpeMap.load()

# id → (CVSS base score, severity, on CISA's KEV list), as the NVD records state them.
# CVE-2017-7921: NVD's own score is CVSS 3.0 10.0; the record's only 3.1 score is CISA-ADP's
# 9.8, and the importer takes the newest CVSS version present (docs/hunting.md).
# CVE-2018-10660: the record has CVSS 3.0 only.
FACTS = {
    "CVE-2017-7921": (9.8, "CRITICAL", True),
    "CVE-2018-10660": (9.8, "CRITICAL", False),
    "CVE-2020-3161": (9.8, "CRITICAL", True),
    "CVE-2020-5739": (8.8, "HIGH", False),
    "CVE-2021-33044": (9.8, "CRITICAL", True),
    "CVE-2021-36260": (9.8, "CRITICAL", True),
    "CVE-2022-24291": (7.5, "HIGH", False),
    "CVE-2023-23560": (9.8, "CRITICAL", False),
    "CVE-2023-4462": (5.9, "MEDIUM", False),
}


def test_every_fixture_is_an_nvd_api_page_with_the_2_0_configuration_shape() -> None:
    assert {f.stem for f in FILES} == set(FACTS)
    for path in FILES:
        page = json.loads(path.read_text())
        assert (page["format"], page["version"], page["totalResults"]) == ("NVD_CVE", "2.0", 1)
        (item,) = page["vulnerabilities"]
        assert item["cve"]["id"] == path.stem
        for config in item["cve"]["configurations"]:
            for node in config["nodes"]:
                assert node["operator"] in ("OR", "AND") and node["negate"] is False
                for match in node["cpeMatch"]:
                    assert set(match) <= {
                        "vulnerable", "criteria", "matchCriteriaId", "versionStartIncluding",
                        "versionStartExcluding", "versionEndIncluding", "versionEndExcluding",
                    }  # fmt: skip
                    assert len(match["matchCriteriaId"]) == 36


@pytest.mark.parametrize("cve_id", sorted(FACTS))
def test_record_severity_and_known_exploited_flag(cve_id: str) -> None:
    record = RECORDS[cve_id]
    assert (record.cvss_score, record.severity, record.is_known_exploited) == FACTS[cve_id]


# (CVE, vendor, model, firmware) as the classifier reports them, and whether the record applies.
CASES = [
    # CVE-2017-7921: NVD lists every firmware ("-") of the named Hikvision models.
    ("CVE-2017-7921", "Hikvision", "DS-2CD2032-I", "V5.4.0 build 160530", True),
    ("CVE-2017-7921", "Hikvision", "DS-2CD2412F-I(W)", "V5.2.0 build 140721", True),
    ("CVE-2017-7921", "Hikvision", "DS-2CD2032-I", None, True),
    ("CVE-2017-7921", "Hikvision", "DS-2CD2026G2-IU/SL", "V5.4.0 build 160530", False),
    # CVE-2018-10660: versionEndExcluding 6.50.2.3 (P3225-LVE), 8.20.1 (Mk II), 1.65.1 (A1001).
    ("CVE-2018-10660", "Axis", "P3225-LVE", "6.50.2.2", True),
    ("CVE-2018-10660", "Axis", "P3225-LVE", "6.50.2.3", False),
    ("CVE-2018-10660", "Axis", "P3225-LVE", None, False),
    ("CVE-2018-10660", "Axis Communications AB", "P3225-LVE Mk II", "8.20.0", True),
    ("CVE-2018-10660", "Axis", "P3225-LVE Mk II", "8.20.1", False),
    ("CVE-2018-10660", "Axis", "A1001", "1.65.0", True),
    ("CVE-2018-10660", "Axis", "A1001", "1.65.1", False),
    # CVE-2021-33044: Dahua names a family; versionEndExcluding 2.820.0000000.18.r.210705,
    # TPC-SD2221 versionEndIncluding 2.630.0000000.7.r.210707.
    ("CVE-2021-33044", "Dahua", "IPC-HX5XXX", "2.820.0000000.16.R.210101", True),
    ("CVE-2021-33044", "Dahua", "IPC-HX5XXX", "2.820.0000000.18.R.210705", False),
    ("CVE-2021-33044", "Dahua", "TPC-SD2221", "2.630.0000000.7.R.210707", True),
    ("CVE-2021-33044", "Dahua", "TPC-SD2221", "2.630.0000000.8.R.210801", False),
    # CVE-2020-3161: exact versions 10.3(1)ES14, 11.0(1), 11.0(5)SR1 (8841/8845); 11.0(1) (7821).
    ("CVE-2020-3161", "Cisco", "CP-8841", "11.0(1)", True),  # DHCP class id / CDP model
    ("CVE-2020-3161", "Cisco", "CP8845", "11.0(5)SR1", True),  # SIP User-Agent model
    ("CVE-2020-3161", "Cisco Systems", "IP Phone 8841", "10.3(1)ES14", True),
    ("CVE-2020-3161", "Cisco", "CP-8841", "11.7(1)", False),  # not a listed version
    ("CVE-2020-3161", "Cisco", "CP-7821", "11.0(5)SR1", False),  # listed for 8841/8845 only
    ("CVE-2020-3161", "Cisco", "CP-8841", None, False),
    ("CVE-2020-3161", "Cisco", "CP-7960", "11.0(1)", False),  # another model
    # CVE-2020-5739: GXP1610-1630, versionEndIncluding 1.0.4.152.
    ("CVE-2020-5739", "Grandstream", "GXP1625", "1.0.4.152", True),
    ("CVE-2020-5739", "Grandstream Networks, Inc.", "GXP1610", "1.0.4.128", True),
    ("CVE-2020-5739", "Grandstream", "GXP1625", "1.0.4.153", False),  # past the bound
    ("CVE-2020-5739", "Grandstream", "GXP2170", "1.0.4.152", False),  # not a GXP1600
    # CVE-2023-4462: NVD vendor "poly", every firmware ("-") of Trio 8800/C60 and CCX 400/600.
    # The description also names the Trio 8500; NVD's configurations do not.
    ("CVE-2023-4462", "Poly", "Trio_8800", "5.9.1.10419", True),
    ("CVE-2023-4462", "Poly", "Trio_8500", "5.9.1.10419", False),
    ("CVE-2023-4462", "Poly", "VVX_410", "5.9.0", False),
    # CVE-2022-24291: LaserJet Pro M404-M405 product numbers, versionEndExcluding 002_2208a.
    ("CVE-2022-24291", "HP", "LaserJet Pro M404dn", "002_2149A", True),  # usb_MDL
    ("CVE-2022-24291", "HP", "HP LaserJet Pro M404dn", "002_2149A", True),  # Bonjour ty
    ("CVE-2022-24291", "HP", "HP LaserJet Pro M404dn", "002_2208A", False),
    ("CVE-2022-24291", "HP", "LaserJet Pro M404dn", None, False),
    ("CVE-2022-24291", "HP", "HP LaserJet 4250", "002_2149A", False),  # another model
    # CVE-2023-23560: C3224 versionEndExcluding cslbl.081.234, B2236 mslsg.081.234.
    ("CVE-2023-23560", "Lexmark", "C3224", "CSLBL.080.301", True),
    ("CVE-2023-23560", "Lexmark", "C3224", "CSLBL.081.234", False),
    ("CVE-2023-23560", "Lexmark", "B2236", "MSLSG.081.200", True),
    ("CVE-2023-23560", "Lexmark", "B2236", "MSLSG.081.234", False),
]


@pytest.mark.parametrize(("cve_id", "vendor", "model", "firmware", "hit"), CASES)
def test_device_matches_the_record_inside_its_stated_range(
    cve_id: str, vendor: str, model: str, firmware: str | None, hit: bool
) -> None:
    cpes = CPE_MAP.candidates(vendor, model, firmware)
    assert cpes, "the vendor must map to an NVD vendor"
    assert (evaluate(RECORDS[cve_id].configurations, cpes) is not None) is hit


@pytest.mark.parametrize(
    ("cve_id", "vendor", "model", "firmware"),
    [(c, v, m, f) for c, v, m, f, hit in CASES if hit],
)
def test_the_hardware_cpe_alone_never_matches(
    cve_id: str, vendor: str, model: str, firmware: str | None
) -> None:
    hardware = [c for c in CPE_MAP.candidates(vendor, model, firmware) if c.part == "h"]
    assert hardware
    assert evaluate(RECORDS[cve_id].configurations, hardware) is None


def test_vendor_names_map_to_nvd_vendors_of_the_records() -> None:
    # The NVD vendor of each record (its criteria) against the names the classifier reports.
    assert CPE_MAP.nvd_vendor("Dahua") == "dahuasecurity"  # not "dahua": CVE-2021-33044
    assert CPE_MAP.nvd_vendor("Poly") == "polycom"
    assert {v for r in RECORDS.values() for v, _ in r.products()} == {
        "hikvision", "axis", "cisco", "grandstream", "dahuasecurity", "hp", "lexmark", "poly",
    }  # fmt: skip


def test_cisco_phone_model_spellings_give_the_same_cpes() -> None:
    # DHCP vendor class "IP Phone CP-7821", CDP "CP-7960", SIP User-Agent "Cisco-CP7821/11.0".
    forms = ["CP-8845", "CP8845", "IP Phone 8845"]
    assert (
        len({tuple(str(c) for c in CPE_MAP.candidates("Cisco", f, "12.8.1")) for f in forms}) == 1
    )
    assert str(CPE_MAP.candidates("Cisco", "CP8845", "12.8.1")[1]) == (
        "cpe:2.3:h:cisco:ip_phone_8845:-:*:*:*:*:*:*:*"
    )


def test_hp_model_with_and_without_the_maker_gives_the_same_cpes() -> None:
    # Bonjour ty = "HP LaserJet 4250" (maker included), usb_MDL = "LaserJet 4250".
    with_maker = CPE_MAP.candidates("HP", "HP LaserJet 4250", "1.0")
    assert with_maker == CPE_MAP.candidates("HP", "LaserJet 4250", "1.0")
    assert str(with_maker[0]) == "cpe:2.3:o:hp:laserjet_4250_firmware:1.0:*:*:*:*:*:*:*"


# Devices for the end-to-end import: (mac, vendor, model, firmware) → expected row or None.
FLEET: list[tuple[str, str, str, str, tuple[str, str, float, int] | None]] = [
    ("00:00:5e:00:53:01", "Hikvision", "DS-2CD2032-I", "V5.4.0 build 160530",
     ("CVE-2017-7921", "CRITICAL", 9.8, 1)),
    ("00:00:5e:00:53:02", "Axis", "P3225-LVE", "6.50.2.2", ("CVE-2018-10660", "CRITICAL", 9.8, 0)),
    ("00:00:5e:00:53:03", "Cisco", "CP8845", "11.0(5)SR1", ("CVE-2020-3161", "CRITICAL", 9.8, 1)),
    ("00:00:5e:00:53:04", "Grandstream", "GXP1625", "1.0.4.152", ("CVE-2020-5739", "HIGH", 8.8, 0)),
    ("00:00:5e:00:53:05", "HP", "LaserJet Pro M404dn", "002_2149A",
     ("CVE-2022-24291", "HIGH", 7.5, 0)),
    ("00:00:5e:00:53:06", "Lexmark", "C3224", "CSLBL.080.301", ("CVE-2023-23560", "CRITICAL", 9.8, 0)),
    ("00:00:5e:00:53:07", "Dahua", "IPC-HX5XXX", "2.820.0000000.16.R.210101",
     ("CVE-2021-33044", "CRITICAL", 9.8, 1)),
    ("00:00:5e:00:53:08", "HP", "HP LaserJet Pro M404dn", "002_2208A", None),
    ("00:00:5e:00:53:09", "Cisco", "CP-7960", "8.6(2)", None),
    ("00:00:5e:00:53:0a", "Poly", "Trio_8800", "5.9.1.10419", ("CVE-2023-4462", "MEDIUM", 5.9, 0)),
]  # fmt: skip


def test_cli_import_of_the_fixtures_fills_device_vulnerabilities(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'c.db'}"]
    store = open_store(str(tmp_path / "c.db"))
    try:
        sensor = Sensor()
        sensor.register(store)
        devices = [device(mac, NOW, vendor=v, model=m, firmware=f) for mac, v, m, f, _ in FLEET]
        Ingestor(store).handle(Received(sensor.topic, sensor.batch(devices), NOW))
    finally:
        store.close()
    expected = sorted(
        (f"{sensor.sensor_id}/{mac}", *row) for mac, _, _, _, row in FLEET if row is not None
    )
    assert main([*db, "cve", "import", *map(str, FILES)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"imported {len(FILES)} CVE records; {len(expected)} device vulnerabilities"
    )
    sql = (
        'SELECT "DeviceId", "CveId", "VulnerabilitySeverityLevel", "CvssScore", '
        '"IsKnownExploited" FROM "DeviceTvmSoftwareVulnerabilities" ORDER BY "DeviceId"'
    )
    assert main([*db, "query", sql, "--json"]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    assert [tuple(r.values()) for r in rows] == expected
