"""Load test: Maestro ML's API under a mixed authenticated workload, and its registry reads side by side
with MLflow's own tracking server.

Seeds a registry the size a team has (projects, datasets, registered models with several versions, AutoML
jobs with leaderboards: rows made directly, no training) plus one small real model (the titanic sample,
``{"GBM": {}}``) for the predict requests, then starts, on loopback:

- Maestro ML: gunicorn (``--worker-class gthread``, BENCH_WEB_WORKERS workers x BENCH_WEB_THREADS threads)
  on the database of the settings (PostgreSQL in CI), connections kept as production's pool keeps them;
- MLflow's own server (``mlflow server``, the same number of workers, SQLite backend) seeded with the same
  number of registered models and versions.

Then, with an asyncio client (aiohttp, keep-alive connections, every request bounded by a timeout):

1. registry reads, Maestro against MLflow in alternating rounds of BENCH_COMPARE_SECONDS under the same
   number of connections: ``GET registered-models?page_size=50`` against
   ``registered-models/search?max_results=50``, and ``GET models/{id}`` against ``model-versions/get``;
2. the mixed workload: BENCH_USERS users (JWT, each a member of every project) each looping over list
   projects, datasets, jobs and registered models, a job's status, a version, and predict one row, with
   0.5-1.5 s think time, for BENCH_MIXED_SECONDS.

Printed: per endpoint p50/p95/p99/mean latency, requests/s and error rate, the Maestro/MLflow ratios and
the goals (issue #13): registry list and get >= 2x MLflow's throughput at <= 0.5x its mean latency with no
errors; the mixed workload at p95 < 200 ms, p99 < 500 ms and < 0.1 % errors. Exit code 1 when a goal is
missed. The per-user API and predict rate limits are raised for the run (RATELIMIT_API,
RATELIMIT_PREDICT): one client machine sends every user's requests; authentication, permission checks
and the hash check on first load stay on.

``BENCH_PROFILE=short`` (the test suite's smoke run, tests/performance/test_bench_load.py) seeds a few
rows and runs each phase for a second or two: it proves the harness works, its figures mean nothing.

Run: ``python tests/performance/bench_load.py`` (``make bench`` runs it with the others). Its own database
(``<DATABASE>_bench_load``) and data folder (``var/bench-load``) are reset each run.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for folder in (str(ROOT), str(HERE)):
    if folder not in sys.path:
        sys.path.insert(0, folder)

from tests.performance.servers import start, stop, wait_for_port  # noqa: E402 - needs ROOT on sys.path

SHORT = os.environ.get("BENCH_PROFILE", "full") == "short"


def _setting(name: str, full: int, short: int) -> int:
    return int(os.environ.get(name, str(short if SHORT else full)))


PROJECTS = _setting("BENCH_PROJECTS", 6, 2)
MODELS = _setting("BENCH_MODELS", 60, 4)  # registered models (in Maestro and in MLflow)
VERSIONS = _setting("BENCH_VERSIONS", 3, 2)  # versions of each
JOBS_PER_PROJECT = _setting("BENCH_JOBS", 10, 2)
DATASETS_PER_PROJECT = _setting("BENCH_DATASETS", 4, 1)
USERS = _setting("BENCH_USERS", 50, 4)
MIXED_SECONDS = _setting("BENCH_MIXED_SECONDS", 60, 3)
COMPARE_SECONDS = _setting("BENCH_COMPARE_SECONDS", 10, 1)
COMPARE_ROUNDS = _setting("BENCH_COMPARE_ROUNDS", 3, 1)
CONNECTIONS = _setting("BENCH_CONNECTIONS", 50, 4)
WEB_WORKERS = _setting("BENCH_WEB_WORKERS", 2, 1)
WEB_THREADS = _setting("BENCH_WEB_THREADS", 4, 2)
PORT = _setting("BENCH_PORT", 8775, 8785)
MLFLOW_PORT = _setting("BENCH_MLFLOW_PORT", 8776, 8786)
REQUEST_TIMEOUT = 30.0
THINK = (0.5, 1.5)
LEADERBOARD_ROWS = 12
RATE = "100000000/m"

GOAL_RATIO_THROUGHPUT = 2.0
GOAL_RATIO_MEAN = 0.5
GOAL_P95_MS, GOAL_P99_MS, GOAL_ERRORS = 200.0, 500.0, 0.001


@dataclass
class Stats:
    name: str
    seconds: list[float] = field(default_factory=list)
    errors: int = 0
    wall: float = 0.0
    first_error: str = ""

    def add(self, other: Stats) -> None:
        self.seconds += other.seconds
        self.errors += other.errors
        self.wall += other.wall
        self.first_error = self.first_error or other.first_error

    @property
    def count(self) -> int:
        return len(self.seconds) + self.errors

    def percentile(self, q: float) -> float:
        if not self.seconds:
            return float("nan")
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] * 1000

    @property
    def mean(self) -> float:
        return statistics.mean(self.seconds) * 1000 if self.seconds else float("nan")

    @property
    def rate(self) -> float:
        return len(self.seconds) / self.wall if self.wall else float("nan")

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0


@dataclass
class Call:
    """One request: method, path, JSON body, headers; ``expect`` is the status that counts as success."""

    name: str
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    expect: int = 200
    timeout: float = REQUEST_TIMEOUT


async def _send(session, call: Call, stats: Stats) -> None:
    import aiohttp

    began = time.perf_counter()
    try:
        async with session.request(
            call.method,
            call.url,
            data=call.body,
            headers=call.headers,
            timeout=aiohttp.ClientTimeout(total=call.timeout),
        ) as response:
            await response.read()
            ok = response.status == call.expect
            problem = f"{call.name}: HTTP {response.status}"
    except (TimeoutError, aiohttp.ClientError) as exc:
        ok, problem = False, f"{call.name}: {type(exc).__name__} {exc}"
    if ok:
        stats.seconds.append(time.perf_counter() - began)
    else:
        stats.errors += 1
        stats.first_error = stats.first_error or problem


def _session(connections: int):
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, force_close=False),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
    )


async def saturate(name: str, calls: list[Call], connections: int, seconds: float) -> Stats:
    """``connections`` clients sending ``calls`` (in turn) back to back for ``seconds``."""
    stats = Stats(name)
    stop = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        index = offset
        while time.perf_counter() < stop:
            await _send(session, calls[index % len(calls)], stats)
            index += 1

    async with _session(connections) as session:
        began = time.perf_counter()
        await asyncio.gather(*(client(offset) for offset in range(connections)))
        stats.wall = time.perf_counter() - began
    return stats


async def mixed(users: list[list[Call]], seconds: float, seed: int = 0) -> dict[str, Stats]:
    """Each user picks one of its calls at random, waits for the answer, thinks 0.5-1.5 s, and again."""
    by_name: dict[str, Stats] = {}
    stop = time.perf_counter() + seconds
    chooser = random.Random(seed)  # noqa: S311 - a workload, not a secret

    async def user(calls: list[Call]) -> None:
        await asyncio.sleep(chooser.uniform(0, THINK[1]))  # users do not all start at the same instant
        while time.perf_counter() < stop:
            call = chooser.choice(calls)
            await _send(session, call, by_name.setdefault(call.name, Stats(call.name)))
            await asyncio.sleep(chooser.uniform(*THINK))

    async with _session(len(users)) as session:
        began = time.perf_counter()
        await asyncio.gather(*(user(calls) for calls in users))
        wall = time.perf_counter() - began
    for stats in by_name.values():
        stats.wall = wall
    return by_name


# ---------------------------------------------------------------------------
# Seeding
# ---------------------------------------------------------------------------
def leaderboard(index: int) -> list[dict]:
    return [
        {"model": f"Model{row}_{index}", "score_val": 0.9 - row / 100, "fit_time": 1.5 + row, "pred_time_val": 0.01}
        for row in range(LEADERBOARD_ROWS)
    ]


def seed_maestro(frame) -> dict:
    """Projects, members, datasets, jobs and registered models with versions; answers what the load needs."""
    from django.utils import timezone

    from apps.automl.choices import JobStatus
    from apps.automl.models import TrainingJob
    from apps.projects.choices import ProjectRole
    from apps.projects.services import project_member_set
    from apps.registry.models import ModelVersion, RegisteredModel
    from tests.accounts.factories import UserFactory
    from tests.projects.factories import DatasetFactory, ProjectFactory

    owner = UserFactory(roles=["ml_engineer"])
    projects = [ProjectFactory(owner=owner, name=f"Load project {index}") for index in range(PROJECTS)]
    users = [UserFactory() for _ in range(USERS)]
    for project in projects:
        for user in users:
            project_member_set(project=project, user=user, role=ProjectRole.VIEWER)
    datasets = {
        project.pk: [
            DatasetFactory(project=project, name="titanic" if index == 0 else "iris")
            for index in range(DATASETS_PER_PROJECT)
        ]
        for project in projects
    }
    features = [{"name": str(name), "dtype": "float64"} for name in range(8)]
    jobs = []
    for project in projects:
        for index in range(JOBS_PER_PROJECT):
            jobs.append(
                TrainingJob.objects.create(
                    project=project,
                    dataset=datasets[project.pk][0],
                    created_by=owner,
                    target="Survived",
                    task_type="binary",
                    problem_type="binary",
                    time_budget=60,
                    status=JobStatus.SUCCEEDED,
                    progress=1.0,
                    started_at=timezone.now(),
                    finished_at=timezone.now(),
                    features=features,
                    class_labels=[0, 1],
                    metrics={"accuracy": 0.8, "roc_auc": 0.85},
                    eval_metric="accuracy",
                    best_model="WeightedEnsemble_L2",
                    leaderboard=leaderboard(index),
                )
            )
    versions = []
    for index in range(MODELS):
        project = projects[index % len(projects)]
        registered_model = RegisteredModel.objects.create(
            project=project, name=f"load-model-{index}", created_by=owner, description="Seeded for the load test"
        )
        for number in range(1, VERSIONS + 1):
            versions.append(
                ModelVersion.objects.create(
                    registered_model=registered_model,
                    version=number,
                    features=features,
                    target="Survived",
                    task_type="binary",
                    class_labels=[0, 1],
                    artifact="automl/jobs/none/predictor.tar.gz",
                    artifact_sha256="0" * 64,
                    dataset=datasets[project.pk][0],
                    metrics={"accuracy": 0.8},
                    eval_metric="accuracy",
                    best_model="WeightedEnsemble_L2",
                    leaderboard=leaderboard(number),
                    card={"model_details": {"name": registered_model.name}, "text": "card " * 400},
                    created_by=owner,
                )
            )
    return {"owner": owner, "projects": projects, "users": users, "jobs": jobs, "versions": versions}


def seed_mlflow(uri: str) -> list[tuple[str, str]]:
    """The same number of registered models and versions in MLflow's registry; answers (name, version)s."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    pairs = []
    for index in range(MODELS):
        name = f"load-model-{index}"
        client.create_registered_model(name, description="Seeded for the load test")
        for _ in range(VERSIONS):
            version = client.create_model_version(name, source=f"file:///tmp/none/{index}")
            pairs.append((name, str(version.version)))
    return pairs


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
HEADER = f"{'endpoint':<46} {'n':>7} {'err %':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'req/s':>8}"


def row(stats: Stats) -> str:
    return (
        f"{stats.name:<46} {stats.count:>7} {stats.error_rate * 100:>6.2f} {stats.percentile(50):>8.1f} "
        f"{stats.percentile(95):>8.1f} {stats.percentile(99):>8.1f} {stats.mean:>8.1f} {stats.rate:>8.1f}"
    )


def compare_report(pairs: list[tuple[Stats, Stats]]) -> bool:
    print(HEADER)
    print("-" * len(HEADER))
    ok = True
    for ours, theirs in pairs:
        print(row(ours))
        print(row(theirs))
        throughput, latency = ours.rate / theirs.rate, ours.mean / theirs.mean
        met = (
            throughput >= GOAL_RATIO_THROUGHPUT
            and latency <= GOAL_RATIO_MEAN
            and ours.errors == 0
            and theirs.errors == 0
        )
        ok = ok and met
        print(
            f"  Maestro / MLflow: throughput {throughput:.2f}x (goal >= {GOAL_RATIO_THROUGHPUT:g}x), mean latency "
            f"{latency:.2f}x (goal <= {GOAL_RATIO_MEAN:g}x), errors {ours.errors}/{theirs.errors} -> "
            f"{'yes' if met else 'NO'}"
        )
        for stats in (ours, theirs):
            if stats.first_error:
                print(f"  first error of {stats.name}: {stats.first_error}")
    return ok


def mixed_report(by_name: dict[str, Stats]) -> bool:
    print(HEADER)
    print("-" * len(HEADER))
    total = Stats("all requests")
    for name in sorted(by_name):
        print(row(by_name[name]))
        total.add(by_name[name])
    total.wall = max(stats.wall for stats in by_name.values())
    print(row(total))
    met = total.percentile(95) < GOAL_P95_MS and total.percentile(99) < GOAL_P99_MS and total.error_rate < GOAL_ERRORS
    print(
        f"  goal p95 < {GOAL_P95_MS:.0f} ms, p99 < {GOAL_P99_MS:.0f} ms, errors < {GOAL_ERRORS * 100:g} %: "
        f"{total.percentile(95):.1f} ms, {total.percentile(99):.1f} ms, {total.error_rate * 100:.3f} % -> "
        f"{'yes' if met else 'NO'}"
    )
    for stats in by_name.values():
        if stats.first_error:
            print(f"  first error of {stats.name}: {stats.first_error}")
    return met


# ---------------------------------------------------------------------------
def main() -> int:
    from bench_serving import register, setup_django, train

    os.environ["DATA_DIR"] = os.environ.get("BENCH_LOAD_DATA_DIR", str(ROOT / "var" / "bench-load"))
    setup_django()
    import json

    import pandas as pd
    from django.conf import settings
    from django.contrib.auth.models import Group, Permission
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.accounts.roles import role_groups_sync
    from tests.conftest import database_url_for_worker
    from tests.projects.factories import DatasetFactory

    data_dir = Path(settings.DATA_DIR)
    data_dir.mkdir(parents=True, exist_ok=True)
    test_settings = connection.settings_dict.setdefault("TEST", {})
    if connection.vendor != "sqlite":
        test_settings["NAME"] = f"{connection.settings_dict['NAME']}_bench_load"
    else:
        test_settings["NAME"] = str(data_dir / "bench-load.sqlite3")
    old_config = setup_databases(verbosity=0, interactive=False, keepdb=False)
    database_url = database_url_for_worker()
    if connection.vendor == "postgresql":  # web processes keep their connection, as production's pool does
        database_url += "?conn_max_age=600"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "RATELIMIT_API": RATE,
        "RATELIMIT_PREDICT": RATE,
        "LOG_LEVEL": "WARNING",
    }
    mlflow_db = data_dir / "mlflow-server.sqlite3"
    mlflow_db.unlink(missing_ok=True)
    mlflow_uri = f"sqlite:///{mlflow_db}"
    processes: list[subprocess.Popen] = []
    load = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"
    try:
        role_groups_sync(Group, Permission)
        frame = pd.read_csv(ROOT / "examples" / "data" / "titanic.csv")
        print(
            f"Load test ({'short profile: proves the harness only' if SHORT else 'full'}): seeding {PROJECTS} "
            f"projects, {MODELS} registered models x {VERSIONS} versions, {PROJECTS * JOBS_PER_PROJECT} jobs, "
            f"{USERS} users; training the titanic model for predict ...",
            flush=True,
        )
        seeded = seed_maestro(frame)
        archive, record = train(frame)
        project = seeded["projects"][0]
        served = register(project, DatasetFactory(project=project, name="titanic"), archive, record)
        inputs = frame.drop(columns=["Survived"])
        rows = [
            {key: (None if pd.isna(value) else value) for key, value in inputs.iloc[index].to_dict().items()}
            for index in range(20)
        ]
        mlflow_pairs = seed_mlflow(mlflow_uri)

        gunicorn = [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{PORT}", "--workers", str(WEB_WORKERS),
            "--worker-class", "gthread", "--threads", str(WEB_THREADS),
            "--timeout", "120", "--backlog", "512", "--keep-alive", "75",
        ]  # fmt: skip
        mlflow = [
            sys.executable, "-m", "mlflow", "server", "--backend-store-uri", mlflow_uri,
            "--default-artifact-root", str(data_dir / "mlflow-artifacts"),
            "--host", "127.0.0.1", "--port", str(MLFLOW_PORT), "--workers", str(WEB_WORKERS),
        ]  # fmt: skip
        processes.append(start(gunicorn, env, data_dir / "bench-load-gunicorn.log"))
        processes.append(start(mlflow, env, data_dir / "bench-load-mlflow.log"))
        wait_for_port(PORT, processes[0])
        wait_for_port(MLFLOW_PORT, processes[1])

        maestro, peer = f"http://127.0.0.1:{PORT}/api/v1", f"http://127.0.0.1:{MLFLOW_PORT}/api/2.0/mlflow"
        tokens = [str(AccessToken.for_user(user)) for user in seeded["users"]]

        def auth(token: str, **extra) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}", **extra}

        versions, jobs = seeded["versions"], seeded["jobs"]
        list_calls = [
            Call("GET registered-models?page_size=50", "GET", f"{maestro}/registered-models?page_size=50", auth(token))
            for token in tokens
        ]
        get_calls = [
            Call("GET models/{id}", "GET", f"{maestro}/models/{version.pk}", auth(tokens[index % len(tokens)]))
            for index, version in enumerate(versions)
        ]
        search_calls = [
            Call("MLflow registered-models/search (50)", "GET", f"{peer}/registered-models/search?max_results=50")
        ]
        version_calls = [
            Call("MLflow model-versions/get", "GET", f"{peer}/model-versions/get?name={name}&version={number}")
            for name, number in mlflow_pairs
        ]

        async def warm() -> None:  # every worker loads the model, imports its views and opens its connection
            for calls in (list_calls, get_calls, search_calls, version_calls):
                await saturate("warm-up", calls, CONNECTIONS, 1.0 if not SHORT else 0.5)
            predict = predict_call(tokens[0], 0)
            first = Call(predict.name, predict.method, predict.url, predict.headers, predict.body, timeout=300)
            stats = await saturate("warm-up", [first], WEB_WORKERS * WEB_THREADS, 0.1)  # each worker loads it
            stats.add(await saturate("warm-up", [predict], WEB_WORKERS * WEB_THREADS * 2, 2.0))
            if stats.errors:
                raise RuntimeError(f"warm-up failed: {stats.first_error}")

        def predict_call(token: str, index: int) -> Call:
            body = json.dumps({"instances": [rows[index % len(rows)]]}).encode()
            headers = auth(token, **{"Content-Type": "application/json"})
            return Call(
                "POST models/{id}/predict (1 row)", "POST", f"{maestro}/models/{served.pk}/predict", headers, body
            )

        began = time.perf_counter()
        asyncio.run(warm())
        print(f"Servers up and warm in {time.perf_counter() - began:.1f} s", flush=True)
        totals = {
            name: Stats(name)
            for name in (
                list_calls[0].name,
                search_calls[0].name,
                get_calls[0].name,
                version_calls[0].name,
            )
        }
        print(f"Registry reads: {COMPARE_ROUNDS} rounds of {COMPARE_SECONDS} s per endpoint, {CONNECTIONS} connections")
        for _ in range(COMPARE_ROUNDS):  # alternating, so that both servers see the same load of the machine
            for calls in (list_calls, search_calls, get_calls, version_calls):
                totals[calls[0].name].add(asyncio.run(saturate(calls[0].name, calls, CONNECTIONS, COMPARE_SECONDS)))

        print(f"Mixed workload: {USERS} users, think time {THINK[0]}-{THINK[1]} s, {MIXED_SECONDS} s")
        project_ids = [project.pk for project in seeded["projects"]]
        users = []
        for index, token in enumerate(tokens):
            project_id = project_ids[index % len(project_ids)]
            headers = auth(token)
            users.append(
                [
                    Call("GET projects", "GET", f"{maestro}/projects", headers),
                    Call("GET datasets?project", "GET", f"{maestro}/datasets?project={project_id}", headers),
                    Call("GET automl/jobs?project", "GET", f"{maestro}/automl/jobs?project={project_id}", headers),
                    Call("GET registered-models?project", "GET", f"{maestro}/registered-models?project={project_id}",
                         headers),
                    Call("GET automl/jobs/{id}", "GET", f"{maestro}/automl/jobs/{jobs[index % len(jobs)].pk}", headers),
                    Call("GET models/{id}", "GET", f"{maestro}/models/{versions[index % len(versions)].pk}", headers),
                    predict_call(token, index),
                    predict_call(token, index + 1),  # predict twice as often: programs call it most
                ]
            )  # fmt: skip
        by_name = asyncio.run(mixed(users, MIXED_SECONDS))
    finally:
        for process in processes:
            stop(process)
        connection.close()
        teardown_databases(old_config, verbosity=0)

    print()
    print(
        f"{os.cpu_count()} CPUs, load average {load} before the run; Maestro: gunicorn gthread {WEB_WORKERS} workers "
        f"x {WEB_THREADS} threads, database {connection.vendor}; MLflow server: {WEB_WORKERS} workers, SQLite; "
        f"{MODELS} registered models x {VERSIONS} versions in each; per-user rate limits raised to {RATE}"
    )
    print()
    print(f"Registry reads, Maestro ML against MLflow's server ({CONNECTIONS} connections, alternating rounds)")
    compare_ok = compare_report(
        [
            (totals[list_calls[0].name], totals[search_calls[0].name]),
            (totals[get_calls[0].name], totals[version_calls[0].name]),
        ]
    )
    print()
    print(f"Mixed workload, {USERS} users with {THINK[0]}-{THINK[1]} s think time")
    mixed_ok = mixed_report(by_name)
    if SHORT:  # the smoke run: every request must have worked; the figures are not judged
        failed = [stats for stats in [*totals.values(), *by_name.values()] if stats.errors or not stats.seconds]
        return 1 if failed else 0
    return 0 if compare_ok and mixed_ok else 1


if __name__ == "__main__":
    sys.exit(main())
