"""The other process of the round-trip tests, on the settings its environment names:

``python -m tests.backups.process restore-and-check ROWS.json OUT.json``
    restore the newest backup under BACKUP_TARGET, then take a snapshot and verify the approval histories;
``python -m tests.backups.process seed-backup-restore TRAINED.json ROWS.json OUT.json``
    migrate a fresh embedded database, make a team whose real model version is approved and deployed (the checks
    run here; other background work waits in the embedded broker's folder), take a snapshot, back up to
    BACKUP_TARGET; then move this process to a new database file, media folder, MLflow store, artifact root and
    predictor cache under ``$DATA_DIR/restored`` and restore and check there.

OUT.json receives what the command printed and the snapshot.
"""

from __future__ import annotations

import io
import json
import sys
from datetime import timedelta
from typing import Any


def restore_and_check(rows: dict[str, Any]) -> dict[str, Any]:
    from django.core.management import call_command

    from tests.backups.snapshot import snapshot

    restored, verified = io.StringIO(), io.StringIO()
    call_command("restore", stdout=restored)
    call_command("verify_history", stdout=verified)
    return {"restore": restored.getvalue(), "verify": verified.getvalue(), "snapshot": snapshot(rows)}


def seed_and_backup(trained: dict[str, Any], rows: dict[str, Any]) -> dict[str, Any]:
    from django.core.files import File
    from django.core.files.storage import default_storage
    from django.core.management import call_command
    from django.utils import timezone

    from apps.automl.choices import JobStatus
    from apps.automl.models import TrainingJob
    from apps.core.audit import audit_log_record
    from apps.registry import hooks
    from apps.registry.services import model_version_register_from_job
    from tests.backups.snapshot import snapshot
    from tests.governance.factories import make_team, to_state

    call_command("migrate", interactive=False, verbosity=0)

    def make_version(sample: str, *, dataset):
        with open(trained["archive"], "rb") as handle:
            artifact = default_storage.save("automl/jobs/seed/predictor.tar.gz", File(handle))
        now = timezone.now()
        job = TrainingJob.objects.create(
            project=dataset.project,
            dataset=dataset,
            created_by=dataset.project.owner,
            target=trained["target"],
            task_type="auto",
            problem_type=trained["problem_type"],
            time_budget=30,
            status=JobStatus.SUCCEEDED,
            progress=1.0,
            started_at=now - timedelta(seconds=20),
            finished_at=now,
            leaderboard=trained["leaderboard"],
            metrics=trained["metrics"],
            best_model=trained["best_model"],
            features=trained["features"],
            class_labels=trained["class_labels"],
            eval_metric=trained["eval_metric"],
            mlflow_run_id=trained["mlflow_run_id"],
            artifact=artifact,
            artifact_sha256=trained["sha256"],
            artifact_size=trained["size"],
            dataset_sha256=dataset.sha256,
            hyperparameters={"GBM": {}},
        )
        return model_version_register_from_job(job_id=job.pk)

    with hooks.override(feature_importances=lambda versions: {v.pk: {"Age": 0.4, "Sex": 0.3} for v in versions}):
        team = make_team(make_version)
        to_state(team, "deployed")
    audit_log_record(actor=team.admin, action="backup.test", target=team.project)
    before = snapshot(rows)
    written = io.StringIO()
    call_command("backup", "--no-prune", stdout=written)
    return {"backup": written.getvalue(), "snapshot": before}


def seed_backup_restore(trained: dict[str, Any], rows: dict[str, Any]) -> dict[str, Any]:
    from django.conf import settings
    from django.db import connections
    from django.test.utils import override_settings

    from apps.registry.serving import predictor_cache, serving_versions

    seeded = seed_and_backup(trained, rows)
    fresh = settings.DATA_DIR / "restored"
    fresh.mkdir()
    connections.close_all()
    connections["default"].settings_dict["NAME"] = str(fresh / "maestro.sqlite3")
    predictor_cache.clear()
    serving_versions.clear()
    storages = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(fresh / "media"), "base_url": "/media/"},
        },
    }
    with override_settings(
        STORAGES=storages,
        MLFLOW_TRACKING_URI=f"sqlite:///{fresh / 'mlflow.db'}",
        BACKUP_MLFLOW_ARTIFACT_ROOT=str(fresh / "mlartifacts"),
        MODEL_CACHE_DIR=fresh / "model-cache",
    ):
        restored = restore_and_check(rows)
    return {**restored, "backup": seeded["backup"], "seeded": seeded["snapshot"]}


if __name__ == "__main__":
    import django

    django.setup()
    action, *files = sys.argv[1:]
    loaded = [json.load(open(path)) for path in files[:-1]]  # noqa: SIM115 - small files, read once
    result = restore_and_check(*loaded) if action == "restore-and-check" else seed_backup_restore(*loaded)
    with open(files[-1], "w") as out:
        json.dump(result, out)
