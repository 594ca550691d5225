"""Every query of docs/hunting.md, on seeded data, on both engines; the query runner is read-only.

The seed is a small made-up estate, ingested through the real path (signed batches →
Ingestor) with instants relative to the real clock (the queries use now_epoch()). Expected
rows follow from the seed as described next to it, not from running the queries.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from capture.findings import Finding, FindingKind, Severity, Status
from collector.cve import CpeMap, import_records, read_records, rematch
from collector.errors import QueryError
from collector.ingest import Ingestor, Received
from collector.queries import format_json, format_table, run_query
from collector.registry import add_sensor
from collector.store import Store
from tests.collector.conftest import Sensor
from tests.collector.items import device
from uplink.batch import GENESIS_HASH, FindingItem, GapItem, Signer

DOC = Path(__file__).resolve().parents[2] / "docs" / "hunting.md"
NVD = Path(__file__).resolve().parent.parent / "fixtures" / "nvd"
DAY = 86_400.0

CAM = "44:19:b6:00:00:01"
PRINTER = "3c:d9:2b:00:00:02"
PHONE = "00:1b:54:00:00:03"
UNKNOWN = "02:00:00:00:00:04"
PRINTER2 = "3c:d9:2b:00:00:05"
TV = "a8:23:fe:00:00:06"


def documented_queries() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n-- id: ([a-z0-9-]+)\n(.*?)```", text, flags=re.S)
    return {name: sql.strip() for name, sql in blocks}


def _finding(
    kind: FindingKind, rule: str, mac: str, at: float, status: Status, technique: str = ""
) -> FindingItem:
    return FindingItem(Finding(kind=kind, rule_id=rule, title=rule, severity=Severity.HIGH,
                               devices=(mac,), first_seen=at - 60, last_seen=at, status=status,
                               attack_technique=technique))  # fmt: skip


def _change(name: str, before: str | None, after: str | None, at: float) -> dict[str, Any]:
    return {"field": name, "before": before, "after": after, "at": at, "confidence": 0.9,
            "evidence": [f"seeded {name} change"]}  # fmt: skip


def seed(store: Store) -> None:
    now = time.time()
    a = Sensor("pi-a", "branch-1", created_at=now)
    b = Sensor("pi-b", "branch-2", created_at=now - 3600)  # clock one hour behind: skewed
    for s in (a, b):
        s.register(store, now - 60 * DAY)
    add_sensor(
        store, "branch-3", "pi-c", now=now - DAY, public_key=Signer.generate().public_key_bytes
    )
    rec, alert = FindingKind.RECOMMENDATION, FindingKind.ALERT
    a_items: list[Any] = [
        # Camera: Hikvision model of CVE-2021-36260, Telnet on 23, firmware upgraded below.
        device(CAM, now - DAY, category="iot", type="camera", vendor="Hikvision",
               model="DS-2CD2026G2-IU/SL", firmware="V5.4.0 build 160530", names=["cam-lobby"],
               first_seen=now - 30 * DAY, last_seen=now - DAY, ips=["10.1.0.10"],
               services=[{"proto": "tcp", "port": 23, "name": "telnet", "banner": ""},
                         {"proto": "tcp", "port": 80, "name": "http", "banner": ""}]),
        device(PRINTER, now, category="iot", type="printer", vendor="HP", model="LaserJet M402",
               first_seen=now - 20 * DAY, last_seen=now, ips=["10.1.0.20"], protocols=["snmp"]),
        device(PHONE, now, category="iot", type="voip_phone", vendor="Cisco", model="CP-8845",
               first_seen=now - 2 * DAY, last_seen=now, ips=["10.1.0.30"]),
        device(UNKNOWN, now, first_seen=now - DAY, last_seen=now, ips=["10.1.0.40", "10.1.0.41"],
               changes=[
                   # Classified a printer at first sight; a camera's evidence as strong came
                   # later behind the same MAC, so the sensor withdrew the type.
                   _change("type", None, "printer", now - DAY),
                   _change("type", "printer", None, now - 2 * 3600),
               ]),
        _finding(rec, "telnet-exposed", CAM, now, Status.UNHEALTHY),
        _finding(rec, "snmp-v1-v2c", PRINTER, now, Status.UNHEALTHY),
        _finding(alert, "port-scan", UNKNOWN, now, Status.ACTIVE, "T1046"),
    ]  # fmt: skip
    a_later = [device(CAM, now, firmware="V5.5.0 build 170725")]
    b_items: list[Any] = [
        device(PRINTER2, now, category="iot", type="printer", vendor="HP", model="LaserJet M402",
               first_seen=now - 40 * DAY, last_seen=now, ips=["10.2.0.20"],
               services=[{"proto": "tcp", "port": 2323, "name": "telnet", "banner": "login:"}]),
        device(TV, now, category="iot", type="tv", vendor="LG", first_seen=now - 3 * DAY,
               last_seen=now, ips=["10.2.0.60"],
               changes=[_change("type", None, "tv", now - 3 * DAY),  # a first classification
                        _change("vendor", None, "LG", now - 3 * DAY),
                        {"field": "type", "at": "yesterday"},  # malformed: skipped
                        _change("colour", None, "red", now)]),  # not a classified field
        _finding(rec, "snmp-v1-v2c", PRINTER2, now, Status.UNHEALTHY),
        _finding(rec, "snmp-v1-v2c", TV, now, Status.HEALTHY),
        _finding(alert, "telnet-password-guessing", TV, now, Status.ACTIVE, "T1110"),
        _finding(alert, "arp-scan", PRINTER2, now - 5 * DAY, Status.CLOSED, "T1018"),
    ]  # fmt: skip
    ingest = Ingestor(store)
    raws = [(a, a.batch(a_items)), (a, a.batch(a_later)), (b, b.batch(b_items))]
    b.seq += 2  # seq 1 and 2 evicted on sensor B (7 items), reported by the next batch
    raws.append((b, b.batch([GapItem(now, ((1, 2),), 2, 7)])))
    raws.append((a, a.batch([], seq=0, prev_hash=GENESIS_HASH)))  # same seq, other bytes
    outcomes = ingest.handle_many([Received(s.topic, raw, now) for s, raw in raws])
    assert [o.status.value for o in outcomes] == ["accepted"] * 4 + ["rejected"]
    import_records(store, read_records(NVD / "CVE-2021-36260.json"))
    rematch(store, CpeMap.load())


def dev(sensor: str, mac: str) -> str:
    return f"{sensor}/{mac}"


EXPECTED: dict[str, list[tuple[Any, ...]]] = {
    "known-exploited-with-telnet": [(dev("pi-a", CAM), "CVE-2021-36260")],
    "first-seen-7d": [(dev("pi-a", PHONE), "branch-1"), (dev("pi-a", UNKNOWN), "branch-1"), (dev("pi-b", TV), "branch-2")],
    "snmp-v1v2-per-site": [("branch-1", 1), ("branch-2", 1)],
    "firmware-changed": [(dev("pi-a", CAM), "V5.4.0 build 160530", "V5.5.0 build 170725")],
    "critical-cves-per-site": [("branch-1", 1)],
    "unhealthy-recommendations": [(dev("pi-a", PRINTER), "snmp-v1-v2c"), (dev("pi-a", CAM), "telnet-exposed"), (dev("pi-b", PRINTER2), "snmp-v1-v2c")],
    "active-alerts-by-technique": [("T1046", 1), ("T1110", 1)],
    "device-types-per-site": [("branch-1", "camera", 1), ("branch-1", "printer", 1), ("branch-1", "unclassified", 1), ("branch-1", "voip_phone", 1), ("branch-2", "printer", 1), ("branch-2", "tv", 1)],
    "silent-sensors": [("pi-c", "branch-3")],
    "clock-skewed-sensors": [("pi-b",)],
    "sensors-with-evictions": [("pi-b", 7)],
    "telnet-any-port": [(dev("pi-a", CAM), 23), (dev("pi-b", PRINTER2), 2323)],
    "multi-address-devices": [(dev("pi-a", UNKNOWN), 2)],
    "cameras-with-cves": [(dev("pi-a", CAM), "DS-2CD2026G2-IU/SL", "CVE-2021-36260", 9.8)],
    "unclassified-devices": [(dev("pi-a", UNKNOWN), UNKNOWN)],
    "rollback-alarms-7d": [("pi-a", 1)],
    "remediated": [(dev("pi-b", TV), "snmp-v1-v2c")],
    "type-changed-7d": [(dev("pi-a", UNKNOWN), "printer", None)],
}  # fmt: skip


def test_docs_document_at_least_15_queries_each_with_an_expectation() -> None:
    queries = documented_queries()
    assert len(queries) >= 15
    assert set(queries) == set(EXPECTED)


def test_every_documented_query_returns_its_rows(store: Store) -> None:
    seed(store)
    for name, sql in documented_queries().items():
        _, rows = run_query(store, sql)
        assert [tuple(r) for r in rows] == EXPECTED[name], name


@pytest.mark.parametrize(
    "sql",
    [
        'DELETE FROM "DeviceInfo"',
        'UPDATE "Sensors" SET "Status" = \'revoked\'',
        'DROP TABLE "Alerts"',
        'CREATE TABLE "X" ("a" TEXT)',
    ],
)
def test_query_runner_refuses_writes(store: Store, sql: str) -> None:
    seed(store)
    with pytest.raises(QueryError):
        run_query(store, sql)
    _, rows = run_query(store, 'SELECT COUNT(*) FROM "DeviceInfo"')
    assert rows[0][0] == 6


def test_query_output_as_table_and_json() -> None:
    columns, rows = ["DeviceId", "Port"], [("pi-a/x", 23)]
    assert format_table(columns, rows).splitlines()[0].split() == ["DeviceId", "Port"]
    assert '"Port": 23' in format_json(columns, rows)
