"""Storage write failures: the disk fills up (ENOSPC) half-way through writing a file.

The storage really writes the first half of the bytes to the final path and then fails, as a full disk
does, so a service that only catches the error would leave a half-written file behind. An upload answers
503 with nothing stored (no row, no file); a training attempt whose archive cannot be stored fails with a
clear error and leaves no archive.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager

import pytest
from django.core.files.storage import FileSystemStorage, default_storage

from apps.automl import services
from apps.automl.choices import JobStatus
from apps.automl.models import TrainingJob
from apps.automl.training import JobRun, TrainingFailed, artifact_name
from apps.projects.models import Dataset
from tests.automl.factories import TrainingJobFactory
from tests.automl.test_attempt_fencing import files_in, predictor_folder
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@contextmanager
def disk_full_after_half():
    """Every FileSystemStorage write stores half of its bytes at the final path, then fails with ENOSPC."""
    original = FileSystemStorage._save
    written: list[str] = []

    def save(self, name, content):
        content.seek(0)
        data = content.read()
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data[: max(1, len(data) // 2)])
        written.append(name)
        raise OSError(errno.ENOSPC, "No space left on device")

    FileSystemStorage._save = save
    try:
        yield written
    finally:
        FileSystemStorage._save = original


@pytest.fixture
def local_storage(settings):
    if settings.STORAGE_BACKEND != "local":
        pytest.skip("writes through the local file storage")


def test_an_upload_the_disk_cannot_hold_answers_503_and_leaves_no_row_and_no_file(
    local_storage, api_client, example_csv
):
    project = ProjectFactory()
    api_client.force_authenticate(project.owner)
    storage = Dataset._meta.get_field("file").storage
    with disk_full_after_half() as written, open(example_csv("iris"), "rb") as handle:
        answer = api_client.post(
            "/api/v1/datasets", {"project": project.pk, "name": "iris", "file": handle}, format="multipart"
        )
    assert answer.status_code == 503, answer.content
    assert "file store" in answer.json()["detail"]
    assert written, "the fault was not injected"
    assert not Dataset.objects.filter(project=project).exists()
    assert not any(storage.exists(name) for name in written), "a half-written dataset file was left behind"
    # The next upload, with room on the disk, is stored whole.
    with open(example_csv("iris"), "rb") as handle:
        again = api_client.post(
            "/api/v1/datasets", {"project": project.pk, "name": "iris", "file": handle}, format="multipart"
        )
    assert again.status_code == 201, again.content


def test_an_archive_the_disk_cannot_hold_fails_the_job_clearly_and_leaves_no_archive(local_storage, tmp_path):
    job = services.training_job_start(job_id=TrainingJobFactory().pk, worker="celery@faults")
    run = JobRun(job=job, work_dir=predictor_folder(tmp_path / "attempt", os.urandom(4096)))
    folder = artifact_name(job.pk, job.attempts).rsplit("/", 1)[0]
    with disk_full_after_half() as written, pytest.raises(TrainingFailed) as failure:
        run.store_archive()
    assert written and "could not be stored" in str(failure.value)
    assert files_in(folder) == set(), "a half-written archive was left behind"
    assert not default_storage.exists(artifact_name(job.pk, job.attempts))
    services.training_job_fail(job_id=job.pk, message=str(failure.value), attempt=job.attempts)
    job = TrainingJob.objects.get(pk=job.pk)
    assert job.status == JobStatus.FAILED and "could not be stored" in job.error and not job.artifact
