"""Collector configuration: collector/default.toml, then an operator file, key by key.

Checks everything and raises one CollectorConfigError listing every (key, value, problem);
unknown keys are errors. Every limit on what sensors send is here with a safe default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from collector.errors import CollectorConfigError
from uplink.batch import MAX_BATCH_BYTES


@dataclass(frozen=True, slots=True)
class CollectorSection:
    db: str = "sqlite:///var/lib/branchwatch-collector/collector.db"
    schema: str = "public"
    retention_days: float = 90.0
    max_batch_bytes: int = MAX_BATCH_BYTES
    clock_skew_max_s: float = 300.0
    rotation_overlap_days: float = 7.0
    ack_key: str = ""
    ca_dir: str = ""


@dataclass(frozen=True, slots=True)
class BrokerSection:
    host: str = "127.0.0.1"
    port: int = 8883
    group: str = "collectors"
    client_id: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    queue_max: int = 2000
    batch_max: int = 200
    keepalive_s: int = 30


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    collector: CollectorSection = field(default_factory=CollectorSection)
    broker: BrokerSection = field(default_factory=BrokerSection)


_RANGES: dict[str, tuple[float, float]] = {
    "collector.retention_days": (1, 36_500),
    "collector.max_batch_bytes": (1024, MAX_BATCH_BYTES),
    "collector.clock_skew_max_s": (1, 86_400 * 365),
    "collector.rotation_overlap_days": (0, 365),
    "broker.port": (1, 65_535),
    "broker.queue_max": (1, 1_000_000),
    "broker.batch_max": (1, 10_000),
    "broker.keepalive_s": (5, 3600),
}


def load_config(path: str | Path | None = None) -> CollectorConfig:
    """default.toml, then `path` over it.

    Raises:
        CollectorConfigError: listing every problem (unreadable file, syntax, unknown key,
            wrong type, out of range).
    """
    data = tomllib.loads(resources.files("collector").joinpath("default.toml").read_text("utf-8"))
    if path is not None:
        try:
            over = tomllib.loads(Path(path).read_text("utf-8"))
        except OSError as exc:
            raise CollectorConfigError([(str(path), None, f"cannot read: {exc.strerror}")]) from exc
        except tomllib.TOMLDecodeError as exc:
            raise CollectorConfigError([(str(path), None, f"TOML syntax: {exc}")]) from exc
        for section, values in over.items():
            if isinstance(values, dict) and isinstance(data.get(section), dict):
                data[section].update(values)
            else:
                data[section] = values
    problems: list[tuple[str, object, str]] = []
    sections: dict[str, Any] = {}
    for f in dataclasses.fields(CollectorConfig):
        cls = CollectorSection if f.name == "collector" else BrokerSection
        sections[f.name] = _section(cls, f.name, data.pop(f.name, {}), problems)
    for key in sorted(data):
        problems.append((key, data[key], "unknown section"))
    if problems:
        raise CollectorConfigError(problems)
    return CollectorConfig(**sections)


def _section(cls: type, name: str, values: Any, problems: list[tuple[str, object, str]]) -> Any:
    if not isinstance(values, dict):
        problems.append((name, values, "expected a table"))
        return cls()
    kwargs: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in values.items():
        path = f"{name}.{key}"
        if key not in fields:
            problems.append((path, value, "unknown key"))
            continue
        kind: type[Any] = type(fields[key].default)
        checked: Any = value
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            checked = float(value)
        if not isinstance(checked, kind) or isinstance(checked, bool):
            problems.append((path, value, f"expected {kind.__name__}"))
            continue
        low, high = _RANGES.get(path, (float("-inf"), float("inf")))
        if path in _RANGES and not low <= checked <= high:
            problems.append((path, value, f"must be within [{low:g}, {high:g}]"))
            continue
        kwargs[key] = checked
    return cls(**kwargs)
