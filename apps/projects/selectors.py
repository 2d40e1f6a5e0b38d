"""Reads of projects and datasets beyond one ORM line. Each is narrowed to what the user may see."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db.models import Case, Count, IntegerField, OuterRef, QuerySet, Subquery, Value, When

from apps.core.exceptions import Conflict, NotFound
from apps.projects.choices import ProjectRole
from apps.projects.models import Dataset, Project, ProjectMembership
from apps.projects.permissions import projects_visible_to, scope_to_visible_projects

if TYPE_CHECKING:
    from apps.accounts.models import User


def projects_for_user(*, user: User) -> QuerySet[Project]:
    """Projects ``user`` may see, with ``n_datasets`` and ``member_role`` (their role; None for admins outside)."""
    role = ProjectMembership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    return (
        projects_visible_to(user=user)
        .select_related("owner")
        .annotate(n_datasets=Count("datasets", distinct=True), member_role=Subquery(role))
        .order_by("-created_at", "-id")
    )


def project_get_visible(*, user: User, project_id) -> Project:
    """The project ``project_id`` if ``user`` may see it; NotFound (404) otherwise, existing or not."""
    try:
        return projects_for_user(user=user).get(pk=int(project_id))
    except (Project.DoesNotExist, TypeError, ValueError):
        raise NotFound("Project not found.") from None


def project_members(*, project: Project) -> QuerySet[ProjectMembership]:
    """Members of ``project`` with their users, owners first."""
    return (
        ProjectMembership.objects.filter(project=project)
        .select_related("user")
        .annotate(
            role_rank=Case(
                When(role=ProjectRole.OWNER, then=Value(0)),
                When(role=ProjectRole.EDITOR, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("role_rank", "user__username")
    )


def datasets_visible_to(*, user: User) -> QuerySet[Dataset]:
    """Datasets of every project ``user`` may see."""
    return scope_to_visible_projects(Dataset.objects.select_related("project"), user=user)


def dataset_get_visible(*, user: User, dataset_id) -> Dataset:
    """The dataset ``dataset_id`` if ``user`` may see its project; NotFound (404) otherwise."""
    try:
        return datasets_visible_to(user=user).select_related("created_by").get(pk=int(dataset_id))
    except (Dataset.DoesNotExist, TypeError, ValueError):
        raise NotFound("Dataset not found.") from None


def dataset_dataframe(*, dataset: Dataset, nrows: int | None = None) -> pd.DataFrame:
    """Read a stored dataset from storage into pandas (only its first ``nrows`` rows when given: a Parquet
    file is then read batch by batch from its first row group, not whole). Raises FileNotFoundError when
    the file is gone."""
    storage = dataset.file.storage
    if not storage.exists(dataset.file.name):
        raise FileNotFoundError(f"The file of dataset '{dataset.name}' ({dataset.file.name}) is missing from storage.")
    with storage.open(dataset.file.name, "rb") as handle:
        if dataset.file_format == "parquet":
            if nrows is None:
                return pd.read_parquet(handle)
            return _parquet_head(handle, nrows)
        return pd.read_csv(handle, nrows=nrows, encoding="utf-8")


def _parquet_head(handle, nrows: int) -> pd.DataFrame:
    parquet = pq.ParquetFile(handle)
    batches = parquet.iter_batches(batch_size=max(1, nrows), use_pandas_metadata=True)
    first = next(batches, None)
    table = pa.Table.from_batches([first]) if first is not None else parquet.schema_arrow.empty_table()
    return table.slice(0, nrows).to_pandas()


def preview_rows(requested: int | None) -> int:
    """Rows a preview shows: DATASET_PREVIEW_DEFAULT_ROWS unless ``requested``; at most DATASET_PREVIEW_MAX_ROWS."""
    if requested is None:
        return settings.DATASET_PREVIEW_DEFAULT_ROWS
    return min(requested, settings.DATASET_PREVIEW_MAX_ROWS)


def dataset_preview(*, dataset: Dataset, rows: int) -> dict:
    """The first ``rows`` rows of a dataset as ``{columns, rows: [{column: value}], n_rows, truncated}``.

    Missing cells are None; values are JSON-ready (numbers, strings, booleans, ISO dates).
    """
    try:
        frame = dataset_dataframe(dataset=dataset, nrows=rows)
    except FileNotFoundError as exc:
        raise Conflict(str(exc)) from exc
    except (ValueError, OSError) as exc:  # pandas' ParserError and UnicodeDecodeError are ValueErrors
        raise Conflict(f"The stored file of dataset '{dataset.name}' cannot be read: {exc}") from exc
    columns = [str(name) for name in frame.columns]
    frame.columns = columns
    values = frame.astype(object).where(frame.notna(), None)
    records = [
        {column: _plain(value) for column, value in zip(columns, row, strict=True)}
        for row in values.itertuples(index=False, name=None)
    ]
    return {
        "dataset": dataset.pk,
        "columns": columns,
        "rows": records,
        "n_rows": len(records),
        "total_rows": dataset.n_rows,
    }


def _plain(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value
