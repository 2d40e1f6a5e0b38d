"""Uploads work the same against S3: moto's S3 server on a local port, reached through django-storages."""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from apps.projects.models import Dataset
from tests.projects.conftest import client_for, stored_files, upload
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db

CREDENTIALS = {"aws_access_key_id": "maestro-test", "aws_secret_access_key": "maestro-test-secret"}
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, settings):
    """A fresh bucket, made the ``default`` storage for the test."""
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION, **CREDENTIALS)
    bucket = f"maestro-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "bucket_name": bucket,
                "endpoint_url": s3_endpoint,
                "region_name": REGION,
                "default_acl": None,
                "file_overwrite": False,
                "querystring_auth": True,
            },
        },
    }
    return client, bucket


def object_keys(client, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_upload_lands_in_the_bucket_under_a_generated_name(s3_bucket, example_csv, dataset_storage):
    client, bucket = s3_bucket
    project = ProjectFactory()
    path = example_csv("penguins")
    response = upload(client_for(project.owner), project, path, name="penguins")

    assert response.status_code == 201, response.json()
    dataset = Dataset.objects.get(pk=response.json()["id"])
    assert type(dataset.file.storage._wrapped).__name__ == "S3Storage"
    assert object_keys(client, bucket) == [dataset.file.name]
    assert dataset.file.name.startswith(f"datasets/{project.pk}/") and "penguins" not in dataset.file.name
    stored = client.get_object(Bucket=bucket, Key=dataset.file.name)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == dataset.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert stored_files(dataset_storage) == {dataset.file.name}


def test_preview_and_delete_read_and_remove_the_object(s3_bucket, example_csv, django_capture_on_commit_callbacks):
    client, bucket = s3_bucket
    project = ProjectFactory()
    owner = client_for(project.owner)
    dataset_id = upload(owner, project, example_csv("iris")).json()["id"]

    preview = owner.get(f"/api/v1/datasets/{dataset_id}/preview?rows=2").json()
    assert preview["rows"][1]["species"] == "setosa"
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.delete(f"/api/v1/datasets/{dataset_id}").status_code == 204
    assert object_keys(client, bucket) == []


def test_refused_uploads_leave_no_object_behind(s3_bucket, example_csv):
    client, bucket = s3_bucket
    project = ProjectFactory()
    owner = client_for(project.owner)
    assert upload(owner, project, b"a,b\n1,2\n3\n").status_code == 400
    assert upload(owner, project, b"").status_code == 400
    assert object_keys(client, bucket) == []
    assert Dataset.objects.count() == 0
