"""AutoML through Maestro ML against raw AutoGluon: model quality and platform overhead.

For each sample dataset (titanic, boston, penguins) the same seeded split and the same time limit
(60 s, ``medium_quality``) are given to

- a raw ``TabularPredictor.fit`` in this process, and
- a job through the platform: ``POST /api/v1/automl/jobs`` -> Celery (``training`` queue) -> a real
  worker process this script starts on the configured broker (the embedded one by default).

Printed per dataset: the test score of each and their ratio, the wall time from the request to
``succeeded`` against the raw fit time, and the time from the POST to ``running``. Goals: ratio >= 0.99,
overhead <= 10 % + 3 s, POST -> running <= 1 s with an idle worker. Exit code 1 when a goal is missed.

Run: ``python tests/performance/bench_automl.py`` (``make bench`` runs every ``bench_*.py``). It uses a
database and a data folder of its own (``<DATABASE>_bench``, ``var/bench``), removed or reset each run.
Each pair runs BENCH_ROUNDS times (default 2, the order of the two sides alternating) and the table
shows medians. Environment: BENCH_TIME_LIMIT (60), BENCH_PRESETS (medium_quality),
BENCH_DATASETS (titanic,boston,penguins), BENCH_NUM_CPUS (1: both sides fit on one CPU, passed to the
worker as AUTOML_NUM_CPUS; LightGBM's OpenMP threads slow down erratically when they share cores with
anything else, which would swamp what is measured).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TIME_LIMIT = int(os.environ.get("BENCH_TIME_LIMIT", "60"))
PRESETS = os.environ.get("BENCH_PRESETS", "medium_quality")
DATASETS = {
    "titanic": ("Survived", "binary"),
    "boston": ("medv", "regression"),
    "penguins": ("species", "multiclass"),
}
SELECTED = [name.strip() for name in os.environ.get("BENCH_DATASETS", ",".join(DATASETS)).split(",") if name.strip()]
NUM_CPUS = os.environ.get("BENCH_NUM_CPUS", "1")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
GOAL_RATIO = 0.99
GOAL_OVERHEAD_SHARE, GOAL_OVERHEAD_FIXED = 0.10, 3.0
GOAL_POST_TO_RUNNING = 1.0
SETTLE_SECONDS = 10


@dataclass
class Row:
    dataset: str
    metric: str
    raw_score: float
    job_score: float
    raw_fit: float
    job_wall: float
    post_to_running: float
    job_fit: float
    models: int

    @property
    def ratio(self) -> float:
        """Platform quality over raw quality; for error metrics (negated by AutoGluon) the error ratio inverted."""
        if self.raw_score < 0 and self.job_score < 0:
            return self.raw_score / self.job_score
        return self.job_score / self.raw_score if self.raw_score else float("nan")

    @property
    def overhead(self) -> float:
        return self.job_wall - self.raw_fit

    @property
    def platform_seconds(self) -> float:
        """What the platform adds around AutoGluon's own fit (free of the fit time's run-to-run noise)."""
        return self.job_wall - self.job_fit

    @property
    def overhead_allowed(self) -> float:
        return GOAL_OVERHEAD_SHARE * self.raw_fit + GOAL_OVERHEAD_FIXED

    def passed(self) -> bool:
        return (
            self.ratio >= GOAL_RATIO
            and self.overhead <= self.overhead_allowed
            and self.post_to_running <= GOAL_POST_TO_RUNNING
        )


def setup_django() -> None:
    os.environ["AUTOML_NUM_CPUS"] = NUM_CPUS  # read by this process and inherited by the worker
    if NUM_CPUS != "auto":  # the raw side gets the thread limits the worker gives its runner
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
            os.environ[name] = NUM_CPUS
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ.setdefault("DATA_DIR", str(ROOT / "var" / "bench"))
    data_dir = Path(os.environ["DATA_DIR"])
    for folder in ("celery", "automl", "media"):  # a clean slate: no message or file of an earlier run
        shutil.rmtree(data_dir / folder, ignore_errors=True)
    import django

    django.setup()


def raw_fit(frame, *, target: str, task_type: str, num_cpus) -> tuple[float, float, str]:
    """Fit and score raw AutoGluon on the platform's split; return (test score, fit seconds, metric)."""
    from autogluon.tabular import TabularPredictor
    from django.conf import settings

    from apps.automl.training import split_train_test

    split = split_train_test(
        frame, target=target, task_type=task_type, test_size=settings.AUTOML_TEST_SIZE, seed=settings.AUTOML_RANDOM_SEED
    )
    with tempfile.TemporaryDirectory() as folder:
        predictor = TabularPredictor(label=target, problem_type=task_type, path=folder, verbosity=0)
        started = time.perf_counter()
        predictor.fit(split.train, time_limit=TIME_LIMIT, presets=PRESETS, num_cpus=num_cpus, num_gpus=0)
        fit_seconds = time.perf_counter() - started
        metric = predictor.eval_metric.name
        score = predictor.evaluate(split.test, silent=True)[metric]
    return float(score), fit_seconds, metric


def platform_fit(client, dataset, *, target: str, task_type: str) -> dict:
    """One job through the API and the worker; timings from the job's own timestamps (same host clock)."""
    from django.utils import timezone

    from apps.automl.choices import TERMINAL_STATES, JobStatus
    from apps.automl.models import TrainingJob

    posted = timezone.now()
    response = client.post(
        "/api/v1/automl/jobs",
        {
            "dataset_id": dataset.pk,
            "target": target,
            "task_type": task_type,
            "time_budget": TIME_LIMIT,
            "presets": PRESETS,
        },
        format="json",
    )
    if response.status_code != 202:
        raise RuntimeError(f"POST automl/jobs answered {response.status_code}: {response.content[:500]!r}")
    job_id = response.json()["id"]
    deadline = time.monotonic() + TIME_LIMIT * 3 + 300
    while True:
        job = TrainingJob.objects.get(pk=job_id)
        if job.status in TERMINAL_STATES:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {job.status} after {TIME_LIMIT * 3 + 300} s")
        time.sleep(0.1)
    if job.status != JobStatus.SUCCEEDED:
        raise RuntimeError(f"job {job_id} ended {job.status}: {job.error}")
    return {
        "score": float(job.metrics[job.eval_metric]),
        "metric": job.eval_metric,
        "wall": (job.finished_at - posted).total_seconds(),
        "post_to_running": (job.started_at - posted).total_seconds(),
        "fit": float(job.timings.get("fit") or 0.0),
        "models": len(job.leaderboard),
        "timings": job.timings,
    }


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'dataset':<10} {'metric':<24} {'raw score':>10} {'job score':>10} {'ratio':>7} "
        f"{'raw fit s':>9} {'job wall s':>10} {'overhead s':>10} {'allowed s':>9} {'job fit s':>9} "
        f"{'wall-fit s':>10} {'POST->run s':>11} {'ok':>4}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.dataset:<10} {row.metric:<24} {row.raw_score:>10.4f} {row.job_score:>10.4f} {row.ratio:>7.3f} "
            f"{row.raw_fit:>9.1f} {row.job_wall:>10.1f} {row.overhead:>10.1f} {row.overhead_allowed:>9.1f} "
            f"{row.job_fit:>9.1f} {row.platform_seconds:>10.1f} {row.post_to_running:>11.2f} "
            f"{'yes' if row.passed() else 'NO':>4}"
        )
    print(
        f"goals: ratio >= {GOAL_RATIO}, "
        f"overhead <= {GOAL_OVERHEAD_SHARE:.0%} of raw fit + {GOAL_OVERHEAD_FIXED:.0f} s, "
        f"POST->running <= {GOAL_POST_TO_RUNNING:.0f} s; time limit {TIME_LIMIT} s, presets {PRESETS}, "
        f"num_cpus {NUM_CPUS}, medians of {ROUNDS} round(s). "
        "Scores are AutoGluon's (higher is better; error metrics negated). "
        "'job fit s' is AutoGluon's fit inside the job; 'wall-fit s' is what the platform adds around it."
    )


def main() -> int:
    setup_django()
    import pandas as pd
    from django.conf import settings
    from django.contrib.auth.models import Group, Permission
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases
    from rest_framework.test import APIClient

    from apps.accounts.roles import role_groups_sync
    from apps.automl.training import num_cpus_setting
    from tests.conftest import database_url_for_worker, start_worker, stop_worker, wait_for_ping
    from tests.projects.factories import DatasetFactory, ProjectFactory

    test_settings = connection.settings_dict.setdefault("TEST", {})
    if not connection.vendor == "sqlite":
        test_settings["NAME"] = f"{connection.settings_dict['NAME']}_bench"
    else:
        test_settings["NAME"] = str(Path(settings.DATA_DIR) / "bench.sqlite3")
    old_config = setup_databases(verbosity=0, interactive=False, keepdb=False)
    log_path = Path(settings.DATA_DIR) / "bench-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_bytes(b"")
    worker = start_worker({"DATABASE_URL": database_url_for_worker(), "DATA_DIR": str(settings.DATA_DIR)}, log_path)
    rows: list[Row] = []
    try:
        from config.celery import app

        wait_for_ping(app)
        import autogluon.tabular  # noqa: F401 - imported before timing the raw fits

        role_groups_sync(Group, Permission)
        project = ProjectFactory(name="Benchmark")
        client = APIClient()
        client.force_authenticate(project.owner)
        num_cpus = num_cpus_setting()
        print(f"AutoML benchmark: num_cpus={num_cpus}, broker={settings.CELERY_BROKER_URL.split('://')[0]}", flush=True)
        datasets = {name: DatasetFactory(project=project, name=name) for name in SELECTED}
        measured: dict[str, list[dict]] = {name: [] for name in SELECTED}
        for round_number in range(ROUNDS):
            raw_first = round_number % 2 == 0  # alternate the order so neither side always runs first
            for name in SELECTED:
                target, task_type = DATASETS[name]
                frame = pd.read_csv(ROOT / "examples" / "data" / f"{name}.csv")
                sample: dict = {}
                for side in ("raw", "job") if raw_first else ("job", "raw"):
                    time.sleep(SETTLE_SECONDS)  # the worker's next warm runner has finished importing: idle host
                    if side == "raw":
                        sample["raw"] = raw_fit(frame, target=target, task_type=task_type, num_cpus=num_cpus)
                    else:
                        sample["job"] = platform_fit(client, datasets[name], target=target, task_type=task_type)
                raw_score, raw_seconds, metric = sample["raw"]
                job = sample["job"]
                measured[name].append({"raw_score": raw_score, "raw_fit": raw_seconds, "metric": metric, **job})
                print(
                    f"  round {round_number + 1} {name}: raw {raw_score:.4f} in {raw_seconds:.1f} s; "
                    f"job {job['score']:.4f} in {job['wall']:.1f} s, steps {job['timings']}",
                    flush=True,
                )
        for name, samples in measured.items():
            rows.append(
                Row(
                    dataset=name,
                    metric=samples[0]["metric"],
                    raw_score=median(sample["raw_score"] for sample in samples),
                    job_score=median(sample["score"] for sample in samples),
                    raw_fit=median(sample["raw_fit"] for sample in samples),
                    job_wall=median(sample["wall"] for sample in samples),
                    post_to_running=median(sample["post_to_running"] for sample in samples),
                    job_fit=median(sample["fit"] for sample in samples),
                    models=samples[0]["models"],
                )
            )
    finally:
        stop_worker(worker)
        connection.close()
        teardown_databases(old_config, verbosity=0)
    print()
    print_table(rows)
    return 0 if rows and all(row.passed() for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
