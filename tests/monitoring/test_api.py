"""The prediction log, feedback and drift reports through the API and the page, end to end on a real model,
and access control on every endpoint."""

import uuid
from datetime import timedelta

import pandas as pd
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.governance.models import Notification, WebhookEndpoint, WebhookMessage
from apps.monitoring import services
from apps.monitoring.logbook import DROPPED
from apps.monitoring.models import DriftReport, ModelMonitor, PredictionRecord
from apps.projects.choices import ProjectRole
from tests.conftest import EXAMPLES
from tests.monitoring.conftest import log_drifted_predictions, record
from tests.projects.factories import ProjectFactory, add_member
from tests.projects.test_pages import no_inline_script_or_style

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def predict(client, registered_model_id, rows):
    return client.post(f"/api/v1/registered-models/{registered_model_id}/predict", {"instances": rows}, format="json")


def test_production_predictions_are_logged_answered_with_ids_and_feedback_gives_the_live_metric(
    production, trained, fresh_log, settings, django_capture_on_commit_callbacks
):
    settings.MONITORING_MIN_REPORT_ROWS = 3
    owner = production.registered_model.project.owner
    client = client_for(owner)
    model_id = production.registered_model_id
    rows = trained["titanic"].rows

    answer = predict(client, model_id, rows)
    assert answer.status_code == 200, answer.content
    ids = answer.json()["prediction_ids"]
    assert len(ids) == len(rows) and all(ids)
    assert fresh_log.drain() == len(rows)

    log = client.get(f"/api/v1/registered-models/{model_id}/predictions").json()
    assert log["count"] == len(rows)
    first = next(item for item in log["results"] if item["id"] == ids[0])
    assert first["inputs"] == {f["name"]: rows[0][f["name"]] for f in production.features}
    assert first["prediction"] == answer.json()["predictions"][0]
    assert first["caller"] == owner.username and first["version"] == production.version
    assert first["probabilities"] == answer.json()["probabilities"][0]

    csv = client.get(f"/api/v1/registered-models/{model_id}/predictions?format=csv")
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    lines = b"".join(csv.streaming_content).decode().strip().splitlines()
    assert lines[0].startswith("id,created_at,version") and len(lines) == len(rows) + 1

    predictions = answer.json()["predictions"]
    wrong = 1 - predictions[3]
    feedback = [{"prediction_id": ids[i], "actual": predictions[i]} for i in range(3)]
    feedback.append({"prediction_id": ids[3], "actual": wrong})
    response = client.post(f"/api/v1/registered-models/{model_id}/feedback", feedback, format="json")
    assert response.status_code == 201 and response.json() == {"recorded": 4}
    single = {"prediction_id": ids[4], "actual": predictions[4]}
    assert client.post(f"/api/v1/registered-models/{model_id}/feedback", single, format="json").status_code == 201

    reference = services.reference_profile_build(version_id=production.pk)
    assert reference.status == "ready" and reference.n_heldout > 0 and 0.5 < reference.metric_value <= 1
    assert set(reference.features) == {f["name"] for f in production.features}

    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(f"/api/v1/registered-models/{model_id}/drift")
    assert created.status_code == 201, created.content
    report = created.json()
    assert report["n_current"] == len(rows)
    assert report["live_metric"]["metric"] == "accuracy"
    assert report["live_metric"]["value"] == pytest.approx(4 / 5) and report["live_metric"]["n_labelled"] == 5
    assert report["live_metric"]["heldout_value"] == pytest.approx(reference.metric_value, abs=1e-6)
    assert report["live_metric"]["series"][0]["n"] == 5
    by_feature = {item["feature"]: item for item in report["features"]}
    assert by_feature["Name"]["test"] is None  # names are identifiers: not tested
    assert {"test", "statistic", "threshold", "drifted"} <= set(by_feature["Age"])
    assert report["prediction_drift"]["feature"] == "prediction"

    listed = client.get(f"/api/v1/registered-models/{model_id}/drift").json()
    assert [item["id"] for item in listed["results"]] == [report["id"]]
    assert client.get(f"/api/v1/drift/{report['id']}").json()["id"] == report["id"]
    refreshed = client.get(f"/api/v1/registered-models/{model_id}/drift?refresh=true").json()
    assert refreshed["count"] == 2

    page = client_for(owner)
    page.force_login(owner)
    html = page.get(f"/monitoring/models/{model_id}/").content.decode()
    assert "Monitoring of" in html and "<svg" in html and "Age" in html and no_inline_script_or_style(html)
    assert f"/monitoring/models/{model_id}/" in page.get(f"/registry/models/{model_id}/").content.decode()
    assert page.post(f"/monitoring/models/{model_id}/report").status_code == 302
    assert DriftReport.objects.filter(registered_model_id=model_id).count() == 3


def test_a_version_not_in_production_is_not_logged(make_version, trained):
    version = make_version("titanic")
    client = client_for(version.registered_model.project.owner)
    answer = client.post(f"/api/v1/models/{version.pk}/predict", {"instances": trained["titanic"].rows}, format="json")
    assert answer.status_code == 200 and "prediction_ids" not in answer.json()


def test_a_full_queue_drops_and_counts_rows_without_blocking_the_request(production, trained, fresh_log, settings):
    settings.MONITORING_LOG_QUEUE_SIZE = 1
    client = client_for(production.registered_model.project.owner)
    rows = trained["titanic"].rows
    assert all(predict(client, production.registered_model_id, rows).json()["prediction_ids"])
    before = DROPPED._value.get()
    answer = predict(client, production.registered_model_id, rows)  # the queue holds the first request still
    assert answer.status_code == 200
    assert answer.json()["prediction_ids"] == [None] * len(rows)
    assert DROPPED._value.get() - before == len(rows)
    assert fresh_log.drain() == len(rows)  # only the first request's rows


def test_sampling_rate_zero_logs_nothing(production, trained, fresh_log):
    services.monitor_update(
        registered_model=production.registered_model, user=production.registered_model.project.owner, sample_rate=0.0
    )
    answer = predict(
        client_for(production.registered_model.project.owner), production.registered_model_id, trained["titanic"].rows
    )
    assert answer.json()["prediction_ids"] == [None] * len(trained["titanic"].rows)
    assert fresh_log.drain() == 0


@pytest.fixture
def logged(make_version):
    version = make_version("titanic")
    return version, record(version)


def test_access_control_on_every_endpoint(logged, make_version):
    version, row = logged
    project = version.registered_model.project
    model_id = version.registered_model_id
    outsider = ProjectFactory().owner
    viewer = add_member(project, ProjectRole.VIEWER, roles=["ml_engineer"])
    body = {"prediction_id": str(row.public_id), "actual": 1}
    report = DriftReport.objects.create(
        registered_model_id=model_id, model_version=version, window_start=timezone.now(), window_end=timezone.now()
    )
    reads = [f"/api/v1/registered-models/{model_id}/predictions", f"/api/v1/registered-models/{model_id}/drift",
             f"/api/v1/drift/{report.pk}"]  # fmt: skip
    writes = [f"/api/v1/registered-models/{model_id}/feedback", f"/api/v1/registered-models/{model_id}/drift"]
    anonymous = APIClient()
    for url in reads:
        assert anonymous.get(url).status_code == 401, url
        assert client_for(outsider).get(url).status_code == 404, url
        assert client_for(viewer).get(url).status_code == 200, url
    for url in writes:
        assert anonymous.post(url, body, format="json").status_code == 401, url
        assert client_for(outsider).post(url, body, format="json").status_code == 404, url
        assert client_for(viewer).post(url, body, format="json").status_code == 403, url
    assert client_for(viewer).get(f"/monitoring/models/{model_id}/").status_code == 302  # pages need a session
    page = APIClient()
    page.force_login(outsider)
    assert page.get(f"/monitoring/models/{model_id}/").status_code == 404


def test_feedback_errors(logged, make_version):
    version, row = logged
    owner = version.registered_model.project.owner
    client = client_for(owner)
    url = f"/api/v1/registered-models/{version.registered_model_id}/feedback"
    other = make_version("titanic")
    foreign = record(other)

    unknown = client.post(url, {"prediction_id": str(uuid.uuid4()), "actual": 1}, format="json")
    assert unknown.status_code == 404 and "No logged prediction" in unknown.json()["detail"]
    assert client.post(url, {"prediction_id": str(foreign.public_id), "actual": 1}, format="json").status_code == 404
    for actual in ("yes", True, 7, [1]):
        answer = client.post(url, {"prediction_id": str(row.public_id), "actual": actual}, format="json")
        assert answer.status_code == 400, actual
    wrong = client.post(url, {"prediction_id": str(row.public_id), "actual": "yes"}, format="json")
    assert "class labels" in wrong.json()["actual"][0]
    assert client.post(url, {"prediction_id": "not-a-uuid", "actual": 1}, format="json").status_code == 400
    assert client.post(url, [], format="json").status_code == 400
    assert client.post(url, {"prediction_id": str(row.public_id), "actual": None}, format="json").status_code == 400
    second = record(version)
    mixed = [
        {"prediction_id": str(second.public_id), "actual": 0},
        {"prediction_id": str(row.public_id), "actual": "x"},
    ]
    assert client.post(url, mixed, format="json").status_code == 400
    second.refresh_from_db()
    assert second.actual is None  # all or nothing
    assert (
        client.get(f"/api/v1/registered-models/{version.registered_model_id}/predictions?format=xml").status_code == 400
    )


def test_drift_report_refused_without_production_data_or_reference(logged, settings):
    version, _ = logged
    client = client_for(version.registered_model.project.owner)
    url = f"/api/v1/registered-models/{version.registered_model_id}/drift"
    answer = client.post(url)
    assert answer.status_code == 409 and "no production version" in answer.json()["detail"]


def test_retention_deletes_only_records_older_than_their_models_period(logged, make_version):
    version, recent = logged
    old = record(version, created_at=timezone.now() - timedelta(days=91))
    other = make_version("titanic")
    services.monitor_update(
        registered_model=other.registered_model, user=other.registered_model.project.owner, retention_days=7
    )
    week_old = record(other, created_at=timezone.now() - timedelta(days=8))
    kept = record(other, created_at=timezone.now() - timedelta(days=6))
    assert services.predictions_purge() == 2
    remaining = set(PredictionRecord.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, kept.pk} and old.pk not in remaining and week_old.pk not in remaining


def test_a_flagged_report_notifies_members_and_webhooks_and_shows_on_metrics(
    production, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.MONITORING_MIN_REPORT_ROWS = 10
    project = production.registered_model.project
    member = add_member(project, ProjectRole.VIEWER)
    WebhookEndpoint.objects.create(project=project, url="https://hooks.example.org/x", secret="s" * 32)
    monkeypatch.setattr("apps.governance.notify.enqueue", lambda *args, **kwargs: None)
    log_drifted_predictions(production)
    with django_capture_on_commit_callbacks(execute=True):
        report = services.drift_report_create(registered_model=production.registered_model)
    drifted = {item["feature"] for item in report.features if item["drifted"]}
    assert drifted == {"Age", "Sex"} and report.flagged
    assert Notification.objects.filter(user=member, kind="monitoring").count() == 1
    assert Notification.objects.filter(user=project.owner, kind="monitoring").exists()
    message = WebhookMessage.objects.get(event="monitoring.drift_flagged")
    assert '"drifted_features"' in message.body

    metrics = APIClient().get("/metrics").content.decode()
    labels = (
        f'project="{project.name}",registered_model="{production.registered_model.name}",'
        f'registered_model_id="{production.registered_model_id}"'
    )
    assert f"maestro_model_drift_flagged{{{labels}}} 1.0" in metrics
    assert f"maestro_model_drifted_features{{{labels}}} 2.0" in metrics
    assert "maestro_predictions_log_dropped_total" in metrics


def test_alert_rules_use_exported_metrics():
    import yaml

    from apps.monitoring.metrics import LABELS, MonitoringCollector
    from tests.deploy.test_deploy_files import DEPLOY, promql_names

    exported = {family.name: set(LABELS) for family in MonitoringCollector().describe()}
    exported["maestro_predictions_log_dropped_total"] = set()
    exported["maestro_predictions_logged_total"] = {"source"}
    assert "/etc/prometheus/monitoring-alerts.yaml" in (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    rules = yaml.safe_load((DEPLOY / "prometheus" / "monitoring-alerts.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            metrics, labels = promql_names(rule["expr"])
            assert metrics and metrics <= exported.keys(), rule["alert"]
            assert labels <= set().union(*(exported[name] for name in metrics)), rule["alert"]


def test_scheduled_reports_pick_each_production_model_once_per_interval(production):
    now = timezone.now()
    model_id = production.registered_model_id
    assert model_id in services.drift_reports_due(now=now)
    assert model_id not in services.drift_reports_due(now=now + timedelta(hours=1))
    assert model_id in services.drift_reports_due(now=now + timedelta(hours=25))
    # Nothing logged yet: the scheduled report is skipped, not failed.
    assert services.scheduled_drift_report(registered_model_id=model_id) is None
    assert not DriftReport.objects.exists()


def test_admin_lists_and_shows_every_monitoring_model(logged):
    from tests.accounts.factories import UserFactory

    version, row = logged
    services.monitor_for(registered_model=version.registered_model)
    report = DriftReport.objects.create(
        registered_model_id=version.registered_model_id,
        model_version=version,
        window_start=timezone.now(),
        window_end=timezone.now(),
    )
    services.reference_profile_from_frames(
        version=version, train=pd.DataFrame({"Age": [1.0, 2.0]}), heldout_predictions=[], heldout_actuals=[]
    )
    admin = APIClient()
    admin.force_login(UserFactory(roles=["admin"], is_staff=True, is_superuser=True))
    for name, pk in (("modelmonitor", version.registered_model.monitor.pk), ("predictionrecord", row.pk),
                     ("referenceprofile", version.reference_profile.pk), ("driftreport", report.pk)):  # fmt: skip
        assert admin.get(f"/admin/monitoring/{name}/").status_code == 200, name
        assert admin.get(f"/admin/monitoring/{name}/{pk}/change/").status_code == 200, name


def test_a_report_without_a_reference_queues_one_and_says_so(production, monkeypatch):
    queued = []
    monkeypatch.setattr("apps.monitoring.tasks.build_reference_profile.delay", queued.append)
    answer = client_for(production.registered_model.project.owner).post(
        f"/api/v1/registered-models/{production.registered_model_id}/drift"
    )
    assert answer.status_code == 409 and "is being made" in answer.json()["detail"]
    assert queued == [production.pk]


@pytest.fixture
def drifting(production, settings, monkeypatch):
    """The titanic production version with 200 drifted predictions logged, reports reading a 30-day window, and
    deliveries kept out of the broker; answers (version, ids of the drifted predictions, the time they were made)."""
    settings.MONITORING_MIN_REPORT_ROWS = 10
    monkeypatch.setattr("apps.governance.notify.enqueue", lambda *args, **kwargs: None)
    log_drifted_predictions(production)
    services.monitor_for(registered_model=production.registered_model)
    ModelMonitor.objects.filter(registered_model=production.registered_model).update(window_hours=30 * 24)
    drifted = set(PredictionRecord.objects.values_list("pk", flat=True))
    return production, drifted, timezone.now() + timedelta(minutes=1)


def test_a_model_that_stays_flagged_is_notified_once_then_at_most_every_renotify_days(
    drifting, settings, django_capture_on_commit_callbacks
):
    settings.MONITORING_RENOTIFY_DAYS = 3
    version, drifted, start = drifting
    owner = version.registered_model.project.owner

    def scheduled_report(after: timedelta) -> DriftReport:
        with django_capture_on_commit_callbacks(execute=True):
            return services.scheduled_drift_report(registered_model_id=version.registered_model_id, now=start + after)

    def notifications() -> int:
        return Notification.objects.filter(user=owner, kind="monitoring").count()

    first = scheduled_report(timedelta(0))
    assert first.flagged and first.notified and notifications() == 1  # it became flagged
    for hours in (1, 24, 71):  # the next scheduled reports still flag it: nothing new
        report = scheduled_report(timedelta(hours=hours))
        assert report.flagged and not report.notified
    assert notifications() == 1
    reminder = scheduled_report(timedelta(days=3))  # three days after the last notification: once more
    assert reminder.flagged and reminder.notified and notifications() == 2
    assert not scheduled_report(timedelta(days=4)).notified and notifications() == 2

    # One report of ordinary rows does not flag it; flagged again after that is a change, notified at once.
    PredictionRecord.objects.filter(pk__in=drifted).update(created_at=start - timedelta(days=40))
    frame = pd.read_csv(EXAMPLES / "titanic.csv").drop(columns=["Survived"]).sample(200, random_state=1)
    for _, row in frame.iterrows():
        inputs = {key: (None if value != value else value) for key, value in row.to_dict().items()}
        record(version, inputs=inputs, prediction=0, created_at=start + timedelta(days=4, hours=23))
    calm = scheduled_report(timedelta(days=5))
    assert not calm.flagged and not calm.notified and notifications() == 2
    PredictionRecord.objects.exclude(pk__in=drifted).update(created_at=start - timedelta(days=40))
    PredictionRecord.objects.filter(pk__in=drifted).update(created_at=start + timedelta(days=5, hours=1))
    again = scheduled_report(timedelta(days=5, hours=2))
    assert again.flagged and again.notified and notifications() == 3


def test_with_renotify_days_zero_a_model_is_notified_only_when_it_becomes_flagged(drifting, settings):
    settings.MONITORING_RENOTIFY_DAYS = 0
    version, _drifted, start = drifting
    made = [
        services.drift_report_create(registered_model=version.registered_model, now=start + timedelta(days=days))
        for days in (0, 10, 20)
    ]
    assert [report.notified for report in made] == [True, False, False]
    client = client_for(version.registered_model.project.owner)
    listed = client.get(f"/api/v1/registered-models/{version.registered_model_id}/drift").json()["results"]
    assert [item["notified"] for item in listed] == [False, False, True]  # newest first
