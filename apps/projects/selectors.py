"""Reads of projects and datasets beyond one ORM line."""

from __future__ import annotations

import pandas as pd
from django.db.models import QuerySet

from apps.projects.models import Dataset
from apps.projects.permissions import scope_to_visible_projects


def datasets_visible_to(*, user) -> QuerySet[Dataset]:
    """Datasets of every project ``user`` may see."""
    return scope_to_visible_projects(Dataset.objects.select_related("project"), user=user)


def dataset_dataframe(*, dataset: Dataset, nrows: int | None = None) -> pd.DataFrame:
    """Read a stored dataset from storage into pandas. Raises FileNotFoundError when the file is gone."""
    storage = dataset.file.storage
    if not storage.exists(dataset.file.name):
        raise FileNotFoundError(f"The file of dataset '{dataset.name}' ({dataset.file.name}) is missing from storage.")
    with storage.open(dataset.file.name, "rb") as handle:
        if dataset.file_format == "parquet":
            frame = pd.read_parquet(handle)
            return frame.head(nrows) if nrows is not None else frame
        return pd.read_csv(handle, nrows=nrows, encoding="utf-8")
