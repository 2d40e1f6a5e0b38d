"""Backups to an S3 prefix (moto's S3 server on a local port, through django-storages), with the media storage
itself on S3: written complete, listed, verified, refused when an object is changed, untarred into an empty
bucket, and pruned."""

from __future__ import annotations

import io
import tarfile
import uuid

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from apps.backups import parts, targets
from apps.backups.errors import BackupError
from apps.backups.services import backup_fetch_verified, backups_list, backups_prune
from tests.projects.test_s3_storage import CREDENTIALS, REGION, s3_endpoint  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)  # as in production: no test transaction around the backup


@pytest.fixture
def buckets(s3_endpoint, settings, tmp_path):  # noqa: F811
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION, **CREDENTIALS)
    names = {role: f"{role}-{uuid.uuid4().hex[:10]}" for role in ("media", "backups", "empty")}
    for bucket in names.values():
        client.create_bucket(Bucket=bucket)
    options = {
        "access_key": CREDENTIALS["aws_access_key_id"],
        "secret_key": CREDENTIALS["aws_secret_access_key"],
        "endpoint_url": s3_endpoint,
        "region_name": REGION,
        "default_acl": None,
        "file_overwrite": False,
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {**options, "bucket_name": names["media"]}},
    }
    settings.BACKUP_S3_ENDPOINT_URL = s3_endpoint
    settings.BACKUP_S3_ACCESS_KEY_ID = CREDENTIALS["aws_access_key_id"]
    settings.BACKUP_S3_SECRET_ACCESS_KEY = CREDENTIALS["aws_secret_access_key"]
    settings.BACKUP_MLFLOW_ARTIFACT_ROOT = str(tmp_path / "mlartifacts")
    return client, names


def test_backup_to_an_s3_prefix_is_verified_refused_when_changed_restored_and_pruned(buckets, tmp_path):
    client, names = buckets
    stored = default_storage.save("datasets/1/train.csv", ContentFile(b"a,b\n1,2\n"))
    target = f"s3://{names['backups']}/maestro/prod"

    call_command("backup", "--target", target, "--no-prune")
    call_command("backup", "--target", target, "--no-prune")

    listed = backups_list(target=target)
    assert len(listed) == 2 and all(complete for _name, complete in listed)
    name = listed[-1][0]
    keys = {item["Key"] for item in client.list_objects_v2(Bucket=names["backups"])["Contents"]}
    assert f"maestro/prod/{name}/manifest.sha256" in keys and f"maestro/prod/{name}/media.tar" in keys

    storage = targets.target_storage(target)
    workdir = tmp_path / "check"
    workdir.mkdir()
    manifest = backup_fetch_verified(storage=storage, name=name, workdir=workdir)
    with tarfile.open(workdir / "media.tar") as tar:
        assert tar.extractfile(stored).read() == b"a,b\n1,2\n"

    empty = targets.s3_storage(
        f"s3://{names['empty']}",
        endpoint_url=client.meta.endpoint_url,
        access_key=CREDENTIALS["aws_access_key_id"],
        secret_key=CREDENTIALS["aws_secret_access_key"],
        region=REGION,
    )
    assert parts.storage_untar(workdir / "media.tar", empty, replace=False, part="media") == 1
    assert client.get_object(Bucket=names["empty"], Key=stored)["Body"].read() == b"a,b\n1,2\n"

    key = f"maestro/prod/{name}/{manifest['parts']['mlflow-database']['file']}"
    body = bytearray(client.get_object(Bucket=names["backups"], Key=key)["Body"].read())
    body[100] ^= 0xFF
    client.upload_fileobj(io.BytesIO(bytes(body)), names["backups"], key)
    again = tmp_path / "again"
    again.mkdir()
    with pytest.raises(BackupError, match="is corrupted: part mlflow-database"):
        backup_fetch_verified(storage=storage, name=name, workdir=again)

    deleted = backups_prune(target=target, keep_daily=1, keep_weekly=1)
    assert deleted == [listed[0][0]] and [n for n, _ in backups_list(target=target)] == [name]
