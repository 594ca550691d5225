"""Configuration: TOML loaded into frozen dataclasses, one per section.

The shipped default.toml is the base layer; an operator file overrides it key by key.
load_config() checks everything and raises one ConfigError listing every problem as
(key path, value, message). Unknown keys are errors, because a typo is a bug.

Adding an option: a field in its section's dataclass (with the safe default), the same key
with a comment in default.toml, a range check in _RANGES (or a cross-field rule in
_check_rules), and an invalid-value test.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from firmware.errors import ConfigError

DEFAULT_TOML = "default.toml"


@dataclass(frozen=True, slots=True)
class SensorConfig:
    site: str = ""
    sensor_id: str = ""
    state_dir: str = "/var/lib/branchwatch"


@dataclass(frozen=True, slots=True)
class CaptureConfig:
    interface: str = "eth0"
    promiscuous: bool = True
    rcvbuf_bytes: int = 8 * 1024 * 1024
    snaplen: int = 2048
    queue_max_packets: int = 10_000
    dedup_max_entries: int = 4096
    dedup_ttl_s: float = 300.0
    flows_max: int = 4096
    text_max_bytes: int = 512


@dataclass(frozen=True, slots=True)
class InventoryConfig:
    devices_max: int = 2000
    ips_per_device_max: int = 16
    names_per_device_max: int = 16
    services_per_device_max: int = 64
    facts_per_device_max: int = 256
    values_per_fact_max: int = 8
    gateway_remote_ips_min: int = 8
    subnets_max: int = 64
    changes_per_device_max: int = 32
    idle_max_s: float = 90 * 86400.0
    randomised_idle_max_s: float = 7 * 86400.0
    evict_idle_min_s: float = 3600.0
    save_every_s: float = 600.0


@dataclass(frozen=True, slots=True)
class ClassifyConfig:
    min_confidence: float = 0.6
    oui_weight: float = 0.75
    change_margin: float = 0.1


@dataclass(frozen=True, slots=True)
class DetectConfig:
    port_scan_ports: int = 25
    port_scan_window_s: float = 120.0
    address_scan_hosts: int = 50
    address_scan_window_s: float = 120.0
    slow_scan_hosts: int = 50
    slow_scan_window_s: float = 3600.0
    arp_scan_addresses: int = 40
    arp_scan_window_s: float = 360.0
    icmp_sweep_hosts: int = 50
    icmp_sweep_window_s: float = 120.0
    password_guess_failures: int = 10
    password_guess_window_s: float = 300.0
    repeat_window_s: float = 600.0
    learning_period_s: float = 7 * 86400.0
    stale_after_s: float = 7 * 86400.0
    sources_tracked_max: int = 4096
    scanner_allowlist: tuple[str, ...] = ()
    gratuitous_arp_max: int = 30
    gratuitous_arp_window_s: float = 60.0
    address_conflict_window_s: float = 300.0
    findings_max: int = 10_000
    update_interval_s: float = 60.0


@dataclass(frozen=True, slots=True)
class UplinkConfig:
    broker_host: str = ""
    broker_port: int = 8883
    tls: bool = True
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    username: str = ""
    password_file: str = ""
    signing_key_file: str = ""
    collector_key_file: str = ""
    batch_max_items: int = 500
    batch_seal_bytes: int = 192 * 1024
    batch_seal_interval_s: float = 120.0
    inflight_max: int = 4
    ack_timeout_s: float = 60.0
    retry_min_s: float = 1.0
    retry_max_s: float = 300.0
    keepalive_s: int = 60
    bandwidth_bytes_per_s: int = 0
    buffer_dir: str = "/var/lib/branchwatch/buffer"
    buffer_max_bytes: int = 50_000_000


@dataclass(frozen=True, slots=True)
class LedsConfig:
    enabled: bool = True
    green_pin: int = 17
    red_pin: int = 27
    button_pin: int = 0


@dataclass(frozen=True, slots=True)
class PrivacyConfig:
    upload_hostnames: str = "all"


@dataclass(frozen=True, slots=True)
class Config:
    sensor: SensorConfig = field(default_factory=SensorConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    inventory: InventoryConfig = field(default_factory=InventoryConfig)
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    uplink: UplinkConfig = field(default_factory=UplinkConfig)
    leds: LedsConfig = field(default_factory=LedsConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)


# Ranges: key path -> (min, max) inclusive; None for an open end.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "capture.rcvbuf_bytes": (65_536, 1 << 30),
    "capture.snaplen": (96, 65_535),
    "capture.queue_max_packets": (1, 10_000_000),
    "capture.dedup_max_entries": (0, 10_000_000),
    "capture.dedup_ttl_s": (0, None),
    "capture.flows_max": (1, 10_000_000),
    "capture.text_max_bytes": (16, 65_536),
    "inventory.devices_max": (1, 1_000_000),
    "inventory.ips_per_device_max": (1, 4096),
    "inventory.names_per_device_max": (1, 4096),
    "inventory.services_per_device_max": (1, 65_536),
    "inventory.facts_per_device_max": (1, 65_536),
    "inventory.values_per_fact_max": (1, 4096),
    "inventory.gateway_remote_ips_min": (1, 1_000_000),
    "inventory.subnets_max": (1, 65_536),
    "inventory.changes_per_device_max": (1, 4096),
    "inventory.idle_max_s": (3600, 10 * 365 * 86_400),
    "inventory.randomised_idle_max_s": (600, 10 * 365 * 86_400),
    "inventory.evict_idle_min_s": (0, 365 * 86_400),
    "inventory.save_every_s": (10, 86_400),
    "classify.min_confidence": (0.0, 1.0),
    "classify.oui_weight": (0.0, 1.0),
    "classify.change_margin": (0.0, 1.0),
    "uplink.broker_port": (1, 65_535),
    "uplink.batch_max_items": (1, 100_000),
    "uplink.batch_seal_bytes": (1024, 192 * 1024),
    "uplink.batch_seal_interval_s": (1, 86_400),
    "uplink.inflight_max": (1, 1024),
    "uplink.ack_timeout_s": (1, 86_400),
    "uplink.retry_min_s": (0.01, 3600),
    "uplink.retry_max_s": (0.01, 86_400),
    "uplink.keepalive_s": (5, 65_535),
    "uplink.bandwidth_bytes_per_s": (0, None),
    "uplink.buffer_max_bytes": (1_000_000, None),
    "detect.port_scan_ports": (2, 65_536),
    "detect.port_scan_window_s": (1, 86_400),
    "detect.address_scan_hosts": (2, 1_000_000),
    "detect.address_scan_window_s": (1, 86_400),
    "detect.slow_scan_hosts": (2, 1_000_000),
    "detect.slow_scan_window_s": (1, 7 * 86_400),
    "detect.arp_scan_addresses": (2, 1_000_000),
    "detect.arp_scan_window_s": (1, 86_400),
    "detect.icmp_sweep_hosts": (2, 1_000_000),
    "detect.icmp_sweep_window_s": (1, 86_400),
    "detect.password_guess_failures": (2, 100_000),
    "detect.password_guess_window_s": (1, 86_400),
    "detect.repeat_window_s": (0, 30 * 86_400),
    "detect.learning_period_s": (0, 365 * 86_400),
    "detect.stale_after_s": (60, 365 * 86_400),
    "detect.sources_tracked_max": (16, 1_000_000),
    "detect.gratuitous_arp_max": (2, 100_000),
    "detect.gratuitous_arp_window_s": (1, 86_400),
    "detect.address_conflict_window_s": (1, 30 * 86_400),
    "detect.findings_max": (16, 1_000_000),
    "detect.update_interval_s": (0, 86_400),
    "leds.green_pin": (0, 27),
    "leds.red_pin": (0, 27),
    "leds.button_pin": (0, 27),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "privacy.upload_hostnames": ("all", "iot_only", "none"),
}


def load_config(
    path: str | Path | None = None, *, overrides: dict[str, Any] | None = None
) -> Config:
    """Load default.toml, then `path` over it key by key, then `overrides` (tests).

    Raises:
        ConfigError: listing every problem (unreadable file, TOML syntax, unknown key, wrong
            type, out of range, cross-field rule).
    """
    problems: list[tuple[str, object, str]] = []
    data = _read_default()
    if path is not None:
        try:
            with open(path, "rb") as fh:
                _merge(data, tomllib.load(fh))
        except OSError as exc:
            raise ConfigError([(str(path), None, f"cannot read: {exc.strerror}")]) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([(str(path), None, f"TOML syntax: {exc}")]) from exc
    if overrides:
        _merge(data, overrides)
    config = _build(Config, data, "", problems)
    if not problems:
        _check_rules(config, problems)
    if problems:
        raise ConfigError(problems)
    assert isinstance(config, Config)
    return config


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build a Config from a dict laid over the defaults (tests and tools)."""
    return load_config(None, overrides=data)


def _read_default() -> dict[str, Any]:
    text = resources.files("firmware").joinpath(DEFAULT_TOML).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _build(cls: type, data: Any, prefix: str, problems: list[tuple[str, object, str]]) -> Any:
    if not isinstance(data, dict):
        problems.append((prefix.rstrip(".") or "<root>", data, "expected a table"))
        return cls()
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in sorted(set(data) - names):
        problems.append((f"{prefix}{key}", data[key], "unknown key"))
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        path = f"{prefix}{f.name}"
        hint = hints[f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(hint, data[f.name], path + ".", problems)
            continue
        value = _coerce(hint, data[f.name])
        if value is _BAD:
            problems.append((path, data[f.name], f"expected {_type_name(hint)}"))
            continue
        _check_range(path, value, problems)
        kwargs[f.name] = value
    return cls(**kwargs)


_BAD = object()


def _coerce(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if not isinstance(value, list):
            return _BAD
        items = [_coerce(item, v) for v in value]
        return _BAD if any(i is _BAD for i in items) else tuple(items)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            out = _coerce(arm, value)
            if out is not _BAD:
                return out
        return _BAD
    if hint is type(None):
        return None if value is None else _BAD
    if hint is bool:
        return value if isinstance(value, bool) else _BAD
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _BAD
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else _BAD
    if hint is str:
        return value if isinstance(value, str) else _BAD
    return _BAD


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return f"a list of {_type_name(typing.get_args(hint)[0])}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )


def _check_range(path: str, value: Any, problems: list[tuple[str, object, str]]) -> None:
    if path in _RANGES and isinstance(value, int | float):
        low, high = _RANGES[path]
        if (low is not None and value < low) or (high is not None and value > high):
            problems.append((path, value, f"must be between {low} and {high}"))
    if path in _CHOICES and value not in _CHOICES[path]:
        problems.append((path, value, "must be one of " + ", ".join(_CHOICES[path])))


def _check_rules(config: Config, problems: list[tuple[str, object, str]]) -> None:
    up = config.uplink
    if up.retry_min_s > up.retry_max_s:
        problems.append(("uplink.retry_min_s", up.retry_min_s, "must not exceed retry_max_s"))
    if up.username and not up.password_file:
        problems.append(("uplink.password_file", "", "a username needs a password_file"))
    for entry in config.detect.scanner_allowlist:
        if not _is_allowlist_entry(entry):
            problems.append(("detect.scanner_allowlist", entry, "not a MAC, IP or CIDR network"))
    if config.leds.enabled and config.leds.green_pin == config.leds.red_pin:
        problems.append(("leds.red_pin", config.leds.red_pin, "must differ from green_pin"))


def _is_allowlist_entry(entry: str) -> bool:
    text = entry.strip().lower()
    if re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", text):
        return True
    try:
        if "/" in text:
            ipaddress.ip_network(text, strict=False)
        else:
            ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
