"""The version page shows the global plots and the "explain one row" form; the admin lists explanations."""

import pytest
from django.test import Client

from apps.explain import services
from apps.explain.choices import ExplanationMethod
from tests.accounts.factories import UserFactory
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def session_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_version_page_shows_global_plots_and_the_explain_form(make_version):
    version = make_version("iris")
    explanation, _ = services.explanation_request(
        user=None, version=version, method=ExplanationMethod.SHAP_GLOBAL, params={"sample_size": 60}
    )
    services.explanation_run(explanation_id=explanation.pk)
    client = session_for(version.registered_model.project.owner)
    page = client.get(f"/registry/versions/{version.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Why the model decides what it decides" in html
    assert f"/api/v1/explain/{explanation.pk}/plots/bar" in html
    assert f"/api/v1/explain/{explanation.pk}/plots/summary" in html
    assert 'class="js-explain"' in html and "js/explain.js" in html
    plot = client.get(f"/api/v1/explain/{explanation.pk}/plots/bar")
    assert plot.status_code == 200 and b"".join(plot.streaming_content).startswith(b"\x89PNG")
    assert "<svg" in html  # the card's importance chart
    # importances with their error bars, on the panel and on the card
    assert 'aria-labelledby="panel-importance-title"' in html and 'aria-labelledby="importance-chart-title"' in html
    assert html.count("(one standard error)</title></line>") >= 2 and "Standard error" in html
    assert "What the budget chose: Exact over 60 rows" in html and "bootstrap draws of the explained rows" in html
    card = client.get(f"/api/v1/models/{version.pk}/card").json()
    errors = explanation.__class__.objects.get(pk=explanation.pk).result["standard_errors"]
    assert {item["feature"]: item["standard_error"] for item in card["feature_importances"]} == errors
    other = session_for(ProjectFactory().owner)
    assert other.get(f"/registry/versions/{version.pk}/").status_code == 404


def test_version_page_without_an_explanation_says_so(make_version):
    version = make_version("titanic")
    html = session_for(version.registered_model.project.owner).get(f"/registry/versions/{version.pk}/").content
    assert b"No global explanation of this version yet" in html
    assert f'action="/registry/versions/{version.pk}/explain"'.encode() in html and b"Explain this version" in html


def test_a_failed_global_explanation_is_shown_with_its_reason_and_can_be_asked_again(make_version):
    version = make_version("titanic")
    explanation, _ = services.explanation_request(
        user=None, version=version, method=ExplanationMethod.SHAP_GLOBAL, params={"budget_s": 0.01}
    )
    services.explanation_run(explanation_id=explanation.pk)
    client = session_for(version.registered_model.project.owner)
    html = client.get(f"/registry/versions/{version.pk}/").content.decode()
    assert "The last global explanation failed: This global explanation needs a budget of about" in html
    assert "Explain again" in html
    answer = client.post(f"/registry/versions/{version.pk}/explain", {"next": f"/registry/versions/{version.pk}/"})
    assert answer.status_code == 302 and answer["Location"] == f"/registry/versions/{version.pk}/"
    queued = version.explanations.exclude(pk=explanation.pk).get()
    assert queued.status == "queued" and queued.params["budget_s"] == 300.0  # the default budget, not the failed one
    html = client.get(f"/registry/versions/{version.pk}/").content.decode()
    assert 'The global explanation is <span class="status queued">queued</span>, 0 % done' in html


def test_admin_lists_explanations_read_only(make_version, trained):
    version = make_version("titanic")
    explanation, _ = services.explanation_ask(
        user=None, version=version, method=ExplanationMethod.LIME, rows=trained["titanic"].rows[:1]
    )
    admin = session_for(UserFactory(roles=["admin"], is_staff=True, is_superuser=True))
    assert admin.get("/admin/explain/explanation/").status_code == 200
    detail = admin.get(f"/admin/explain/explanation/{explanation.pk}/change/")
    assert detail.status_code == 200 and b"succeeded" in detail.content
