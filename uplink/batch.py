"""The wire contract between sensor and collector: batches, items, acks, commands, topics.

Input: items (device upserts, findings, health, gaps, key rotations). Output: the exact signed
bytes published on `branchwatch/<site>/<sensor>/batches`. The collector imports this module
and nothing else of uplink/. docs/wire-format.md documents every byte; tests/vectors/
wire-v1.json holds test vectors both sides check.

Order of checks on receipt (DESIGN.md "verify before parse"): size limit, fixed framing,
identity (topic and key lookup), Ed25519 signature over the exact bytes received, and only
then decompression (bounded) and the item schema. Sequence checks (replay, rollback, gaps) are
the receiver's, because they need its state.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from capture.findings import Finding, FindingKind, Severity, Status
from uplink.errors import (
    BatchTooLargeError,
    FramingError,
    IdentityMismatchError,
    ReplayError,
    SchemaError,
    SignatureError,
    UnknownKeyError,
    UnsupportedVersionError,
)

# --- limits (public: both sides test the limit and the limit plus one byte) -----------------

FORMAT_VERSION = 1
MAX_BATCH_BYTES = 256 * 1024  # a batch on the wire, signature included
SEAL_BATCH_BYTES = 192 * 1024  # the sensor seals when the raw item JSON reaches this
MAX_PAYLOAD_RAW_BYTES = 4 * 1024 * 1024  # decompression bound (zip-bomb guard)
MAX_ITEMS = 100_000
MAX_ACK_BYTES = 1024
MAX_COMMAND_BYTES = 16 * 1024
SIGNATURE_BYTES = 64
HASH_BYTES = 32
KEY_ID_BYTES = 8
GENESIS_HASH = bytes(HASH_BYTES)  # prev_hash of the first batch of an epoch

BATCH_MAGIC = b"BW"
ACK_MAGIC = b"BA"
COMMAND_MAGIC = b"BC"

# magic, version, flags, codec, sensor_id_len, key_id, epoch, seq, prev_hash,
# created_at_ms, mono_ms, boot_id, item_count, payload_len
_HEADER = struct.Struct(">2sBBBB8sQQ32sQQ16sII")
HEADER_BYTES = _HEADER.size  # 102
FLAG_CLOCK_SYNCED = 0x01
_CONTROL = struct.Struct(">2sBBH")  # magic, version, flags, body_len (acks and commands)
FLAG_SIGNED = 0x01

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_KEY_ID_RE = re.compile(r"[0-9a-f]{16}")


class Codec(IntEnum):
    """Payload compression. Only zlib is produced; 2 is reserved for zstd + dictionary."""

    ZLIB = 1


# --- topics ---------------------------------------------------------------------------------


class TopicKind(StrEnum):
    BATCHES = "batches"  # sensor -> collector, QoS 1, not retained
    ACKS = "acks"  # collector -> sensor
    COMMANDS = "commands"  # collector -> sensor, signed
    ENROL = "enrol"  # sensor -> collector, first contact
    STATUS = "status"  # sensor -> collector, retained, will message


def is_valid_name(name: str) -> bool:
    """A site or sensor id: 1-64 of [A-Za-z0-9._-], starting alphanumeric (topic-safe)."""
    return _NAME_RE.fullmatch(name) is not None


def topic(site: str, sensor_id: str, kind: TopicKind) -> str:
    """`branchwatch/<site>/<sensor_id>/<kind>`."""
    for name in (site, sensor_id):
        if not is_valid_name(name):
            raise ValueError(f"not a valid site/sensor name: {name!r}")
    return f"branchwatch/{site}/{sensor_id}/{kind}"


def parse_topic(value: str) -> tuple[str, str, TopicKind]:
    """Split a topic into (site, sensor_id, kind); raises IdentityMismatchError."""
    parts = value.split("/")
    if len(parts) != 4 or parts[0] != "branchwatch":
        raise IdentityMismatchError(f"not a branchwatch topic: {value!r}")
    _, site, sensor_id, kind = parts
    if not (is_valid_name(site) and is_valid_name(sensor_id)):
        raise IdentityMismatchError(f"bad site or sensor in topic {value!r}")
    try:
        return site, sensor_id, TopicKind(kind)
    except ValueError:
        raise IdentityMismatchError(f"unknown topic kind {kind!r}") from None


# --- keys -----------------------------------------------------------------------------------


def key_id_for(public_key: bytes) -> str:
    """Key id: hex of the first 8 bytes of SHA-256 over the raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_key).digest()[:KEY_ID_BYTES].hex()


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


class Signer:
    """An Ed25519 private key with its key id. Never logged, never serialized here."""

    __slots__ = ("_key", "key_id", "public_key_bytes")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key_bytes = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id_for(self.public_key_bytes)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        """From the 32-byte RFC 8032 private key (seed)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def load(cls, path: str | Path) -> Signer:
        """From a file holding a PKCS#8 PEM key or the raw 32-byte seed."""
        data = Path(path).read_bytes()
        if len(data) == 32:
            return cls.from_seed(data)
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return cls(key)

    def seed(self) -> bytes:
        """The raw 32-byte private key, for writing the key file at provisioning."""
        return self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def _verify_signature(public_key: Ed25519PublicKey, signature: bytes, signed: bytes) -> None:
    try:
        public_key.verify(signature, signed)
    except InvalidSignature:
        raise SignatureError("signature does not verify") from None


# --- items ----------------------------------------------------------------------------------


class ItemType(StrEnum):
    DEVICE = "device"
    RECOMMENDATION = "recommendation"
    ALERT = "alert"
    HEALTH = "health"
    GAP = "gap"
    KEY_ROTATION = "key_rotation"


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping if isinstance(mapping, MappingProxyType) else MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class DeviceUpsert:
    """A device record's changed fields (`full`: every field, after a gap or every 24 h)."""

    mac: str
    at: float
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    full: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _frozen(self.fields))


@dataclass(frozen=True, slots=True)
class FindingItem:
    """A recommendation state or an alert: Finding.to_json() plus its dedup_key."""

    finding: Finding


@dataclass(frozen=True, slots=True)
class HealthItem:
    """Sensor health: LED state number/letter and the counters (`status` shows the same)."""

    at: float
    state: str
    counters: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "counters", _frozen(self.counters))


@dataclass(frozen=True, slots=True)
class GapItem:
    """Batches the sensor evicted unsent: inclusive seq ranges, and how many items they held."""

    at: float
    ranges: tuple[tuple[int, int], ...]
    batches: int
    items: int
    reason: str = "evicted"


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """The sensor's next key and epoch, announced in a batch signed by the current key.

    The collector accepts batches under the new (key_id, epoch) only after it has ingested
    this item; the new sequence starts at 0 with prev_hash = GENESIS_HASH.
    """

    at: float
    new_public_key: bytes
    new_epoch: int

    @property
    def new_key_id(self) -> str:
        return key_id_for(self.new_public_key)


Item = DeviceUpsert | FindingItem | HealthItem | GapItem | KeyRotation


def item_to_json(item: Item) -> dict[str, Any]:
    """The JSON object of one item on the wire (also what the buffer journals)."""
    if isinstance(item, FindingItem):
        return {
            "type": str(item.finding.kind),
            "dedup_key": item.finding.dedup_key,
            **item.finding.to_json(),
        }
    if isinstance(item, DeviceUpsert):
        return {
            "type": "device",
            "mac": item.mac,
            "at": item.at,
            "full": item.full,
            "fields": _plain(item.fields),
        }
    if isinstance(item, HealthItem):
        return {
            "type": "health",
            "at": item.at,
            "state": item.state,
            "counters": dict(item.counters),
        }
    if isinstance(item, GapItem):
        return {
            "type": "gap",
            "at": item.at,
            "ranges": [list(r) for r in item.ranges],
            "batches": item.batches,
            "items": item.items,
            "reason": item.reason,
        }
    return {
        "type": "key_rotation",
        "at": item.at,
        "new_key_id": item.new_key_id,
        "new_public_key": item.new_public_key.hex(),
        "new_epoch": item.new_epoch,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def item_from_json(obj: Any) -> Item:
    """Parse one wire item; raises SchemaError naming the first problem."""
    if not isinstance(obj, dict):
        raise SchemaError("item is not an object")
    kind = obj.get("type")
    try:
        if kind in ("recommendation", "alert"):
            return FindingItem(_finding_from_json(obj))
        if kind == "device":
            _keys(obj, {"type", "mac", "at", "full", "fields"})
            mac = _get(obj, "mac", str)
            if not _MAC_RE.fullmatch(mac):
                raise SchemaError(f"bad mac {mac!r}")
            return DeviceUpsert(
                mac, _num(obj, "at"), _get(obj, "fields", dict), _get(obj, "full", bool)
            )
        if kind == "health":
            _keys(obj, {"type", "at", "state", "counters"})
            counters = _get(obj, "counters", dict)
            if not all(_is_int(v) for v in counters.values()):
                raise SchemaError("health counters must be integers")
            return HealthItem(_num(obj, "at"), _get(obj, "state", str), counters)
        if kind == "gap":
            return _gap_from_json(obj)
        if kind == "key_rotation":
            _keys(obj, {"type", "at", "new_key_id", "new_public_key", "new_epoch"})
            raw = bytes.fromhex(_get(obj, "new_public_key", str))
            if len(raw) != 32 or key_id_for(raw) != obj["new_key_id"]:
                raise SchemaError("key_rotation: bad public key or key id")
            epoch = _get(obj, "new_epoch", int)
            if not 0 <= epoch < 1 << 64:
                raise SchemaError("key_rotation: epoch out of range")
            return KeyRotation(_num(obj, "at"), raw, epoch)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(f"{kind} item: {exc}") from None
    raise SchemaError(f"unknown item type {kind!r}")


def _finding_from_json(obj: dict[str, Any]) -> Finding:
    _keys(
        obj,
        {
            "type",
            "dedup_key",
            "kind",
            "rule_id",
            "title",
            "severity",
            "devices",
            "first_seen",
            "last_seen",
            "count",
            "attack_technique",
            "status",
            "evidence",
        },
    )
    if obj["type"] != obj["kind"]:
        raise SchemaError("finding type and kind differ")
    devices = _get(obj, "devices", list)
    if not all(isinstance(d, str) for d in devices):
        raise SchemaError("devices must be strings")
    return Finding(
        kind=FindingKind(obj["kind"]),
        rule_id=_get(obj, "rule_id", str),
        title=_get(obj, "title", str),
        severity=Severity(obj["severity"]),
        devices=tuple(devices),
        first_seen=_num(obj, "first_seen"),
        last_seen=_num(obj, "last_seen"),
        count=_get(obj, "count", int),
        attack_technique=_get(obj, "attack_technique", str),
        status=Status(obj["status"]),
        evidence=_get(obj, "evidence", dict),
        dedup_key=_get(obj, "dedup_key", str),
    )


def _gap_from_json(obj: dict[str, Any]) -> GapItem:
    _keys(obj, {"type", "at", "ranges", "batches", "items", "reason"})
    ranges: list[tuple[int, int]] = []
    for r in _get(obj, "ranges", list):
        if not (isinstance(r, list) and len(r) == 2 and all(_is_int(v) for v in r)):
            raise SchemaError("gap ranges must be [first, last] integer pairs")
        if not 0 <= r[0] <= r[1]:
            raise SchemaError("gap range out of order")
        ranges.append((r[0], r[1]))
    return GapItem(
        _num(obj, "at"),
        tuple(ranges),
        _get(obj, "batches", int),
        _get(obj, "items", int),
        _get(obj, "reason", str),
    )


def _keys(obj: dict[str, Any], expected: set[str]) -> None:
    if set(obj) != expected:
        raise SchemaError(f"{obj.get('type')} item keys {sorted(set(obj) ^ expected)} differ")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _get(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj[key]
    ok = _is_int(value) if kind is int else isinstance(value, kind)
    if not ok:
        raise SchemaError(f"{obj.get('type')}.{key} must be {kind.__name__}")
    return value


def _num(obj: dict[str, Any], key: str) -> float:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"{obj.get('type')}.{key} must be a number")
    return float(value)


def encode_items(items: Sequence[dict[str, Any]]) -> bytes:
    """The uncompressed payload: a JSON array of item objects, compact, keys sorted, UTF-8."""
    return json.dumps(
        list(items), separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
    ).encode()


# --- the batch envelope ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """The envelope fields the sensor fills in (everything but the payload and signature)."""

    sensor_id: str
    key_id: str
    epoch: int
    seq: int
    prev_hash: bytes
    created_at_ms: int
    mono_ms: int
    boot_id: str
    clock_synced: bool
    version: int = FORMAT_VERSION


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed frame. Trusted only after verify_envelope(); `raw` is the exact bytes received."""

    header: BatchHeader
    codec: int
    item_count: int
    payload: bytes
    signature: bytes
    raw: bytes

    @property
    def signed_bytes(self) -> bytes:
        return self.raw[:-SIGNATURE_BYTES]


@dataclass(frozen=True, slots=True)
class Batch:
    """A verified batch with its decoded items."""

    envelope: Envelope
    items: tuple[Item, ...]

    @property
    def header(self) -> BatchHeader:
        return self.envelope.header

    @property
    def hash(self) -> bytes:
        return batch_hash(self.envelope.raw)


def batch_hash(raw: bytes) -> bytes:
    """SHA-256 of a batch's exact bytes (signature included): the next batch's prev_hash."""
    return hashlib.sha256(raw).digest()


def encode_batch(
    header: BatchHeader,
    items: Sequence[Item | dict[str, Any]],
    signer: Signer,
    *,
    level: int = 9,
    max_bytes: int | None = MAX_BATCH_BYTES,
) -> bytes:
    """Compress, frame and sign; returns the exact bytes to publish.

    `items` are Item objects or already-encoded item dicts (the buffer journals dicts).
    Raises BatchTooLargeError beyond `max_bytes` (None: no limit, for tests of the receiver).
    """
    if header.key_id != signer.key_id:
        raise ValueError("header key_id is not the signer's")
    dicts = [i if isinstance(i, dict) else item_to_json(i) for i in items]
    payload = zlib.compress(encode_items(dicts), level)
    return encode_envelope(header, Codec.ZLIB, len(dicts), payload, signer, max_bytes=max_bytes)


def encode_envelope(
    header: BatchHeader,
    codec: int,
    item_count: int,
    payload: bytes,
    signer: Signer,
    *,
    max_bytes: int | None = MAX_BATCH_BYTES,
) -> bytes:
    """Frame an already-compressed payload and sign it (low level; tests build bad frames)."""
    sensor = header.sensor_id.encode()
    flags = FLAG_CLOCK_SYNCED if header.clock_synced else 0
    fixed = _HEADER.pack(
        BATCH_MAGIC,
        header.version,
        flags,
        codec,
        len(sensor),
        bytes.fromhex(header.key_id),
        header.epoch,
        header.seq,
        header.prev_hash,
        header.created_at_ms,
        header.mono_ms,
        uuid.UUID(header.boot_id).bytes,
        item_count,
        len(payload),
    )
    signed = fixed + sensor + payload
    raw = signed + signer.sign(signed)
    if max_bytes is not None and len(raw) > max_bytes:
        raise BatchTooLargeError(f"{len(raw)} bytes > {max_bytes}")
    return raw


def parse_envelope(raw: bytes, *, max_bytes: int = MAX_BATCH_BYTES) -> Envelope:
    """Check the size and the fixed framing; nothing here is trusted yet.

    Raises BatchTooLargeError, UnsupportedVersionError or FramingError.
    """
    if len(raw) > max_bytes:
        raise BatchTooLargeError(f"{len(raw)} bytes > {max_bytes}")
    if len(raw) < HEADER_BYTES + 1 + SIGNATURE_BYTES:
        raise FramingError(f"{len(raw)} bytes is shorter than any batch")
    (
        magic,
        version,
        flags,
        codec,
        sensor_len,
        key_id,
        epoch,
        seq,
        prev_hash,
        created_at_ms,
        mono_ms,
        boot_id,
        item_count,
        payload_len,
    ) = _HEADER.unpack_from(raw)
    if magic != BATCH_MAGIC:
        raise FramingError("bad magic")
    if version != FORMAT_VERSION:
        raise UnsupportedVersionError(f"batch format version {version}")
    if flags & ~FLAG_CLOCK_SYNCED:
        raise FramingError(f"reserved flag bits set: {flags:#04x}")
    if codec != Codec.ZLIB:
        raise FramingError(f"unknown codec {codec}")
    if HEADER_BYTES + sensor_len + payload_len + SIGNATURE_BYTES != len(raw):
        raise FramingError("lengths do not add up to the frame size")
    if item_count > MAX_ITEMS:
        raise FramingError(f"{item_count} items > {MAX_ITEMS}")
    sensor_bytes = raw[HEADER_BYTES : HEADER_BYTES + sensor_len]
    try:
        sensor_id = sensor_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise FramingError("sensor id is not ASCII") from None
    if not is_valid_name(sensor_id):
        raise FramingError(f"bad sensor id {sensor_id!r}")
    header = BatchHeader(
        sensor_id=sensor_id,
        key_id=key_id.hex(),
        epoch=epoch,
        seq=seq,
        prev_hash=prev_hash,
        created_at_ms=created_at_ms,
        mono_ms=mono_ms,
        boot_id=str(uuid.UUID(bytes=boot_id)),
        clock_synced=bool(flags & FLAG_CLOCK_SYNCED),
        version=version,
    )
    start = HEADER_BYTES + sensor_len
    return Envelope(
        header, codec, item_count, raw[start : start + payload_len], raw[-SIGNATURE_BYTES:], raw
    )


def verify_envelope(envelope: Envelope, public_key: Ed25519PublicKey | bytes) -> None:
    """Check the signature over the exact bytes received; raises SignatureError."""
    if isinstance(public_key, bytes):
        public_key = public_key_from_bytes(public_key)
    _verify_signature(public_key, envelope.signature, envelope.signed_bytes)


def decode_items(envelope: Envelope) -> tuple[Item, ...]:
    """Decompress (bounded) and parse the items of a VERIFIED envelope; raises SchemaError."""
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(envelope.payload, MAX_PAYLOAD_RAW_BYTES)
    except zlib.error as exc:
        raise SchemaError(f"payload does not decompress: {exc}") from None
    if inflater.unconsumed_tail:
        raise SchemaError(f"payload inflates beyond {MAX_PAYLOAD_RAW_BYTES} bytes")
    if not inflater.eof or inflater.unused_data:
        raise SchemaError("payload is truncated or has trailing bytes")
    try:
        objs = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaError(f"payload is not JSON: {exc}") from None
    if not isinstance(objs, list) or len(objs) != envelope.item_count:
        raise SchemaError("payload is not an array of item_count items")
    return tuple(item_from_json(o) for o in objs)


KeyLookup = Callable[[str, str], Ed25519PublicKey | bytes | None]


def verify_batch(
    raw: bytes,
    keys: KeyLookup | Ed25519PublicKey | bytes,
    *,
    expected_sensor: str | None = None,
    max_bytes: int = MAX_BATCH_BYTES,
) -> Batch:
    """Size, framing, identity, signature, then schema: the whole receive path but sequence.

    Args:
        raw: the exact bytes received.
        keys: the sensor's public key, or a lookup (sensor_id, key_id) -> key or None.
        expected_sensor: the sensor id of the topic the bytes arrived on.
    Raises:
        WireError subclasses, each with a stable `reason`.
    """
    envelope = parse_envelope(raw, max_bytes=max_bytes)
    header = envelope.header
    if expected_sensor is not None and header.sensor_id != expected_sensor:
        raise IdentityMismatchError(f"batch of {header.sensor_id!r} on {expected_sensor!r}")
    key = keys(header.sensor_id, header.key_id) if callable(keys) else keys
    if key is None:
        raise UnknownKeyError(f"no key {header.key_id} for {header.sensor_id!r}")
    if isinstance(key, bytes):
        if key_id_for(key) != header.key_id:
            raise UnknownKeyError(f"key id {header.key_id} is not the given key's")
        key = public_key_from_bytes(key)
    verify_envelope(envelope, key)
    return Batch(envelope, decode_items(envelope))


# --- acks (collector -> sensor) -------------------------------------------------------------


class AckStatus(StrEnum):
    ACCEPTED = "accepted"  # committed now: the sensor deletes the batch
    DUPLICATE = "duplicate"  # committed earlier: the sensor deletes the batch
    REJECTED = "rejected"  # will never be accepted (reason says why): the sensor sets it aside


@dataclass(frozen=True, slots=True)
class Ack:
    sensor_id: str
    key_id: str
    epoch: int
    seq: int
    status: AckStatus
    reason: str = ""

    def matches(self, header: BatchHeader) -> bool:
        return (self.sensor_id, self.key_id, self.epoch, self.seq) == (
            header.sensor_id,
            header.key_id,
            header.epoch,
            header.seq,
        )


def _encode_control(magic: bytes, body: dict[str, Any], signer: Signer | None) -> bytes:
    data = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    flags = FLAG_SIGNED if signer is not None else 0
    signed = _CONTROL.pack(magic, FORMAT_VERSION, flags, len(data)) + data
    return signed + (signer.sign(signed) if signer is not None else b"")


def _decode_control(
    raw: bytes, magic: bytes, max_bytes: int, public_key: Ed25519PublicKey | None
) -> dict[str, Any]:
    if len(raw) > max_bytes:
        raise BatchTooLargeError(f"{len(raw)} bytes > {max_bytes}")
    if len(raw) < _CONTROL.size:
        raise FramingError("frame too short")
    got_magic, version, flags, body_len = _CONTROL.unpack_from(raw)
    if got_magic != magic:
        raise FramingError("bad magic")
    if version != FORMAT_VERSION:
        raise UnsupportedVersionError(f"format version {version}")
    if flags & ~FLAG_SIGNED:
        raise FramingError(f"reserved flag bits set: {flags:#04x}")
    sig_len = SIGNATURE_BYTES if flags & FLAG_SIGNED else 0
    if _CONTROL.size + body_len + sig_len != len(raw):
        raise FramingError("lengths do not add up to the frame size")
    if public_key is not None:
        if not sig_len:
            raise SignatureError("frame is not signed")
        _verify_signature(public_key, raw[-SIGNATURE_BYTES:], raw[:-SIGNATURE_BYTES])
    try:
        body = json.loads(raw[_CONTROL.size : _CONTROL.size + body_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaError(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise SchemaError("body is not an object")
    return body


def encode_ack(ack: Ack, signer: Signer | None = None) -> bytes:
    """Frame an ack; signed when the collector has a key (the sensor may require it)."""
    return _encode_control(
        ACK_MAGIC,
        {
            "sensor_id": ack.sensor_id,
            "key_id": ack.key_id,
            "epoch": ack.epoch,
            "seq": ack.seq,
            "status": str(ack.status),
            "reason": ack.reason,
        },
        signer,
    )


def decode_ack(raw: bytes, public_key: Ed25519PublicKey | None = None) -> Ack:
    """Parse an ack; with `public_key`, an unsigned or badly signed ack raises SignatureError."""
    body = _decode_control(raw, ACK_MAGIC, MAX_ACK_BYTES, public_key)
    try:
        _keys(
            {**body, "type": "ack"},
            {"type", "sensor_id", "key_id", "epoch", "seq", "status", "reason"},
        )
        ack = Ack(
            _get(body, "sensor_id", str),
            _get(body, "key_id", str),
            _get(body, "epoch", int),
            _get(body, "seq", int),
            AckStatus(body["status"]),
            _get(body, "reason", str),
        )
    except (KeyError, ValueError) as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(f"ack: {exc}") from None
    if not _KEY_ID_RE.fullmatch(ack.key_id) or not 0 <= ack.seq < 1 << 64:
        raise SchemaError("ack: bad key id or seq")
    return ack


# --- commands (collector -> sensor, always signed) ------------------------------------------


class CommandName(StrEnum):
    """Commands the appliance knows; the appliance issue owns what each does."""

    ENABLE = "enable"  # resume monitoring (capture and classification)
    DISABLE = "disable"  # pause monitoring: capture stops, health batches continue
    DEVICE_CAP = "device_cap"  # args {"max_devices": N}: classify at most N devices
    RESEND_INVENTORY = "resend_inventory"  # send full device records of every device next
    SNAPSHOT = "snapshot"  # send full device records next
    ROTATE_KEY = "rotate_key"  # generate a new key + epoch, announce with KeyRotation
    RESEND = "resend"  # re-send every unacked batch now
    REBOOT = "reboot"


@dataclass(frozen=True, slots=True)
class Command:
    """A signed instruction. `counter` strictly increases per sensor, across collector restarts."""

    sensor_id: str
    counter: int
    issued_at_ms: int
    name: CommandName
    args: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", _frozen(self.args))


def encode_command(command: Command, signer: Signer) -> bytes:
    return _encode_control(
        COMMAND_MAGIC,
        {
            "sensor_id": command.sensor_id,
            "counter": command.counter,
            "issued_at_ms": command.issued_at_ms,
            "name": str(command.name),
            "args": _plain(command.args),
        },
        signer,
    )


def verify_command(
    raw: bytes, public_key: Ed25519PublicKey, *, sensor_id: str, last_counter: int
) -> Command:
    """Verify a command for this sensor; its counter must exceed `last_counter`.

    The caller persists the new counter before acting on the command.
    Raises SignatureError, IdentityMismatchError, ReplayError, SchemaError, FramingError.
    """
    body = _decode_control(raw, COMMAND_MAGIC, MAX_COMMAND_BYTES, public_key)
    try:
        _keys(
            {**body, "type": "command"},
            {"type", "sensor_id", "counter", "issued_at_ms", "name", "args"},
        )
        command = Command(
            _get(body, "sensor_id", str),
            _get(body, "counter", int),
            _get(body, "issued_at_ms", int),
            CommandName(body["name"]),
            _get(body, "args", dict),
        )
    except (KeyError, ValueError) as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(f"command: {exc}") from None
    if command.sensor_id != sensor_id:
        raise IdentityMismatchError(f"command for {command.sensor_id!r}")
    if command.counter <= last_counter:
        raise ReplayError(f"counter {command.counter} <= {last_counter}")
    return command
