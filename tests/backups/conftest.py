"""Backup fixtures: the governance team (a real registered titanic version and one person per role), media, MLflow
artifacts and backups in folders of the test's own, and a fresh database to restore into."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.conftest import ROOT
from tests.governance.conftest import *  # noqa: F403 - team, explained, tasks_here, no_explanations_queued, ...


@pytest.fixture
def stores(settings, tmp_path):
    """Media, MLflow's artifact root and the backup target in folders of this test (never the suite's)."""
    media, artifacts, target = tmp_path / "media", tmp_path / "mlartifacts", tmp_path / "backups"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media), "base_url": "/media/"},
        },
    }
    settings.BACKUP_MLFLOW_ARTIFACT_ROOT = str(artifacts)
    settings.BACKUP_TARGET = str(target)
    run = artifacts / "1" / "abc123" / "artifacts"
    run.mkdir(parents=True)
    (run / "leaderboard.csv").write_text("model,score_val\nLightGBM,0.81\n")
    return tmp_path


class FreshDatabase:
    """A database made for one test (PostgreSQL: created next to the test database, dropped after; SQLite: a new
    file), so a restore never touches the suite's."""

    def __init__(self, folder: Path):
        self.settings = connection.settings_dict
        self.vendor = connection.vendor
        if self.vendor == "postgresql":
            self.name = f"maestro_backup_restore_{uuid.uuid4().hex[:10]}"
            self._admin(f'CREATE DATABASE "{self.name}"')
            s = self.settings
            address = f"{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
            self.url = f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{address}/{self.name}"
        else:
            self.name = str(folder / "restored.sqlite3")
            self.url = f"sqlite:///{self.name}"

    def _admin(self, sql: str) -> None:
        import psycopg

        s = self.settings
        with psycopg.connect(
            dbname="postgres",
            user=s["USER"],
            password=s["PASSWORD"] or None,
            host=s["HOST"] or "127.0.0.1",
            port=s["PORT"] or 5432,
            autocommit=True,
        ) as admin:
            admin.execute(sql)

    def drop(self) -> None:
        if self.vendor == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture
def fresh_database(tmp_path):
    database = FreshDatabase(tmp_path)
    yield database
    database.drop()


def other_process(action: str, *inputs: Any, env: dict[str, str], folder: Path, timeout: float = 240) -> dict:
    """Run ``tests.backups.process ACTION`` in a new interpreter with ``env``; answers what it wrote."""
    paths = []
    for index, value in enumerate(inputs):
        path = folder / f"{action}-in-{index}.json"
        path.write_text(json.dumps(value))
        paths.append(str(path))
    out = folder / f"{action}-out.json"
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "tests.backups.process", action, *paths, str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def assert_same(after: dict, before: dict) -> None:
    """Every table, dataset hash and prediction of ``before`` is in ``after``, equal."""
    for table, expected in before["tables"].items():
        assert after["tables"][table] == expected, table
    assert after["files"] == before["files"]
    assert after["predictions"] == before["predictions"]


def restored_env(*, database_url: str, folder: Path, target: str) -> dict[str, str]:
    """The environment of a Maestro ML process on the fresh database and fresh folders."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url,
        "DATA_DIR": str(folder),
        "STORAGE_BACKEND": "local",
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_ROOT": str(folder / "mlartifacts"),
        "BACKUP_MLFLOW_DATABASE_URL": "",
        "BACKUP_MLFLOW_ARTIFACT_ROOT": "",
        "BACKUP_TARGET": target,
        "MODEL_CACHE_DIR": str(folder / "model-cache"),
    }
