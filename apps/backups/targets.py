"""Where backups go and where MLflow's artifacts live: a local folder or an S3 prefix, both as Django storages.

``s3://bucket/prefix`` is opened with django-storages' S3 backend (credentials and endpoint from the
``BACKUP_S3_*`` settings, falling back to the ``AWS_*`` ones of the media storage); anything else is a local
folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage


def is_s3(location: str) -> bool:
    return location.startswith("s3://")


def split_s3(location: str) -> tuple[str, str]:
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"{location!r} names no bucket (expected s3://bucket/prefix)")
    return bucket, prefix.strip("/")


def s3_storage(location: str, *, endpoint_url: str | None, access_key: str, secret_key: str, region: str) -> Storage:
    from storages.backends.s3 import S3Storage

    bucket, prefix = split_s3(location)
    return S3Storage(
        bucket_name=bucket,
        location=prefix,
        endpoint_url=endpoint_url or None,
        access_key=access_key or None,
        secret_key=secret_key or None,
        region_name=region,
        default_acl=None,
        file_overwrite=True,
        querystring_auth=False,
    )


def target_storage(target: str) -> Storage:
    """The storage backups are written to and read from."""
    if is_s3(target):
        return s3_storage(
            target,
            endpoint_url=settings.BACKUP_S3_ENDPOINT_URL,
            access_key=settings.BACKUP_S3_ACCESS_KEY_ID,
            secret_key=settings.BACKUP_S3_SECRET_ACCESS_KEY,
            region=settings.BACKUP_S3_REGION_NAME,
        )
    return FileSystemStorage(location=str(Path(target).resolve()))


def mlflow_artifact_storage() -> Storage:
    """MLflow's artifact root (a local folder in the embedded default, a bucket behind the MLflow server)."""
    root = settings.BACKUP_MLFLOW_ARTIFACT_ROOT
    if is_s3(root):
        return s3_storage(
            root,
            endpoint_url=settings.BACKUP_MLFLOW_S3_ENDPOINT_URL,
            access_key=settings.AWS_ACCESS_KEY_ID,
            secret_key=settings.AWS_SECRET_ACCESS_KEY,
            region=settings.AWS_S3_REGION_NAME,
        )
    return FileSystemStorage(location=str(Path(root.removeprefix("file://")).resolve()))


def storage_files(storage: Storage, path: str = "") -> Iterator[str]:
    """Every file name under ``path`` (a local folder that does not exist yet holds none)."""
    if isinstance(storage, FileSystemStorage) and not os.path.isdir(storage.path(path or ".")):
        return
    folders = [path]
    while folders:
        folder = folders.pop()
        subfolders, files = storage.listdir(folder)
        for name in files:
            yield f"{folder}/{name}" if folder else name
        folders.extend(f"{folder}/{sub}" if folder else sub for sub in subfolders)


def storage_is_empty(storage: Storage) -> bool:
    return next(storage_files(storage), None) is None


def backup_names(storage: Storage) -> list[str]:
    """Folders directly under the target (each one backup), oldest first."""
    if isinstance(storage, FileSystemStorage) and not os.path.isdir(storage.location):
        return []
    folders, _files = storage.listdir("")
    return sorted(folder.strip("/") for folder in folders)


def delete_backup(storage: Storage, name: str) -> None:
    for file_name in list(storage_files(storage, name)):
        storage.delete(file_name)
    if isinstance(storage, FileSystemStorage):
        shutil.rmtree(storage.path(name), ignore_errors=True)
