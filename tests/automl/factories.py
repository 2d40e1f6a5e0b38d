"""Factories of AutoML rows, and datasets built from any DataFrame (for targets the samples lack)."""

from __future__ import annotations

import hashlib
import io
import uuid

import factory
import pandas as pd
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.automl.models import TrainingJob
from apps.projects.models import Dataset, Project
from tests.projects.factories import DatasetFactory


def dataset_from_frame(project: Project, frame: pd.DataFrame, name: str = "custom") -> Dataset:
    """Store ``frame`` as a CSV dataset of ``project`` with the column profile the upload service records."""
    content = frame.to_csv(index=False).encode()
    stored = default_storage.save(f"datasets/{project.pk}/{uuid.uuid4().hex}.csv", ContentFile(content))
    reread = pd.read_csv(io.BytesIO(content))
    columns = [
        {
            "name": str(column),
            "dtype": "numeric" if pd.api.types.is_numeric_dtype(reread[column]) else "categorical",
            "n_missing": int(reread[column].isna().sum()),
            "n_unique": int(reread[column].nunique()),
        }
        for column in reread.columns
    ]
    return Dataset.objects.create(
        project=project,
        name=name,
        file=stored,
        original_filename=f"{name}.csv",
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        n_rows=len(reread),
        n_columns=reread.shape[1],
        columns=columns,
        created_by=project.owner,
    )


class TrainingJobFactory(factory.django.DjangoModelFactory):
    """A queued job row on the iris sample (no worker involved): ``TrainingJobFactory(dataset=...)``."""

    class Meta:
        model = TrainingJob

    dataset = factory.SubFactory(DatasetFactory, name="iris")
    project = factory.LazyAttribute(lambda job: job.dataset.project)
    created_by = factory.LazyAttribute(lambda job: job.dataset.project.owner)
    target = "species"
    task_type = "multiclass"
    time_budget = 30
    dataset_sha256 = factory.LazyAttribute(lambda job: job.dataset.sha256)
    celery_task_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
