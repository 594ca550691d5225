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
from types import MappingProxyType
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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
from uplink.items import (
    DeviceUpsert,
    FindingItem,
    GapItem,
    HealthItem,
    Item,
    ItemType,
    KeyRotation,
    check_keys,
    decoded_item,
    encode_items,
    frozen_mapping,
    get_typed,
    item_from_json,
    item_to_json,
    plain_json,
)
from uplink.keys import (
    KEY_ID_BYTES,
    Signer,
    key_id_for,
    public_key_from_bytes,
    verify_signature,
)

# Items and keys live in their own modules; this module is the contract's one import.
__all__ = [
    "ACK_MAGIC", "BATCH_MAGIC", "COMMAND_MAGIC", "FLAG_CLOCK_SYNCED", "FLAG_SIGNED",
    "FORMAT_VERSION", "GENESIS_HASH", "HASH_BYTES", "HEADER_BYTES", "KEY_ID_BYTES",
    "MAX_ACK_BYTES", "MAX_BATCH_BYTES", "MAX_COMMAND_BYTES", "MAX_ITEMS",
    "MAX_PAYLOAD_RAW_BYTES", "SEAL_BATCH_BYTES", "SIGNATURE_BYTES",
    "Ack", "AckStatus", "Batch", "BatchHeader", "Codec", "Command", "CommandName",
    "DeviceUpsert", "Envelope", "FindingItem", "GapItem", "HealthItem", "Item", "ItemType",
    "KeyLookup", "KeyRotation", "Signer", "TopicKind",
    "batch_hash", "decode_ack", "decode_items", "encode_ack", "encode_batch",
    "encode_command", "encode_envelope", "encode_items", "is_valid_name", "item_from_json",
    "item_to_json", "key_id_for", "parse_envelope", "parse_topic", "public_key_from_bytes",
    "topic", "verify_batch", "verify_command", "verify_envelope",
]  # fmt: skip

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
    verify_signature(public_key, envelope.signature, envelope.signed_bytes)


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
    # orjson: strict RFC 8259 (no NaN/Infinity, valid UTF-8 without lone surrogates, which
    # encode_items never writes); integers beyond 64 bits become floats and then fail the
    # schema's integer checks instead of overflowing the database later.
    try:
        objs = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"payload is not JSON: {exc}") from None
    if not isinstance(objs, list) or len(objs) != envelope.item_count:
        raise SchemaError("payload is not an array of item_count items")
    return tuple(map(decoded_item, objs))


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
        verify_signature(public_key, raw[-SIGNATURE_BYTES:], raw[:-SIGNATURE_BYTES])
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
        check_keys(
            {**body, "type": "ack"},
            {"type", "sensor_id", "key_id", "epoch", "seq", "status", "reason"},
        )
        ack = Ack(
            get_typed(body, "sensor_id", str),
            get_typed(body, "key_id", str),
            get_typed(body, "epoch", int),
            get_typed(body, "seq", int),
            AckStatus(body["status"]),
            get_typed(body, "reason", str),
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
        object.__setattr__(self, "args", frozen_mapping(self.args))


def encode_command(command: Command, signer: Signer) -> bytes:
    return _encode_control(
        COMMAND_MAGIC,
        {
            "sensor_id": command.sensor_id,
            "counter": command.counter,
            "issued_at_ms": command.issued_at_ms,
            "name": str(command.name),
            "args": plain_json(command.args),
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
        check_keys(
            {**body, "type": "command"},
            {"type", "sensor_id", "counter", "issued_at_ms", "name", "args"},
        )
        command = Command(
            get_typed(body, "sensor_id", str),
            get_typed(body, "counter", int),
            get_typed(body, "issued_at_ms", int),
            CommandName(body["name"]),
            get_typed(body, "args", dict),
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
