"""Monitoring fixtures: one real tiny predictor (titanic, binary) registered and deployed as the registry's
tests make them, and a prediction log that is drained by the test (no writer thread)."""

from __future__ import annotations

import pandas as pd
import pytest
from django.utils import timezone

from apps.monitoring import services
from apps.monitoring.logbook import monitor_states, writer
from apps.monitoring.models import PredictionRecord
from apps.registry.services import model_version_deploy
from tests.conftest import EXAMPLES
from tests.projects.factories import DatasetFactory, ProjectFactory
from tests.registry import conftest as registry

# The registry's fixtures, reused here.
approvals, make_job, make_version, registry_settings, role_groups = (
    registry.approvals,
    registry.make_job,
    registry.make_version,
    registry.registry_settings,
    registry.role_groups,
)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Only the titanic predictor (the registry's fixture trains three)."""
    from django.conf import settings

    return {"titanic": registry._train("titanic", tmp_path_factory.mktemp("monitoring"), settings.MLFLOW_TRACKING_URI)}


@pytest.fixture(autouse=True)
def fresh_log():
    monitor_states.forget()
    writer.stop()
    writer._pid = None  # a new queue, sized by the test's settings
    yield writer
    writer.stop()
    writer._pid = None
    monitor_states.forget()


@pytest.fixture
def production(make_version, approvals):
    """A titanic version deployed to production in a fresh project (its owner deployed it)."""
    project = ProjectFactory()
    version = make_version("titanic", dataset=DatasetFactory(project=project, name="titanic"))
    model_version_deploy(version=version, user=project.owner, comment="monitoring tests")
    version.refresh_from_db()
    return version


def record(version, **fields) -> PredictionRecord:
    """One logged prediction of ``version`` (a titanic row, now, unless ``fields`` say otherwise)."""
    values = {
        "registered_model_id": version.registered_model_id,
        "model_version": version,
        "inputs": {"Name": "A", "PClass": "1st", "Age": 30.0, "Sex": "male"},
        "prediction": 1,
        "created_at": timezone.now(),
    }
    values.update(fields)
    return PredictionRecord.objects.create(**values)


def log_drifted_predictions(version, *, rows: int = 200) -> None:
    """The reference profile of a titanic ``version`` (its training rows), then ``rows`` logged predictions of rows
    like those whose Age moved by 40 years and half of whose Sex is a value never seen: a report flags Age and Sex
    (with ``MONITORING_MIN_REPORT_ROWS`` at most ``rows``)."""
    frame = pd.read_csv(EXAMPLES / "titanic.csv").drop(columns=["Survived"])
    services.reference_profile_from_frames(
        version=version, train=frame, heldout_predictions=[0, 1] * 50, heldout_actuals=[0, 1] * 50
    )
    for index, (_, row) in enumerate(frame.sample(rows, random_state=0).iterrows()):
        age = float(row["Age"]) + 40 if row["Age"] == row["Age"] else None
        inputs = {
            "Name": row["Name"],
            "PClass": row["PClass"],
            "Age": age,
            "Sex": "unknown" if index % 2 else row["Sex"],
        }
        record(version, inputs=inputs, prediction=index % 2)
