"""PostgreSQL drops the application's connections (pg_terminate_backend on the test database's other
backends) and, for a moment, refuses new ones: requests answer 503 at once, never hang, and the next
requests once it accepts connections again are served with no restart."""

from __future__ import annotations

import time

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def terminate_other_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def allow_connections(allowed: bool) -> None:
    """ALTER DATABASE ... ALLOW_CONNECTIONS, from the maintenance database (not allowed on the current one)."""
    import psycopg

    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"] or None,
        dbname="postgres", autocommit=True,
    ) as maintenance:  # fmt: skip
        maintenance.execute(
            f'ALTER DATABASE "{db["NAME"]}" WITH ALLOW_CONNECTIONS {"true" if allowed else "false"}'  # noqa: S608
        )


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("terminates PostgreSQL backends")
    yield
    allow_connections(True)


def test_dropped_database_connections_answer_503_promptly_and_the_next_requests_recover(
    postgresql, web_server, engineer_with_data
):
    engineer, password, project, dataset = engineer_with_data
    # Persistent connections, so the server holds one for the backends to be terminated under it.
    server = web_server(DATABASE_URL=connection_url() + "?conn_max_age=600")
    token = server.sign_in(engineer.username, password)
    assert server.get(f"/api/v1/projects/{project.pk}", token).status_code == 200

    # The server's connection is killed between two requests: the next one notices and reconnects.
    assert terminate_other_backends() >= 1
    again = server.get(f"/api/v1/projects/{project.pk}", token)
    assert again.status_code == 200, again.text

    # The database refuses connections for a while: 503 with Retry-After, promptly, never a 500 or a hang.
    allow_connections(False)
    try:
        terminate_other_backends()
        for path in (f"/api/v1/projects/{project.pk}", "/api/v1/datasets", f"/api/v1/datasets/{dataset.pk}"):
            started = time.monotonic()
            answer = server.get(path, token, timeout=15)
            assert time.monotonic() - started < 10
            assert answer.status_code == 503, (path, answer.status_code, answer.text[:300])
            assert answer.json()["unavailable"] == "database" and answer.headers["Retry-After"]
        assert server.get("/health/ready").json()["down"] == ["database"]
    finally:
        allow_connections(True)

    # Back: served again by the same process.
    recovered = server.get(f"/api/v1/datasets/{dataset.pk}", token)
    assert recovered.status_code == 200, recovered.text
    assert server.get("/health/ready").status_code == 200


def connection_url() -> str:
    from tests.conftest import database_url_for_worker

    return database_url_for_worker()
