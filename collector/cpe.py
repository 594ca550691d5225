"""CPE 2.3 names, firmware version order, and NVD applicability configurations.

Pure functions over NVD CVE JSON 2.0 `configurations`: a CVE applies to a device when one of
its configurations evaluates true over the device's candidate CPEs *and* a criterion flagged
`vulnerable` matched in it. IoT records pair a vulnerable firmware CPE (`o:`) with a
non-vulnerable hardware CPE (`h:`) in an AND node; a hardware CPE alone never makes a match.

References: NISTIR 7695 (CPE 2.3 naming: formatted string binding, quoting with `\\`,
logical values ANY `*` and NA `-`); NVD CVE API 2.0 schema (configurations, nodes,
cpeMatch, versionStart/EndIncluding/Excluding).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from collector.errors import CveDataError

ANY = "*"
NA = "-"
_FIELDS = (
    "part",
    "vendor",
    "product",
    "version",
    "update",
    "edition",
    "language",
    "sw_edition",
    "target_sw",
    "target_hw",
    "other",
)


@dataclass(frozen=True, slots=True)
class Cpe:
    """A CPE 2.3 name. Values are unquoted (`ds-2cd2026g2-iu/sl`), lower case; `*` ANY, `-` NA.

    `wild` holds the positions (field names) whose value contains an unquoted `*` or `?`.
    """

    part: str
    vendor: str
    product: str
    version: str = ANY
    update: str = ANY
    edition: str = ANY
    language: str = ANY
    sw_edition: str = ANY
    target_sw: str = ANY
    target_hw: str = ANY
    other: str = ANY
    wild: frozenset[str] = frozenset()

    def values(self) -> tuple[str, ...]:
        return tuple(getattr(self, f) for f in _FIELDS)

    def __str__(self) -> str:
        return "cpe:2.3:" + ":".join(_quote(getattr(self, f), f in self.wild) for f in _FIELDS)


# NISTIR 7695 §5.3.2 / §6.2: printable non-alphanumerics other than "-", "." and "_" are quoted.
_SPECIAL = set("\\:!\"#$%&'()+,/;<=>@[]^`{|}~ ")


def _quote(value: str, wild: bool = False) -> str:
    if value in (ANY, NA):
        return value
    return "".join("\\" + ch if ch in _SPECIAL or (ch in "*?" and not wild) else ch for ch in value)


def parse_cpe(text: str) -> Cpe:
    """Parse a CPE 2.3 formatted string (`cpe:2.3:o:hikvision:ds-2cd2026g2-iu\\/sl_firmware:-:...`).

    Raises:
        CveDataError: not a CPE 2.3 formatted string.
    """
    if not text.startswith("cpe:2.3:"):
        raise CveDataError(f"not a CPE 2.3 formatted string: {text[:80]!r}")
    if "\\" not in text:  # the common case: nothing quoted, a plain split will do
        parts = text[8:].split(":")
        if len(parts) == len(_FIELDS) and all(parts):
            lowered = [p.lower() for p in parts]
            if lowered[0] not in ("a", "o", "h", ANY):
                raise CveDataError(f"CPE part must be a, o or h: {text[:80]!r}")
            wild_fields = frozenset(
                name
                for name, value in zip(_FIELDS, lowered, strict=True)
                if value != ANY and ("*" in value or "?" in value)
            )
            return Cpe(**dict(zip(_FIELDS, lowered, strict=True)), wild=wild_fields)
    fields: list[str] = []
    wild: set[str] = set()
    current: list[str] = []
    has_wild = False
    i = 8
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                raise CveDataError(f"dangling escape in CPE {text[:80]!r}")
            current.append(text[i + 1])
            i += 2
            continue
        if ch == ":":
            fields.append(_close(current, has_wild, len(fields), wild))
            current, has_wild = [], False
        else:
            has_wild = has_wild or ch in "*?"
            current.append(ch)
        i += 1
    fields.append(_close(current, has_wild, len(fields), wild))
    if len(fields) != len(_FIELDS):
        raise CveDataError(f"CPE 2.3 needs {len(_FIELDS)} fields, got {len(fields)}: {text[:80]!r}")
    if fields[0] not in ("a", "o", "h", ANY):
        raise CveDataError(f"CPE part must be a, o or h: {text[:80]!r}")
    return Cpe(**dict(zip(_FIELDS, fields, strict=True)), wild=frozenset(wild))


def _close(chars: list[str], has_wild: bool, index: int, wild: set[str]) -> str:
    value = "".join(chars).lower()
    if not value:
        raise CveDataError("empty CPE field")
    if has_wild and value != ANY and index < len(_FIELDS):
        wild.add(_FIELDS[index])
    return value


def _wild_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    )


def _field_matches(criterion: str, value: str, is_wild: bool) -> bool:
    if criterion == ANY or value == ANY:
        return True
    if is_wild:
        return _wild_regex(criterion).fullmatch(value) is not None
    return criterion == value


# --- firmware version order -------------------------------------------------------------

_VERSION_PREFIX = re.compile(r"^\s*(?:version|ver\.?|v)\s*(?=\d)", re.IGNORECASE)
_TOKEN = re.compile(r"\d+|[a-z]+")


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key for firmware versions as vendors write them.

    "V5.5.0 build 170725" → (5, 5, 0, 170725): a leading v/ver/version is dropped, the word
    "build" is a separator, runs of digits compare as numbers and letters as text. A number
    ranks above text at the same position, so 1.0 > 1.0rc1 is not claimed but 1.0.1 > 1.0a;
    missing trailing parts count as 0, so "5.5" == "5.5.0".
    """
    text = _VERSION_PREFIX.sub("", version.strip().lower())
    text = re.sub(r"\bbuild\b", ".", text)
    out: list[tuple[int, int | str]] = []
    for token in _TOKEN.findall(text):
        out.append((1, int(token)) if token.isdigit() else (0, token))
    while out and out[-1] == (1, 0):
        out.pop()
    return tuple(out)


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as `a` is older than, the same as, or newer than `b` (see version_key)."""
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)


# --- configurations ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CpeMatch:
    """One `cpeMatch` entry: a criterion, its `vulnerable` flag and up to four version bounds."""

    criteria: str
    cpe: Cpe
    vulnerable: bool
    start_including: str | None = None
    start_excluding: str | None = None
    end_including: str | None = None
    end_excluding: str | None = None

    @property
    def has_bounds(self) -> bool:
        return any(
            b is not None
            for b in (
                self.start_including,
                self.start_excluding,
                self.end_including,
                self.end_excluding,
            )
        )

    def matches(self, device: Cpe) -> bool:
        """Does the device CPE fall under this criterion (names, then version and bounds)?"""
        c = self.cpe
        for name in _FIELDS:
            if name == "version":
                continue
            if not _field_matches(getattr(c, name), getattr(device, name), name in c.wild):
                return False
        return self._version_matches(device.version)

    def _version_matches(self, version: str) -> bool:
        crit = self.cpe.version
        if version in (ANY, NA):
            # Unknown device version: only a criterion for every version can be claimed.
            return crit in (ANY, NA) and not self.has_bounds
        if crit not in (ANY, NA):
            if "version" in self.cpe.wild:
                return _wild_regex(crit).fullmatch(version.lower()) is not None
            return compare_versions(version, crit) == 0
        # NVD writes "-" (and "*") with no bounds for "every firmware version" on IoT records.
        if self.start_including is not None and compare_versions(version, self.start_including) < 0:
            return False
        if (
            self.start_excluding is not None
            and compare_versions(version, self.start_excluding) <= 0
        ):
            return False
        if self.end_including is not None and compare_versions(version, self.end_including) > 0:
            return False
        return not (
            self.end_excluding is not None and compare_versions(version, self.end_excluding) >= 0
        )


@dataclass(frozen=True, slots=True)
class Node:
    operator: str  # "OR" or "AND"
    negate: bool
    matches: tuple[CpeMatch, ...]


@dataclass(frozen=True, slots=True)
class Configuration:
    operator: str  # "OR" or "AND" over nodes
    negate: bool
    nodes: tuple[Node, ...]


def parse_configurations(data: Any) -> tuple[Configuration, ...]:
    """Parse a record's `configurations` list (NVD CVE JSON 2.0).

    Raises:
        CveDataError: a field has the wrong type or a criterion is not a CPE 2.3 string.
    """
    if data is None:
        return ()
    if not isinstance(data, list):
        raise CveDataError("configurations must be a list")
    return tuple(_configuration(c) for c in data)


def _configuration(data: Any) -> Configuration:
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), list):
        raise CveDataError("a configuration needs a nodes list")
    return Configuration(
        operator=_operator(data.get("operator", "OR")),
        negate=bool(data.get("negate", False)),
        nodes=tuple(_node(n) for n in data["nodes"]),
    )


def _node(data: Any) -> Node:
    if not isinstance(data, Mapping) or not isinstance(data.get("cpeMatch"), list):
        raise CveDataError("a node needs a cpeMatch list")
    return Node(
        operator=_operator(data.get("operator", "OR")),
        negate=bool(data.get("negate", False)),
        matches=tuple(_cpe_match(m) for m in data["cpeMatch"]),
    )


def _cpe_match(data: Any) -> CpeMatch:
    if not isinstance(data, Mapping) or not isinstance(data.get("criteria"), str):
        raise CveDataError("a cpeMatch needs a criteria string")
    bounds = {}
    for key in (
        "versionStartIncluding",
        "versionStartExcluding",
        "versionEndIncluding",
        "versionEndExcluding",
    ):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise CveDataError(f"{key} must be a string")
        bounds[key] = value
    return CpeMatch(
        criteria=data["criteria"],
        cpe=parse_cpe(data["criteria"]),
        vulnerable=bool(data.get("vulnerable", False)),
        start_including=bounds["versionStartIncluding"],
        start_excluding=bounds["versionStartExcluding"],
        end_including=bounds["versionEndIncluding"],
        end_excluding=bounds["versionEndExcluding"],
    )


def _operator(value: Any) -> str:
    if value not in ("OR", "AND"):
        raise CveDataError(f"operator must be OR or AND, got {value!r}")
    return str(value)


@dataclass(frozen=True, slots=True)
class Hit:
    """Why a CVE applies: the vulnerable criterion and the device CPE that matched it."""

    criteria: str
    device_cpe: Cpe


def evaluate(configurations: Sequence[Configuration], device_cpes: Iterable[Cpe]) -> Hit | None:
    """The first vulnerable hit of the first configuration that applies, or None."""
    cpes = tuple(device_cpes)
    for config in configurations:
        hits: list[Hit] = []
        results = [_evaluate_node(node, cpes, hits) for node in config.nodes]
        value = all(results) if config.operator == "AND" else any(results)
        if config.negate:
            value = not value
        if value and hits:
            return hits[0]
    return None


def _evaluate_node(node: Node, cpes: tuple[Cpe, ...], hits: list[Hit]) -> bool:
    found: list[Hit] = []
    results: list[bool] = []
    for match in node.matches:
        device = next((c for c in cpes if match.matches(c)), None)
        results.append(device is not None)
        if device is not None and match.vulnerable:
            found.append(Hit(match.criteria, device))
    value = all(results) if node.operator == "AND" and results else any(results)
    if node.negate:
        return not value
    if value:
        hits.extend(found)
    return value
