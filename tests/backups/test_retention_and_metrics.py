"""Retention keeps exactly the newest backup of each of the last N days and M weeks; a failed backup exits non-zero
with one line and is recorded; /metrics exports the age and outcome of backups from the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.backups.models import BackupOutcome, BackupRecord
from apps.backups.services import MANIFEST_HASH, backups_prune, retention_keep

pytestmark = pytest.mark.django_db


def name_at(moment: datetime) -> str:
    return f"maestro-{moment:%Y%m%dT%H%M%SZ}"


def make_backups(target, moments, *, complete=True):
    for moment in moments:
        folder = target / name_at(moment)
        folder.mkdir(parents=True)
        (folder / "database.sqlite3").write_bytes(b"x")
        if complete:
            (folder / MANIFEST_HASH).write_text("0" * 64)


def test_retention_keeps_the_newest_of_each_recent_day_and_week():
    # Wednesday 2026-12-02 back to early November: two backups a day.
    start = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    stamps = {}
    for day in range(30):
        for hour in (2, 14):
            moment = start.replace(hour=hour) - timedelta(days=day)
            stamps[name_at(moment)] = moment
    keep = retention_keep(stamps, keep_daily=3, keep_weekly=3)
    expected = {
        "maestro-20261202T140000Z",  # today, newest (also this ISO week's newest)
        "maestro-20261201T140000Z",
        "maestro-20261130T140000Z",  # Monday: the third day
        "maestro-20261129T140000Z",  # Sunday: newest of the previous ISO week
        "maestro-20261122T140000Z",  # the week before
    }
    assert keep == expected
    assert retention_keep(stamps, keep_daily=1, keep_weekly=0) == {"maestro-20261202T140000Z"}


def test_prune_deletes_what_retention_drops_and_stale_incomplete_backups(tmp_path):
    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    complete = [now - timedelta(days=days) for days in range(10)]
    make_backups(tmp_path, complete)
    make_backups(tmp_path, [now - timedelta(days=2, hours=1)], complete=False)  # a crashed run
    (tmp_path / "not-a-backup").mkdir()

    deleted = backups_prune(target=str(tmp_path), keep_daily=2, keep_weekly=2)

    left = sorted(path.name for path in tmp_path.iterdir())
    assert left == sorted(["not-a-backup", name_at(now), name_at(now - timedelta(days=1)), name_at(complete[3])])
    assert len(deleted) == 8 and name_at(now - timedelta(days=2, hours=1)) in deleted
    with pytest.raises(Exception, match="at least 1 daily"):
        backups_prune(target=str(tmp_path), keep_daily=0, keep_weekly=1)


def test_a_failed_backup_exits_with_one_line_and_is_recorded(settings, tmp_path):
    settings.BACKUP_MLFLOW_DATABASE_URL = "http://mlflow.invalid:5000"
    with pytest.raises(CommandError) as caught:
        call_command("backup", "--target", str(tmp_path))
    message = str(caught.value)
    assert message.startswith("Backup failed: mlflow-database:") and "BACKUP_MLFLOW_DATABASE_URL" in message
    assert "\n" not in message
    record = BackupRecord.objects.get()
    assert record.outcome == BackupOutcome.FAILED and "mlflow-database" in record.error
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def sample(text: str, name: str, labels: str = "") -> float:
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    (line,) = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.split()[-1])


def test_metrics_export_last_success_outcome_and_counts_from_the_database(client):
    text = client.get("/metrics").content.decode()
    assert sample(text, "maestro_backup_last_success_timestamp_seconds") == 0.0
    assert not [line for line in text.splitlines() if line.startswith("maestro_backup_last_outcome ")]

    finished = timezone.now() - timedelta(hours=5)
    for outcome, when, size in (
        (BackupOutcome.SUCCEEDED, finished, 1234),
        (BackupOutcome.FAILED, finished + timedelta(hours=1), 0),
    ):
        BackupRecord.objects.create(
            name=name_at(when), target="/b", outcome=outcome, started_at=when, finished_at=when, size_bytes=size
        )
    text = client.get("/metrics").content.decode()
    assert sample(text, "maestro_backup_last_success_timestamp_seconds") == pytest.approx(finished.timestamp())
    assert sample(text, "maestro_backup_last_outcome") == 0.0
    assert sample(text, "maestro_backup_last_size_bytes") == 1234
    assert sample(text, "maestro_backups_total", 'outcome="succeeded"') == 1
    assert sample(text, "maestro_backups_total", 'outcome="failed"') == 1


@pytest.mark.django_db(transaction=True)  # as in production: the backup reads committed data, no test transaction
def test_the_scheduled_task_backs_up_then_applies_retention(stores, settings):
    from apps.backups.tasks import backup

    assert settings.CELERY_BEAT_SCHEDULE["backups-daily"]["task"] == backup.name == "apps.backups.tasks.backup"
    target = stores / "backups"
    old = datetime(2026, 1, 5, 2, 30, tzinfo=UTC)
    make_backups(target, [old, old - timedelta(days=1)])
    settings.BACKUP_KEEP_DAILY, settings.BACKUP_KEEP_WEEKLY = 1, 1

    name = backup.apply().get()

    assert sorted(path.name for path in target.iterdir()) == [name]  # the two old ones fell out of retention
    assert (target / name / MANIFEST_HASH).exists()
    assert BackupRecord.objects.get().outcome == BackupOutcome.SUCCEEDED
