"""The worker side of a training job: prepare the data, run the AutoGluon runner process, watch it.

``services.training_job_run`` drives these steps and owns every state change; nothing here writes the
job's status. The fit runs in its own process session (``apps.automl.runner``) so a cancel or a time
limit stops it and everything it started within seconds, and the worker stays free.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings

from apps.automl import runner
from apps.automl.choices import TaskType

logger = logging.getLogger("maestro.automl")


class TrainingFailed(Exception):
    """The job cannot succeed; ``message`` tells the user what went wrong and what to do."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class JobCancelled(Exception):
    """A user asked to cancel the job while it ran."""


class JobAbandoned(Exception):
    """The job is no longer running here (the stale-job check failed or requeued it, and another attempt may
    have started): stop quietly and touch nothing of the job's."""


@dataclass
class SplitResult:
    train: pd.DataFrame
    test: pd.DataFrame
    info: dict = field(default_factory=dict)


def split_train_test(frame: pd.DataFrame, *, target: str, task_type: str, test_size: float, seed: int) -> SplitResult:
    """Hold out ``test_size`` of the rows with a target value, seeded; stratified by class for classification.

    Rows without a target are dropped. Classes with a single row stay in the training part (they cannot be
    stratified). The same inputs always give the same split.
    """
    labelled = frame[frame[target].notna()]
    dropped = int(len(frame) - len(labelled))
    rng = np.random.default_rng(seed)
    classify = task_type in (TaskType.BINARY, TaskType.MULTICLASS) or (
        task_type == TaskType.AUTO
        and (not pd.api.types.is_numeric_dtype(labelled[target]) or labelled[target].nunique() <= 2)
    )
    test_index: list = []
    if classify:
        for _label, group in labelled.groupby(target, sort=True):
            if len(group) < 2:
                continue
            n_test = max(1, int(round(len(group) * test_size)))
            n_test = min(n_test, len(group) - 1)
            test_index.extend(group.index[rng.permutation(len(group))[:n_test]])
    else:
        n_test = max(1, int(round(len(labelled) * test_size)))
        test_index.extend(labelled.index[rng.permutation(len(labelled))[:n_test]])
    test_mask = labelled.index.isin(test_index)
    train, test = labelled[~test_mask], labelled[test_mask]
    info = {
        "test_size": test_size,
        "seed": seed,
        "stratified": classify,
        "train_rows": int(len(train)),
        "test_rows": int(len(test)),
        "dropped_missing_target": dropped,
    }
    return SplitResult(train=train, test=test, info=info)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Parquet keeps column types exactly; columns mixing Python types are stored as text."""
    try:
        frame.to_parquet(path, index=False)
    except (TypeError, ValueError, ImportError) as exc:
        logger.info("storing mixed-type columns as text for %s: %s", path.name, exc)
        fixed = frame.copy()
        for column in fixed.columns:
            if fixed[column].dtype == object:
                fixed[column] = fixed[column].map(lambda value: value if pd.isna(value) else str(value))
        fixed.to_parquet(path, index=False)


def thread_limits(num_cpus: str | int) -> dict[str, str]:
    """Environment that keeps numeric libraries to ``num_cpus`` threads (nothing for ``auto``)."""
    if str(num_cpus) == "auto":
        return {}
    value = str(int(num_cpus))
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
    return dict.fromkeys(names, value)


def num_cpus_setting() -> str | int:
    value = str(settings.AUTOML_NUM_CPUS).strip().lower()
    if value == "auto":
        return "auto"
    try:
        cpus = int(value)
    except ValueError as exc:
        raise TrainingFailed(f"AUTOML_NUM_CPUS must be a number or 'auto', not {value!r}.") from exc
    if cpus < 1:
        raise TrainingFailed("AUTOML_NUM_CPUS must be at least 1.")
    return cpus


def runner_environment(num_cpus: str | int) -> dict[str, str]:
    return {**os.environ, **thread_limits(num_cpus), "PYTHONUNBUFFERED": "1"}


class WarmRunner:
    """A runner process of this worker process that has already imported AutoGluon and waits for a job.

    Enabled only in training worker processes (``enable()``, called when a worker process starts); each
    one is used for a single job and replaced after it, so no state passes from one job to the next.
    """

    enabled = False
    _process: subprocess.Popen | None = None

    @classmethod
    def enable(cls) -> None:
        cls.enabled = True
        cls.replenish()

    @classmethod
    def replenish(cls) -> None:
        """Start the next warm runner unless one is waiting (errors only cost the next job its head start)."""
        if not cls.enabled or not settings.AUTOML_WARM_RUNNER:
            return
        if cls._process is not None and cls._process.poll() is None:
            return
        try:
            cls._process = subprocess.Popen(  # noqa: S603 - fixed command: this interpreter and our own module
                [sys.executable, "-m", "apps.automl.runner", "--wait"],
                cwd=settings.BASE_DIR,
                env=runner_environment(num_cpus_setting()),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except (OSError, TrainingFailed):
            logger.warning("could not start a warm AutoGluon runner", exc_info=True)
            cls._process = None

    @classmethod
    def take(cls, work_dir: Path) -> subprocess.Popen | None:
        """Hand ``work_dir`` to the waiting runner and return it; None when there is none alive."""
        process, cls._process = cls._process, None
        if process is None or process.poll() is not None:
            return None
        try:
            process.stdin.write(f"{work_dir}\n".encode())
            process.stdin.close()
        except OSError:
            process.kill()
            return None
        return process


class RunnerProcess:
    """The ``apps.automl.runner`` process of one job, in a process group of its own."""

    def __init__(self, work_dir: Path, *, num_cpus: str | int):
        self.work_dir = work_dir
        self.started = time.monotonic()
        self.warm = False
        log = open(work_dir / runner.LOG_FILE, "ab")  # noqa: SIM115 - closed in stop()/outcome()
        self._log = log
        process = WarmRunner.take(work_dir)
        if process is not None:
            self.process, self.warm = process, True
            return
        self.process = subprocess.Popen(  # noqa: S603 - fixed command: this interpreter and our own module
            [sys.executable, "-m", "apps.automl.runner", str(work_dir)],
            cwd=settings.BASE_DIR,
            env=runner_environment(num_cpus),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def poll(self) -> int | None:
        return self.process.poll()

    def wait(self, timeout: float) -> None:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass

    def progress(self) -> dict:
        """The runner's latest report of the best model so far ({} before the first model is fitted)."""
        try:
            return json.loads((self.work_dir / runner.PROGRESS_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def stop(self, grace: float = 3.0) -> None:
        """Stop the runner and every process it started: SIGTERM to its group, SIGKILL after ``grace`` s."""
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self._signal_group(signal.SIGKILL)  # whatever of the group is left, even if the leader is gone
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            logger.error("runner %s did not exit after SIGKILL", self.process.pid)
        self._log.close()

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def outcome(self) -> dict:
        """The runner's result after it exited; TrainingFailed with the reason otherwise."""
        self._log.close()
        code = self.process.returncode
        if code == 0:
            try:
                return json.loads((self.work_dir / runner.RESULT_FILE).read_text())
            except (OSError, ValueError) as exc:
                raise TrainingFailed(f"The training process ended without writing its results ({exc}).") from exc
        try:
            error = json.loads((self.work_dir / runner.ERROR_FILE).read_text())
        except (OSError, ValueError):
            error = None
        if error:
            logger.warning("runner failed: %s", error.get("traceback", ""))
            raise TrainingFailed(f"AutoGluon could not train a model: {error['type']}: {error['message']}")
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (the host likely ran out of memory)" if -code == signal.SIGKILL else ""
            raise TrainingFailed(f"The training process was stopped by {name}{hint}; try a smaller dataset or budget.")
        raise TrainingFailed(f"The training process exited with code {code}; see the worker logs.")


def watch_runner(
    process: RunnerProcess,
    *,
    time_budget: int,
    deadline: float,
    tick: Callable[[float, dict], None],
    interval: float,
) -> None:
    """Wait for the runner to exit, calling ``tick(progress, current_best)`` every ``interval`` seconds.

    ``tick`` raises JobCancelled / JobAbandoned to stop; the runner is stopped on any exception
    (including Celery's soft time limit). Past ``deadline`` (monotonic) the runner is stopped and the
    job fails.
    """
    try:
        while process.poll() is None:
            share = min(1.0, process.elapsed / max(time_budget, 1))
            tick(0.05 + 0.85 * share, process.progress())
            if time.monotonic() > deadline:
                raise TrainingFailed(
                    f"Training ran past its {time_budget} s budget plus {settings.AUTOML_TIME_LIMIT_MARGIN} s "
                    "margin and was stopped; use a smaller budget or fewer models."
                )
            process.wait(interval)  # returns as soon as the runner exits
    except BaseException:
        process.stop()
        raise


@dataclass
class Outcome:
    """What a finished run produced, for ``services`` to store on the job."""

    result: dict
    split: dict
    timings: dict
    mlflow_run_id: str
    artifact_name: str
    artifact_sha256: str
    artifact_size: int
    attempt: int | None = None  # the job's attempt that produced it; only that attempt may store it
    mlflow_synced: bool = (
        True  # False: MLflow was unreachable, the run is logged later (tasks.sync_training_job_to_mlflow)
    )


def _is_transient_storage_error(exc: BaseException) -> bool:
    """Connection problems and S3's throttling or server errors: worth another try."""
    if isinstance(exc, OSError):
        return True
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = response.get("Error", {}).get("Code", "")
        return status >= 500 or code in ("SlowDown", "RequestTimeout", "Throttling", "InternalError")
    return type(exc).__name__ in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError")


def _save_with_retries(name: str, archive: Path) -> str:
    """Store the archive, retried with backoff on transient storage errors (RETRY_ATTEMPTS)."""
    from django.core.files import File
    from django.core.files.storage import default_storage

    from apps.core.resilience import retrying

    @retrying(retry_on=_is_transient_storage_error)
    def save() -> str:
        # The name this try writes (a free one, if a file of this attempt is already there). A try failing
        # half-way (a full disk) may leave part of the archive under it: remove that before the next try, or
        # each retry would leave another partial file under another free name.
        target = default_storage.get_available_name(name)
        try:
            with open(archive, "rb") as handle:
                return default_storage.save(target, File(handle, name=archive.name))
        except Exception:
            try:
                default_storage.delete(target)
            except Exception:  # noqa: BLE001 - the store is failing; the error being raised is the one to report
                logger.warning("Could not remove the partial archive %s", target, exc_info=True)
            raise

    return save()


def artifact_name(job_id: int, attempt: int) -> str:
    """Where attempt ``attempt`` of job ``job_id`` stores its predictor: each attempt its own name, so two
    attempts of a requeued job never overwrite or delete each other's archive."""
    return f"artifacts/jobs/{job_id}/{attempt}/predictor.tar.gz"


class JobRun:
    """One attempt at running a job on this worker: data, runner process, heartbeats, archive, MLflow.

    Writes only the job's heartbeat, progress, current best and MLflow run id (never its status), and only
    while the job is still running *this* attempt (``job.attempts`` when it started here): the stale-job
    check may have requeued the job and another worker started it again, and then every heartbeat and
    every write of this attempt raises JobAbandoned instead. Raises JobCancelled when a cancel is asked
    for, TrainingFailed with a message for the user when it cannot succeed.
    """

    def __init__(self, *, job, work_dir: Path):
        self.job = job
        self.attempt = job.attempts
        self.work_dir = work_dir
        self.mlflow_run_id = ""
        self.mlflow_deferred = False
        self.stored_artifact = ""
        self.timings: dict[str, float] = {}
        self._last_beat = 0.0

    # -- heartbeats -------------------------------------------------------------------------------
    def heartbeat(self, progress: float, current_best: dict | None = None, *, force: bool = True) -> None:
        """Record that the job is alive (and how far it is); stop if it was cancelled or taken away."""
        from django.utils import timezone

        if not force and time.monotonic() - self._last_beat < settings.AUTOML_HEARTBEAT_INTERVAL:
            return
        now = timezone.now()
        values: dict = {"heartbeat_at": now, "updated_at": now, "progress": round(min(max(progress, 0.0), 0.99), 4)}
        if current_best:
            values["current_best"] = current_best
        alive = self._this_attempt().filter(cancel_requested_at__isnull=True)
        if not alive.update(**values):
            self.check_still_running()
            raise JobCancelled(self.job.pk)
        self._last_beat = time.monotonic()

    def _this_attempt(self):
        """The job's row while it is running this attempt (empty once it is not)."""
        from apps.automl.choices import JobStatus
        from apps.automl.models import TrainingJob

        return TrainingJob.objects.filter(pk=self.job.pk, status=JobStatus.RUNNING, attempts=self.attempt)

    def check_still_running(self) -> None:
        """JobAbandoned unless the job is still running this attempt: checked before every write."""
        if not self._this_attempt().exists():
            raise JobAbandoned(self.job.pk)

    def _tick(self, progress: float, best: dict) -> None:
        current = {}
        if best.get("model"):
            current = {
                "model": best["model"],
                "score": best.get("score"),
                "metric": best.get("metric") or self.job.metric or "",
                "models_fitted": best.get("models_fitted"),
            }
        self.heartbeat(progress, current)

    # -- steps -------------------------------------------------------------------------------------
    def _timed(self, name: str, started: float) -> None:
        self.timings[name] = round(time.monotonic() - started, 3)

    def load_data(self) -> tuple[SplitResult, str | None]:
        from apps.automl.validation import TargetSummary, resolve_task_type, target_problem
        from apps.projects.selectors import dataset_dataframe

        job, dataset = self.job, self.job.dataset
        try:
            frame = dataset_dataframe(dataset=dataset)
        except FileNotFoundError as exc:
            raise TrainingFailed(f"{exc} Upload the data again as a new dataset and start a new job.") from exc
        except (ValueError, UnicodeDecodeError, OSError) as exc:
            raise TrainingFailed(f"Dataset '{dataset.name}' could not be read: {exc}") from exc
        if job.target not in frame.columns:
            raise TrainingFailed(f"Column '{job.target}' is not in the file of dataset '{dataset.name}'.")
        if frame.shape[1] < 2:
            raise TrainingFailed(f"Dataset '{dataset.name}' has no column besides the target to learn from.")
        summary = TargetSummary.of_series(frame[job.target])
        problem = target_problem(summary, task_type=job.task_type, min_rows=settings.AUTOML_MIN_ROWS)
        if problem:
            raise TrainingFailed(problem)
        resolved = resolve_task_type(summary, task_type=job.task_type, metric=job.metric)
        split = split_train_test(
            frame, target=job.target, task_type=resolved, test_size=job.test_size, seed=job.random_seed
        )
        return split, (None if resolved == TaskType.AUTO else resolved)

    def write_inputs(self, split: SplitResult, problem_type: str | None) -> None:
        job = self.job
        self.work_dir.mkdir(parents=True, exist_ok=True)
        write_frame(split.train, self.work_dir / runner.TRAIN_FILE)
        write_frame(split.test, self.work_dir / runner.TEST_FILE)
        hyperparameters = job.hyperparameters or settings.AUTOML_HYPERPARAMETERS or None
        spec = {
            "label": job.target,
            "problem_type": problem_type,
            "eval_metric": job.metric or None,
            "presets": job.presets,
            "time_limit": job.time_budget,
            "num_cpus": num_cpus_setting(),
            "hyperparameters": hyperparameters,
            "keep_only_best": settings.AUTOML_KEEP_ONLY_BEST_MODEL,
            "excluded_model_types": list(settings.AUTOML_EXCLUDED_MODEL_TYPES),
        }
        runner.write_json(self.work_dir / runner.SPEC_FILE, spec)

    def start_tracking(self) -> None:
        from apps.automl import tracking
        from apps.core.mlflow_store import is_transient_mlflow_error

        self.check_still_running()
        try:
            self.mlflow_run_id = tracking.job_run_start(job=self.job)
        except Exception as exc:  # noqa: BLE001 - any tracking failure is reported to the user
            if is_transient_mlflow_error(exc):  # unreachable: train anyway, log the run once MLflow is back
                logger.warning("MLflow is unreachable; job %s trains and its run is logged later: %s", self.job.pk, exc)
                self.mlflow_deferred = True
                return
            raise TrainingFailed(
                f"Could not record the job in MLflow at {settings.MLFLOW_TRACKING_URI} ({type(exc).__name__}: {exc}); "
                "ask an administrator to check the tracking server."
            ) from exc
        if not self._this_attempt().update(mlflow_run_id=self.mlflow_run_id):
            raise JobAbandoned(self.job.pk)

    def store_archive(self) -> tuple[str, str, int]:
        from apps.core.archives import archive_directory

        archive = self.work_dir / "predictor.tar.gz"
        sha256 = archive_directory(self.work_dir / runner.PREDICTOR_DIR, archive)
        self.check_still_running()
        # This attempt's own name: nothing of another attempt is overwritten or deleted. (If a file of this
        # very attempt were there, the storage picks a free name rather than replace it.)
        name = artifact_name(self.job.pk, self.attempt)
        try:
            # Each failed try removes what it wrote half-way (a full disk): no half-written archive outlives
            # the failed attempt.
            stored = _save_with_retries(name, archive)
        except Exception as exc:  # noqa: BLE001 - storage errors of any backend
            raise TrainingFailed(f"Training finished but its predictor could not be stored ({exc}).") from exc
        self.stored_artifact = stored
        return stored, sha256, archive.stat().st_size

    def _store_archive_timed(self) -> tuple[str, str, int]:
        started = time.monotonic()
        try:
            return self.store_archive()
        finally:
            self._timed("store_archive", started)

    def execute(self) -> Outcome:
        from apps.automl import tracking
        from apps.core.mlflow_store import is_transient_mlflow_error

        job = self.job
        started = time.monotonic()
        split, problem_type = self.load_data()
        self.write_inputs(split, problem_type)
        self._timed("prepare_data", started)
        self.heartbeat(0.03)

        started = time.monotonic()
        process = RunnerProcess(self.work_dir, num_cpus=num_cpus_setting())
        try:
            self.start_tracking()  # while the runner imports AutoGluon
            watch_runner(
                process,
                time_budget=job.time_budget,
                deadline=started + job.time_budget + settings.AUTOML_TIME_LIMIT_MARGIN,
                tick=self._tick,
                interval=settings.AUTOML_HEARTBEAT_INTERVAL,
            )
        except BaseException:
            process.stop()
            raise
        result = process.outcome()
        self._timed("runner", started)
        self.timings["warm_runner"] = process.warm
        for step in ("import", "fit", "score", "prune"):
            self.timings[step] = result.get(f"{step}_seconds")
        self.heartbeat(0.92)

        # Archive and store the predictor while the outcome is logged to MLflow: compression (zlib lets go
        # of the GIL) and tracking calls (I/O) overlap well.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"job-{job.pk}-archive") as pool:
            archived = pool.submit(self._store_archive_timed)
            started = time.monotonic()
            tracking_error = None
            if not self.mlflow_deferred:
                try:
                    tracking.job_run_finish(job=job, run_id=self.mlflow_run_id, result=result, split=split.info)
                except Exception as exc:  # noqa: BLE001 - any tracking failure is reported to the user
                    tracking_error = exc
            self._timed("mlflow", started)
            name, sha256, size = archived.result()
        if tracking_error is not None and is_transient_mlflow_error(tracking_error):
            logger.warning("MLflow became unreachable; job %s's run is logged later: %s", job.pk, tracking_error)
            self.mlflow_deferred, tracking_error = True, None
        if tracking_error is not None:
            raise TrainingFailed(
                f"Training finished but logging it to MLflow at {settings.MLFLOW_TRACKING_URI} failed "
                f"({type(tracking_error).__name__}: {tracking_error}); start the job again once MLflow is reachable."
            ) from tracking_error
        self._timed("mlflow", started)
        self.heartbeat(0.98)
        return Outcome(
            result=result,
            split=split.info,
            timings=self.timings,
            mlflow_run_id=self.mlflow_run_id,
            artifact_name=name,
            artifact_sha256=sha256,
            artifact_size=size,
            attempt=self.attempt,
            mlflow_synced=not self.mlflow_deferred,
        )

    def discard(self, *, mlflow_status: str | None = None) -> None:
        """Remove what this unfinished attempt stored (only its own archive name, never another attempt's);
        close its MLflow run with ``mlflow_status`` if given."""
        from django.core.files.storage import default_storage

        from apps.automl import tracking

        if self.stored_artifact:
            try:
                default_storage.delete(self.stored_artifact)
            except Exception:  # noqa: BLE001 - the job's end matters more than a leftover file
                logger.warning("could not remove %s", self.stored_artifact, exc_info=True)
        if self.mlflow_run_id and mlflow_status:
            try:
                tracking.job_run_end(run_id=self.mlflow_run_id, status=mlflow_status)
            except Exception:  # noqa: BLE001 - best effort once the job has ended
                logger.warning("could not close MLflow run %s", self.mlflow_run_id, exc_info=True)
