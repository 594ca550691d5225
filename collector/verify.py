"""Batch verification: exact bytes from a topic → a trusted uplink.batch.Batch, or a reason.

Pure: no database, no broker. The order is the issue's and DESIGN.md's ("verify before
parse"), each step only reached when the previous passed:

1. payload size limit (`oversized`), then the fixed framing (`malformed`,
   `unsupported_version`), which is needed to read the envelope's identity;
2. topic identity: a batches topic whose sensor id is the envelope's (`identity_mismatch`);
3. sensor known (`unknown_sensor`), registered for the topic's site (`identity_mismatch`), key
   known for the sensor (`unknown_key`) and neither revoked nor past its rotation overlap
   window (`revoked_key`);
4. the Ed25519 signature over the exact bytes received (`bad_signature`);
5. decompression (bounded) and the item schema (`schema`).

The sequence check (replay, rollback, gaps) needs the store and happens in ingest.py, inside
the transaction that ingests the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from uplink.batch import (
    Batch,
    BatchHeader,
    TopicKind,
    decode_items,
    key_id_for,
    parse_envelope,
    parse_topic,
    public_key_from_bytes,
    verify_envelope,
)
from uplink.errors import IdentityMismatchError, SchemaError, UnknownKeyError, WireError

UNKNOWN_SENSOR = "unknown_sensor"
REVOKED_KEY = "revoked_key"

# Every reason verify() can give, in check order (counters and docs list them this way).
REASONS = (
    "oversized",
    "malformed",
    "unsupported_version",
    "identity_mismatch",
    UNKNOWN_SENSOR,
    "unknown_key",
    REVOKED_KEY,
    "bad_signature",
    "schema",
)


@dataclass(frozen=True, slots=True)
class KeyState:
    """What the registry knows about one (sensor, key)."""

    site: str
    public_key: bytes
    sensor_revoked: bool = False
    key_revoked: bool = False
    valid_until: float | None = None  # end of the overlap window after a rotation


@dataclass(frozen=True, slots=True)
class SensorKeys:
    """The registry's answer for a sensor: its site and keys (key_id → KeyState)."""

    site: str
    keys: dict[str, KeyState]


class Registry(Protocol):
    """(sensor_id, key_id) -> the sensor's SensorKeys, or None when it is not registered.

    `key_id` lets a caching registry reload a sensor whose new key it has not seen yet.
    """

    def __call__(self, sensor_id: str, key_id: str | None = None, /) -> SensorKeys | None: ...


class VerifyError(WireError):
    """A batch failed verification; `reason` is one of REASONS."""


class SignedSchemaError(SchemaError):
    """A correctly signed batch whose payload is not valid: authenticated, so it is acked
    `rejected` (the sensor sets it aside instead of re-sending it forever)."""

    def __init__(self, detail: str, *, site: str, header: BatchHeader) -> None:
        super().__init__(detail.removeprefix("schema: "))
        self.site = site
        self.header = header


@dataclass(frozen=True, slots=True)
class Verified:
    """A batch that passed every check but the sequence, with the site of its topic."""

    site: str
    batch: Batch


def verify(topic: str, raw: bytes, registry: Registry, *, now: float, max_bytes: int) -> Verified:
    """Run checks 1-5 on the exact bytes received on `topic`.

    Raises:
        VerifyError (or the uplink WireError of the failing step), `reason` set.
    """
    envelope = parse_envelope(raw, max_bytes=max_bytes)  # size first, then framing
    header = envelope.header
    site, topic_sensor, kind = parse_topic(topic)
    if kind is not TopicKind.BATCHES or topic_sensor != header.sensor_id:
        raise IdentityMismatchError(f"batch of {header.sensor_id!r} on topic {topic!r}")
    sensor = registry(header.sensor_id, header.key_id)
    if sensor is None:
        raise VerifyError(f"sensor {header.sensor_id!r} is not registered", reason=UNKNOWN_SENSOR)
    if sensor.site != site:
        raise IdentityMismatchError(f"sensor {header.sensor_id!r} is not registered at {site!r}")
    state = sensor.keys.get(header.key_id)
    if state is None or key_id_for(state.public_key) != header.key_id:
        raise UnknownKeyError(f"no key {header.key_id} for {header.sensor_id!r}")
    if state.sensor_revoked or state.key_revoked:
        raise VerifyError(f"key {header.key_id} is revoked", reason=REVOKED_KEY)
    if state.valid_until is not None and now > state.valid_until:
        raise VerifyError(f"key {header.key_id} is past its overlap window", reason=REVOKED_KEY)
    verify_envelope(envelope, _public_key(state.public_key))
    try:
        items = decode_items(envelope)
    except SchemaError as exc:
        raise SignedSchemaError(str(exc), site=site, header=header) from None
    return Verified(site, Batch(envelope, items))


@lru_cache(maxsize=8192)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    """The loaded key of raw public key bytes (loading costs as much as a tenth of a verify).

    Keyed by the bytes themselves, so a revoked or rotated key is never a stale hit: the
    registry decides which bytes apply; this only skips re-parsing them. A malformed key
    raises (and is not cached), as public_key_from_bytes does.
    """
    return public_key_from_bytes(raw)


def reason_of(exc: WireError) -> str:
    """The counter key of a verification failure."""
    return exc.reason
