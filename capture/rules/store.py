"""FindingStore: every current finding of the rule engine, merged, bounded and change-tracked.

Input: alert and recommendation updates from the rules. Output: frozen Findings, all of them
(findings()) or those changed since the last drain (drain()).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from capture.findings import Finding, FindingKind, Severity, Status
from firmware.config import DetectConfig

log = logging.getLogger(__name__)
_WARN_EVERY_S = 3600.0  # a limit hit is logged at most once an hour (capture time)


@dataclass(slots=True)
class _Record:
    """Mutable state of one finding; a frozen Finding is made only when it is read."""

    kind: FindingKind
    rule_id: str
    title: str
    severity: Severity
    devices: list[str]
    first_seen: float
    last_seen: float
    count: int
    attack_technique: str
    status: Status
    evidence: dict[str, Any]
    dedup_key: str
    reported_at: float | None = None  # last_seen when it was last drained
    # Evidence of the latest update, built only when the finding is read (alerts update on
    # every probe; most updates are never reported).
    pending: Callable[[], Mapping[str, Any]] | None = None

    def freeze(self) -> Finding:
        if self.pending is not None:
            latest = self.pending()
            self.pending = None
            self.evidence.update((k, v) for k, v in latest.items() if not k.startswith("first_"))
        return Finding(
            kind=self.kind,
            rule_id=self.rule_id,
            title=self.title,
            severity=self.severity,
            devices=tuple(self.devices),
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            count=self.count,
            attack_technique=self.attack_technique,
            status=self.status,
            evidence=dict(self.evidence),
            dedup_key=self.dedup_key,
        )


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """The fixed part of an alert rule: id, title, severity, ATT&CK technique."""

    rule_id: str
    title: str
    severity: Severity
    attack_technique: str


@dataclass(frozen=True, slots=True)
class RecommendationSpec:
    rule_id: str
    title: str
    severity: Severity


# Devices listed on one alert (source first, then targets); the rest is counted in evidence.
ALERT_DEVICES_MAX = 16


class FindingStore:
    """Every current finding, bounded by detect.findings_max, with change tracking for drain().

    Alerts: repeats within detect.repeat_window_s update one alert (count, last_seen, targets);
    a repeat after it opens a new alert; tick() closes alerts quiet for the repeat window.
    Recommendations: one per (rule, device), with status unhealthy / healthy / stale.
    Updates that change nothing but time and count are reported at most once per
    detect.update_interval_s, so a 1000-port scan is not 1000 buffered findings.
    """

    def __init__(self, config: DetectConfig) -> None:
        self.config = config
        self.dropped = 0
        self.restore_invalid = 0  # saved findings that could not be restored (import_state)
        self._records: dict[str, _Record] = {}
        self._open_alerts: dict[str, str] = {}  # alert scope -> dedup_key of the open alert
        self._dirty: dict[str, None] = {}
        self._limit_warned_at: float | None = None

    def alert(
        self,
        spec: AlertSpec,
        source: str,
        targets: Iterable[str],
        at: float,
        evidence: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
        *,
        count: int = 1,
        scope: str = "",
        started_at: float | None = None,
    ) -> None:
        """Raise or update the alert of `spec` for `source` (and `scope`, e.g. a target).

        `started_at` is when the evidence that crossed the threshold began (the oldest probe
        in the window): a new alert's first_seen.

        `evidence` may be a function building it: it is called only when the finding is
        read, so per-probe updates stay cheap. Keys starting with "first_" keep the value of
        the update that opened the alert.
        """
        alert_scope = f"{spec.rule_id}|{source}|{scope}"
        key = self._open_alerts.get(alert_scope)
        record = self._records.get(key) if key is not None else None
        if record is not None and at - record.last_seen <= self.config.repeat_window_s:
            record.last_seen = max(record.last_seen, at)
            record.count += count
            for target in targets:
                if target not in record.devices and len(record.devices) < ALERT_DEVICES_MAX:
                    record.devices.append(target)
            if callable(evidence):
                record.pending = evidence
            else:
                record.pending = None
                record.evidence.update(
                    (k, v) for k, v in evidence.items() if not k.startswith("first_")
                )
            self._touch(record, changed=False)
            return
        if record is not None:
            self._close(record)
        devices = [source]
        for target in targets:
            if target not in devices and len(devices) < ALERT_DEVICES_MAX:
                devices.append(target)
        new = _Record(
            kind=FindingKind.ALERT,
            rule_id=spec.rule_id,
            title=spec.title,
            severity=spec.severity,
            devices=devices,
            first_seen=min(at, started_at) if started_at is not None else at,
            last_seen=at,
            count=count,
            attack_technique=spec.attack_technique,
            status=Status.ACTIVE,
            evidence=dict(evidence() if callable(evidence) else evidence),
            dedup_key=f"{alert_scope}|{at:.3f}",
        )
        if self._add(new):
            self._open_alerts[alert_scope] = new.dedup_key

    def recommend(
        self,
        spec: RecommendationSpec,
        device: str,
        status: Status,
        at: float,
        evidence: Mapping[str, Any],
    ) -> None:
        """Set the status of recommendation `spec` for `device` from one piece of evidence.

        A HEALTHY observation of a device that never was unhealthy makes no finding.
        `evidence` describes this observation; the finding keeps the first and the last.
        """
        key = f"{spec.rule_id}|{device}"
        record = self._records.get(key)
        if record is None:
            if status is not Status.UNHEALTHY:
                return
            first = {f"first_{k}": v for k, v in evidence.items()}
            last = {f"last_{k}": v for k, v in evidence.items()}
            self._add(
                _Record(
                    kind=FindingKind.RECOMMENDATION,
                    rule_id=spec.rule_id,
                    title=spec.title,
                    severity=spec.severity,
                    devices=[device],
                    first_seen=at,
                    last_seen=at,
                    count=1,
                    attack_technique="",
                    status=status,
                    evidence={**first, **last},
                    dedup_key=key,
                )
            )
            return
        if at < record.last_seen:
            return  # out-of-order evidence never overrides newer evidence
        changed = record.status is not status
        if changed:
            log.debug("finding %s %s -> %s", key, record.status, status)
        record.status = status
        record.last_seen = at
        if status is Status.UNHEALTHY:
            record.count += 1
        record.evidence.update({f"last_{k}": v for k, v in evidence.items()})
        self._touch(record, changed=changed)

    def recommendation_status(self, rule_id: str, device: str) -> Status | None:
        record = self._records.get(f"{rule_id}|{device}")
        return record.status if record is not None else None

    def tick(self, now: float) -> None:
        """Close alerts quiet for the repeat window; mark recommendations stale."""
        repeat_s, stale_s = self.config.repeat_window_s, self.config.stale_after_s
        for record in list(self._records.values()):
            if record.status is Status.ACTIVE and now - record.last_seen > repeat_s:
                self._close(record)
            elif (
                record.kind is FindingKind.RECOMMENDATION
                and record.status is not Status.STALE
                and now - record.last_seen > stale_s
            ):
                record.status = Status.STALE
                self._touch(record, changed=True)
            elif record.reported_at is not None and record.reported_at < record.last_seen:
                self._touch(record, changed=False, now=now)

    def drain(self) -> list[Finding]:
        """Findings new or changed since the last drain; closed alerts are then forgotten."""
        out: list[Finding] = []
        for key in self._dirty:
            record = self._records.get(key)
            if record is None:
                continue
            record.reported_at = record.last_seen
            out.append(record.freeze())
            if record.status is Status.CLOSED:
                del self._records[key]
        self._dirty.clear()
        return out

    def findings(self) -> list[Finding]:
        return [record.freeze() for record in self._records.values()]

    def export_state(self) -> list[dict[str, Any]]:
        """Every finding not yet closed, with what drain() needs, as JSON values (saved by the
        daemon with the inventory, firmware/inventoryfile.py)."""
        out = []
        for record in self._records.values():
            if record.status is Status.CLOSED:
                continue
            state = record.freeze().to_json()
            state["dedup_key"] = record.dedup_key
            state["reported_at"] = record.reported_at
            out.append(state)
        return out

    def import_state(self, state: Any) -> int:
        """Load what export_state wrote into this (empty) store; the number restored.
        Malformed entries are skipped and counted in `restore_invalid`. A restored alert
        goes on being updated by repeats within the repeat window, and closed by tick();
        a restored recommendation turns stale when its condition stays unseen."""
        if self._records:
            raise RuntimeError("import_state needs an empty store")
        if not isinstance(state, list):
            raise ValueError("findings state: not a list")
        for entry in state:
            try:
                record = _record_from_state(entry)
            except ValueError as exc:
                self.restore_invalid += 1
                log.debug("saved finding skipped: %s", exc)
                continue
            if record.dedup_key in self._records:
                self.restore_invalid += 1
                continue
            if self._add(record):
                if record.kind is FindingKind.ALERT:
                    scope = record.dedup_key.rsplit("|", 1)[0]
                    self._open_alerts[scope] = record.dedup_key
                if record.reported_at is not None and record.reported_at >= record.last_seen:
                    del self._dirty[record.dedup_key]  # the collector has this version
        return len(self._records)

    def _add(self, record: _Record) -> bool:
        if len(self._records) >= self.config.findings_max:
            warned = self._limit_warned_at
            if warned is None or record.first_seen - warned >= _WARN_EVERY_S:
                self._limit_warned_at = record.first_seen
                log.warning(
                    "findings limit %d reached; new findings are counted, not kept",
                    self.config.findings_max,
                )
            self.dropped += 1
            return False
        log.debug("finding %s %s", record.dedup_key, record.status)
        self._records[record.dedup_key] = record
        self._dirty[record.dedup_key] = None
        return True

    def _close(self, record: _Record) -> None:
        log.debug("finding %s closed", record.dedup_key)
        record.status = Status.CLOSED
        scope = record.dedup_key.rsplit("|", 1)[0]
        if self._open_alerts.get(scope) == record.dedup_key:
            del self._open_alerts[scope]
        self._dirty[record.dedup_key] = None

    def _touch(self, record: _Record, *, changed: bool, now: float | None = None) -> None:
        if changed or record.reported_at is None:
            self._dirty[record.dedup_key] = None
            return
        reference = record.last_seen if now is None else now
        if reference - record.reported_at >= self.config.update_interval_s:
            self._dirty[record.dedup_key] = None


_KINDS = {str(k): k for k in FindingKind}
_SEVERITIES = {str(s): s for s in Severity}
_OPEN = {
    FindingKind.ALERT: {Status.ACTIVE},
    FindingKind.RECOMMENDATION: {Status.UNHEALTHY, Status.HEALTHY, Status.STALE},
}


def _record_from_state(entry: Any) -> _Record:
    """The record FindingStore.export_state wrote; ValueError names what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError("finding: not an object")
    kind = _KINDS.get(_text(entry, "kind"))
    severity = _SEVERITIES.get(_text(entry, "severity"))
    if kind is None or severity is None:
        raise ValueError("finding: unknown kind or severity")
    try:
        status = Status(_text(entry, "status"))
    except ValueError:
        raise ValueError("finding: unknown status") from None
    if status not in _OPEN[kind]:
        raise ValueError(f"finding: a {kind} cannot be {status}")
    rule_id, dedup_key = _text(entry, "rule_id"), _text(entry, "dedup_key")
    if not rule_id or not dedup_key:
        raise ValueError("finding: empty rule_id or dedup_key")
    devices = entry.get("devices")
    if (
        not isinstance(devices, list)
        or not devices
        or len(devices) > ALERT_DEVICES_MAX
        or not all(isinstance(d, str) for d in devices)
    ):
        raise ValueError("finding: devices")
    count = entry.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError("finding: count")
    evidence = entry.get("evidence")
    if not isinstance(evidence, dict):
        raise ValueError("finding: evidence")
    return _Record(
        kind=kind,
        rule_id=rule_id,
        title=_text(entry, "title"),
        severity=severity,
        devices=list(devices),
        first_seen=_time(entry.get("first_seen")),
        last_seen=_time(entry.get("last_seen")),
        count=count,
        attack_technique=_text(entry, "attack_technique"),
        status=status,
        evidence=evidence,
        dedup_key=dedup_key,
        reported_at=None if entry.get("reported_at") is None else _time(entry["reported_at"]),
    )


def _text(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str):
        raise ValueError(f"finding: {key} is not a string")
    return value


def _time(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
        raise ValueError("finding: not a time")
    return float(value)
