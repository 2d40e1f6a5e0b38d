"""Every page of the site after issue 15: the dashboard, the guided start with a sample dataset, plots of data
(histograms), of jobs (leaderboard chart) and of models (held-out evaluation as SVG images), metric values in
lists, breadcrumbs, destructive buttons that ask first, error pages in words, and the operators' admin index.
Another project's page is a 404 every time."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest
from django.test import Client

from apps.automl.choices import JobStatus
from apps.automl.models import TrainingJob
from apps.core.models import AuditLogEntry
from apps.projects.models import Dataset, Project
from tests.accounts.factories import UserFactory
from tests.automl.factories import TrainingJobFactory
from tests.governance.factories import to_state
from tests.projects.factories import DatasetFactory, ProjectFactory

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(user, url: str, status: int = 200) -> str:
    response = signed_in(user).get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


def clean(html: str) -> None:
    """A page of the site: a title, breadcrumbs, no inline script or style (the CSP would refuse them)."""
    assert re.search(r"<title>[^<]+ · Maestro ML</title>", html)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) and " style=" not in html
    assert "js/site.js" in html


def svg_document(content: bytes | str) -> ElementTree.Element:
    root = ElementTree.fromstring(content)  # noqa: S314 - the app's own output, parsed to check it
    assert root.tag == f"{SVG}svg" and root.find(f"{SVG}title").text
    return root


# ---------------------------------------------------------------------------------------------------------------
# Dashboard and guided start
# ---------------------------------------------------------------------------------------------------------------
def test_dashboard_invites_visitors_and_guides_a_user_without_project():
    assert "/accounts/login/" in Client().get("/").content.decode()
    html = page(UserFactory(roles=["ml_engineer"]), "/")
    clean(html)
    assert "Your first model in a few minutes" in html and "Titanic passengers" in html
    assert 'action="/projects/sample"' in html


def test_dashboard_shows_projects_jobs_production_models_approvals_and_notifications(team):
    version = team.version
    registered_model = version.registered_model
    registered_model.production_version = version
    registered_model.save()
    TrainingJobFactory(
        dataset=DatasetFactory(project=team.project, name="iris"), status=JobStatus.RUNNING, progress=0.4
    )
    to_state(team, "submitted")
    html = page(team.reviewer, "/")
    clean(html)
    assert team.project.name in html and "Your first model" not in html
    assert 'value="0.4"' in html and "running" in html  # the running job with its progress
    assert f"/registry/versions/{version.pk}/" in html and version.eval_metric in html  # in production, with metric
    metric = f"{version.metrics[version.eval_metric]:.4f}"
    assert metric in html
    assert "Approvals waiting for you" in html and f"{registered_model.name} v1" in html
    assert "No unread notification." not in html  # the submission notified the reviewers
    outsider = page(team.outsider, "/")
    assert team.project.name not in outsider and registered_model.name not in outsider


def test_a_sample_dataset_in_one_click_opens_the_training_form_filled_in():
    engineer = UserFactory(roles=["ml_engineer"])
    client = signed_in(engineer)
    response = client.post("/projects/sample", {"sample": "titanic"})
    project = Project.objects.get(owner=engineer)
    dataset = Dataset.objects.get(project=project)
    assert response.status_code == 302
    assert response.url == f"/projects/{project.pk}/automl/?dataset={dataset.pk}&target=Survived#new-job"
    assert dataset.n_rows == 1313 and project.name == "Titanic passengers sample"
    age = next(column for column in dataset.profile["columns"] if column["name"] == "Age")
    assert sum(age["histogram"]["counts"]) == 1313 - age["n_missing"]  # bins stored at upload
    html = client.get(response.url).content.decode()
    assert f'<option value="{dataset.pk}" selected>' in html and 'value="Survived"' in html
    client.post("/projects/sample", {"sample": "titanic"})  # a second project gets a free name
    assert Project.objects.filter(owner=engineer, name="Titanic passengers sample 2").exists()


def test_an_unknown_sample_or_a_viewer_changes_nothing():
    engineer = UserFactory(roles=["ml_engineer"])
    response = signed_in(engineer).post("/projects/sample", {"sample": "nope"}, follow=True)
    assert "Choose one of the sample datasets" in response.content.decode()
    response = signed_in(UserFactory(roles=["viewer"])).post("/projects/sample", {"sample": "iris"}, follow=True)
    assert "projects:create" in response.content.decode()
    assert not Project.objects.exists()
    other = ProjectFactory()
    assert signed_in(engineer).post("/projects/sample", {"sample": "iris", "project": other.pk}).status_code == 404
    assert not Dataset.objects.exists()


# ---------------------------------------------------------------------------------------------------------------
# Datasets, jobs, models
# ---------------------------------------------------------------------------------------------------------------
def test_dataset_page_draws_a_chart_per_column_and_offers_training(team):
    client = signed_in(team.author)
    client.post("/projects/sample", {"sample": "penguins", "project": team.project.pk})
    dataset = Dataset.objects.get(project=team.project, name="Palmer penguins")
    html = page(team.author, f"/datasets/{dataset.pk}/")
    clean(html)
    assert html.count("<svg") >= 2 * dataset.n_columns  # a chart and a missing-share bar per column
    assert "Distribution of bill_length_mm" in html and "Most frequent values of island" in html
    assert f"/projects/{team.project.pk}/automl/?dataset={dataset.pk}" in html  # "Train a model on this dataset"
    assert 'class="danger"' in html and "data-confirm=" in html
    assert 'aria-label="Breadcrumb"' in html
    page(team.outsider, f"/datasets/{dataset.pk}/", status=404)


def test_dataset_profiled_before_histograms_still_shows(team):
    dataset = team.version.dataset  # made by the factory: a column summary, no stored histogram
    html = page(team.author, f"/datasets/{dataset.pk}/")
    assert dataset.name in html and "Columns" in html


def test_job_page_draws_the_leaderboard_and_keeps_a_sortable_table(team):
    job = team.version.job
    html = page(team.author, f"/automl/jobs/{job.pk}/")
    clean(html)
    assert "Validation and test" in html and 'class="sortable"' in html and 'class="sort"' in html
    chart = re.search(r'<figure class="leaderboard-chart">(.*?)</figure>', html, re.S).group(1)
    assert len(svg_document(chart).findall(f".//{SVG}rect")) >= len(job.leaderboard)
    page(team.outsider, f"/automl/jobs/{job.pk}/", status=404)


def test_running_job_shows_progress_and_its_cancel_asks_first(team):
    job = TrainingJobFactory(dataset=DatasetFactory(project=team.project), status=JobStatus.RUNNING, progress=0.5)
    html = page(team.author, f"/automl/jobs/{job.pk}/")
    assert 'class="js-progress" max="1" value="0.5"' in html
    assert 'data-confirm="Cancel job' in html and 'class="danger">Cancel job' in html


@pytest.mark.parametrize(
    ("sample", "plots"),
    [
        ("titanic", ["confusion-matrix", "roc", "precision-recall"]),
        ("iris", ["confusion-matrix", "roc", "precision-recall"]),
        ("boston", ["predicted-vs-actual", "residuals-vs-predicted", "residuals"]),
    ],
)
def test_version_page_shows_the_held_out_evaluation_as_images(make_version, sample, plots):
    version = make_version(sample)
    owner = version.registered_model.project.owner
    html = page(owner, f"/registry/versions/{version.pk}/")
    clean(html)
    for action in ("Explain", "Submit for approval", "Try a prediction"):
        assert f">{action}</a>" in html
    client = signed_in(owner)
    for name in plots:
        url = f"/registry/versions/{version.pk}/evaluation/{name}.svg"
        assert f'src="{url}"' in html
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"].startswith("image/svg+xml")
        root = svg_document(response.content)
        assert root.findall(f".//{SVG}rect") or root.findall(f".//{SVG}circle")
    assert client.get(f"/registry/versions/{version.pk}/evaluation/nothing.svg").status_code == 404
    outsider = signed_in(ProjectFactory().owner)
    assert outsider.get(f"/registry/versions/{version.pk}/evaluation/{plots[0]}.svg").status_code == 404


def test_confusion_matrix_counts_every_held_out_row(make_version):
    version = make_version("iris")
    matrix = version.evaluation["confusion_matrix"]
    assert sum(map(sum, matrix)) == version.evaluation["n_rows"] == 30
    accuracy = sum(matrix[i][i] for i in range(len(matrix))) / 30
    assert accuracy == pytest.approx(version.metrics["accuracy"])  # the same rows as the stored metrics


def test_version_trained_before_evaluations_says_so(make_version):
    version = make_version("iris")
    version.evaluation = {}
    version.save(update_fields=["evaluation"])
    html = page(version.registered_model.project.owner, f"/registry/versions/{version.pk}/")
    assert "trained before evaluation plots were recorded" in html


def test_lists_that_name_a_metric_show_its_value(team):
    version = team.version
    value = f"{version.metrics[version.eval_metric]:.4f}"
    models_page = page(team.viewer, f"/projects/{team.project.pk}/models/")
    detail = page(team.viewer, f"/registry/models/{version.registered_model_id}/")
    for html in (models_page, detail):
        clean(html)
        assert version.eval_metric in html and value in html
    page(team.outsider, f"/projects/{team.project.pk}/models/", status=404)


def test_every_page_has_breadcrumbs_back_to_its_project(team):
    version = team.version
    approval_id = to_state(team, "submitted")
    for url in (
        f"/projects/{team.project.pk}/",
        f"/projects/{team.project.pk}/automl/",
        f"/projects/{team.project.pk}/models/",
        f"/registry/models/{version.registered_model_id}/",
        f"/registry/versions/{version.pk}/",
        f"/automl/jobs/{version.job_id}/",
        f"/approvals/{approval_id}/",
        "/approvals/",
        "/notifications/",
        "/projects/",
    ):
        html = page(team.reviewer, url)
        clean(html)
        assert 'aria-label="Breadcrumb"' in html and 'aria-current="page"' in html, url


# ---------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------
def test_error_pages_are_words(team, settings):
    settings.DEBUG = False
    response = signed_in(team.outsider).get(f"/registry/versions/{team.version.pk}/")
    html = response.content.decode()
    assert response.status_code == 404 and "Page not found" in html and "project you are not a member of" in html
    clean(html)
    assert Client().get("/no/such/page/").status_code == 404


def test_403_and_500_templates_render():
    from django.template.loader import render_to_string

    assert "You may not do this" in render_to_string("403.html")
    assert "Something went wrong on our side" in render_to_string("500.html")  # no request context needed
    assert "This form expired" in render_to_string("403_csrf.html")


def test_a_refused_form_post_is_a_message_not_a_stack_trace(team):
    response = signed_in(team.viewer).post(f"/projects/{team.project.pk}/delete", follow=True)
    html = response.content.decode()
    assert response.status_code == 200 and "Traceback" not in html
    assert Project.objects.filter(pk=team.project.pk).exists()


# ---------------------------------------------------------------------------------------------------------------
# The operators' admin
# ---------------------------------------------------------------------------------------------------------------
def test_admin_index_shows_operations_with_counts_and_charts(team):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    failed = TrainingJobFactory(dataset=DatasetFactory(project=team.project), status=JobStatus.FAILED)
    TrainingJob.objects.filter(pk=failed.pk).update(finished_at=team.version.created_at, error="out of memory")
    to_state(team, "submitted")
    AuditLogEntry.objects.create(actor_username="ops", action="project.archive", target_type="project", target_id="7")
    html = page(superuser, "/admin/")
    assert "<title>Operations | Maestro ML</title>" in html and ">Maestro ML<" in html
    assert "Training jobs by state" in html and "failed in the last 24 h" in html and "out of memory" in html
    assert "Celery queues" in html and "training" in html
    assert "approvals waiting" in html and "submitted 1" in html
    assert "Latest audit entries" in html and "project.archive" in html
    assert "Django administration" not in html


def test_admin_cancel_action_goes_through_the_service(team):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    queued = TrainingJobFactory(dataset=DatasetFactory(project=team.project))
    done = TrainingJobFactory(dataset=DatasetFactory(project=team.project), status=JobStatus.SUCCEEDED)
    response = signed_in(superuser).post(
        "/admin/automl/trainingjob/",
        {"action": "cancel_jobs", "_selected_action": [queued.pk, done.pk]},
        follow=True,
    )
    html = response.content.decode()
    queued.refresh_from_db()
    done.refresh_from_db()
    assert queued.status == JobStatus.CANCELLED and done.status == JobStatus.SUCCEEDED
    assert "Cancel requested for 1 job(s)" in html and "already ended" in html


def test_every_admin_list_opens(team):
    from django.contrib import admin

    superuser = UserFactory(is_staff=True, is_superuser=True)
    client = signed_in(superuser)
    for model, model_admin in admin.site._registry.items():
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        response = client.get(url)
        assert response.status_code == 200, url
        if model.__module__.startswith("apps."):  # Maestro ML's own models (not Django's or Celery beat's)
            assert model_admin.list_display != ("__str__",), f"{url} lists only names"
        response = client.get(url, {"q": "x"}) if model_admin.search_fields else response
        assert response.status_code == 200, url
