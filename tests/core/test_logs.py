"""Structured logs: a request id on every line of a request (the caller's X-Request-ID or a new one, answered
back), the user's and project's ids once known, the context carried into the tasks a request sends, and no
password, JWT, Authorization header or webhook secret in any line, whatever a caller logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from rest_framework.test import APIClient

from apps.core import logs
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.helpers import login
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


class Captured:
    def __init__(self, stream: io.StringIO):
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture
def captured() -> Iterator[Captured]:
    """Every log line of every logger, at DEBUG, rendered by the production (JSON) formatter."""
    config = logs.formatter("json")
    formatter = config.pop("()")(**config)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in ("django.db.backends", "maestro")}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("django.db.backends").setLevel(logging.DEBUG)
    try:
        yield Captured(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


def test_a_request_gets_an_id_answered_in_the_response_and_on_its_log_lines(captured, client):
    response = client.get("/health/live")
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    finished = [line for line in captured.lines if line["event"] == "request finished"]
    assert finished[-1]["request_id"] == request_id
    assert finished[-1]["path"] == "/health/live" and finished[-1]["status"] == 200
    assert {"timestamp", "level", "logger"} <= set(finished[-1])


def test_the_callers_request_id_is_kept_and_a_malformed_one_replaced(client):
    assert client.get("/health/live", HTTP_X_REQUEST_ID="edge-7f3a.1").headers["X-Request-ID"] == "edge-7f3a.1"
    replaced = client.get("/health/live", HTTP_X_REQUEST_ID="bad id\nwith newline").headers["X-Request-ID"]
    assert replaced != "bad id\nwith newline" and len(replaced) == 32


def test_api_log_lines_name_the_user_and_the_project(captured):
    project = ProjectFactory()
    api = APIClient()
    api.force_authenticate(project.owner)
    response = api.get(f"/api/v1/projects/{project.pk}/members", HTTP_X_REQUEST_ID="req-members")
    assert response.status_code == 200, response.content
    mine = [line for line in captured.lines if line.get("request_id") == "req-members"]
    assert mine, captured.text[-2000:]
    assert mine[-1]["user_id"] == project.owner.pk and mine[-1]["project_id"] == project.pk


def test_the_request_context_travels_to_the_tasks_it_sends():
    from apps.core.tasks import ping

    logs.clear()
    logs.bind(request_id="req-42", user_id=7, project_id=3)
    headers: dict = {}
    try:
        logs._add_headers(headers=headers)
    finally:
        logs.clear()
    assert headers == {"maestro_request_id": "req-42", "maestro_user_id": 7, "maestro_project_id": 3}

    task = ping
    task.push_request(id="task-1", maestro_request_id="req-42", maestro_user_id=7, maestro_project_id=3)
    try:
        logs._bind_task(task_id="task-1", task=task)
        context = structlog.contextvars.get_contextvars()
    finally:
        task.pop_request()
        logs._unbind_task()
    assert context == {
        "request_id": "req-42",
        "user_id": 7,
        "project_id": 3,
        "task_id": "task-1",
        "task_name": "apps.core.tasks.ping",
    }
    assert structlog.contextvars.get_contextvars() == {}


def test_no_password_jwt_authorization_or_webhook_secret_reaches_a_log_line(captured, settings):
    from apps.governance.webhooks import new_secret

    user = UserFactory()
    api = APIClient()
    tokens = login(api, user.username, PASSWORD)  # the password travels in the body, tokens come back
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api.get("/api/v1/auth/me").status_code == 200
    assert api.post("/api/v1/auth/refresh", {"refresh": tokens["refresh"]}, format="json").status_code == 200
    secret = new_secret()
    # Whatever a caller logs: a dict of headers, a form body, a URL with credentials, extra fields, a traceback.
    noisy = logging.getLogger("maestro.test")
    noisy.info("headers %s", {"Authorization": f"Bearer {tokens['access']}", "Accept": "json"})
    noisy.info("body password=%s&username=%s", PASSWORD, user.username)
    noisy.info("refresh token %s", tokens["refresh"])
    noisy.warning("connecting to postgres://maestro:%s@db:5432/maestro", PASSWORD)
    noisy.info("endpoint created", extra={"secret": secret, "webhook_secret": secret, "password": PASSWORD})
    noisy.info("signing with", extra={"config": {"signing_secret": secret, "url": "https://x"}})
    try:
        raise ValueError(f"refused {{'password': '{PASSWORD}', 'token': '{tokens['access']}'}}")
    except ValueError:
        noisy.exception("failed")
    structlog.get_logger("maestro.test").info("structlog too", api_key=secret, authorization=tokens["access"])

    text = captured.text
    assert "request finished" in text and "maestro.test" in text and "structlog too" in text
    for value in (PASSWORD, tokens["access"], tokens["refresh"], secret):
        assert value not in text
    assert text.count(logs.REDACTED) >= 10
    assert user.username in text  # not everything is masked: only secrets


def test_redaction_keeps_ordinary_values():
    event = logs.redact(None, "info", {"event": "job 3 finished", "token_type": "Bearer", "status": "ok", "rows": 3})
    assert event == {"event": "job 3 finished", "token_type": "Bearer", "status": "ok", "rows": 3}


def test_console_format_is_readable_and_masks_too():
    config = logs.formatter("console")
    formatter = config.pop("()")(**config)
    record = logging.LogRecord("maestro.x", logging.INFO, __file__, 1, "signed in with password=%s", ("hunter2",), None)
    line = formatter.format(record)
    assert "signed in with password=[redacted]" in line and "hunter2" not in line and not line.startswith("{")
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.formatter("xml")
