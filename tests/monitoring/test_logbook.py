"""The prediction log's writer thread and batch predictions' logging."""

import time

import pandas as pd
import pytest

from apps.monitoring import logbook
from apps.monitoring.models import PredictionRecord
from apps.monitoring.services import monitor_update


@pytest.mark.django_db(transaction=True)
def test_the_writer_thread_writes_queued_predictions_in_bulk(role_groups, production, trained, settings, fresh_log):
    """The thread uses its own database connection: the rows it writes must be committed, hence transaction=True."""
    settings.MONITORING_LOG_BACKGROUND = True
    settings.MONITORING_LOG_FLUSH_SECONDS = 0.05
    rows = trained["titanic"].rows
    predictions = [0] * len(rows)
    ids = logbook.online_predictions(
        version=production, instances=rows, predictions=predictions, probabilities=None, caller_id=None, latency_ms=3.0
    )
    assert all(ids)
    deadline = time.monotonic() + 10
    while PredictionRecord.objects.filter(public_id__in=ids).count() < len(rows) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert PredictionRecord.objects.filter(public_id__in=ids, latency_ms=3.0).count() == len(rows)
    fresh_log.stop()


@pytest.mark.django_db
def test_batch_predictions_of_a_production_version_are_sampled_and_logged_once(production):
    monitor_update(
        registered_model=production.registered_model, user=production.registered_model.project.owner, sample_rate=0.5
    )
    output = pd.DataFrame(
        {
            "Name": [f"n{i}" for i in range(400)],
            "PClass": ["1st"] * 400,
            "Age": [30.0] * 400,
            "Sex": ["male"] * 400,
            "prediction": [1] * 400,
            "probability_0": [0.2] * 400,
            "probability_1": [0.8] * 400,
        }
    )
    written = logbook.batch_predictions(version=production, output=output, batch_id=7, caller_id=None)
    assert 150 < written < 250
    assert logbook.batch_predictions(version=production, output=output, batch_id=7, caller_id=None) == written
    records = PredictionRecord.objects.filter(batch_id=7)
    assert records.count() == written  # a retried batch logs each row once
    first = records.first()
    assert first.source == "batch" and first.prediction == 1 and first.probabilities == [0.2, 0.8]
    assert set(first.inputs) == {"Name", "PClass", "Age", "Sex"}


@pytest.mark.django_db
def test_batch_predictions_of_a_version_not_in_production_are_not_logged(make_version):
    version = make_version("titanic")
    output = pd.DataFrame({"Name": ["a"], "PClass": ["1st"], "Age": [1.0], "Sex": ["male"], "prediction": [0]})
    assert logbook.batch_predictions(version=version, output=output, batch_id=8, caller_id=None) == 0
    assert not PredictionRecord.objects.exists()
