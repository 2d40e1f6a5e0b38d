"""The registry's list serializers build their output directly (lists print them for every row); it is
exactly what DRF's field-by-field walk over the declared fields answers."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework import serializers

from apps.registry.api.serializers import ModelVersionSummarySerializer, RegisteredModelSerializer
from apps.registry.models import ModelVersion, RegisteredModel
from tests.projects.factories import DatasetFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_the_direct_output_equals_drfs_for_every_field():
    project = ProjectFactory()
    dataset = DatasetFactory(project=project)
    registered_model = RegisteredModel.objects.create(
        project=project, name="m", description="d", tags=["a"], created_by=project.owner, mlflow_name="x-1-m"
    )
    versions = [
        ModelVersion.objects.create(
            registered_model=registered_model,
            version=number,
            features=[{"name": "x", "dtype": "float"}],
            target="y",
            task_type="binary",
            artifact="artifacts/none.tar.gz",
            artifact_sha256=f"{number}" * 64,
            dataset=dataset,
            metrics={"accuracy": 0.5 + number / 10},
        )
        for number in (1, 2)
    ]
    registered_model.production_version = versions[1]
    registered_model.mlflow_synced_at = timezone.now()
    registered_model.save()
    anonymous = RegisteredModel.objects.create(project=project, name="n")  # no author, no production version
    for instance in (registered_model, anonymous):
        fresh = RegisteredModel.objects.get(pk=instance.pk)
        serializer = RegisteredModelSerializer()
        assert serializer.to_representation(fresh) == serializers.ModelSerializer.to_representation(serializer, fresh)
    summary = ModelVersionSummarySerializer()
    for version in versions:
        assert summary.to_representation(version) == serializers.ModelSerializer.to_representation(summary, version)
