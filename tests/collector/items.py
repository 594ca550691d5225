"""Wire items for collector tests, written as the sensor sends them (docs/wire-format.md)."""

from __future__ import annotations

from typing import Any

from capture.findings import Finding, FindingKind, Severity, Status
from uplink.batch import DeviceUpsert, FindingItem

TELNET = "Disable insecure administration protocol – Telnet"


def telnet_finding(mac: str, at: float, *, status: Status = Status.UNHEALTHY) -> FindingItem:
    return FindingItem(
        Finding(
            kind=FindingKind.RECOMMENDATION,
            rule_id="telnet-exposed",
            title=TELNET,
            severity=Severity.HIGH,
            devices=(mac,),
            first_seen=at - 60,
            last_seen=at,
            status=status,
            evidence={"port": 23},
        )
    )


def scan_alert(mac: str, at: float, n: int = 0) -> FindingItem:
    return FindingItem(
        Finding(
            kind=FindingKind.ALERT,
            rule_id="port-scan",
            title="Port scan",
            severity=Severity.MEDIUM,
            devices=(mac,),
            first_seen=at - 10,
            last_seen=at,
            count=1 + n,
            attack_technique="T1046",
            status=Status.ACTIVE,
            evidence={"ports": 25},
            dedup_key=f"port-scan|{mac}|{n}",
        )
    )


def device(mac: str, at: float, **fields: Any) -> DeviceUpsert:
    return DeviceUpsert(mac=mac, at=at, fields=fields, full=True)
