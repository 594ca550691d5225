"""CVE data: NVD CVE JSON 2.0 import, the device → CPE table, and matching into
"DeviceTvmSoftwareVulnerabilities".

Input: NVD API pages (`{"vulnerabilities": [{"cve": {...}}]}`) or per-CVE files (`{"cve":
{...}}` or the bare cve object); nothing is downloaded. Output: one row per (device, CVE) with
the CVSS severity, the known-exploited flag (CISA KEV fields of the NVD record), the matched
criterion and the device CPE. Matching is offline, through an index of the (vendor, product)
of every vulnerable criterion, so a device is only checked against CVEs naming its products.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from collector.cpe import ANY, Configuration, Cpe, evaluate, parse_configurations, parse_cpe
from collector.errors import CveDataError
from collector.store import Store, Tx

log = logging.getLogger(__name__)

_METRIC_KEYS = ("cvssMetricV40", "cvssMetricV31", "cvssMetricV30", "cvssMetricV2")


@dataclass(frozen=True, slots=True)
class CveRecord:
    cve_id: str
    published: str | None
    last_modified: str | None
    description: str
    cvss_score: float | None
    severity: str | None
    is_known_exploited: bool
    configurations_json: str
    configurations: tuple[Configuration, ...] = field(compare=False)

    def products(self) -> set[tuple[str, str]]:
        """(vendor, product) of every vulnerable criterion: the matching index keys."""
        return {
            (m.cpe.vendor, m.cpe.product)
            for c in self.configurations
            for n in c.nodes
            for m in n.matches
            if m.vulnerable
        }


def parse_record(cve: Any) -> CveRecord:
    """One NVD 2.0 `cve` object → CveRecord.

    Raises:
        CveDataError: no id, or configurations that do not parse.
    """
    if not isinstance(cve, Mapping) or not isinstance(cve.get("id"), str):
        raise CveDataError("a CVE record needs an id")
    score, severity = _cvss(cve.get("metrics") or {})
    configurations = cve.get("configurations") or []
    try:
        parsed = parse_configurations(configurations)
    except CveDataError as exc:
        raise CveDataError(f"{cve['id']}: {exc}") from exc
    return CveRecord(
        cve_id=cve["id"],
        published=cve.get("published"),
        last_modified=cve.get("lastModified"),
        description=next(
            (d.get("value", "") for d in cve.get("descriptions") or () if d.get("lang") == "en"),
            "",
        ),
        cvss_score=score,
        severity=severity,
        # NVD carries CISA's Known Exploited Vulnerabilities entry as cisaExploitAdd & co.
        is_known_exploited="cisaExploitAdd" in cve,
        configurations_json=json.dumps(configurations, separators=(",", ":")),
        configurations=parsed,
    )


def _cvss(metrics: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """The newest CVSS version present, preferring NVD's own ("Primary") score."""
    for key in _METRIC_KEYS:
        entries = metrics.get(key) or []
        if not entries:
            continue
        entry = next((e for e in entries if e.get("type") == "Primary"), entries[0])
        data = entry.get("cvssData") or {}
        score = data.get("baseScore")
        severity = data.get("baseSeverity") or entry.get("baseSeverity")
        return (float(score) if score is not None else None, severity)
    return None, None


def read_records(path: str | Path) -> Iterator[CveRecord]:
    """Records of one NVD file: an API page, a `{"cve": ...}` file or a bare cve object.

    Raises:
        CveDataError: unreadable JSON or an unknown layout.
    """
    try:
        with open(path, "rb") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise CveDataError(f"{path}: {exc}") from exc
    if isinstance(data, Mapping) and isinstance(data.get("vulnerabilities"), list):
        for item in data["vulnerabilities"]:
            yield parse_record(item.get("cve") if isinstance(item, Mapping) else None)
    elif isinstance(data, Mapping) and isinstance(data.get("cve"), Mapping):
        yield parse_record(data["cve"])
    elif isinstance(data, Mapping) and "id" in data:
        yield parse_record(data)
    else:
        raise CveDataError(f"{path}: not an NVD CVE JSON 2.0 page or record")


def import_records(store: Store, records: Iterable[CveRecord], chunk: int = 2000) -> int:
    """Insert or replace CVE records and their product index. Returns the number imported."""
    count = 0
    batch: list[CveRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= chunk:
            count += _import_chunk(store, batch)
            batch = []
    if batch:
        count += _import_chunk(store, batch)
    return count


def _import_chunk(store: Store, records: Sequence[CveRecord]) -> int:
    with store.transaction() as tx:
        ids = [(r.cve_id,) for r in records]
        tx.executemany('DELETE FROM "CveProducts" WHERE "CveId" = ?', ids)
        tx.executemany('DELETE FROM "Cves" WHERE "CveId" = ?', ids)
        tx.executemany(
            'INSERT INTO "Cves" ("CveId", "Published", "LastModified", "Description", '
            '"CvssScore", "VulnerabilitySeverityLevel", "IsKnownExploited", "Configurations") '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.cve_id,
                    r.published,
                    r.last_modified,
                    r.description,
                    r.cvss_score,
                    r.severity,
                    int(r.is_known_exploited),
                    r.configurations_json,
                )
                for r in records
            ],
        )
        tx.executemany(
            'INSERT INTO "CveProducts" ("Vendor", "Product", "CveId") VALUES (?, ?, ?)',
            [(v, p, r.cve_id) for r in records for v, p in sorted(r.products())],
        )
    return len(records)


# --- device → CPE candidates --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ProductRule:
    vendor: str
    model_glob: str
    cpes: tuple[str, ...]
    strip_prefix: str = ""


class CpeMap:
    """The normalisation table of collector/data/cpe_map.toml (or another file)."""

    def __init__(self, vendors: Mapping[str, str], rules: Sequence[_ProductRule]) -> None:
        self._vendors = {k.strip().lower(): v for k, v in vendors.items()}
        self._rules = tuple(rules)

    @classmethod
    def load(cls, path: str | Path | None = None) -> CpeMap:
        if path is None:
            text = resources.files("collector").joinpath("data/cpe_map.toml").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        data = tomllib.loads(text)
        rules = [
            _ProductRule(
                vendor=r["vendor"],
                model_glob=r["model"],
                cpes=tuple(r["cpes"]),
                strip_prefix=r.get("strip_prefix", ""),
            )
            for r in data.get("products", [])
        ]
        return cls(data.get("vendors", {}), rules)

    def nvd_vendor(self, vendor: str | None) -> str | None:
        if not vendor:
            return None
        return self._vendors.get(vendor.strip().lower())

    def candidates(
        self, vendor: str | None, model: str | None, firmware: str | None
    ) -> tuple[Cpe, ...]:
        """The device's candidate CPEs (firmware `o:` and hardware `h:`), or () if unmapped."""
        nvd_vendor = self.nvd_vendor(vendor)
        if nvd_vendor is None or not model:
            return ()
        norm = "_".join(model.strip().lower().split())
        version = firmware.strip() if firmware and firmware.strip() else ANY
        templates: tuple[str, ...] = (
            f"cpe:2.3:o:{nvd_vendor}:{{model}}_firmware:{{version}}:*:*:*:*:*:*:*",
            f"cpe:2.3:h:{nvd_vendor}:{{model}}:-:*:*:*:*:*:*:*",
        )
        for rule in self._rules:
            if rule.vendor == nvd_vendor and fnmatch.fnmatchcase(norm, rule.model_glob):
                templates = rule.cpes
                norm = norm.removeprefix(rule.strip_prefix)
                break
        return tuple(_fill(template, norm, version) for template in templates)


def _fill(template: str, model: str, version: str) -> Cpe:
    """Substitute {model}/{version} into a template, quoting them as CPE values."""
    quoted_model = "".join("\\" + c if not (c.isalnum() or c in "-._") else c for c in model)
    quoted_version = (
        version
        if version == ANY
        else "".join("\\" + c if not (c.isalnum() or c in "-._") else c for c in version)
    )
    return parse_cpe(template.replace("{model}", quoted_model).replace("{version}", quoted_version))


# --- matching ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    sensor_id: str
    site: str
    vendor: str | None
    model: str | None
    firmware: str | None


@dataclass(frozen=True, slots=True)
class Match:
    device: Device
    cve_id: str
    severity: str | None
    cvss_score: float | None
    is_known_exploited: bool
    matched_cpe: str
    device_cpe: str


class CveIndex:
    """The CVE records of a store, indexed by (vendor, product); records parse on first use.

    Built inside a transaction; `tx` is the transaction used for lazy record loads and may be
    replaced by a later one (Matcher keeps an index across transactions while the data stays).
    """

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self._by_product: dict[tuple[str, str], list[str]] = {}
        for vendor, product, cve_id in tx.fetchall(
            'SELECT "Vendor", "Product", "CveId" FROM "CveProducts"'
        ):
            self._by_product.setdefault((vendor, product), []).append(cve_id)
        self._records: dict[str, CveRecord] = {}

    def candidates(self, cpes: Iterable[Cpe]) -> list[str]:
        ids: set[str] = set()
        for cpe in cpes:
            ids.update(self._by_product.get((cpe.vendor, cpe.product), ()))
        return sorted(ids)

    def record(self, cve_id: str) -> CveRecord:
        cached = self._records.get(cve_id)
        if cached is None:
            row = self.tx.fetchone(
                'SELECT "CveId", "Published", "LastModified", "Description", "CvssScore", '
                '"VulnerabilitySeverityLevel", "IsKnownExploited", "Configurations" '
                'FROM "Cves" WHERE "CveId" = ?',
                (cve_id,),
            )
            assert row is not None, cve_id
            cached = CveRecord(
                cve_id=row[0],
                published=row[1],
                last_modified=row[2],
                description=row[3] or "",
                cvss_score=row[4],
                severity=row[5],
                is_known_exploited=bool(row[6]),
                configurations_json=row[7],
                configurations=parse_configurations(json.loads(row[7])),
            )
            self._records[cve_id] = cached
        return cached


def match_device(index: CveIndex, cpe_map: CpeMap, device: Device) -> list[Match]:
    """Every CVE of the index that applies to `device`."""
    cpes = cpe_map.candidates(device.vendor, device.model, device.firmware)
    if not cpes:
        return []
    out = []
    for cve_id in index.candidates(cpes):
        record = index.record(cve_id)
        hit = evaluate(record.configurations, cpes)
        if hit is not None:
            out.append(
                Match(
                    device=device,
                    cve_id=cve_id,
                    severity=record.severity,
                    cvss_score=record.cvss_score,
                    is_known_exploited=record.is_known_exploited,
                    matched_cpe=hit.criteria,
                    device_cpe=str(hit.device_cpe),
                )
            )
    return out


_DATA_VERSION = 'SELECT COUNT(*), MAX("LastModified"), SUM(LENGTH("Configurations")) FROM "Cves"'


class Matcher:
    """Re-matches devices, keeping the CVE index between calls while the CVE data is unchanged
    (the serving collector re-matches the devices of every ingest that changed one)."""

    def __init__(self, cpe_map: CpeMap) -> None:
        self.cpe_map = cpe_map
        self._index: CveIndex | None = None
        self._version: Any = None

    def _index_for(self, tx: Tx) -> CveIndex:
        version = tx.fetchone(_DATA_VERSION)
        if self._index is None or version != self._version:
            self._index, self._version = CveIndex(tx), version
        self._index.tx = tx
        return self._index

    def rematch(
        self, store: Store, *, device_ids: Sequence[str] | None = None, now: float | None = None
    ) -> int:
        return _rematch(store, self.cpe_map, self._index_for, device_ids, now)


def rematch(
    store: Store,
    cpe_map: CpeMap,
    *,
    device_ids: Sequence[str] | None = None,
    now: float | None = None,
) -> int:
    """Recompute "DeviceTvmSoftwareVulnerabilities" for `device_ids` (None: every device).

    Runs after a CVE import (all devices) and after ingest changed devices' vendor, model or
    firmware (those devices). Returns the number of (device, CVE) rows written.
    """
    return _rematch(store, cpe_map, CveIndex, device_ids, now)


def _rematch(
    store: Store,
    cpe_map: CpeMap,
    index_for: Callable[[Tx], CveIndex],
    device_ids: Sequence[str] | None,
    now: float | None,
) -> int:
    matched_at = time.time() if now is None else now
    with store.transaction() as tx:
        # Serialise with ingest and with other instances re-matching the same devices.
        if device_ids is None:
            sensors = sorted(r[0] for r in tx.fetchall('SELECT "SensorId" FROM "Sensors"'))
        else:
            sensors = sorted({d.split("/", 1)[0] for d in device_ids})
        for sensor_id in sensors:
            tx.lock_sensor(sensor_id)
        devices = _load_devices(tx, device_ids)
        index = index_for(tx)
        matches = [m for d in devices for m in match_device(index, cpe_map, d)]
        if device_ids is None:
            tx.execute('DELETE FROM "DeviceTvmSoftwareVulnerabilities"')
        else:
            tx.executemany(
                'DELETE FROM "DeviceTvmSoftwareVulnerabilities" WHERE "DeviceId" = ?',
                [(d,) for d in device_ids],
            )
        tx.executemany(
            'INSERT INTO "DeviceTvmSoftwareVulnerabilities" ("DeviceId", "CveId", "SensorId", '
            '"Site", "VulnerabilitySeverityLevel", "CvssScore", "IsKnownExploited", '
            '"MatchedCpe", "DeviceCpe", "Evidence", "MatchedAt") '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    m.device.device_id,
                    m.cve_id,
                    m.device.sensor_id,
                    m.device.site,
                    m.severity,
                    m.cvss_score,
                    int(m.is_known_exploited),
                    m.matched_cpe,
                    m.device_cpe,
                    json.dumps(
                        {
                            "vendor": m.device.vendor,
                            "model": m.device.model,
                            "firmware": m.device.firmware,
                        },
                        sort_keys=True,
                    ),
                    matched_at,
                )
                for m in matches
            ],
        )
    log.info("CVE matching: %d devices, %d vulnerabilities", len(devices), len(matches))
    return len(matches)


def _load_devices(tx: Tx, device_ids: Sequence[str] | None) -> list[Device]:
    sql = (
        'SELECT "DeviceId", "SensorId", "Site", "Vendor", "Model", "FirmwareVersion" '
        'FROM "DeviceInfo"'
    )
    if device_ids is None:
        return [Device(*row) for row in tx.fetchall(sql)]
    out = []
    for device_id in device_ids:
        row = tx.fetchone(sql + ' WHERE "DeviceId" = ?', (device_id,))
        if row is not None:
            out.append(Device(*row))
    return out
