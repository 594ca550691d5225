"""Sensor registry: sensors, their Ed25519 keys (rotation, revocation) and enrolment tokens.

`sensors add SITE ID` registers a pending sensor and returns a single-use enrolment token
(only its SHA-256 is stored; it expires after 7 days by default); `--pubkey` enrols by hand.
Rotation keeps the old key valid for an overlap window, so batches signed before the switch
still verify; revocation takes effect for the next batch, because verify and ingest read the
registry for every batch (ingest re-reads it under the sensor's lock).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from collector.errors import RegistryError
from collector.store import Store, Tx
from collector.verify import KeyState, Registry, SensorKeys
from uplink.batch import is_valid_name, key_id_for

TOKEN_TTL_S = 7 * 86_400.0
DEFAULT_OVERLAP_S = 7 * 86_400.0


@dataclass(frozen=True, slots=True)
class SensorRow:
    sensor_id: str
    site: str
    status: str
    created_at: float
    last_batch_at: float | None
    batches_ingested: int
    keys: tuple[str, ...]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_names(site: str, sensor_id: str) -> None:
    for name in (site, sensor_id):
        if not is_valid_name(name):
            raise RegistryError(f"not a valid site or sensor id: {name!r} (1-64 of [A-Za-z0-9._-])")


def add_sensor(
    store: Store,
    site: str,
    sensor_id: str,
    *,
    now: float,
    public_key: bytes | None = None,
    token_ttl_s: float = TOKEN_TTL_S,
) -> str | None:
    """Register a sensor. Returns the enrolment token, or None when `public_key` is given.

    Raises:
        RegistryError: bad name, sensor already registered, or a key that is not 32 bytes.
    """
    _check_names(site, sensor_id)
    if public_key is not None and len(public_key) != 32:
        raise RegistryError("an Ed25519 public key is 32 bytes (64 hex digits)")
    with store.transaction() as tx:
        if tx.fetchone('SELECT 1 FROM "Sensors" WHERE "SensorId" = ?', (sensor_id,)):
            raise RegistryError(f"sensor {sensor_id!r} is already registered")
        status = "active" if public_key is not None else "pending"
        tx.execute(
            'INSERT INTO "Sensors" ("SensorId", "Site", "Status", "CreatedAt") VALUES (?, ?, ?, ?)',
            (sensor_id, site, status, now),
        )
        if public_key is not None:
            _insert_key(tx, sensor_id, public_key, now)
            return None
        token = _new_token()
        tx.execute(
            'INSERT INTO "EnrolmentTokens" ("TokenHash", "SensorId", "Site", "CreatedAt", '
            '"ExpiresAt") VALUES (?, ?, ?, ?, ?)',
            (_token_hash(token), sensor_id, site, now, now + token_ttl_s),
        )
        return token


def _new_token() -> str:
    """A single-use enrolment token (256 random bits, URL-safe base64) that never starts with
    '-': one in 64 did, and `branchwatch provision --token <token>` then read it as an option
    (argparse), failing the provisioning (seen once in CI, in the demo)."""
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token


def _insert_key(tx: Tx, sensor_id: str, public_key: bytes, now: float) -> str:
    key_id = key_id_for(public_key)
    tx.execute(
        'INSERT INTO "SensorKeys" ("SensorId", "KeyId", "PublicKey", "CreatedAt") '
        "VALUES (?, ?, ?, ?)",
        (sensor_id, key_id, public_key.hex(), now),
    )
    return key_id


def redeem_token(
    store: Store, site: str, sensor_id: str, token: str, public_key: bytes, *, now: float
) -> str:
    """Burn an enrolment token and register the sensor's first key. Returns the key id.

    Raises:
        RegistryError: unknown, used, expired, or another sensor's token (one message for all:
            the enrolment topic is reachable by anyone holding the enrolment identity).
    """
    if len(public_key) != 32:
        raise RegistryError("enrolment: public key is not 32 bytes")
    digest = _token_hash(token)
    with store.transaction() as tx:
        tx.lock_sensor(sensor_id)
        row = tx.fetchone(
            'SELECT "TokenHash", "SensorId", "Site", "ExpiresAt", "UsedAt" FROM "EnrolmentTokens" '
            'WHERE "TokenHash" = ?',
            (digest,),
        )
        if (
            row is None
            or not hmac.compare_digest(row[0], digest)
            or (row[1], row[2]) != (sensor_id, site)
            or row[4] is not None
            or now > row[3]
        ):
            raise RegistryError(
                "enrolment refused: token unknown, used, expired or not this sensor's"
            )
        tx.execute('UPDATE "EnrolmentTokens" SET "UsedAt" = ? WHERE "TokenHash" = ?', (now, digest))
        tx.execute(
            'UPDATE "Sensors" SET "Status" = ? WHERE "SensorId" = ? AND "Status" = ?',
            ("active", sensor_id, "pending"),
        )
        return _insert_key(tx, sensor_id, public_key, now)


def rotate_key(
    store: Store,
    sensor_id: str,
    public_key: bytes,
    *,
    now: float,
    overlap_s: float = DEFAULT_OVERLAP_S,
) -> str:
    """Add `public_key`; every older key stays valid until now + overlap_s. Returns its id."""
    if len(public_key) != 32:
        raise RegistryError("an Ed25519 public key is 32 bytes")
    with store.transaction() as tx:
        tx.lock_sensor(sensor_id)
        _require_sensor(tx, sensor_id)
        return add_key_in(tx, sensor_id, public_key, now=now, overlap_s=overlap_s)


def add_key_in(tx: Tx, sensor_id: str, public_key: bytes, *, now: float, overlap_s: float) -> str:
    """Inside a transaction: add a key and start the overlap window of the others."""
    key_id = key_id_for(public_key)
    if tx.fetchone(
        'SELECT 1 FROM "SensorKeys" WHERE "SensorId" = ? AND "KeyId" = ?', (sensor_id, key_id)
    ):
        return key_id
    tx.execute(
        'UPDATE "SensorKeys" SET "ValidUntil" = ? WHERE "SensorId" = ? AND "ValidUntil" IS NULL',
        (now + overlap_s, sensor_id),
    )
    return _insert_key(tx, sensor_id, public_key, now)


def revoke(store: Store, sensor_id: str, *, now: float, key_id: str | None = None) -> None:
    """Revoke one key, or the whole sensor (every key) when key_id is None."""
    with store.transaction() as tx:
        tx.lock_sensor(sensor_id)
        _require_sensor(tx, sensor_id)
        if key_id is None:
            tx.execute(
                'UPDATE "Sensors" SET "Status" = ?, "RevokedAt" = ? WHERE "SensorId" = ?',
                ("revoked", now, sensor_id),
            )
            tx.execute(
                'UPDATE "SensorKeys" SET "RevokedAt" = ? WHERE "SensorId" = ? AND "RevokedAt" IS NULL',
                (now, sensor_id),
            )
            return
        changed = tx.execute(
            'UPDATE "SensorKeys" SET "RevokedAt" = ? WHERE "SensorId" = ? AND "KeyId" = ?',
            (now, sensor_id, key_id),
        )
        if not changed:
            raise RegistryError(f"sensor {sensor_id!r} has no key {key_id!r}")


def _require_sensor(tx: Tx, sensor_id: str) -> None:
    if tx.fetchone('SELECT 1 FROM "Sensors" WHERE "SensorId" = ?', (sensor_id,)) is None:
        raise RegistryError(f"unknown sensor {sensor_id!r}")


def list_sensors(store: Store) -> list[SensorRow]:
    with store.transaction() as tx:
        rows = tx.fetchall(
            'SELECT "SensorId", "Site", "Status", "CreatedAt", "LastBatchAt", "BatchesIngested" '
            'FROM "Sensors" ORDER BY "Site", "SensorId"'
        )
        keys: dict[str, list[str]] = {}
        for sensor_id, key_id, revoked_at in tx.fetchall(
            'SELECT "SensorId", "KeyId", "RevokedAt" FROM "SensorKeys" ORDER BY "CreatedAt"'
        ):
            keys.setdefault(sensor_id, []).append(key_id + (" (revoked)" if revoked_at else ""))
    return [
        SensorRow(r[0], r[1], r[2], r[3], r[4], int(r[5]), tuple(keys.get(r[0], ()))) for r in rows
    ]


def sensor_keys(tx: Tx, sensor_id: str) -> SensorKeys | None:
    """The registry entry of one sensor, read inside `tx`."""
    row = tx.fetchone('SELECT "Site", "Status" FROM "Sensors" WHERE "SensorId" = ?', (sensor_id,))
    if row is None:
        return None
    site, status = row
    keys = {
        key_id: KeyState(
            site=site,
            public_key=bytes.fromhex(public_hex),
            sensor_revoked=status == "revoked",
            key_revoked=revoked_at is not None,
            valid_until=valid_until,
        )
        for key_id, public_hex, valid_until, revoked_at in tx.fetchall(
            'SELECT "KeyId", "PublicKey", "ValidUntil", "RevokedAt" FROM "SensorKeys" '
            'WHERE "SensorId" = ?',
            (sensor_id,),
        )
    }
    return SensorKeys(site, keys)


def registry_of(store: Store) -> Registry:
    """A verify.Registry reading the store for every lookup (revocation applies at once)."""

    def lookup(sensor_id: str, key_id: str | None = None, /) -> SensorKeys | None:
        with store.transaction() as tx:
            return sensor_keys(tx, sensor_id)

    return lookup
