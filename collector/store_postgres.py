"""PostgresStore: the collector database on PostgreSQL (psycopg 3), for several instances.

Every connection runs with `synchronous_commit=on`, so a commit is durable before the ack.
Writers of one sensor are serialised with a row lock on its "Sensors" row (SELECT ... FOR
UPDATE), so instances fed by one shared subscription never interleave a sensor's batches.
Hunting queries run on their own connection as the SELECT-only role `branchwatch_reader`,
in a read-only transaction with a statement timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql as pgsql

from collector.errors import QueryError, StoreError
from collector.store import Row, Store, migrations

_MIGRATION_LOCK = 0x42574D47  # pg_advisory_xact_lock key: instances migrate one at a time


def _placeholders(sql: str) -> str:
    return sql.replace("?", "%s")


class _PgTx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(_placeholders(sql), params).rowcount  # type: ignore[arg-type]

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(_placeholders(sql), rows)  # type: ignore[arg-type]

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row = self._conn.execute(_placeholders(sql), params).fetchone()  # type: ignore[arg-type]
        return tuple(row) if row is not None else None

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._conn.execute(_placeholders(sql), params)  # type: ignore[arg-type]
        return [tuple(r) for r in cur.fetchall()]

    def lock_sensor(self, sensor_id: str) -> None:
        self._conn.execute('SELECT 1 FROM "Sensors" WHERE "SensorId" = %s FOR UPDATE', (sensor_id,))


class PostgresStore(Store):
    """PostgreSQL database at `dsn`, tables in `schema` (created and migrated when missing)."""

    engine = "postgres"

    def __init__(self, dsn: str, *, schema: str = "public") -> None:
        self.dsn = dsn
        self.schema = schema
        self._lock = threading.Lock()
        try:
            self._conn = self._connect()
            with self._conn.transaction():
                self._conn.execute(
                    pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(schema))
                )
            self._migrate()
        except psycopg.Error as exc:
            raise StoreError(f"postgres: {exc}") from exc

    def _connect(self, **extra: str) -> psycopg.Connection[Any]:
        options = f"-c search_path={self.schema} -c synchronous_commit=on"
        for key, value in extra.items():
            options += f" -c {key}={value}"
        return psycopg.connect(self.dsn, autocommit=True, options=options)

    def _migrate(self) -> None:
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self._conn.execute(
                'CREATE TABLE IF NOT EXISTS "SchemaVersion" '
                '("Version" BIGINT PRIMARY KEY, "Name" TEXT NOT NULL, '
                '"AppliedAt" DOUBLE PRECISION NOT NULL)'
            )
            done = {r[0] for r in self._conn.execute('SELECT "Version" FROM "SchemaVersion"')}
            for migration in migrations(self.engine):
                if migration.version in done:
                    continue
                self._conn.execute(migration.sql.encode())
                self._conn.execute(
                    'INSERT INTO "SchemaVersion" VALUES (%s, %s, %s)',
                    (migration.version, migration.name, time.time()),
                )

    @contextmanager
    def _transaction(self) -> Iterator[_PgTx]:
        with self._lock:
            try:
                with self._conn.transaction():
                    yield _PgTx(self._conn)
            except psycopg.Error as exc:
                raise StoreError(f"postgres: {exc}") from exc

    def transaction(self) -> Any:
        return self._transaction()

    def schema_version(self) -> int:
        with self._lock:
            row = self._conn.execute('SELECT MAX("Version") FROM "SchemaVersion"').fetchone()
        return int(row[0] or 0) if row else 0

    def run_readonly(
        self, sql: str, params: Sequence[Any] = (), *, timeout_s: float, max_rows: int
    ) -> tuple[list[str], list[Row]]:
        """Run one query as branchwatch_reader in a read-only transaction with a timeout."""
        timeout_ms = str(max(1, int(timeout_s * 1000)))
        try:
            conn = self._connect(statement_timeout=timeout_ms, default_transaction_read_only="on")
        except psycopg.Error as exc:
            raise StoreError(f"postgres: {exc}") from exc
        try:
            conn.execute("SET ROLE branchwatch_reader")
            with conn.transaction(force_rollback=True):
                conn.execute("SET TRANSACTION READ ONLY")
                cur = conn.execute(_placeholders(sql) if params else sql, params or None)  # type: ignore[arg-type]
                columns = [d.name for d in cur.description or ()]
                rows = [tuple(r) for r in cur.fetchmany(max_rows)]
            return columns, rows
        except psycopg.errors.QueryCanceled as exc:
            raise QueryError(f"query exceeded {timeout_s:g} s") from exc
        except psycopg.Error as exc:
            raise QueryError(str(exc).strip()) from exc
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
