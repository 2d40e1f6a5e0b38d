"""The parts of a backup, each written to and read from one local file, built on django-dbbackup:

- ``database``: Maestro ML's database (PostgreSQL: ``pg_dump --format=custom`` through dbbackup's connector,
  restored with ``pg_restore``; SQLite: the online backup API on a connection of its own, never Django's, so an
  open transaction of this process cannot hold it), restored into SQLite with the same API rather than by writing
  over the file, which would leave a stale ``-wal`` beside it;
- ``media``: every file of the media storage (datasets, model archives, plots, cards, batch results), as a tar
  made by dbbackup's media backup through Django's storage API, so S3 works as local files do;
- ``mlflow-database``: MLflow's backend store (its local SQLite file, or the PostgreSQL database named by
  ``BACKUP_MLFLOW_DATABASE_URL``), with the same connectors;
- ``mlflow-artifacts``: MLflow's artifact root (a folder or a bucket), as a tar like the media.

No step waits forever: a SQLite source that stays locked, and pg_dump waiting for a table lock, give up after
``BACKUP_LOCK_TIMEOUT``; pg_dump and pg_restore are stopped after ``BACKUP_STEP_TIMEOUT``, and so is any read or
write of a storage (:func:`within`). Each failure is a :class:`PartError` whose one line names the part.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import shlex
import shutil
import sqlite3
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from tempfile import SpooledTemporaryFile
from typing import Any, TypeVar

import environ
from dbbackup import settings as dbbackup_settings
from dbbackup.db.exceptions import CommandConnectorError
from dbbackup.db.postgresql import PgDumpBinaryConnector
from dbbackup.management.commands.mediabackup import Command as MediaBackupCommand
from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage
from django.db import DEFAULT_DB_ALIAS, connections

from apps.backups.errors import BackupError
from apps.backups.targets import storage_is_empty
from apps.core.mlflow_store import sqlite_path


class PartError(BackupError):
    """A part could not be written or restored; the message says which and why."""


T = TypeVar("T")


# ---------------------------------------------------------------------------
# Bounded waits
# ---------------------------------------------------------------------------
def within(part: str, step: Callable[[], T], *, what: str, seconds: float | None = None) -> T:
    """Run ``step`` (a read or write of a storage, which may hang on a stuck mount or endpoint) in a thread of its
    own and wait at most ``seconds`` (default ``BACKUP_STEP_TIMEOUT``) for it; past that, PartError naming the
    part. A step that never returns keeps its (daemon) thread, not the backup."""
    seconds = settings.BACKUP_STEP_TIMEOUT if seconds is None else seconds
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = step()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread below
            outcome["error"] = exc

    context = contextvars.copy_context()  # the request id and log context follow the step
    thread = threading.Thread(target=context.run, args=(run,), name=f"backup-{part}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise PartError(f"{part}: {what} did not finish within {seconds:g} s (BACKUP_STEP_TIMEOUT)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# ---------------------------------------------------------------------------
# SQLite: online backup API both ways
# ---------------------------------------------------------------------------
BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SqliteLocked(Exception):
    pass


def sqlite_copy(source: Path, destination: Path, *, part: str, lock_timeout: float | None = None) -> None:
    """Copy one SQLite database into another with the online backup API (consistent while in use, WAL too), on
    connections of its own. Python's backup retries a locked database for ever; here, once either database has
    stayed locked for ``lock_timeout`` seconds (default ``BACKUP_LOCK_TIMEOUT``), PartError naming the part."""
    lock_timeout = settings.BACKUP_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    destination.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def progress(status: int, remaining: int, total: int) -> None:
        if status in BUSY and time.monotonic() - started > lock_timeout:
            raise SqliteLocked

    try:
        with (
            contextlib.closing(sqlite3.connect(source, timeout=lock_timeout)) as src,
            contextlib.closing(sqlite3.connect(destination, timeout=lock_timeout)) as dst,
        ):
            src.backup(dst, progress=progress, sleep=0.1)
    except SqliteLocked:
        raise PartError(
            f"{part}: the SQLite database stayed locked for {lock_timeout:g} s (BACKUP_LOCK_TIMEOUT): another "
            "connection holds a lock on it; back up again once it is released"
        ) from None
    except sqlite3.OperationalError as exc:
        raise PartError(f"{part}: {exc} (after {time.monotonic() - started:.0f} s)") from exc


# ---------------------------------------------------------------------------
# PostgreSQL: pg_dump and pg_restore, stopped when they run too long
# ---------------------------------------------------------------------------
class BoundedPgConnector(PgDumpBinaryConnector):
    """dbbackup's pg_dump/pg_restore connector that waits at most ``BACKUP_LOCK_TIMEOUT`` for a connection and
    for pg_dump's table locks, and stops either command after ``BACKUP_STEP_TIMEOUT`` (dbbackup waits for ever)."""

    part = "database"

    def __init__(self, database_name: str | None = None, **kwargs: Any):
        super().__init__(database_name, **kwargs)
        self._bound_waits()

    def _bound_waits(self) -> None:
        self.dump_suffix = f"{self.dump_suffix} --lock-wait-timeout={int(settings.BACKUP_LOCK_TIMEOUT * 1000)}"
        self.env = {**self.env, "PGCONNECT_TIMEOUT": str(max(1, int(settings.BACKUP_LOCK_TIMEOUT)))}

    def run_command(self, command: str, stdin=None, env: dict[str, str] | None = None):
        arguments = shlex.split(command)
        full_env = {**(os.environ if self.use_parent_env else {}), **self.env, **(env or {})}
        stdout = SpooledTemporaryFile(max_size=dbbackup_settings.TMP_FILE_MAX_SIZE, dir=dbbackup_settings.TMP_DIR)
        stderr = SpooledTemporaryFile(max_size=dbbackup_settings.TMP_FILE_MAX_SIZE, dir=dbbackup_settings.TMP_DIR)
        seconds = settings.BACKUP_STEP_TIMEOUT
        source = stdin.open("rb") if isinstance(stdin, File) else stdin
        try:
            done = subprocess.run(  # noqa: S603 - pg_dump/pg_restore with arguments built by dbbackup
                arguments, stdin=source, stdout=stdout, stderr=stderr, env=full_env, timeout=seconds, check=False
            )
        except subprocess.TimeoutExpired:
            raise PartError(
                f"{self.part}: {arguments[0]} did not finish within {seconds:g} s (BACKUP_STEP_TIMEOUT); stopped"
            ) from None
        except OSError as exc:
            raise CommandConnectorError(f"{arguments[0]} could not run: {exc}") from exc
        stderr.seek(0)
        if done.returncode:
            said = " ".join(stderr.read().decode("utf-8", "replace").split())
            raise CommandConnectorError(f"{arguments[0]} failed: {said}")
        stdout.seek(0)
        return stdout, stderr


class ExternalPgConnector(BoundedPgConnector):
    """The bounded pg_dump/pg_restore connector for a PostgreSQL database Django does not connect to (MLflow's)."""

    part = "mlflow-database"

    def __init__(self, settings_dict: dict[str, Any]):
        self.database_name = "mlflow"
        self._settings = settings_dict
        for attr in self.MUTABLE_ATTRIBUTES:
            value = getattr(self, attr, None)
            if isinstance(value, list | dict):
                setattr(self, attr, type(value)(value))
        self._bound_waits()


def _pg_restore_options(connector: PgDumpBinaryConnector) -> PgDumpBinaryConnector:
    # Objects belong to whoever restores (the application's role), whatever role owned them before.
    connector.pg_options = "--no-owner"
    return connector


def _write(stream, destination: Path) -> None:
    stream.seek(0)
    with open(destination, "wb") as target:
        shutil.copyfileobj(stream, target)


# ---------------------------------------------------------------------------
# Maestro ML's database
# ---------------------------------------------------------------------------
def _default_engine() -> str:
    return connections[DEFAULT_DB_ALIAS].settings_dict["ENGINE"]


def database_extension() -> str:
    return "sqlite3" if _default_engine().endswith("sqlite3") else "psql.bin"


def database_dump(destination: Path) -> None:
    try:
        if _default_engine().endswith("sqlite3"):
            sqlite_copy(Path(connections[DEFAULT_DB_ALIAS].settings_dict["NAME"]), destination, part="database")
            return
        _write(BoundedPgConnector(DEFAULT_DB_ALIAS).create_dump(), destination)
    except PartError:
        raise
    except Exception as exc:
        raise PartError(f"database: {exc}") from exc


def database_restore(source: Path) -> None:
    try:
        if _default_engine().endswith("sqlite3"):
            sqlite_copy(source, Path(connections[DEFAULT_DB_ALIAS].settings_dict["NAME"]), part="database")
            connections.close_all()
            return
        connections.close_all()
        connector = _pg_restore_options(BoundedPgConnector(DEFAULT_DB_ALIAS))
        with open(source, "rb") as handle:
            connector.restore_dump(File(handle))
    except PartError:
        raise
    except Exception as exc:
        raise PartError(f"database: {exc}") from exc


# ---------------------------------------------------------------------------
# Storages as tarballs (media, MLflow artifacts)
# ---------------------------------------------------------------------------
def storage_tar(storage: Storage, destination: Path) -> None:
    """Every file of ``storage`` into an uncompressed tar (archives and Parquet are compressed already); the part
    is named after the file (``media.tar``: media)."""
    part = destination.stem
    command = MediaBackupCommand()
    command.media_storage = storage
    command.compress = False

    def tar() -> None:
        if storage_is_empty(storage):
            with tarfile.open(destination, "w"):
                return
        _write(command._create_tar(destination.name), destination)

    try:
        within(part, tar, what="reading the storage")
    except PartError:
        raise
    except Exception as exc:
        raise PartError(f"{part}: {exc}") from exc


def safe_member_name(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise PartError(f"refused entry {name!r}: it leaves the storage")
    return str(path)


def storage_untar(source: Path, storage: Storage, *, replace: bool, part: str) -> int:
    """Put every file of the tar back into ``storage`` under its own name; answers how many."""

    def untar() -> int:
        count = 0
        with tarfile.open(source, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name = safe_member_name(member.name)
                if storage.exists(name):
                    if not replace:
                        raise PartError(f"{part}: {name} exists already in the storage")
                    storage.delete(name)
                saved = storage.save(name, File(tar.extractfile(member), name=name))
                if saved != name:
                    raise PartError(f"{part}: {name} was stored as {saved}")
                count += 1
        return count

    return within(part, untar, what="writing the storage")


# ---------------------------------------------------------------------------
# MLflow's backend store
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MlflowStore:
    kind: str  # "sqlite" or "postgresql"
    path: Path | None = None
    config: dict[str, Any] | None = None

    @property
    def extension(self) -> str:
        return "sqlite3" if self.kind == "sqlite" else "psql.bin"


def mlflow_store() -> MlflowStore:
    """MLflow's database: ``BACKUP_MLFLOW_DATABASE_URL``, or the tracking URI when it is a local SQLite store."""
    url = settings.BACKUP_MLFLOW_DATABASE_URL or settings.MLFLOW_TRACKING_URI
    path = sqlite_path(url)
    if path is not None:
        return MlflowStore("sqlite", path=path)
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    if scheme in ("postgres", "postgresql"):
        config = environ.Env.db_url_config("postgres://" + url.split("://", 1)[1])
        return MlflowStore("postgresql", config=config)
    raise PartError(
        f"mlflow-database: MLflow's store at {scheme}:// cannot be backed up from here; set BACKUP_MLFLOW_DATABASE_URL "
        "to the PostgreSQL database the MLflow server uses"
    )


def mlflow_dump(store: MlflowStore, destination: Path) -> None:
    try:
        if store.kind == "sqlite":
            if not store.path.exists():
                from apps.core.mlflow_store import mlflow_store_ensure_ready

                mlflow_store_ensure_ready(tracking_uri=f"sqlite:///{store.path}")
            sqlite_copy(store.path, destination, part="mlflow-database")
        else:
            _write(ExternalPgConnector(store.config).create_dump(), destination)
    except PartError:
        raise
    except Exception as exc:
        raise PartError(f"mlflow-database: {exc}") from exc


def mlflow_restore(store: MlflowStore, source: Path) -> None:
    try:
        if store.kind == "sqlite":
            for suffix in ("-wal", "-shm"):
                store.path.with_name(store.path.name + suffix).unlink(missing_ok=True)
            sqlite_copy(source, store.path, part="mlflow-database")
        else:
            connector = _pg_restore_options(ExternalPgConnector(store.config))
            with open(source, "rb") as handle:
                connector.restore_dump(File(handle))
    except PartError:
        raise
    except Exception as exc:
        raise PartError(f"mlflow-database: {exc}") from exc


MLFLOW_CONTENT_QUERY = (
    "SELECT count(*) FROM runs UNION ALL SELECT count(*) FROM registered_models "
    "UNION ALL SELECT count(*) FROM model_versions"
)


def mlflow_store_is_empty(store: MlflowStore) -> bool:
    """No run and no registered model (the store may exist, migrated, with MLflow's Default experiment)."""
    query = MLFLOW_CONTENT_QUERY
    if store.kind == "sqlite":
        if not store.path.exists():
            return True
        with contextlib.closing(sqlite3.connect(store.path, timeout=settings.BACKUP_LOCK_TIMEOUT)) as db:
            try:
                return all(row[0] == 0 for row in db.execute(query))
            except sqlite3.OperationalError:  # no such table: an empty or foreign file
                return True
    import psycopg

    config = store.config
    try:
        with psycopg.connect(
            dbname=config["NAME"],
            user=config.get("USER") or None,
            password=config.get("PASSWORD") or None,
            host=config.get("HOST") or None,
            port=config.get("PORT") or None,
            connect_timeout=max(1, int(settings.BACKUP_LOCK_TIMEOUT)),
            options=f"-c lock_timeout={int(settings.BACKUP_LOCK_TIMEOUT * 1000)}",
        ) as db:
            return all(row[0] == 0 for row in db.execute(query))
    except psycopg.errors.UndefinedTable:
        return True
