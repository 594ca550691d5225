"""CPE 2.3 parsing, firmware version order, NVD configuration semantics, import and matching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector.cpe import compare_versions, evaluate, parse_configurations, parse_cpe
from collector.cve import CpeMap, Matcher, import_records, read_records, rematch
from collector.errors import CveDataError
from collector.ingest import Ingestor, Received
from collector.store import Store
from tests.collector.conftest import NOW, Sensor
from tests.collector.items import device

NVD = Path(__file__).resolve().parent.parent / "fixtures" / "nvd"
CAM_FW = "cpe:2.3:o:hikvision:ds-2cd2026g2-iu\\/sl_firmware:-:*:*:*:*:*:*:*"


def test_cpe_parse_unquotes_escaped_slash_and_colon() -> None:
    cpe = parse_cpe(CAM_FW)
    assert (cpe.part, cpe.vendor, cpe.product, cpe.version) == (
        "o", "hikvision", "ds-2cd2026g2-iu/sl_firmware", "-",
    )  # fmt: skip
    assert parse_cpe("cpe:2.3:a:vendor:prod\\:uct:1.0:*:*:*:*:*:*:*").product == "prod:uct"
    assert str(cpe) == CAM_FW  # re-quoted the way NVD writes it


@pytest.mark.parametrize(
    "bad",
    [
        "cpe:/o:hikvision:x",
        "cpe:2.3:o:hikvision",
        "cpe:2.3:x:a:b:*:*:*:*:*:*:*:*",
        "cpe:2.3:o:a:b\\",
    ],
)
def test_cpe_parse_rejects_malformed_names(bad: str) -> None:
    with pytest.raises(CveDataError):
        parse_cpe(bad)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("V5.5.0 build 170725", "V5.4.0 build 160530", 1),  # Hikvision strings (CVE-2017-7921 text)
        ("V5.4.0 build 160530", "V5.4.0 Build 160401", 1),
        ("V5.5.0 build 170725", "5.5.0", 1),  # a build of 5.5.0 is past plain 5.5.0
        ("5.5", "5.5.0", 0),
        ("12.7(1)", "12.8(1)", -1),  # Cisco phone style
        ("20190419", "20190426", -1),  # HP LaserJet date-style firmware
        ("2.820.0000000.18", "2.820.0000000.9", 1),  # numeric, not text, comparison
    ],
)
def test_firmware_versions_compare_as_vendors_write_them(a: str, b: str, expected: int) -> None:
    assert compare_versions(a, b) == expected


def _config(nodes: list[dict[str, Any]], operator: str = "AND") -> Any:
    return parse_configurations([{"operator": operator, "nodes": nodes}])


def _node(*matches: dict[str, Any], negate: bool = False, operator: str = "OR") -> dict[str, Any]:
    return {"operator": operator, "negate": negate, "cpeMatch": list(matches)}


FW = {"vulnerable": True, "criteria": "cpe:2.3:o:acme:cam_firmware:*:*:*:*:*:*:*:*"}
HW = {"vulnerable": False, "criteria": "cpe:2.3:h:acme:cam:-:*:*:*:*:*:*:*"}


def _dev(version: str) -> list[Any]:
    return [
        parse_cpe(f"cpe:2.3:o:acme:cam_firmware:{version}:*:*:*:*:*:*:*"),
        parse_cpe("cpe:2.3:h:acme:cam:-:*:*:*:*:*:*:*"),
    ]


@pytest.mark.parametrize(
    ("bounds", "version", "hit"),
    [
        ({"versionStartIncluding": "5.2.0", "versionEndIncluding": "5.4.0"}, "5.2.0", True),
        ({"versionStartIncluding": "5.2.0", "versionEndIncluding": "5.4.0"}, "5.4.0", True),
        ({"versionStartIncluding": "5.2.0", "versionEndIncluding": "5.4.0"}, "5.4.1", False),
        ({"versionStartExcluding": "5.2.0"}, "5.2.0", False),
        ({"versionStartExcluding": "5.2.0"}, "5.2.1", True),
        ({"versionEndExcluding": "5.5.0"}, "V5.4.5 build 160928", True),
        ({"versionEndExcluding": "5.5.0"}, "V5.5.0 build 170725", False),
        ({"versionStartIncluding": "5.2.0"}, "5.1.9", False),
    ],
)
def test_all_four_version_bounds(bounds: dict[str, str], version: str, hit: bool) -> None:
    configs = _config([_node({**FW, **bounds}), _node(HW)])
    assert (evaluate(configs, _dev(version)) is not None) is hit


def test_hardware_cpe_alone_never_matches() -> None:
    hw_only = parse_configurations([{"nodes": [_node(HW)]}])
    assert evaluate(hw_only, _dev("1.0")) is None
    other_fw = [parse_cpe("cpe:2.3:o:acme:other_firmware:1.0:*:*:*:*:*:*:*"), _dev("1.0")[1]]
    assert evaluate(_config([_node(FW), _node(HW)]), other_fw) is None


def test_and_node_needs_the_hardware_too() -> None:
    fw_only = [_dev("1.0")[0]]
    assert evaluate(_config([_node(FW), _node(HW)]), fw_only) is None
    assert evaluate(_config([_node(FW), _node(HW)], operator="OR"), fw_only) is not None


def test_negated_node_excludes_a_platform() -> None:
    excluded = {"vulnerable": False, "criteria": "cpe:2.3:h:acme:cam:-:*:*:*:*:*:*:*"}
    configs = _config([_node(FW), _node(excluded, negate=True)])
    assert evaluate(configs, _dev("1.0")) is None
    assert evaluate(configs, [_dev("1.0")[0]]) is not None


def test_unknown_firmware_version_matches_only_every_version_criteria() -> None:
    bounded = _config([_node({**FW, "versionEndExcluding": "2.0"}), _node(HW)])
    assert evaluate(bounded, _dev("*")) is None
    assert evaluate(_config([_node(FW), _node(HW)]), _dev("*")) is not None


def test_nvd_page_import_reads_severity_and_known_exploited() -> None:
    (record,) = list(read_records(NVD / "CVE-2021-36260.json"))
    assert (record.cve_id, record.cvss_score, record.severity, record.is_known_exploited) == (
        "CVE-2021-36260", 9.8, "CRITICAL", True,
    )  # fmt: skip
    assert record.products() == {("hikvision", "ds-2cd2026g2-iu/sl_firmware")}


def test_per_cve_file_and_bare_record_layouts_are_read(tmp_path: Path) -> None:
    page = json.loads((NVD / "CVE-2021-36260.json").read_text())
    cve = page["vulnerabilities"][0]["cve"]
    (tmp_path / "a.json").write_text(json.dumps({"cve": cve}))
    (tmp_path / "b.json").write_text(json.dumps(cve))
    assert [r.cve_id for p in ("a.json", "b.json") for r in read_records(tmp_path / p)] == [
        "CVE-2021-36260"
    ] * 2
    (tmp_path / "c.json").write_text("[]")
    with pytest.raises(CveDataError):
        list(read_records(tmp_path / "c.json"))


def test_camera_matches_cve_2021_36260_through_the_cpe_map(store: Store) -> None:
    sensor = Sensor()
    sensor.register(store)
    cam = device("44:19:b6:00:00:01", NOW, vendor="Hikvision", model="DS-2CD2026G2-IU/SL",
                 firmware="V5.5.0 build 170725")  # fmt: skip
    printer = device("3c:d9:2b:00:00:02", NOW, vendor="HP", model="LaserJet M402", firmware="1.0")
    Ingestor(store).handle(Received(sensor.topic, sensor.batch([cam, printer]), NOW))
    import_records(store, read_records(NVD / "CVE-2021-36260.json"))
    assert rematch(store, CpeMap.load()) == 1
    with store.transaction() as tx:
        rows = tx.fetchall(
            'SELECT "DeviceId", "CveId", "VulnerabilitySeverityLevel", "IsKnownExploited", '
            '"MatchedCpe" FROM "DeviceTvmSoftwareVulnerabilities"'
        )
    assert rows == [("pi-0001/44:19:b6:00:00:01", "CVE-2021-36260", "CRITICAL", 1, CAM_FW)]


def test_ingest_of_a_changed_device_rematches_it_and_new_cve_data_is_seen(store: Store) -> None:
    sensor = Sensor()
    sensor.register(store)
    matcher = Matcher(CpeMap.load())
    ingest = Ingestor(store, on_devices_changed=lambda ids: matcher.rematch(store, device_ids=ids))
    mac = "44:19:b6:00:00:09"

    def vulns() -> list[tuple[Any, ...]]:
        with store.transaction() as tx:
            return tx.fetchall('SELECT "DeviceId", "CveId" FROM "DeviceTvmSoftwareVulnerabilities"')

    other = device(mac, NOW, vendor="Hikvision", model="DS-2CD2143G2-I", firmware="V5.7.0")
    ingest.handle(Received(sensor.topic, sensor.batch([other]), NOW))
    assert vulns() == []  # no CVE data yet; the (empty) index is now cached
    import_records(store, read_records(NVD / "CVE-2021-36260.json"))
    now_matching = device(mac, NOW + 1, model="DS-2CD2026G2-IU/SL")
    ingest.handle(Received(sensor.topic, sensor.batch([now_matching]), NOW + 1))
    assert vulns() == [(f"pi-0001/{mac}", "CVE-2021-36260")]
    renamed = device(mac, NOW + 2, model="DS-2CD2143G2-I")
    ingest.handle(Received(sensor.topic, sensor.batch([renamed]), NOW + 2))
    assert vulns() == []
