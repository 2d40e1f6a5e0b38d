"""Fixtures of the projects and datasets tests: authenticated clients, uploads and storage bookkeeping."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.projects.models import Dataset


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def upload(client: APIClient, project, content: bytes | Path, *, name: str = "data", filename: str = "data.csv"):
    """POST a multipart dataset upload the way clients do."""
    if isinstance(content, Path):
        filename, content = content.name, content.read_bytes()
    file = SimpleUploadedFile(filename, content, content_type="text/csv")
    project_id = project.pk if hasattr(project, "pk") else project
    return client.post("/api/v1/datasets", {"project": project_id, "name": name, "file": file}, format="multipart")


def stored_files(storage, folder: str = "datasets") -> set[str]:
    """Every file under ``folder`` in ``storage`` (through the storage API, so local and S3 alike)."""
    try:
        directories, files = storage.listdir(folder)
    except FileNotFoundError:
        return set()
    found = {f"{folder}/{name}" for name in files}
    for directory in directories:
        found |= stored_files(storage, f"{folder}/{directory}")
    return found


@pytest.fixture
def dataset_storage():
    return Dataset._meta.get_field("file").storage


class StorageSnapshot:
    """Dataset rows and stored files at one moment; calling it asserts nothing was added since."""

    def __init__(self, storage):
        self.storage = storage
        self.take()

    def take(self) -> None:
        self.rows = Dataset.objects.count()
        self.files = stored_files(self.storage)

    def __call__(self) -> None:
        assert Dataset.objects.count() == self.rows
        assert stored_files(self.storage) == self.files


@pytest.fixture
def nothing_stored(dataset_storage) -> StorageSnapshot:
    """Call it after a refused upload: no dataset row and no file appeared since the test began (or ``.take()``)."""
    return StorageSnapshot(dataset_storage)
