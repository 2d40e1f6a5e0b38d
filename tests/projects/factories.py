import hashlib
import uuid

import factory
import pandas as pd
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.projects.choices import ProjectRole
from apps.projects.models import Dataset, Project
from apps.projects.services import project_member_set
from tests.accounts.factories import UserFactory
from tests.conftest import EXAMPLES


class ProjectFactory(factory.django.DjangoModelFactory):
    """A project whose owner (an ml_engineer) is its owner member, as ``project_create`` makes it."""

    class Meta:
        model = Project
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Project {n}")
    description = "A project for tests"
    owner = factory.SubFactory(UserFactory, roles=["ml_engineer"])

    @factory.post_generation
    def owner_membership(self, create, extracted, **kwargs):
        if create:
            project_member_set(project=self, user=self.owner, role=ProjectRole.OWNER)


def add_member(project: Project, role: str = ProjectRole.VIEWER, **user_kwargs):
    """A new user with ``role`` in ``project`` (and global roles from ``roles=[...]``)."""
    user = UserFactory(**user_kwargs)
    project_member_set(project=project, user=user, role=role)
    return user


class DatasetFactory(factory.django.DjangoModelFactory):
    """A dataset stored from a bundled sample CSV: ``DatasetFactory(project=p, sample="iris")``.

    Builds the row directly (no upload service) with a column summary computed by pandas.
    """

    class Meta:
        model = Dataset
        exclude = ("sample",)

    project = factory.SubFactory(ProjectFactory)
    sample = "iris"
    name = factory.LazyAttribute(lambda o: o.sample)
    created_by = factory.LazyAttribute(lambda o: o.project.owner)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        project = kwargs["project"]
        path = EXAMPLES / f"{kwargs.get('name', 'iris')}.csv"
        if not path.exists():
            path = EXAMPLES / "iris.csv"
        content = path.read_bytes()
        frame = pd.read_csv(path)
        kwargs.setdefault("sha256", hashlib.sha256(content).hexdigest())
        kwargs.setdefault("size_bytes", len(content))
        kwargs.setdefault("n_rows", len(frame))
        kwargs.setdefault("n_columns", frame.shape[1])
        kwargs.setdefault(
            "columns",
            [
                {
                    "name": str(column),
                    "dtype": "numeric" if pd.api.types.is_numeric_dtype(frame[column]) else "categorical",
                    "n_missing": int(frame[column].isna().sum()),
                    "n_unique": int(frame[column].nunique()),
                }
                for column in frame.columns
            ],
        )
        kwargs.setdefault("original_filename", path.name)
        name = default_storage.save(f"datasets/{project.pk}/{uuid.uuid4().hex}.csv", ContentFile(content))
        kwargs["file"] = name
        return super()._create(model_class, *args, **kwargs)
