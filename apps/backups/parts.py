"""The parts of a backup, each written to and read from one local file, built on django-dbbackup:

- ``database``: Maestro ML's database, through dbbackup's connectors (PostgreSQL: ``pg_dump --format=custom``,
  restored with ``pg_restore``; SQLite: the online backup API), restored into SQLite with the same API rather
  than by writing over the file, which would leave a stale ``-wal`` beside it;
- ``media``: every file of the media storage (datasets, model archives, plots, cards, batch results), as a tar
  made by dbbackup's media backup through Django's storage API, so S3 works as local files do;
- ``mlflow-database``: MLflow's backend store (its local SQLite file, or the PostgreSQL database named by
  ``BACKUP_MLFLOW_DATABASE_URL``), with the same connectors;
- ``mlflow-artifacts``: MLflow's artifact root (a folder or a bucket), as a tar like the media.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import environ
from dbbackup.db.base import get_connector
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


# ---------------------------------------------------------------------------
# SQLite: online backup API both ways
# ---------------------------------------------------------------------------
def sqlite_copy(source: Path, destination: Path) -> None:
    """Copy one SQLite database into another with the online backup API (consistent while in use, WAL too)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(destination)) as dst:
        src.backup(dst)


class ExternalPgConnector(PgDumpBinaryConnector):
    """dbbackup's pg_dump/pg_restore connector for a PostgreSQL database Django does not connect to (MLflow's)."""

    def __init__(self, settings_dict: dict[str, Any]):
        self.database_name = "mlflow"
        self._settings = settings_dict
        for attr in self.MUTABLE_ATTRIBUTES:
            value = getattr(self, attr, None)
            if isinstance(value, list | dict):
                setattr(self, attr, type(value)(value))


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
    connector = get_connector(DEFAULT_DB_ALIAS)
    try:
        _write(connector.create_dump(), destination)
    except Exception as exc:
        raise PartError(f"database: {exc}") from exc


def database_restore(source: Path) -> None:
    try:
        if _default_engine().endswith("sqlite3"):
            sqlite_copy(source, Path(connections[DEFAULT_DB_ALIAS].settings_dict["NAME"]))
            connections.close_all()
            return
        connections.close_all()
        connector = _pg_restore_options(get_connector(DEFAULT_DB_ALIAS))
        with open(source, "rb") as handle:
            connector.restore_dump(File(handle))
    except Exception as exc:
        raise PartError(f"database: {exc}") from exc


# ---------------------------------------------------------------------------
# Storages as tarballs (media, MLflow artifacts)
# ---------------------------------------------------------------------------
def storage_tar(storage: Storage, destination: Path) -> None:
    """Every file of ``storage`` into an uncompressed tar (archives and Parquet are compressed already)."""
    command = MediaBackupCommand()
    command.media_storage = storage
    command.compress = False
    try:
        if storage_is_empty(storage):
            with tarfile.open(destination, "w"):
                return
        _write(command._create_tar(destination.name), destination)
    except Exception as exc:
        raise PartError(f"{destination.stem}: {exc}") from exc


def safe_member_name(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise PartError(f"refused entry {name!r}: it leaves the storage")
    return str(path)


def storage_untar(source: Path, storage: Storage, *, replace: bool) -> int:
    """Put every file of the tar back into ``storage`` under its own name; answers how many."""
    count = 0
    with tarfile.open(source, "r:") as tar:
        for member in tar:
            if not member.isfile():
                continue
            name = safe_member_name(member.name)
            if storage.exists(name):
                if not replace:
                    raise PartError(f"{name} exists already in the storage")
                storage.delete(name)
            saved = storage.save(name, File(tar.extractfile(member), name=name))
            if saved != name:
                raise PartError(f"{name} was stored as {saved}")
            count += 1
    return count


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
            sqlite_copy(store.path, destination)
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
            sqlite_copy(source, store.path)
        else:
            connector = _pg_restore_options(ExternalPgConnector(store.config))
            with open(source, "rb") as handle:
                connector.restore_dump(File(handle))
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
        with contextlib.closing(sqlite3.connect(store.path)) as db:
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
            connect_timeout=10,
        ) as db:
            return all(row[0] == 0 for row in db.execute(query))
    except psycopg.errors.UndefinedTable:
        return True
