"""Prediction serving: one loaded AutoGluon model, raw in process against ``POST models/{id}/predict``.

The titanic sample (binary) is fitted once (``{"GBM": {}}``), archived and registered as a model
version exactly as an AutoML job's would be. Then, on the same loaded predictor and the same rows:

- raw: ``predictor.predict`` of one row in this process (the predictor loaded and ``persist()``-ed
  the way the web process loads it), measured in blocks alternating with the one-client REST blocks
  so that both see the same load on a shared machine;
- REST: ``POST /api/v1/models/{id}/predict`` with one row, through gunicorn on loopback with a warm
  cache (JWT auth, permission scoping, rate limiting, input validation and JSON included; the
  database connection kept between requests as production's pool keeps it), first sequentially,
  then from 8 concurrent clients;
- batch: 10,000 rows, raw ``predictor.predict`` against a batch prediction through the platform
  (``POST models/{id}/batch-predictions`` -> Celery worker -> CSV in storage).

Printed: p50/p95/p99 latency and requests/s of each, and rows/s of the batch. Goals (issue #13): REST
p50 (one client) <= raw p50 + 5 ms, and with 8 concurrent clients REST p99 <= 100 ms at >= 178 requests/s
(twice the sync workers' 89 before batching). Exit code 1 when a goal is missed.

Run: ``python tests/performance/bench_serving.py`` (``make bench`` runs every ``bench_*.py``). It uses
a database and a data folder of its own (``<DATABASE>_bench_serving``, ``var/bench-serving``), reset
each run. Environment: BENCH_REQUESTS (500), BENCH_CONCURRENCY (8), BENCH_WEB_WORKERS (CPUs + 1),
BENCH_WEB_THREADS (4; gthread), BENCH_BATCH_ROWS (10000), BENCH_PORT (8765).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.performance.servers import start, stop, wait_for_port  # noqa: E402 - needs ROOT on sys.path

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "500"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
# Sync workers, one more than the CPUs: a worker waiting on the database leaves its CPU to another.
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", str((os.cpu_count() or 1) + 1)))
# Threads: concurrent requests in one process share a model call (PREDICT_BATCH_MAX_ROWS), as `make run`
# and the container's gunicorn.conf.py run it.
WEB_THREADS = int(os.environ.get("BENCH_WEB_THREADS", "4"))
BATCH_ROWS = int(os.environ.get("BENCH_BATCH_ROWS", "10000"))
PORT = int(os.environ.get("BENCH_PORT", "8765"))
BLOCKS = 10
GOAL_P50_OVER_RAW_MS = 5.0
GOAL_P99_CONCURRENT_MS = 100.0
GOAL_CONCURRENT_RATE = 178.0  # twice the 89 requests/s of sync workers without batching (issue #13)
GOAL_LOG_OVERHEAD_MS = 1.0
SAMPLE, TARGET = "titanic", "Survived"


@dataclass
class Latencies:
    name: str
    seconds: list[float]
    wall: float
    model_ms: list[float] = field(default_factory=list)  # validation + model inside the web process

    def percentile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    @property
    def rate(self) -> float:
        return len(self.seconds) / self.wall if self.wall else float("nan")


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ.setdefault("DATA_DIR", str(ROOT / "var" / "bench-serving"))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    data_dir = Path(os.environ["DATA_DIR"])
    for folder in ("celery", "media", "model-cache"):  # a clean slate: no message or file of an earlier run
        shutil.rmtree(data_dir / folder, ignore_errors=True)
    import django

    django.setup()


def train(frame) -> tuple[Path, dict]:
    """Fit and archive the model the way the AutoML runner does; answer the archive and its record."""
    from autogluon.tabular import TabularPredictor

    from apps.core.archives import archive_directory

    folder = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    test = frame.sample(frac=0.2, random_state=0)
    predictor = TabularPredictor(label=TARGET, problem_type="binary", path=str(folder / "predictor"), verbosity=0)
    predictor.fit(frame.drop(test.index), time_limit=30, hyperparameters={"GBM": {}}, num_cpus=1)
    raw_types = predictor.feature_metadata_in.type_map_raw
    record = {
        "features": [{"name": str(name), "dtype": str(raw_types[name])} for name in predictor.original_features],
        "class_labels": [int(label) for label in predictor.class_labels],
        "metrics": {k: float(v) for k, v in predictor.evaluate(test, silent=True).items()},
        "eval_metric": predictor.eval_metric.name,
        "best_model": predictor.model_best,
    }
    predictor.delete_models(models_to_keep="best", dry_run=False)
    predictor.save_space()
    predictor.save()
    archive = folder / "predictor.tar.gz"
    record["sha256"] = archive_directory(folder / "predictor", archive)
    return archive, record


def register(project, dataset, archive: Path, record: dict, name: str = ""):
    from django.core.files import File
    from django.utils import timezone

    from apps.automl.choices import JobStatus
    from apps.automl.models import TrainingJob
    from apps.registry.services import model_version_register_from_job

    with open(archive, "rb") as handle:
        name = dataset.file.storage.save("automl/jobs/bench/predictor.tar.gz", File(handle))
    job = TrainingJob.objects.create(
        project=project,
        dataset=dataset,
        created_by=project.owner,
        target=TARGET,
        problem_type="binary",
        time_budget=30,
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        features=record["features"],
        class_labels=record["class_labels"],
        metrics=record["metrics"],
        eval_metric=record["eval_metric"],
        best_model=record["best_model"],
        artifact=name,
        artifact_sha256=record["sha256"],
        artifact_size=archive.stat().st_size,
        registered_model_name=name,
    )
    return model_version_register_from_job(job_id=job.pk)


def production_pair(project, dataset, archive: Path, record: dict) -> tuple[str, str]:
    """The same predictor as two production models, one with the prediction log on and one with it off; answers
    their predict paths (the deploy's approval workflow is not what is measured: production is set directly)."""
    from factory.django import mute_signals

    from apps.monitoring.models import ModelMonitor
    from apps.registry.choices import VersionStatus
    from apps.registry.models import RegisteredModel
    from apps.registry.signals import model_version_registered

    paths = []
    for name, enabled in (("logged", True), ("not logged", False)):
        with mute_signals(model_version_registered):  # no explanation or profile queued ahead of the batch runs
            version = register(project, dataset, archive, record, name=f"Serving benchmark, {name}")
        version.status = VersionStatus.PRODUCTION
        version.save(update_fields=["status"])
        RegisteredModel.objects.filter(pk=version.registered_model_id).update(production_version=version)
        monitor = ModelMonitor.objects.create(registered_model_id=version.registered_model_id)
        monitor.enabled = enabled
        monitor.save(update_fields=["enabled"])
        paths.append(f"/api/v1/registered-models/{version.registered_model_id}/predict")
    return paths[0], paths[1]


def print_log_table(logged: Latencies, unlogged: Latencies) -> bool:
    """The prediction log on against off; True when the p50 overhead meets its goal."""
    print()
    print(f"{'prediction log (1 client, alternating)':<44} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for row in (logged, unlogged):
        print(
            f"{row.name:<44} {len(row.seconds):>6} {row.percentile(50):>8.2f} {row.percentile(95):>8.2f} "
            f"{row.percentile(99):>8.2f}"
        )
    overhead = logged.percentile(50) - unlogged.percentile(50)
    print(f"p50 overhead of the prediction log: {overhead:.2f} ms (goal <= {GOAL_LOG_OVERHEAD_MS:.0f} ms)", flush=True)
    return overhead <= GOAL_LOG_OVERHEAD_MS


def time_raw(predictor, row_frame, n: int, warm: int = 20) -> Latencies:
    for _ in range(warm):
        predictor.predict(row_frame)
    seconds = []
    started = time.perf_counter()
    for _ in range(n):
        begin = time.perf_counter()
        predictor.predict(row_frame)
        seconds.append(time.perf_counter() - begin)
    return Latencies("raw predictor.predict, in process", seconds, time.perf_counter() - started)


def merged(blocks: list[Latencies], name: str) -> Latencies:
    return Latencies(
        name,
        [value for block in blocks for value in block.seconds],
        sum(block.wall for block in blocks),
        [value for block in blocks for value in block.model_ms],
    )


class Client:
    """A minimal keep-alive HTTP client (reconnects when the server closes), so the client costs little."""

    def __init__(self, port: int, token: str, path: str, body: bytes):
        self.port, self.path, self.body = port, path, body
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.connection: http.client.HTTPConnection | None = None
        self.model_ms: float | None = None

    def post(self) -> dict:
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.connection.request("POST", self.path, body=self.body, headers=self.headers)
                response = self.connection.getresponse()
                payload = response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.connection.close()
                self.connection = None
            if response.status != 200:
                raise RuntimeError(f"POST {self.path} answered {response.status}: {payload[:300]!r}")
            timings = dict(
                entry.strip().split(";dur=", 1)
                for entry in response.getheader("Server-Timing", "").split(",")
                if ";dur=" in entry
            )
            self.model_ms = float(timings["model"]) if "model" in timings else None
            return json.loads(payload)
        raise RuntimeError("unreachable")


def time_rest(clients: list[Client], n: int, name: str) -> Latencies:
    seconds: list[float] = []
    model_ms: list[float] = []
    lock = threading.Lock()
    per_client = max(1, n // len(clients))
    errors: list[BaseException] = []

    def run(client: Client) -> None:
        mine, model = [], []
        try:
            for _ in range(per_client):
                begin = time.perf_counter()
                client.post()
                mine.append(time.perf_counter() - begin)
                if client.model_ms is not None:
                    model.append(client.model_ms)
        except BaseException as exc:  # noqa: BLE001 - reported after the threads end
            errors.append(exc)
        with lock:
            seconds.extend(mine)
            model_ms.extend(model)

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return Latencies(name, seconds, wall, model_ms)


def start_gunicorn(env: dict, log_path: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", f"127.0.0.1:{PORT}", "--workers", str(WEB_WORKERS), "--threads", str(WEB_THREADS),
        "--timeout", "120", "--backlog", "256",
    ]  # fmt: skip
    return start(command, env, log_path)


def batch_dataset(project, frame):
    """A stored dataset of BATCH_ROWS rows drawn from the sample."""
    import hashlib

    from django.core.files.base import ContentFile

    from apps.projects.models import Dataset

    rows = frame.sample(n=BATCH_ROWS, replace=True, random_state=1).reset_index(drop=True)
    content = rows.to_csv(index=False).encode()
    dataset = Dataset(project=project, name=f"{SAMPLE}-{BATCH_ROWS}", created_by=project.owner)
    dataset.file.save(f"bench-{BATCH_ROWS}.csv", ContentFile(content), save=False)
    dataset.sha256 = hashlib.sha256(content).hexdigest()
    dataset.size_bytes = len(content)
    dataset.n_rows, dataset.n_columns = rows.shape
    dataset.columns = [{"name": column, "dtype": str(rows[column].dtype)} for column in rows.columns]
    dataset.save()
    return dataset, rows


def time_batches(client, version, datasets) -> list[tuple[float, float]]:
    """POST a batch prediction of each dataset at once; per batch, (seconds from POST to succeeded,
    seconds the worker spent on it)."""
    from apps.registry.choices import BatchStatus
    from apps.registry.models import BatchPrediction

    begin = time.perf_counter()
    ids = []
    for dataset in datasets:
        url = f"/api/v1/models/{version.pk}/batch-predictions"
        response = client.post(url, {"dataset_id": dataset.pk}, format="json")
        if response.status_code != 202:
            raise RuntimeError(f"batch-predictions answered {response.status_code}: {response.content[:300]!r}")
        ids.append(response.json()["id"])
    finished: dict[int, float] = {}
    deadline = time.monotonic() + 600
    while len(finished) < len(ids) and time.monotonic() < deadline:
        for batch in BatchPrediction.objects.filter(pk__in=ids):
            if batch.pk not in finished and batch.status in (BatchStatus.SUCCEEDED, BatchStatus.FAILED):
                if batch.status != BatchStatus.SUCCEEDED:
                    raise RuntimeError(f"batch prediction {batch.pk} failed: {batch.error}")
                finished[batch.pk] = time.perf_counter() - begin
        time.sleep(0.05)
    if len(finished) < len(ids):
        raise RuntimeError("batch predictions did not finish in 600 s")
    batches = {batch.pk: batch for batch in BatchPrediction.objects.filter(pk__in=ids)}
    return [(finished[pk], (batches[pk].finished_at - batches[pk].started_at).total_seconds()) for pk in ids]


def print_table(rows: list[Latencies], raw: Latencies, sequential: Latencies, concurrent: Latencies) -> bool:
    header = (
        f"{'single-row prediction':<44} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8} "
        f"{'in-view model p50 ms':>21}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.name:<44} {len(row.seconds):>6} {row.percentile(50):>8.2f} {row.percentile(95):>8.2f} "
            f"{row.percentile(99):>8.2f} {row.rate:>8.1f} "
            f"{statistics.median(row.model_ms) if row.model_ms else float('nan'):>21.2f}"
        )
    p50_ok = sequential.percentile(50) <= raw.percentile(50) + GOAL_P50_OVER_RAW_MS
    p99_ok = concurrent.percentile(99) <= GOAL_P99_CONCURRENT_MS
    rate_ok = concurrent.rate >= GOAL_CONCURRENT_RATE
    print(
        f"goal REST p50 (1 client) <= raw p50 + {GOAL_P50_OVER_RAW_MS:.0f} ms: "
        f"{sequential.percentile(50):.2f} <= {raw.percentile(50) + GOAL_P50_OVER_RAW_MS:.2f} "
        f"-> {'yes' if p50_ok else 'NO'}"
    )
    print(
        f"goal REST p99 ({CONCURRENCY} clients) <= {GOAL_P99_CONCURRENT_MS:.0f} ms: "
        f"{concurrent.percentile(99):.2f} -> {'yes' if p99_ok else 'NO'}"
    )
    print(
        f"goal REST throughput ({CONCURRENCY} clients) >= {GOAL_CONCURRENT_RATE:.0f} req/s: "
        f"{concurrent.rate:.1f} -> {'yes' if rate_ok else 'NO'}"
    )
    return p50_ok and p99_ok and rate_ok


def main() -> int:
    setup_django()
    import pandas as pd
    from django.conf import settings
    from django.contrib.auth.models import Group, Permission
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.accounts.roles import role_groups_sync
    from apps.registry.serving import load_predictor
    from tests.conftest import database_url_for_worker, start_worker, stop_worker, wait_for_ping
    from tests.projects.factories import DatasetFactory, ProjectFactory

    test_settings = connection.settings_dict.setdefault("TEST", {})
    if connection.vendor != "sqlite":
        test_settings["NAME"] = f"{connection.settings_dict['NAME']}_bench_serving"
    else:
        test_settings["NAME"] = str(Path(settings.DATA_DIR) / "bench-serving.sqlite3")
    old_config = setup_databases(verbosity=0, interactive=False, keepdb=False)
    data_dir = Path(settings.DATA_DIR)
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = database_url_for_worker()
    if connection.vendor == "postgresql":  # web processes keep their connection, as production's pool does
        database_url += "?conn_max_age=600"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "RATELIMIT_PREDICT": "100000000/m",
        "MONITORING_LOG_BACKGROUND": "true",  # as in production: the log's writer thread runs
        "MONITORING_STATE_TTL": "5",
        "LOG_LEVEL": "WARNING",
    }
    web_log, worker_log = data_dir / "bench-gunicorn.log", data_dir / "bench-worker.log"
    for log in (web_log, worker_log):
        log.write_bytes(b"")
    processes: list[subprocess.Popen] = []
    try:
        role_groups_sync(Group, Permission)
        frame = pd.read_csv(ROOT / "examples" / "data" / f"{SAMPLE}.csv")
        print(f"Serving benchmark: training the {SAMPLE} model ({{'GBM': {{}}}}) ...", flush=True)
        archive, record = train(frame)
        project = ProjectFactory(name="Serving benchmark")
        version = register(project, DatasetFactory(project=project, name=SAMPLE), archive, record)
        inputs = frame.drop(columns=[TARGET])
        row = {key: (None if pd.isna(value) else value) for key, value in inputs.iloc[0].to_dict().items()}

        predictor = load_predictor(version)  # verified, extracted, loaded and persisted as the web process does
        row_frame = pd.DataFrame([row])
        time_raw(predictor, row_frame, 50)

        processes.append(start_gunicorn(env, web_log))
        wait_for_port(PORT, processes[0])
        token = str(AccessToken.for_user(project.owner))
        body = json.dumps({"instances": [row]}).encode()
        path = f"/api/v1/models/{version.pk}/predict"
        warm = [Client(PORT, token, path, body) for _ in range(CONCURRENCY)]
        answer = warm[0].post()
        if answer["model_version_id"] != version.pk:
            raise RuntimeError(f"unexpected answer {answer}")
        time_rest(warm, CONCURRENCY * 40, "warm-up")  # every gunicorn worker loads the model here
        # Raw and REST alternate in blocks, so that both see the same load of a shared machine.
        one = [Client(PORT, token, path, body)]
        raw_blocks, rest_blocks = [], []
        for _ in range(BLOCKS):
            raw_blocks.append(time_raw(predictor, row_frame, REQUESTS // BLOCKS, warm=3))
            rest_blocks.append(time_rest(one, REQUESTS // BLOCKS, "REST"))
        # The prediction log (monitoring) on against off, in alternating blocks of one client.
        logged_path, unlogged_path = production_pair(project, version.dataset, archive, record)
        logged_one, unlogged_one = Client(PORT, token, logged_path, body), Client(PORT, token, unlogged_path, body)
        if not logged_one.post().get("prediction_ids") or "prediction_ids" in unlogged_one.post():
            raise RuntimeError("the prediction log is not on for one model and off for the other")
        pairs = [Client(PORT, token, path, body) for path in (logged_path, unlogged_path) for _ in range(CONCURRENCY)]
        time_rest(pairs, CONCURRENCY * 40, "warm-up")
        logged_blocks, unlogged_blocks = [], []
        for _ in range(BLOCKS):
            logged_blocks.append(time_rest([logged_one], REQUESTS // BLOCKS, "log on"))
            unlogged_blocks.append(time_rest([unlogged_one], REQUESTS // BLOCKS, "log off"))
        logged = merged(logged_blocks, "REST registered-models/{id}/predict, log on")
        unlogged = merged(unlogged_blocks, "REST registered-models/{id}/predict, log off")
        log_ok = print_log_table(logged, unlogged)
        raw = merged(raw_blocks, "raw predictor.predict, in process")
        sequential = merged(rest_blocks, "REST POST models/{id}/predict, 1 client")
        concurrent = time_rest(
            [Client(PORT, token, path, body) for _ in range(CONCURRENCY)],
            REQUESTS * 2,
            f"REST POST models/{{id}}/predict, {CONCURRENCY} clients",
        )

        from config.celery import app

        dataset, rows = batch_dataset(project, frame)
        batch_inputs = rows.drop(columns=[TARGET])
        raw_batch = float("inf")
        for _ in range(3):  # the best of three, before the worker starts and takes CPU
            begin = time.perf_counter()
            predictor.predict(batch_inputs)
            raw_batch = min(raw_batch, time.perf_counter() - begin)
        processes.append(start_worker(env, worker_log))  # only now: it stays out of the latency runs
        wait_for_ping(app)
        client = APIClient()
        client.force_authenticate(project.owner)
        warm = DatasetFactory(project=project, name=SAMPLE)
        time_batches(client, version, [warm, warm])  # both worker processes load the model
        (platform_batch, worker_batch), *_ = time_batches(client, version, [dataset])
    finally:
        for process in processes:
            if process is processes[0]:
                stop(process)
            else:
                stop_worker(process)
        connection.close()
        teardown_databases(old_config, verbosity=0)

    print()
    print(
        f"model: {SAMPLE} binary, best {record['best_model']}, {len(record['features'])} features; "
        f"gunicorn {WEB_WORKERS} workers x {WEB_THREADS} threads on loopback; {os.cpu_count()} CPUs; "
        f"database {connection.vendor}"
    )
    ok = print_table([raw, sequential, concurrent], raw, sequential, concurrent)
    print()
    print(f"{'batch of ' + format(BATCH_ROWS, ',') + ' rows':<44} {'seconds':>8} {'rows/s':>10}")
    print(f"{'raw predictor.predict, in process':<44} {raw_batch:>8.2f} {BATCH_ROWS / raw_batch:>10.0f}")
    print(
        f"{'POST batch-predictions -> worker -> CSV':<44} {platform_batch:>8.2f} {BATCH_ROWS / platform_batch:>10.0f}"
    )
    label = "  of which the worker ran (read, predict, CSV)"
    print(f"{label:<44} {worker_batch:>8.2f} {BATCH_ROWS / worker_batch:>10.0f}")
    print(f"(REST mean of the 1-client run: {statistics.mean(sequential.seconds) * 1000:.2f} ms)")
    print_log_table(logged, unlogged)
    ok = ok and log_ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
