"""Real processes for fault injection: a private Redis this test alone may stop, and the web application
served by gunicorn on a free port against the test database (tests here commit their data)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.conftest import ROOT, database_url_for_worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - not there yet
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")


class PrivateRedis:
    """A redis-server of this test only, on a free port of 127.0.0.1; stopped and started again at will."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: socket.create_connection(("127.0.0.1", self.port), timeout=0.5), 10, "redis start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


class WebServer:
    def __init__(self, process: subprocess.Popen, port: int, log: Path):
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, token: str | None = None, **kwargs) -> requests.Response:
        return requests.get(self.url + path, headers=self._auth(token), timeout=kwargs.pop("timeout", 20), **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs) -> requests.Response:
        return requests.post(self.url + path, headers=self._auth(token), timeout=kwargs.pop("timeout", 20), **kwargs)

    @staticmethod
    def _auth(token: str | None) -> dict:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def sign_in(self, username: str, password: str) -> str:
        answer = self.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        return answer.json()["access"]


@pytest.fixture
def web_server(transactional_db, tmp_path):
    """``web_server(**env)``: gunicorn serving the application against the test database, with ``env``
    overriding the environment (a broker or cache URL of a private Redis, a database URL...)."""
    started: list[subprocess.Popen] = []

    def start(**env_overrides: str) -> WebServer:
        port = free_port()
        log = tmp_path / f"gunicorn-{port}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url_for_worker(),
            "DATA_DIR": str(settings.DATA_DIR),
            **env_overrides,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--threads", "4", "--timeout", "60"],
            cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip
        started.append(process)
        server = WebServer(process, port, log)
        try:
            wait_until(lambda: server.get("/health/live", timeout=2).status_code == 200, 60, "gunicorn start")
        except AssertionError:
            raise AssertionError(f"gunicorn did not start:\n{log.read_text()[-3000:]}") from None
        return server

    yield start
    for process in started:
        process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown (TERM waits for keep-alive clients)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def role_groups(transactional_db):
    """Transactional tests flush the role groups a data migration made; make them again."""
    from django.contrib.auth.models import Group, Permission

    from apps.accounts.roles import role_groups_sync

    role_groups_sync(Group, Permission)


@pytest.fixture
def engineer_with_data(role_groups):
    """An ML engineer owning a project with the titanic dataset (committed, for the server process to see)."""
    from tests.accounts.factories import PASSWORD, UserFactory
    from tests.projects.factories import DatasetFactory, ProjectFactory

    engineer = UserFactory(roles=["ml_engineer"])
    project = ProjectFactory(owner=engineer)
    dataset = DatasetFactory(project=project, name="titanic")
    return engineer, PASSWORD, project, dataset
