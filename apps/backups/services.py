"""Backups and restores of everything Maestro ML keeps, verified by SHA-256 end to end.

A backup is one folder under the target (a local folder or ``s3://bucket/prefix``) named
``maestro-<UTC time>``, holding the parts of :mod:`apps.backups.parts`, then ``manifest.json`` (Maestro ML's
version, migration heads, library versions, the time, and the SHA-256 and size of every part, plus the recorded
SHA-256 of every model archive and dataset) and last ``manifest.sha256``, which marks the backup complete.

A restore reads every part and checks its size and hash before it changes anything, refuses a database or
storage that is not empty (unless forced), puts everything back, migrates forward when the backup predates the
code, and ends by hashing every model archive and dataset against the SHA-256 the restored database records.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, default_storage
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from apps.backups import parts, targets
from apps.backups.errors import BackupError
from apps.backups.models import BackupOutcome, BackupRecord
from apps.core.archives import CHUNK_SIZE

__all__ = ["BackupError", "backup_create", "backup_restore", "backups_list", "backups_prune"]

logger = logging.getLogger("maestro.backups")

FORMAT = 1
MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest.sha256"
NAME_PATTERN = re.compile(r"^maestro-(\d{8}T\d{6}Z)(?:-[0-9a-f]+)?$")
LIBRARIES = (
    "Django",
    "djangorestframework",
    "celery",
    "django-dbbackup",
    "django-storages",
    "psycopg",
    "mlflow",
    "autogluon.tabular",
    "scikit-learn",
    "lightgbm",
    "pandas",
    "numpy",
    "shap",
)


@dataclass
class BackupResult:
    name: str
    target: str
    size: int
    parts: dict[str, dict[str, Any]]
    pruned: list[str] = field(default_factory=list)


@dataclass
class RestoreReport:
    name: str
    parts: list[str]
    media_files: int
    artifact_files: int
    archives_checked: int
    migrated: bool


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def backup_time(name: str) -> datetime | None:
    match = NAME_PATTERN.match(name)
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def new_backup_name(storage: Storage, now: datetime) -> str:
    name = f"maestro-{now:%Y%m%dT%H%M%SZ}"
    if name in targets.backup_names(storage):
        name = f"{name}-{secrets.token_hex(3)}"
    return name


def is_complete(storage: Storage, name: str) -> bool:
    return storage.exists(f"{name}/{MANIFEST_HASH}")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def maestro_version() -> str:
    try:
        return importlib.metadata.version("maestro-ml")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def migration_heads() -> list[str]:
    """The newest applied migration of each app (``app.name``), as the database records them."""
    loader = MigrationLoader(connections[DEFAULT_DB_ALIAS], ignore_no_migrations=True)
    applied = set(loader.applied_migrations)
    heads = []
    for node in applied:
        graph_node = loader.graph.node_map.get(node)
        children = graph_node.children if graph_node else set()
        if not any(child[0] == node[0] and child in applied for child in children):
            heads.append(f"{node[0]}.{node[1]}")
    return sorted(heads)


def recorded_files() -> list[dict[str, Any]]:
    """Every model archive and dataset with the SHA-256 the database records for it."""
    files: list[dict[str, Any]] = []
    sources = (
        ("model_version", "registry.ModelVersion", "artifact", "artifact_sha256"),
        ("training_job", "automl.TrainingJob", "artifact", "artifact_sha256"),
        ("dataset", "projects.Dataset", "file", "sha256"),
    )
    for kind, model_name, file_field, hash_field in sources:
        model = apps.get_model(model_name)
        rows = model._base_manager.exclude(**{file_field: ""}).order_by("pk").values_list("pk", file_field, hash_field)
        files.extend({"kind": kind, "id": pk, "path": path, "sha256": sha} for pk, path, sha in rows.iterator())
    return files


# ---------------------------------------------------------------------------
# Backup
# ---------------------------------------------------------------------------
def _write_parts(workdir: Path) -> dict[str, Path]:
    store = parts.mlflow_store()  # refuses early when MLflow's store cannot be reached from here
    written = {
        "database": workdir / f"database.{parts.database_extension()}",
        "media": workdir / "media.tar",
        "mlflow-database": workdir / f"mlflow-database.{store.extension}",
        "mlflow-artifacts": workdir / "mlflow-artifacts.tar",
    }
    parts.database_dump(written["database"])
    parts.storage_tar(default_storage, written["media"])
    parts.mlflow_dump(store, written["mlflow-database"])
    parts.storage_tar(targets.mlflow_artifact_storage(), written["mlflow-artifacts"])
    return written


def _upload(storage: Storage, name: str, path: Path) -> None:
    def save() -> str:
        with open(path, "rb") as handle:
            return storage.save(f"{name}/{path.name}", File(handle, name=path.name))

    saved = parts.within("target", save, what=f"writing {path.name}")
    if saved != f"{name}/{path.name}":
        raise BackupError(f"target: {path.name} was stored as {saved}")


def backup_create(*, target: str | None = None) -> BackupResult:
    """Write a complete, verified backup to ``target`` (default ``BACKUP_TARGET``) and record how it went."""
    target = target or settings.BACKUP_TARGET
    started = timezone.now()
    name = ""
    storage = None
    try:
        storage = targets.target_storage(target)
        name = parts.within("target", lambda: new_backup_name(storage, started), what="listing the backups")
        with tempfile.TemporaryDirectory(prefix="maestro-backup-", dir=settings.BACKUP_TMP_DIR or None) as tmp:
            workdir = Path(tmp)
            archives = recorded_files()
            written = _write_parts(workdir)
            described = {
                part: {"file": path.name, "sha256": sha256_file(path), "size": path.stat().st_size}
                for part, path in written.items()
            }
            manifest = {
                "format": FORMAT,
                "name": name,
                "created_at": started.isoformat(),
                "finished_at": timezone.now().isoformat(),
                "maestro_version": maestro_version(),
                "migrations": migration_heads(),
                "libraries": library_versions(),
                "database": {"engine": connections[DEFAULT_DB_ALIAS].vendor},
                "mlflow": {"store": parts.mlflow_store().kind},
                "parts": described,
                "archives": archives,
            }
            manifest_path = workdir / MANIFEST
            manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
            manifest_hash = sha256_file(manifest_path)
            (workdir / MANIFEST_HASH).write_text(f"{manifest_hash}  {MANIFEST}\n")
            for path in [*written.values(), manifest_path, workdir / MANIFEST_HASH]:  # the hash file last: complete
                _upload(storage, name, path)
            size = sum(part["size"] for part in described.values()) + manifest_path.stat().st_size
    except Exception as exc:
        message = one_line(exc)
        if storage is not None and name:
            try:
                parts.within(
                    "target", lambda: targets.delete_backup(storage, name), what="removing the incomplete backup"
                )
            except Exception:  # the target itself is failing; the record says why the backup did
                logger.warning("Could not remove the incomplete backup %s", name, exc_info=True)
        _record(name=name, target=target, outcome=BackupOutcome.FAILED, started=started, error=message)
        raise BackupError(message) from exc
    _record(name=name, target=target, outcome=BackupOutcome.SUCCEEDED, started=started, size=size, described=described)
    logger.info("Backup %s written to %s (%d bytes)", name, target, size)
    return BackupResult(name=name, target=target, size=size, parts=described)


def one_line(exc: BaseException) -> str:
    """An exception as one line of at most 1000 characters (CLI output, the record's error)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:1000]


def _record(*, name, target, outcome, started, size=0, described=None, error="") -> None:
    try:
        BackupRecord.objects.create(
            name=name,
            target=target,
            outcome=outcome,
            started_at=started,
            finished_at=timezone.now(),
            size_bytes=size,
            parts=described or {},
            error=error,
        )
    except DatabaseError:  # the database is what failed: the missing record shows as an ageing last success
        logger.warning("Could not record the backup %s", name or "(unnamed)", exc_info=True)


# ---------------------------------------------------------------------------
# Retention
# ---------------------------------------------------------------------------
def retention_keep(stamps: dict[str, datetime], *, keep_daily: int, keep_weekly: int) -> set[str]:
    """The newest backup of each of the ``keep_daily`` latest days that have one, and of each of the
    ``keep_weekly`` latest ISO weeks that have one."""
    newest_first = sorted(stamps, key=lambda name: (stamps[name], name), reverse=True)  # suffixed: later
    keep: set[str] = set()
    for size, period in ((keep_daily, lambda t: t.date()), (keep_weekly, lambda t: t.isocalendar()[:2])):
        seen: list = []
        for name in newest_first:
            key = period(stamps[name])
            if key in seen:
                continue
            if len(seen) >= size:
                break
            seen.append(key)
            keep.add(name)
    return keep


def backups_prune(*, target: str | None = None, keep_daily: int, keep_weekly: int) -> list[str]:
    """Delete the complete backups retention does not keep, and incomplete ones older than the newest complete
    one; answers the names deleted."""
    if keep_daily < 1 or keep_weekly < 0:
        raise BackupError("retention must keep at least 1 daily backup and 0 or more weekly ones")
    storage = targets.target_storage(target or settings.BACKUP_TARGET)

    def prune() -> list[str]:
        stamps, incomplete = {}, []
        for name in targets.backup_names(storage):
            moment = backup_time(name)
            if moment is None:
                continue  # not a folder of ours
            if is_complete(storage, name):
                stamps[name] = moment
            else:
                incomplete.append((name, moment))
        keep = retention_keep(stamps, keep_daily=keep_daily, keep_weekly=keep_weekly)
        newest = max(stamps.values(), default=None)
        doomed = sorted(name for name in stamps if name not in keep)
        doomed += sorted(name for name, moment in incomplete if newest is not None and moment < newest)
        for name in doomed:
            targets.delete_backup(storage, name)
            logger.info("Backup %s deleted by retention", name)
        return doomed

    return parts.within("target", prune, what="retention")


# ---------------------------------------------------------------------------
# Restore
# ---------------------------------------------------------------------------
def backups_list(*, target: str | None = None) -> list[tuple[str, bool]]:
    """Every backup under the target, oldest first, and whether it is complete."""
    storage = targets.target_storage(target or settings.BACKUP_TARGET)
    return [(name, is_complete(storage, name)) for name in targets.backup_names(storage) if backup_time(name)]


def _download(storage: Storage, key: str, destination: Path) -> str:
    def copy() -> str:
        digest = hashlib.sha256()
        with storage.open(key, "rb") as source, open(destination, "wb") as target:
            for chunk in iter(lambda: source.read(CHUNK_SIZE), b""):
                digest.update(chunk)
                target.write(chunk)
        return digest.hexdigest()

    return parts.within("target", copy, what=f"reading {key}")


def backup_fetch_verified(*, storage: Storage, name: str, workdir: Path) -> dict[str, Any]:
    """Copy every part of ``name`` into ``workdir``, checking the manifest's own hash and each part's size and
    SHA-256; answers the manifest. Nothing outside ``workdir`` is touched."""
    if not storage.exists(f"{name}/{MANIFEST_HASH}"):
        raise BackupError(f"backup {name} is incomplete: {MANIFEST_HASH} is missing (the backup never finished)")
    if not storage.exists(f"{name}/{MANIFEST}"):
        raise BackupError(f"backup {name} is incomplete: part manifest ({MANIFEST}) is missing")
    with storage.open(f"{name}/{MANIFEST_HASH}", "rb") as handle:
        expected = handle.read().decode("ascii", "replace").split()[:1]
    actual = _download(storage, f"{name}/{MANIFEST}", workdir / MANIFEST)
    if expected != [actual]:
        raise BackupError(f"backup {name} is corrupted: part manifest ({MANIFEST}) does not match its SHA-256")
    try:
        manifest = json.loads((workdir / MANIFEST).read_text())
        described = manifest["parts"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"backup {name} is corrupted: part manifest cannot be read ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup {name} has format {manifest.get('format')!r}; this Maestro ML reads {FORMAT}")
    missing = [part for part in ("database", "media", "mlflow-database", "mlflow-artifacts") if part not in described]
    if missing:
        raise BackupError(f"backup {name} is incomplete: the manifest lists no part {', '.join(missing)}")
    for part, info in described.items():
        key = f"{name}/{info['file']}"
        if not storage.exists(key):
            raise BackupError(f"backup {name} is incomplete: part {part} ({info['file']}) is missing")
        local = workdir / Path(info["file"]).name
        digest = _download(storage, key, local)
        size = local.stat().st_size
        if size != info["size"] or digest != info["sha256"]:
            raise BackupError(
                f"backup {name} is corrupted: part {part} ({info['file']}) has SHA-256 {digest} and {size} bytes, "
                f"the manifest records {info['sha256']} and {info['size']} bytes"
            )
    return manifest


def _check_compatible(manifest: dict[str, Any]) -> bool:
    """Refuse a backup made by newer code; answers whether the restored database needs ``migrate``."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    known = {f"{app}.{migration}" for app, migration in loader.graph.nodes}
    unknown = [head for head in manifest.get("migrations", []) if head not in known]
    if unknown:
        raise BackupError(
            f"backup {manifest['name']} was made by a newer Maestro ML ({manifest.get('maestro_version')}): "
            f"migration {unknown[0]} is unknown here; restore it with that version"
        )
    code_heads = {f"{app}.{migration}" for app, migration in loader.graph.leaf_nodes()}
    return not code_heads <= set(manifest.get("migrations", []))


def database_is_empty() -> bool:
    """No row in any table of Maestro ML's apps (tables migrations fill, like permissions, do not count)."""
    connection = connections[DEFAULT_DB_ALIAS]
    tables = set(connection.introspection.table_names())
    for model in apps.get_models():
        if not model.__module__.startswith("apps.") or model is BackupRecord:
            continue
        if model._meta.db_table in tables and model._base_manager.exists():
            return False
    return True


def _not_empty(store: parts.MlflowStore) -> list[str]:
    found = []
    if not database_is_empty():
        found.append("the database has rows")
    if not targets.storage_is_empty(default_storage):
        found.append("the media storage has files")
    if not parts.mlflow_store_is_empty(store):
        found.append("MLflow's store has runs or models")
    if not targets.storage_is_empty(targets.mlflow_artifact_storage()):
        found.append("MLflow's artifact root has files")
    return found


def archives_check(archives: list[dict[str, Any]]) -> int:
    """Hash every model archive and dataset the restored database records, against its recorded SHA-256 and the
    manifest's; answers how many were checked."""
    recorded = recorded_files()
    by_key = {(item["kind"], item["id"]): item for item in archives}
    problems = []
    for item in recorded:
        try:
            with default_storage.open(item["path"], "rb") as handle:
                digest = hashlib.sha256()
                for chunk in iter(lambda h=handle: h.read(CHUNK_SIZE), b""):
                    digest.update(chunk)
                actual = digest.hexdigest()
        except OSError as exc:
            problems.append(f"{item['kind']} {item['id']} ({item['path']}): cannot be read ({exc})")
            continue
        expected = by_key.get((item["kind"], item["id"]), item)["sha256"]
        if actual != item["sha256"] or actual != expected:
            problems.append(f"{item['kind']} {item['id']} ({item['path']}): SHA-256 {actual}, recorded {expected}")
    if problems:
        raise BackupError(f"restored, but {len(problems)} archive check(s) failed: {'; '.join(problems[:5])}")
    return len(recorded)


def backup_restore(*, target: str | None = None, name: str | None = None, force: bool = False) -> RestoreReport:
    """Restore backup ``name`` (default: the newest complete one) from ``target`` into an empty database and
    storage (any state with ``force``); every hash is checked before anything is changed."""
    target = target or settings.BACKUP_TARGET
    storage = targets.target_storage(target)
    if name is None:
        complete = [backup for backup, done in backups_list(target=target) if done]
        if not complete:
            raise BackupError(f"no complete backup under {target}")
        name = complete[-1]
    elif name not in targets.backup_names(storage):
        raise BackupError(f"no backup {name} under {target}")
    with tempfile.TemporaryDirectory(prefix="maestro-restore-", dir=settings.BACKUP_TMP_DIR or None) as tmp:
        workdir = Path(tmp)
        manifest = backup_fetch_verified(storage=storage, name=name, workdir=workdir)
        needs_migrate = _check_compatible(manifest)
        store = parts.mlflow_store()
        if store.kind != manifest["mlflow"]["store"]:
            raise BackupError(
                f"backup {name} holds a {manifest['mlflow']['store']} MLflow store; this one is {store.kind}"
            )
        vendor = connections[DEFAULT_DB_ALIAS].vendor
        if vendor != manifest["database"]["engine"]:
            raise BackupError(f"backup {name} holds a {manifest['database']['engine']} database; this one is {vendor}")
        if not force:
            found = _not_empty(store)
            if found:
                raise BackupError(
                    f"refusing to restore into a database or storage that is not empty ({'; '.join(found)}); "
                    "restore into empty ones, or pass --force to overwrite"
                )
        files = {part: workdir / Path(info["file"]).name for part, info in manifest["parts"].items()}
        parts.database_restore(files["database"])
        media_files = parts.storage_untar(files["media"], default_storage, replace=force, part="media")
        parts.mlflow_restore(store, files["mlflow-database"])
        artifact_files = parts.storage_untar(
            files["mlflow-artifacts"], targets.mlflow_artifact_storage(), replace=force, part="mlflow-artifacts"
        )
    if needs_migrate:
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
    checked = archives_check(manifest.get("archives", []))
    logger.info("Backup %s restored from %s", name, target)
    return RestoreReport(
        name=name,
        parts=sorted(manifest["parts"]),
        media_files=media_files,
        artifact_files=artifact_files,
        archives_checked=checked,
        migrated=needs_migrate,
    )
