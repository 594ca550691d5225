"""Store: the collector's database, one interface over SQLite and PostgreSQL.

Owns connections, migrations, transactions, per-sensor serialisation and retention. The SQL of
each feature lives with the feature (ingest.py, registry.py, cve.py) and is written once, for
both engines: `?` placeholders (translated for psycopg), quoted identifiers, the types of
migrations/0001_initial.sql. Implementations: store_sqlite.SqliteStore (the embedded default)
and store_postgres.PostgresStore (several collector instances).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

Row = tuple[Any, ...]

# Tables that retention prunes, with the instant column that ages them.
_RETAINED = (
    ("DeviceInfo", "LastSeen"),
    ("DeviceNetworkInfo", "LastSeen"),
    ("Alerts", "LastSeen"),
    ("Recommendations", "LastSeen"),
    ("SensorAlarms", "At"),
    ("DeviceClassificationChanges", "ChangedAt"),
    ("Batches", "ReceivedAt"),
)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+(?:\.(sqlite|postgres))?\.sql$")


class Tx(Protocol):
    """One open transaction. Statements use `?` placeholders on both engines."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def lock_sensor(self, sensor_id: str) -> None:
        """Serialise writers of one sensor until this transaction ends."""
        ...


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(engine: str) -> list[Migration]:
    """The migrations for `engine` ("sqlite" or "postgres"), in version order.

    `NNNN_name.sql` applies to both engines; `NNNN_name.<engine>.sql` to one of them.
    """
    out: list[Migration] = []
    for entry in resources.files("collector").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match is None or match.group(2) not in (None, engine):
            continue
        out.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    out.sort(key=lambda m: m.version)
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions for {engine}: {versions}")
    return out


class Store(abc.ABC):
    """The collector database. Open with open_store(); close() when done.

    Thread safety: one Store may be used from several threads; each transaction() holds the
    store's connection for its duration (SQLite: one writer; PostgreSQL: one connection per
    Store, several Stores per process or per instance for parallel writers).
    """

    engine: str

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Tx]:
        """A write transaction: committed durably on normal exit, rolled back on an exception."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The highest applied migration version."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection (idempotent)."""

    def purge(self, retention_days: float, now: float) -> dict[str, int]:
        """Delete rows older than `retention_days` (by their last-seen instant).

        Returns the number of rows removed per table. Sensors, keys and CVE data are kept.
        """
        cutoff = now - retention_days * 86_400.0
        removed: dict[str, int] = {}
        with self.transaction() as tx:
            for table, column in _RETAINED:
                removed[table] = tx.execute(
                    f'DELETE FROM "{table}" WHERE "{column}" < ?', (cutoff,)
                )
            removed["DeviceTvmSoftwareVulnerabilities"] = tx.execute(
                'DELETE FROM "DeviceTvmSoftwareVulnerabilities" WHERE "DeviceId" NOT IN '
                '(SELECT "DeviceId" FROM "DeviceInfo")'
            )
        return removed

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(url: str, *, schema: str | None = None) -> Store:
    """Open (and migrate) the store named by `url`.

    Args:
        url: `sqlite:///path/to/db` (or a bare path) for SQLite, `postgresql://...` for
            PostgreSQL.
        schema: PostgreSQL schema to use (created if missing); tests use one per test.
    """
    if url.startswith(("postgresql://", "postgres://")):
        from collector.store_postgres import PostgresStore

        return PostgresStore(url, schema=schema or "public")
    from collector.store_sqlite import SqliteStore

    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    return SqliteStore(path)


def rows_as_dicts(columns: Sequence[str], rows: Iterator[Row] | list[Row]) -> list[dict[str, Any]]:
    """Rows as {column: value} dicts (the `--json` output of queries)."""
    return [dict(zip(columns, row, strict=True)) for row in rows]
