"""Collector fixtures: a store on each engine, and a small signed-batch sensor."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from collector.registry import add_sensor
from collector.store import Store, open_store
from tests.conftest import require
from uplink.batch import (
    GENESIS_HASH,
    BatchHeader,
    Item,
    Signer,
    TopicKind,
    batch_hash,
    encode_batch,
    topic,
)

PG_DSN = os.environ.get("BRANCHWATCH_PG_DSN")
BOOT_ID = "6f1c2a4e-8d3b-4c5a-9e7f-0123456789ab"
NOW = 1_764_241_200.0  # 2025-11-27T11:00:00Z


def make_store(engine: str, tmp_path: Any) -> tuple[Store, Any]:
    if engine == "sqlite":
        return open_store(str(tmp_path / "collector.db")), None
    require(PG_DSN is not None, "BRANCHWATCH_PG_DSN not set (no PostgreSQL server)")
    assert PG_DSN is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    return open_store(PG_DSN, schema=schema), schema


def drop_schema(schema: str) -> None:
    import psycopg

    assert PG_DSN is not None
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Store]:
    s, schema = make_store(request.param, tmp_path)
    try:
        yield s
    finally:
        s.close()
        if schema is not None:
            drop_schema(schema)


@dataclass
class Sensor:
    """A sensor that signs batches with the real wire code, and keeps its chain."""

    sensor_id: str = "pi-0001"
    site: str = "branch-42"
    signer: Signer = field(default_factory=Signer.generate)
    epoch: int = 0x1122334455667788
    seq: int = 0
    prev_hash: bytes = GENESIS_HASH
    clock_synced: bool = True
    created_at: float = NOW

    @property
    def topic(self) -> str:
        return topic(self.site, self.sensor_id, TopicKind.BATCHES)

    def register(self, store: Store, now: float = NOW) -> None:
        add_sensor(
            store, self.site, self.sensor_id, now=now, public_key=self.signer.public_key_bytes
        )

    def header(self, **over: Any) -> BatchHeader:
        values: dict[str, Any] = {
            "sensor_id": self.sensor_id,
            "key_id": self.signer.key_id,
            "epoch": self.epoch,
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "created_at_ms": int(self.created_at * 1000),
            "mono_ms": 1000 + self.seq,
            "boot_id": BOOT_ID,
            "clock_synced": self.clock_synced,
        }
        values.update(over)
        return BatchHeader(**values)

    def batch(self, items: Sequence[Item | dict[str, Any]], **over: Any) -> bytes:
        """Sign the next batch of the chain (or one with `over` header fields, not chained)."""
        signer = over.pop("signer", self.signer)
        if signer is not self.signer:
            over.setdefault("key_id", signer.key_id)
        raw = encode_batch(self.header(**over), items, signer, max_bytes=None)
        if not over:
            self.seq += 1
            self.prev_hash = batch_hash(raw)
        return raw
