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


def finding_from_parts(
    kind: FindingKind,
    rule_id: str,
    title: str,
    severity: Severity,
    devices: tuple[str, ...],
    first_seen: float,
    last_seen: float,
    count: int,
    attack_technique: str,
    status: Status,
    evidence: MappingProxyType[str, Any],
    dedup_key: str,
) -> Finding:
    """A Finding from parts that already satisfy __post_init__ (read-only evidence, a
    non-empty dedup_key), without the dataclass __init__: the collector decodes about a
    hundred thousand per CPU-second, and the frozen __init__ (one object.__setattr__ per
    field) was 4.4 of its 7.5 us. Equal to Finding(...) with the same arguments."""
    if not dedup_key or type(evidence) is not MappingProxyType:
        return Finding(
            kind, rule_id, title, severity, devices, first_seen, last_seen, count,
            attack_technique, status, evidence, dedup_key,
        )  # fmt: skip
    f = _new(Finding)
    _set_kind(f, kind)
    _set_rule_id(f, rule_id)
    _set_title(f, title)
    _set_severity(f, severity)
    _set_devices(f, devices)
    _set_first_seen(f, first_seen)
    _set_last_seen(f, last_seen)
    _set_count(f, count)
    _set_attack_technique(f, attack_technique)
    _set_status(f, status)
    _set_evidence(f, evidence)
    _set_dedup_key(f, dedup_key)
    return f


# The slot descriptors of Finding (a slots dataclass): writing through them is what the
# frozen __init__ does via object.__setattr__, without the per-call attribute lookup.
_new = object.__new__
(
    _set_kind, _set_rule_id, _set_title, _set_severity, _set_devices, _set_first_seen,
    _set_last_seen, _set_count, _set_attack_technique, _set_status, _set_evidence,
    _set_dedup_key,
) = (
    Finding.__dict__[name].__set__
    for name in (
        "kind", "rule_id", "title", "severity", "devices", "first_seen", "last_seen", "count",
        "attack_technique", "status", "evidence", "dedup_key",
    )
)  # fmt: skip


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
