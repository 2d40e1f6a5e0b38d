"""The AutoML REST API: validation before queuing, permissions (401/403/404), conflicts and rate limit."""

import numpy as np
import pandas as pd
import pytest

from apps.automl.choices import JobStatus
from apps.automl.models import TrainingJob, TrainingJobEvent
from tests.automl.factories import TrainingJobFactory, dataset_from_frame
from tests.projects.factories import DatasetFactory, ProjectFactory, add_member

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/automl/jobs"


@pytest.fixture
def project():
    return ProjectFactory()


@pytest.fixture
def titanic(project):
    return DatasetFactory(project=project, name="titanic")


@pytest.fixture
def owner_client(api_client, project):
    api_client.force_authenticate(project.owner)
    return api_client


def body(dataset, **overrides):
    data = {"dataset_id": dataset.pk, "target": "Survived", "task_type": "binary", "time_budget": 30}
    data.update(overrides)
    return data


def test_editor_starts_a_job_and_gets_202_with_the_queued_job(
    api_client, project, titanic, small_models, django_capture_on_commit_callbacks
):
    editor = add_member(project, "editor", roles=["ml_engineer"])
    api_client.force_authenticate(editor)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_client.post(JOBS, body(titanic, metric="roc_auc", registered_model_name="survival"))
    assert response.status_code == 202, response.content
    job = TrainingJob.objects.get()
    assert response.json() == {"id": job.pk, "status": "queued"}
    assert response["Location"].endswith(f"{JOBS}/{job.pk}")
    assert len(callbacks) == 1  # queued to the training worker once the row is committed
    assert (job.project, job.dataset, job.created_by) == (project, titanic, editor)
    assert (job.target, job.task_type, job.problem_type, job.metric) == ("Survived", "binary", "binary", "roc_auc")
    assert job.presets == "medium_quality" and job.registered_model_name == "survival"
    assert job.hyperparameters == {"GBM": {}}
    assert job.dataset_sha256 == titanic.sha256
    event = TrainingJobEvent.objects.get(job=job)
    assert (event.from_state, event.to_state, event.by) == ("", "queued", editor)


def test_auto_task_type_is_resolved_from_the_target(owner_client, project):
    iris = DatasetFactory(project=project, name="iris")
    response = owner_client.post(
        JOBS, {"dataset_id": iris.pk, "target": "species", "task_type": "auto", "time_budget": 20}
    )
    assert response.status_code == 202, response.content
    assert TrainingJob.objects.get().problem_type == "multiclass"


def test_job_detail_shows_status_progress_and_no_model_version_yet(owner_client, project):
    job = TrainingJobFactory(dataset=DatasetFactory(project=project))
    response = owner_client.get(f"{JOBS}/{job.pk}")
    assert response.status_code == 200
    data = response.json()
    for key in ("id", "status", "progress", "current_best", "error", "started_at", "finished_at", "model_version_id"):
        assert key in data
    assert data["status"] == "queued" and data["progress"] == 0.0 and data["model_version_id"] is None
    assert data["current_best"]["model"] is None


def test_list_filters_by_project_and_hides_other_projects(owner_client, project):
    mine = TrainingJobFactory(dataset=DatasetFactory(project=project))
    TrainingJobFactory()  # another project's job
    response = owner_client.get(JOBS, {"project": project.pk})
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]
    assert [row["id"] for row in owner_client.get(JOBS).json()["results"]] == [mine.pk]


def test_list_of_an_invisible_project_is_404_and_a_bad_id_is_400(owner_client):
    assert owner_client.get(JOBS, {"project": ProjectFactory().pk}).status_code == 404
    assert owner_client.get(JOBS, {"project": "abc"}).status_code == 400


def missing_target_frame() -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(40.0), "y": [np.nan] * 40})


def constant_target_frame() -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(40.0), "y": ["same"] * 40})


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"target": "Nope"}, "target", "not in dataset"),
        ({"task_type": "regression", "target": "Sex"}, "target", "numeric target"),
        ({"task_type": "binary", "target": "PClass"}, "target", "exactly 2 classes"),
        ({"task_type": "multiclass"}, "target", "use binary"),
        ({"time_budget": 1}, "time_budget", "between"),
        ({"time_budget": 10**6}, "time_budget", "between"),
        ({"time_budget": "soon"}, "time_budget", ""),
        ({"metric": "rmse"}, "metric", "not a metric for binary"),
        ({"metric": "made_up"}, "metric", "not a metric"),
        ({"presets": "extreme_quality"}, "presets", "not an allowed preset"),
        ({"task_type": "clustering"}, "task_type", ""),
        ({"target": ""}, "target", ""),
    ],
)
def test_invalid_requests_get_400_naming_the_problem(owner_client, titanic, overrides, field, fragment):
    response = owner_client.post(JOBS, body(titanic, **overrides))
    assert response.status_code == 400, response.content
    messages = " ".join(response.json()[field])
    assert fragment in messages
    assert not TrainingJob.objects.exists()


def test_missing_dataset_id_is_400(owner_client):
    response = owner_client.post(JOBS, {"target": "y", "time_budget": 30})
    assert response.status_code == 400
    assert "dataset_id" in response.json()


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [(missing_target_frame, "only missing values"), (constant_target_frame, "single value")],
)
def test_targets_without_anything_to_learn_get_400(owner_client, project, frame, fragment):
    dataset = dataset_from_frame(project, frame())
    response = owner_client.post(JOBS, {"dataset_id": dataset.pk, "target": "y", "time_budget": 30})
    assert response.status_code == 400
    assert fragment in response.json()["target"][0]


def test_too_few_labelled_rows_get_400(owner_client, project):
    dataset = dataset_from_frame(project, pd.DataFrame({"x": range(8), "y": [0, 1] * 4}))
    response = owner_client.post(JOBS, {"dataset_id": dataset.pk, "target": "y", "time_budget": 30})
    assert response.status_code == 400
    assert "at least" in response.json()["target"][0]


def test_archived_project_refuses_new_jobs_with_409(owner_client, project, titanic):
    project.is_archived = True
    project.save()
    response = owner_client.post(JOBS, body(titanic))
    assert response.status_code == 409
    assert "archived" in response.json()["detail"]


def test_viewer_cannot_start_or_cancel_a_job(api_client, project, titanic):
    viewer = add_member(project, "viewer", roles=["ml_engineer"])
    job = TrainingJobFactory(dataset=titanic, target="Survived", task_type="binary")
    api_client.force_authenticate(viewer)
    assert api_client.post(JOBS, body(titanic)).status_code == 403
    assert api_client.post(f"{JOBS}/{job.pk}/cancel").status_code == 403
    assert api_client.get(f"{JOBS}/{job.pk}").status_code == 200


def test_editor_without_the_automl_capability_gets_403(api_client, project, titanic):
    editor = add_member(project, "editor", roles=["viewer"])
    api_client.force_authenticate(editor)
    response = api_client.post(JOBS, body(titanic))
    assert response.status_code == 403
    assert "automl:run" in response.json()["detail"]


def test_user_of_another_project_gets_404_everywhere(api_client, titanic):
    job = TrainingJobFactory(dataset=titanic, target="Survived", task_type="binary")
    api_client.force_authenticate(ProjectFactory().owner)
    assert api_client.post(JOBS, body(titanic)).status_code == 404
    for suffix in ("", "/results"):
        assert api_client.get(f"{JOBS}/{job.pk}{suffix}").status_code == 404
    assert api_client.post(f"{JOBS}/{job.pk}/cancel").status_code == 404


def test_requests_without_a_token_get_401(api_client, titanic):
    job = TrainingJobFactory(dataset=titanic, target="Survived", task_type="binary")
    assert api_client.get(JOBS).status_code == 401
    assert api_client.post(JOBS, body(titanic)).status_code == 401
    assert api_client.get(f"{JOBS}/{job.pk}").status_code == 401
    assert api_client.get(f"{JOBS}/{job.pk}/results").status_code == 401
    assert api_client.post(f"{JOBS}/{job.pk}/cancel").status_code == 401


def test_results_of_an_unfinished_job_are_409(owner_client, titanic):
    job = TrainingJobFactory(dataset=titanic, target="Survived", task_type="binary")
    response = owner_client.get(f"{JOBS}/{job.pk}/results")
    assert response.status_code == 409
    assert "queued" in response.json()["detail"]


def test_cancel_of_a_queued_job_ends_it_at_once(owner_client, project, titanic):
    job = TrainingJobFactory(dataset=titanic, target="Survived", task_type="binary")
    response = owner_client.post(f"{JOBS}/{job.pk}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.finished_at is not None
    assert job.events.last().by == project.owner
    assert owner_client.post(f"{JOBS}/{job.pk}/cancel").status_code == 409


def test_new_jobs_are_rate_limited_per_user(owner_client, titanic, settings):
    settings.RATELIMIT_AUTOML_JOBS = "2/h"
    assert owner_client.post(JOBS, body(titanic)).status_code == 202
    assert owner_client.post(JOBS, body(titanic)).status_code == 202
    response = owner_client.post(JOBS, body(titanic))
    assert response.status_code == 429
    assert "Retry-After" in response
    other = add_member(titanic.project, "editor", roles=["ml_engineer"])
    owner_client.force_authenticate(other)
    assert owner_client.post(JOBS, body(titanic)).status_code == 202  # each user has a count of their own


def test_trailing_slash_is_accepted(owner_client, titanic):
    job = TrainingJobFactory(dataset=titanic, target="Survived", task_type="binary")
    assert owner_client.get(f"{JOBS}/{job.pk}/").status_code == 200
