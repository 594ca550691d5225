"""Store: durability settings, migrations, retention (both engines)."""

from __future__ import annotations

from pathlib import Path

from collector.store import Store, migrations, open_store
from collector.store_sqlite import SqliteStore
from tests.collector.conftest import NOW, PG_DSN, Sensor, drop_schema, make_store
from tests.collector.items import device, scan_alert


def test_sqlite_runs_wal_with_synchronous_full(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    assert isinstance(store, SqliteStore)
    with store.transaction() as tx:
        assert tx.fetchone("PRAGMA journal_mode") == ("wal",)
        assert tx.fetchone("PRAGMA synchronous") == (
            2,
        )  # FULL (sqlite.org/pragma.html#pragma_synchronous)
    store.close()


def test_postgres_commits_with_synchronous_commit_on(tmp_path: Path) -> None:
    store, schema = make_store("postgres", tmp_path)
    try:
        with store.transaction() as tx:
            assert tx.fetchone("SHOW synchronous_commit") == ("on",)
    finally:
        store.close()
        drop_schema(schema)


def test_both_engines_apply_the_same_migration_versions(store: Store, tmp_path: Path) -> None:
    shared = {m.version for m in migrations("sqlite")}
    assert shared == {m.version for m in migrations("postgres")}
    assert store.schema_version() == max(shared)


def test_reopening_does_not_reapply_migrations(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    open_store(str(path)).close()
    again = open_store(str(path))
    with again.transaction() as tx:
        assert tx.fetchone('SELECT COUNT(*) FROM "SchemaVersion"') == (len(migrations("sqlite")),)
    again.close()


def test_two_postgres_instances_migrate_one_schema_once(tmp_path: Path) -> None:
    first, schema = make_store("postgres", tmp_path)
    second = open_store(PG_DSN or "", schema=schema)
    try:
        assert first.schema_version() == second.schema_version()
    finally:
        first.close()
        second.close()
        drop_schema(schema)


def test_retention_removes_rows_older_than_retention_days_and_keeps_sensors(store: Store) -> None:
    from collector.ingest import Ingestor, Received

    sensor = Sensor()
    sensor.register(store)
    old, new = "00:00:00:00:00:01", "00:00:00:00:00:02"
    items = [
        device(
            old, NOW - 100 * 86_400, last_seen=NOW - 100 * 86_400, first_seen=NOW - 100 * 86_400
        ),
        device(new, NOW - 86_400, last_seen=NOW - 86_400, first_seen=NOW - 86_400),
        scan_alert(old, NOW - 95 * 86_400),
        scan_alert(new, NOW - 86_400, 1),
    ]
    Ingestor(store).handle(Received(sensor.topic, sensor.batch(items), NOW))
    removed = store.purge(90, NOW)
    assert (removed["DeviceInfo"], removed["Alerts"]) == (1, 1)
    with store.transaction() as tx:
        assert tx.fetchall('SELECT "MacAddress" FROM "DeviceInfo"') == [(new,)]
        assert tx.fetchone('SELECT COUNT(*) FROM "Sensors"') == (1,)
        assert tx.fetchone('SELECT COUNT(*) FROM "Streams"') == (1,)  # replay protection kept
