"""Registry fixtures: real tiny AutoGluon predictors (trained once per session, as the AutoML runner
does), succeeded TrainingJob rows pointing at their archives, and registered versions made from them."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.automl.choices import JobStatus
from apps.automl.evaluation import evaluate_predictor
from apps.automl.models import TrainingJob
from apps.core.archives import archive_directory
from apps.registry import hooks
from apps.registry.batching import batchers
from apps.registry.services import model_version_register_from_job
from apps.registry.serving import predictor_cache, serving_versions
from tests.conftest import EXAMPLES
from tests.projects.factories import DatasetFactory, ProjectFactory

# MLflow's registry outlives the test database: a prefix per run keeps its names apart between runs.
RUN_PREFIX = f"maestro-test-{uuid.uuid4().hex[:8]}"
os.environ["MLFLOW_REGISTRY_NAME_PREFIX"] = RUN_PREFIX  # for worker processes started by this run
os.environ.setdefault("AUTOML_NUM_CPUS", "1")  # a training worker started by these tests fits on one CPU

SAMPLES = {
    "titanic": {"target": "Survived", "problem_type": "binary"},
    "iris": {"target": "species", "problem_type": "multiclass"},
    "boston": {"target": "medv", "problem_type": "regression"},
}


@dataclass
class Trained:
    """A trained, archived predictor and what the AutoML runner records about it."""

    sample: str
    target: str
    problem_type: str
    archive: Path
    sha256: str
    size: int
    features: list[dict[str, str]]
    class_labels: list[Any]
    metrics: dict[str, float]
    leaderboard: list[dict[str, Any]]
    eval_metric: str
    best_model: str
    mlflow_run_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    evaluation: dict[str, Any] = field(default_factory=dict)


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _train(sample: str, folder: Path, tracking_uri: str) -> Trained:
    import mlflow
    from autogluon.tabular import TabularPredictor

    spec = SAMPLES[sample]
    frame = pd.read_csv(EXAMPLES / f"{sample}.csv")
    test = frame.sample(frac=0.2, random_state=0)
    train = frame.drop(test.index)
    predictor = TabularPredictor(
        label=spec["target"], problem_type=spec["problem_type"], path=str(folder / sample), verbosity=0
    ).fit(train, time_limit=15, hyperparameters={"GBM": {}}, num_cpus=1)
    board = predictor.leaderboard(test, extra_info=False, silent=True)
    leaderboard = [
        {key: _plain(row.get(key)) for key in ("model", "score_val", "score_test", "fit_time", "pred_time_val")}
        for row in board.to_dict(orient="records")
    ]
    metrics = {
        str(name): _plain(value)
        for name, value in predictor.evaluate(test, silent=True).items()
        if isinstance(_plain(value), int | float)
    }
    raw_types = predictor.feature_metadata_in.type_map_raw
    features = [
        {"name": str(name), "dtype": str(raw_types.get(name, "object"))} for name in predictor.original_features
    ]
    class_labels = [_plain(label) for label in predictor.class_labels] if predictor.class_labels is not None else []
    best_model = predictor.model_best
    evaluation = evaluate_predictor(predictor, test)
    predictor.delete_models(models_to_keep="best", dry_run=False)
    predictor.save_space()
    predictor.save()
    archive = folder / f"{sample}.tar.gz"
    sha256 = archive_directory(folder / sample, archive)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"{RUN_PREFIX}-{sample}")
    with mlflow.start_run(run_name=f"registry-tests-{sample}") as run:
        mlflow.log_metrics({name: float(value) for name, value in metrics.items() if value is not None})
    rows = test.drop(columns=[spec["target"]]).head(5)
    return Trained(
        sample=sample,
        target=spec["target"],
        problem_type=spec["problem_type"],
        archive=archive,
        sha256=sha256,
        size=archive.stat().st_size,
        features=features,
        class_labels=class_labels,
        metrics=metrics,
        leaderboard=leaderboard,
        eval_metric=predictor.eval_metric.name,
        best_model=best_model,
        mlflow_run_id=run.info.run_id,
        rows=[{key: _plain(value) for key, value in row.items()} for row in rows.to_dict(orient="records")],
        evaluation=evaluation,
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> dict[str, Trained]:
    """Three real predictors: titanic (binary), iris (multiclass), boston (regression)."""
    from django.conf import settings

    folder = tmp_path_factory.mktemp("predictors")
    return {sample: _train(sample, folder, settings.MLFLOW_TRACKING_URI) for sample in SAMPLES}


@pytest.fixture(autouse=True)
def registry_settings(settings):
    settings.MLFLOW_REGISTRY_NAME_PREFIX = RUN_PREFIX
    predictor_cache.clear()
    serving_versions.clear()
    batchers.clear()
    yield settings
    predictor_cache.clear()
    serving_versions.clear()
    batchers.clear()


@pytest.fixture
def role_groups(transactional_db):
    """Transactional tests flush the role groups a data migration made; make them again."""
    from django.contrib.auth.models import Group, Permission

    from apps.accounts.roles import role_groups_sync

    role_groups_sync(Group, Permission)


@pytest.fixture
def approvals():
    """Stand in for the governance app: ``approvals.state = "approved"`` (or any state) for every version."""

    class Approvals:
        state: str | None = "approved"
        history: list[dict] = []

        def __call__(self, versions):
            if self.state is None:
                return {}
            deployable = self.state in ("approved", "deployed")
            return {v.pk: hooks.Approval(self.state, deployable, history=tuple(self.history)) for v in versions}

    answer = Approvals()
    with hooks.override(approvals=answer):
        yield answer


def store_archive(path: Path) -> str:
    with open(path, "rb") as handle:
        return default_storage.save(f"automl/jobs/{uuid.uuid4().hex}/predictor.tar.gz", File(handle))


@pytest.fixture
def make_job(trained):
    """``make_job("iris", project=p)``: a succeeded TrainingJob with the real archive in storage."""

    def make(sample: str, *, project=None, dataset=None, registered_model_name: str = "", **overrides) -> TrainingJob:
        model = trained[sample]
        project = project or (dataset.project if dataset else ProjectFactory())
        dataset = dataset or DatasetFactory(project=project, name=sample)
        now = timezone.now()
        values = {
            "project": project,
            "dataset": dataset,
            "created_by": project.owner,
            "target": model.target,
            "task_type": "auto",
            "problem_type": model.problem_type,
            "time_budget": 30,
            "registered_model_name": registered_model_name,
            "status": JobStatus.SUCCEEDED,
            "progress": 1.0,
            "started_at": now - timedelta(seconds=20),
            "finished_at": now,
            "leaderboard": model.leaderboard,
            "metrics": model.metrics,
            "evaluation": model.evaluation,
            "best_model": model.best_model,
            "features": model.features,
            "class_labels": model.class_labels,
            "eval_metric": model.eval_metric,
            "mlflow_run_id": model.mlflow_run_id,
            "artifact": store_archive(model.archive),
            "artifact_sha256": model.sha256,
            "artifact_size": model.size,
            "dataset_sha256": dataset.sha256,
            "hyperparameters": {"GBM": {}},
            "timings": {"fit": 2.0, "score": 0.1},
        }
        values.update(overrides)
        return TrainingJob.objects.create(**values)

    return make


@pytest.fixture
def make_version(make_job):
    """``make_version("titanic", project=p)``: a version registered from a real job."""

    def make(sample: str, **kwargs):
        job = make_job(sample, **kwargs)
        return model_version_register_from_job(job_id=job.pk)

    return make
