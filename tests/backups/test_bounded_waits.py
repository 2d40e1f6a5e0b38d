"""No step of a backup waits for ever: a SQLite database that stays locked, pg_dump waiting for a table lock or
running too long, and a storage that never answers each fail the backup within their bound, with one line naming
the part. Backups here run as in production, outside any transaction of the test (the database is committed)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.backups import parts
from apps.backups.models import BackupOutcome, BackupRecord

pytestmark = pytest.mark.django_db(transaction=True)

on_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="the suite's database is not SQLite")
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="the suite's database is not PostgreSQL")


@contextlib.contextmanager
def sqlite_locked(path: Path):
    """Another connection holding an exclusive lock on the SQLite file (WAL or not), as a long write would."""
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        holder.close()


@contextlib.contextmanager
def postgresql_table_locked(table: str):
    """Another session holding ACCESS EXCLUSIVE on one table of the suite's database (pg_dump must share-lock it)."""
    import psycopg

    s = connection.settings_dict
    with psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"] or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
    ) as holder:
        holder.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
        yield
        holder.rollback()


def elapsed(since: float) -> float:
    return time.monotonic() - since


def wal_database(path: Path) -> Path:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
        db.commit()
    return path


def test_a_sqlite_database_that_stays_locked_fails_the_part_after_the_lock_timeout(tmp_path):
    source = wal_database(tmp_path / "store.sqlite3")
    started = time.monotonic()
    with sqlite_locked(source), pytest.raises(parts.PartError) as caught:
        parts.sqlite_copy(source, tmp_path / "copy.sqlite3", part="mlflow-database", lock_timeout=1)
    assert elapsed(started) < 10
    message = str(caught.value)
    assert message.startswith("mlflow-database: the SQLite database stayed locked for 1 s (BACKUP_LOCK_TIMEOUT)")
    assert "\n" not in message

    parts.sqlite_copy(source, tmp_path / "copy.sqlite3", part="mlflow-database", lock_timeout=1)  # released: works
    with contextlib.closing(sqlite3.connect(tmp_path / "copy.sqlite3")) as copy:
        assert copy.execute("SELECT count(*) FROM runs").fetchone() == (0,)


@on_sqlite
def test_the_sqlite_database_part_gives_up_on_a_locked_database_naming_it(settings, tmp_path, monkeypatch):
    # A database file of this test's own, locked: the suite's is held open by other connections (the session's
    # Celery worker, servers of earlier tests), which an exclusive lock would have to wait for.
    monkeypatch.setitem(connection.settings_dict, "NAME", str(wal_database(tmp_path / "maestro.sqlite3")))
    settings.BACKUP_LOCK_TIMEOUT = 1
    started = time.monotonic()
    with sqlite_locked(Path(connection.settings_dict["NAME"])), pytest.raises(parts.PartError) as caught:
        parts.database_dump(tmp_path / "database.sqlite3")
    assert elapsed(started) < 10
    assert str(caught.value).startswith("database: the SQLite database stayed locked for 1 s")


@on_postgresql
def test_pg_dump_gives_up_waiting_for_a_table_lock_after_the_lock_timeout(settings, tmp_path):
    settings.BACKUP_LOCK_TIMEOUT = 1
    started = time.monotonic()
    with postgresql_table_locked(BackupRecord._meta.db_table), pytest.raises(parts.PartError) as caught:
        parts.database_dump(tmp_path / "database.psql.bin")
    assert elapsed(started) < 20
    message = str(caught.value)
    assert message.startswith("database: pg_dump failed:") and "LOCK TABLE public.backups_backuprecord" in message
    assert "\n" not in message


@on_postgresql
def test_pg_dump_is_stopped_after_the_step_timeout(settings, tmp_path):
    settings.BACKUP_LOCK_TIMEOUT = 600  # pg_dump would wait this long for the lock
    settings.BACKUP_STEP_TIMEOUT = 2
    started = time.monotonic()
    with postgresql_table_locked(BackupRecord._meta.db_table), pytest.raises(parts.PartError) as caught:
        parts.database_dump(tmp_path / "database.psql.bin")
    assert elapsed(started) < 20
    assert str(caught.value) == "database: pg_dump did not finish within 2 s (BACKUP_STEP_TIMEOUT); stopped"


@pytest.fixture
def media_with_a_stuck_file(stores):
    """A file of the media storage whose reads never start (a FIFO nobody writes to: a hung mount looks the same);
    released after the test so the reader it held ends."""
    media = stores / "media"
    (media / "datasets" / "1").mkdir(parents=True)
    (media / "datasets" / "1" / "train.csv").write_text("a,b\n1,2\n")
    fifo = media / "datasets" / "1" / "stuck.csv"
    os.mkfifo(fifo)
    yield stores
    with contextlib.suppress(OSError):  # only possible while the stuck reader is still there
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_a_storage_that_never_answers_fails_the_backup_after_the_step_timeout(media_with_a_stuck_file, settings):
    settings.BACKUP_STEP_TIMEOUT = 2
    target = media_with_a_stuck_file / "backups"

    started = time.monotonic()
    with pytest.raises(CommandError) as caught:
        call_command("backup", "--target", str(target), "--no-prune")
    assert elapsed(started) < 30
    message = str(caught.value)
    assert message == "Backup failed: media: reading the storage did not finish within 2 s (BACKUP_STEP_TIMEOUT)"
    record = BackupRecord.objects.get()
    assert record.outcome == BackupOutcome.FAILED and record.error.startswith("media: reading the storage")
    assert not target.exists() or list(target.iterdir()) == []  # nothing half-written left behind
