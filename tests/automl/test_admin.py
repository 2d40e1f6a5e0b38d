"""The AutoML admin: operators can follow jobs and their history, never edit results or states."""

import pytest

from apps.automl import services
from tests.accounts.factories import UserFactory
from tests.automl.factories import TrainingJobFactory

pytestmark = pytest.mark.django_db


def test_admin_lists_jobs_and_shows_a_job_with_its_history_read_only(client):
    job = TrainingJobFactory()
    services.training_job_start(job_id=job.pk, worker="celery@admin-test")
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/admin/automl/trainingjob/").status_code == 200
    page = client.get(f"/admin/automl/trainingjob/{job.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Started on celery@admin-test." in html
    assert 'name="status"' not in html and 'name="leaderboard"' not in html
    assert client.get("/admin/automl/trainingjob/add/").status_code == 403
