"""AutoML pages: a project's jobs with the new-job form, a job's page, cancel from the page."""

import pytest

from apps.automl.choices import JobStatus
from apps.automl.models import TrainingJob
from tests.automl.factories import TrainingJobFactory
from tests.projects.factories import DatasetFactory, ProjectFactory, add_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def titanic():
    return DatasetFactory(project=ProjectFactory(), name="titanic")


def form_data(dataset, **overrides):
    data = {
        "dataset": dataset.pk,
        "target": "Survived",
        "task_type": "binary",
        "time_budget": 30,
        "presets": "medium_quality",
        "metric": "",
        "registered_model_name": "",
    }
    data.update(overrides)
    return data


def test_project_jobs_page_lists_jobs_and_offers_the_form_with_columns(client, titanic):
    job = TrainingJobFactory(dataset=titanic, target="Survived", task_type="binary")
    client.force_login(titanic.project.owner)
    response = client.get(f"/projects/{titanic.project.pk}/automl/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"/automl/jobs/{job.pk}/" in html and "Start training" in html
    assert '"Survived"' in html  # the dataset's columns, for the target suggestions
    assert "<script>" not in html.replace('<script src="/static/js/automl.js" defer></script>', "")


def test_new_job_form_starts_a_job_and_goes_to_its_page(client, titanic, small_models):
    client.force_login(titanic.project.owner)
    response = client.post(f"/projects/{titanic.project.pk}/automl/", form_data(titanic))
    job = TrainingJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/automl/jobs/{job.pk}/"
    assert job.created_by == titanic.project.owner and job.hyperparameters == {"GBM": {}}


def test_new_job_form_shows_the_service_reason_for_a_bad_target(client, titanic):
    client.force_login(titanic.project.owner)
    response = client.post(
        f"/projects/{titanic.project.pk}/automl/", form_data(titanic, task_type="regression", target="Sex")
    )
    assert response.status_code == 400
    assert "numeric target" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_viewer_sees_jobs_but_cannot_start_one(client, titanic):
    viewer = add_member(titanic.project, "viewer", roles=["ml_engineer"])
    client.force_login(viewer)
    assert "Start training" not in client.get(f"/projects/{titanic.project.pk}/automl/").content.decode()
    assert client.post(f"/projects/{titanic.project.pk}/automl/", form_data(titanic)).status_code == 403
    assert not TrainingJob.objects.exists()


def test_job_page_follows_an_active_job_and_cancel_works(client, titanic):
    job = TrainingJobFactory(dataset=titanic, target="Survived", task_type="binary")
    client.force_login(titanic.project.owner)
    html = client.get(f"/automl/jobs/{job.pk}/").content.decode()
    assert f'data-api-url="/api/v1/automl/jobs/{job.pk}"' in html and 'data-active="true"' in html
    response = client.post(f"/automl/jobs/{job.pk}/cancel")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_pages_of_other_projects_are_404(client, titanic):
    job = TrainingJobFactory(dataset=titanic, target="Survived", task_type="binary")
    client.force_login(ProjectFactory().owner)
    assert client.get(f"/projects/{titanic.project.pk}/automl/").status_code == 404
    assert client.get(f"/automl/jobs/{job.pk}/").status_code == 404
    assert client.post(f"/automl/jobs/{job.pk}/cancel").status_code == 404


def test_pages_need_a_login(client, titanic):
    response = client.get(f"/projects/{titanic.project.pk}/automl/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_page_of_a_succeeded_job_shows_its_leaderboard_and_metrics(client, titanic):
    job = TrainingJobFactory(dataset=titanic, target="Survived", task_type="binary")
    leaderboard = [{"model": "LightGBM", "score_val": 0.81, "score_test": 0.8, "fit_time": 1.2, "pred_time_val": 0.01}]
    TrainingJob.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        leaderboard=leaderboard,
        best_model="LightGBM",
        eval_metric="accuracy",
        metrics={"accuracy": 0.8, "roc_auc": 0.85},
        split={"test_rows": 263},
    )
    client.force_login(titanic.project.owner)
    html = client.get(f"/automl/jobs/{job.pk}/").content.decode()
    assert 'data-active="false"' in html and "Cancel job" not in html
    assert "LightGBM" in html and "0.8000" in html and "roc_auc" in html and "263 rows" in html
