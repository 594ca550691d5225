"""Finding: what the rules conclude about devices (recommendations and alerts).

Rules (capture/rules/) produce Findings; the buffer stores them; the collector ingests them.
The field names are the JSON keys of `inspect --json` finding records and of the wire items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class FindingKind(StrEnum):
    RECOMMENDATION = "recommendation"
    ALERT = "alert"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Status(StrEnum):
    """One status enum used everywhere (sensor, wire, collector).

    Recommendations: UNHEALTHY (condition seen), HEALTHY (positively seen gone), STALE (not
    observed for the configured period). Alerts: ACTIVE while repeats keep coming, then CLOSED.
    """

    UNHEALTHY = "unhealthy"
    HEALTHY = "healthy"
    STALE = "stale"
    ACTIVE = "active"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Finding:
    """A recommendation status or an alert about one or more devices.

    Attributes:
        kind: recommendation or alert.
        rule_id: stable kebab-case id (public name, never reused).
        title: human title ("Disable insecure administration protocol – Telnet").
        severity: Severity.
        devices: MACs (or "vlan/ip" keys) of the devices involved; for alerts the source first.
        first_seen, last_seen: UTC epoch seconds of the first and last evidence.
        count: how many times the condition was seen (merged repeats).
        attack_technique: MITRE ATT&CK id ("T1046") or "" for recommendations.
        status: Status.
        evidence: JSON-friendly details (flow 5-tuples, ports, thresholds, ...).
        dedup_key: identity of the finding across updates (rule_id + devices + scope).
    """

    kind: FindingKind
    rule_id: str
    title: str
    severity: Severity
    devices: tuple[str, ...]
    first_seen: float
    last_seen: float
    count: int = 1
    attack_technique: str = ""
    status: Status = Status.UNHEALTHY
    evidence: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    dedup_key: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.evidence, MappingProxyType):
            object.__setattr__(self, "evidence", MappingProxyType(dict(self.evidence)))
        if not self.dedup_key:
            object.__setattr__(self, "dedup_key", f"{self.rule_id}|{'|'.join(self.devices)}")

    def to_json(self) -> dict[str, Any]:
        """The `{"record": "finding", ...}` object of `inspect --json` (without "record")."""
        return {
            "kind": str(self.kind),
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": str(self.severity),
            "devices": list(self.devices),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "count": self.count,
            "attack_technique": self.attack_technique,
            "status": str(self.status),
            "evidence": _plain(self.evidence),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
