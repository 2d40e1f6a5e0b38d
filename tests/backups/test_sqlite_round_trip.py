"""The embedded default (SQLite, local files, local MLflow store), whatever database the suite runs on: a process on
the embedded settings makes a team whose real model version is approved and deployed and backs it all up, then
restores it into a new database file and new folders and gets every row, dataset byte and prediction back, with the
approval history verifying."""

from __future__ import annotations

import dataclasses
import os

import pytest
from django.conf import settings

from tests.backups.conftest import assert_same, other_process


def embedded_env(folder, *, target: str, mlflow_uri: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CACHE_URL")
    }
    folder.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATA_DIR": str(folder),
            "STORAGE_BACKEND": "local",
            "MLFLOW_TRACKING_URI": mlflow_uri,
            "MLFLOW_ARTIFACT_ROOT": str(folder / "mlartifacts"),
            "BACKUP_TARGET": target,
            "EXPLAIN_ON_REGISTRATION": "false",
        }
    )
    return env


@pytest.mark.slow
def test_embedded_sqlite_backup_restores_into_a_fresh_data_folder(trained, tmp_path):
    model = dataclasses.asdict(trained["titanic"])
    model["archive"] = str(model["archive"])
    rows = {"binary": model["rows"]}
    target = str(tmp_path / "backups")
    # One process on the embedded settings: it shares the suite's MLflow store (the model's run is there) while it
    # seeds and backs up, then restores into a new database file, media folder, MLflow store and artifact root.
    result = other_process(
        "seed-backup-restore",
        model,
        rows,
        env=embedded_env(tmp_path / "data", target=target, mlflow_uri=settings.MLFLOW_TRACKING_URI),
        folder=tmp_path,
    )
    assert "Backup maestro-" in result["backup"]
    assert "restored" in result["restore"] and "histories verify" in result["verify"]
    assert result["seeded"]["tables"]["registry.Deployment"] and result["seeded"]["predictions"]
    assert result["snapshot"]["tables"]["accounts.User"], "the restored database is empty"
    assert_same(result["snapshot"], result["seeded"])
    assert (tmp_path / "data" / "restored" / "maestro.sqlite3").stat().st_size > 0
