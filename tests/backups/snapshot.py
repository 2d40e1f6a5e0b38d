"""What a restore must bring back, as plain JSON: every row of every Maestro ML table, the bytes of every dataset and
the predictions of every model version for the same rows.

Run in-process before a backup and as ``python -m tests.backups.snapshot ROWS.json OUT.json`` against the restored
database and storage; the two must be equal.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


def snapshot(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """``rows``: {task type: instances} predicted by every version of that task type."""
    from django.apps import apps
    from django.contrib.auth.models import Group

    from apps.backups.models import BackupRecord
    from apps.projects.models import Dataset
    from apps.registry.models import ModelVersion
    from apps.registry.serving import model_version_predict

    tables = {}
    for model in apps.get_models(include_auto_created=True):
        if model is BackupRecord or not (model.__module__.startswith("apps.") or model is Group):
            continue
        tables[model._meta.label] = list(model._base_manager.order_by("pk").values())
    files = {}
    for dataset in Dataset.objects.order_by("pk"):
        with dataset.file.open("rb") as handle:
            files[dataset.pk] = hashlib.sha256(handle.read()).hexdigest()
    predictions = {}
    for version in ModelVersion.objects.order_by("pk"):
        answer = model_version_predict(version=version, instances=rows[version.task_type])
        predictions[version.pk] = [answer.predictions, answer.probabilities]
    return json.loads(json.dumps({"tables": tables, "files": files, "predictions": predictions}, cls=DjangoJSONEncoder))


if __name__ == "__main__":
    import django

    django.setup()
    with open(sys.argv[1]) as source:
        wanted = json.load(source)
    with open(sys.argv[2], "w") as out:
        json.dump(snapshot(wanted), out)
