"""SqliteStore: the embedded collector database (one collector instance).

WAL journal with `synchronous=FULL`, so a commit is on disk before the ack goes out. Writers
are serialised by `BEGIN IMMEDIATE` (SQLite has one writer), which also serialises per sensor.
Hunting queries use a separate read-only connection (URI `mode=ro`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collector.errors import QueryError, StoreError
from collector.store import Row, Store, migrations

_BUSY_TIMEOUT_MS = 30_000


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        target, uri=uri, isolation_level=None, check_same_thread=False, timeout=30.0
    )
    conn.create_function("now_epoch", 0, time.time)
    conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    if uri:
        conn.execute("PRAGMA query_only=ON")
    return conn


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._conn.execute(sql, params).fetchall())

    def lock_sensor(self, sensor_id: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the database's only write lock."""


class SqliteStore(Store):
    """SQLite database at `path` (created and migrated when missing)."""

    engine = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._conn = _connect(str(self.path))
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"{self.path}: cannot enable WAL (journal_mode={mode})")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    def _migrate(self) -> None:
        with self.transaction() as tx:
            tx.execute(
                'CREATE TABLE IF NOT EXISTS "SchemaVersion" '
                '("Version" BIGINT PRIMARY KEY, "Name" TEXT NOT NULL, '
                '"AppliedAt" DOUBLE PRECISION NOT NULL)'
            )
            done = {row[0] for row in tx.fetchall('SELECT "Version" FROM "SchemaVersion"')}
        for migration in migrations(self.engine):
            if migration.version in done:
                continue
            # executescript commits what is pending; the script carries its own transaction.
            with self._lock:
                self._conn.executescript(
                    "BEGIN IMMEDIATE;\n"
                    + migration.sql
                    + ';\nINSERT INTO "SchemaVersion" VALUES '
                    + f"({migration.version}, '{migration.name}', {time.time()!r});\nCOMMIT;"
                )

    @contextmanager
    def _transaction(self) -> Iterator[_SqliteTx]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: cannot begin: {exc}") from exc
            try:
                yield _SqliteTx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise StoreError(f"{self.path}: commit failed: {exc}") from exc

    def transaction(self) -> Any:
        return self._transaction()

    def schema_version(self) -> int:
        row = self._conn.execute('SELECT MAX("Version") FROM "SchemaVersion"').fetchone()
        return int(row[0] or 0)

    def run_readonly(
        self, sql: str, params: Sequence[Any] = (), *, timeout_s: float, max_rows: int
    ) -> tuple[list[str], list[Row]]:
        """Run one query on a read-only connection; abort it after `timeout_s`."""
        conn = _connect(f"file:{self.path.resolve()}?mode=ro", uri=True)
        deadline = time.monotonic() + timeout_s
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            cur = conn.execute(sql, params)
            columns = [d[0] for d in cur.description or ()]
            rows = cur.fetchmany(max_rows)
            return columns, rows
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise QueryError(f"query exceeded {timeout_s:g} s") from exc
            raise QueryError(str(exc)) from exc
        except sqlite3.Error as exc:
            raise QueryError(str(exc)) from exc
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
