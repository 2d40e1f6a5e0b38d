"""Backup → fresh database and folders → restore brings everything back: every row of every table (users,
projects, datasets, jobs, versions, deployments, approval history, audit log), the dataset bytes, the model archives
(the restored predictor answers the same rows the same way), MLflow's store and artifacts; the approval history's
hash chain still verifies. A flipped byte in any part, a missing part and a non-empty database are refused before
anything is touched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.backups import parts
from apps.backups.models import BackupOutcome, BackupRecord
from apps.core.audit import audit_log_record
from apps.governance.models import ApprovalEvent
from apps.registry.models import Deployment
from tests.backups.conftest import assert_same, other_process, restored_env
from tests.backups.snapshot import snapshot
from tests.governance.factories import to_state

pytestmark = pytest.mark.django_db(transaction=True)

PARTS = ("database", "media", "mlflow-database", "mlflow-artifacts")


@pytest.fixture
def nothing_restored(monkeypatch):
    """A restore in this process (the suite's database) must be refused before it reaches any writer: each one fails
    the test if it is called. The real restore runs in a process of its own on the fresh database."""

    def touched(*args, **kwargs):
        raise AssertionError("a refused restore started writing")

    for writer in ("database_restore", "storage_untar", "mlflow_restore"):
        monkeypatch.setattr(parts, writer, touched)


def refused(target: Path, name: str) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("restore", "--target", str(target), "--backup", name)
    return str(caught.value)


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_backup_restores_everything_into_a_fresh_database_and_refuses_damaged_backups(
    stores, role_groups, no_explanations_queued, explained, tasks_here, team, trained, fresh_database, nothing_restored
):
    approval_id = to_state(team, "deployed")
    audit_log_record(actor=team.admin, action="backup.test", target=team.project)
    assert Deployment.objects.filter(model_version=team.version).exists()
    assert ApprovalEvent.objects.filter(request_id=approval_id).count() >= 4
    rows = {"binary": trained["titanic"].rows}
    before = snapshot(rows)
    assert before["predictions"] and before["files"] and before["tables"]["core.AuditLogEntry"]

    target = stores / "backups"
    call_command("backup", "--target", str(target), "--no-prune")
    (name,) = [path.name for path in target.iterdir()]
    record = BackupRecord.objects.get()
    assert record.outcome == BackupOutcome.SUCCEEDED and record.name == name and record.size_bytes > 0
    manifest = json.loads((target / name / "manifest.json").read_text())
    assert set(manifest["parts"]) == set(PARTS)
    assert manifest["migrations"] and manifest["libraries"]["django-dbbackup"].startswith("5.")
    assert {item["kind"] for item in manifest["archives"]} == {"model_version", "training_job", "dataset"}

    # Restore into the fresh database and folders, in a process of their own, which then reads everything back.
    folder = stores / "restored"
    env = restored_env(database_url=fresh_database.url, folder=folder, target=str(target))
    result = other_process("restore-and-check", rows, env=env, folder=stores)
    assert f"Backup {name} restored" in result["restore"] and "match their recorded SHA-256" in result["restore"]
    assert_same(result["snapshot"], before)
    assert (folder / "mlartifacts" / "1" / "abc123" / "artifacts" / "leaderboard.csv").read_text().startswith("model")
    assert "histories verify" in result["verify"]

    # Damaged or incomplete copies of the backup are refused, naming the part, before anything is written.
    for part in (*PARTS, "manifest"):
        damaged = stores / f"damaged-{part}"
        shutil.copytree(target, damaged)
        file_name = "manifest.json" if part == "manifest" else manifest["parts"][part]["file"]
        flip_byte(damaged / name / file_name)
        message = refused(damaged, name)
        assert f"is corrupted: part {part}" in message and "\n" not in message, message
    incomplete = stores / "incomplete"
    shutil.copytree(target, incomplete)
    (incomplete / name / manifest["parts"]["media"]["file"]).unlink()
    assert "is incomplete: part media (media.tar) is missing" in refused(incomplete, name)
    (incomplete / name / "manifest.sha256").unlink()
    assert "is incomplete: manifest.sha256 is missing" in refused(incomplete, name)

    # The suite's own database has rows: restoring into it is refused.
    message = refused(target, name)
    assert "refusing to restore into a database or storage that is not empty (the database has rows" in message
