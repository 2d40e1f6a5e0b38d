"""The AutoGluon fit of one training job, run as a process of its own: ``python -m apps.automl.runner <folder>``.

The worker prepares the job folder (``spec.json``, ``train.parquet``, ``test.parquet``) and starts this
module in a new process session, so that it can stop the fit and everything it started at any moment
(cancel, time limit) without touching its own state. Started as ``runner --wait``, the process imports
AutoGluon and its model libraries first and then waits for a job folder on its standard input: a
training worker keeps one such warm runner ready so a job does not wait seconds for imports.

While fitting, this process writes ``progress.json`` (best model so far) after every model; at the end
it writes ``result.json`` (leaderboard on the test split, test metrics, features, class labels) or
``error.json``. It imports nothing of Django and exits on its own if the worker that started it
disappears.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

SPEC_FILE = "spec.json"
TRAIN_FILE = "train.parquet"
TEST_FILE = "test.parquet"
PROGRESS_FILE = "progress.json"
RESULT_FILE = "result.json"
ERROR_FILE = "error.json"
LOG_FILE = "runner.log"
PREDICTOR_DIR = "predictor"
EXIT_PARENT_LOST = 70


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)


def plain(value: Any) -> Any:
    """A JSON-safe Python value from numpy / pandas scalars; NaN and infinities become None."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def watch_parent(interval: float = 1.0) -> None:
    """Exit as soon as the process that started this one is gone (its worker was killed)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(EXIT_PARENT_LOST)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def leaderboard_rows(predictor, test) -> list[dict]:
    """Every model with its validation and test score (higher is better), fit and predict times."""
    board = predictor.leaderboard(test, extra_info=False)
    rows = []
    for record in board.to_dict(orient="records"):
        rows.append(
            {
                "model": str(record["model"]),
                "score_val": plain(record.get("score_val")),
                "score_test": plain(record.get("score_test")),
                "fit_time": plain(record.get("fit_time")),
                "pred_time_val": plain(record.get("pred_time_val")),
                "pred_time_test": plain(record.get("pred_time_test")),
                "stack_level": plain(record.get("stack_level")),
            }
        )
    return rows


def held_out_evaluation(predictor, test) -> dict:
    """Confusion matrix and curves, or predicted against actual, on the test split (``apps.automl.evaluation``).

    The plots are a view of the model, not the model: a failure here is recorded and the job still succeeds.
    """
    from apps.automl.evaluation import evaluate_predictor

    try:
        return evaluate_predictor(predictor, test)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded in place of the plots
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


def fit(job_dir: Path, spec: dict) -> dict:
    """Fit a TabularPredictor as ``spec`` says and describe what it produced."""
    begun = time.monotonic()
    import pandas as pd
    from autogluon.tabular import TabularPredictor

    from apps.automl.ag_callbacks import ProgressCallback

    import_seconds = time.monotonic() - begun
    train = pd.read_parquet(job_dir / TRAIN_FILE)
    test = pd.read_parquet(job_dir / TEST_FILE)
    predictor = TabularPredictor(
        label=spec["label"],
        problem_type=spec.get("problem_type") or None,
        eval_metric=spec.get("eval_metric") or None,
        path=str(job_dir / PREDICTOR_DIR),
        verbosity=spec.get("verbosity", 2),
    )
    fit_kwargs: dict[str, Any] = {
        "time_limit": spec["time_limit"],
        "presets": spec["presets"],
        "num_cpus": spec.get("num_cpus", "auto"),
        "num_gpus": 0,
        "callbacks": [ProgressCallback(job_dir / PROGRESS_FILE)],
    }
    if spec.get("hyperparameters"):
        fit_kwargs["hyperparameters"] = spec["hyperparameters"]
    if spec.get("excluded_model_types"):
        fit_kwargs["excluded_model_types"] = spec["excluded_model_types"]
    started = time.monotonic()
    predictor.fit(train, **fit_kwargs)
    fit_seconds = time.monotonic() - started
    if not predictor.model_names():
        raise RuntimeError("AutoGluon trained no model in the time given; give the job a larger time budget.")

    scored = time.monotonic()
    leaderboard = leaderboard_rows(predictor, test)
    metrics = {
        str(name): plain(value)
        for name, value in predictor.evaluate(test, silent=True).items()
        if isinstance(plain(value), (int, float))
    }
    evaluation = held_out_evaluation(predictor, test)
    best_model = predictor.model_best
    raw_types = predictor.feature_metadata_in.type_map_raw
    features = [
        {"name": str(name), "dtype": str(raw_types.get(name, "object"))} for name in predictor.original_features
    ]
    class_labels = [plain(label) for label in predictor.class_labels] if predictor.class_labels is not None else []
    score_seconds = time.monotonic() - scored

    pruned = time.monotonic()
    if spec.get("keep_only_best", True):
        predictor.delete_models(models_to_keep="best", dry_run=False)
        predictor.save_space()
        predictor.save()
    prune_seconds = time.monotonic() - pruned
    return {
        "problem_type": str(predictor.problem_type),
        "eval_metric": str(predictor.eval_metric.name),
        "best_model": str(best_model),
        "leaderboard": leaderboard,
        "metrics": metrics,
        "evaluation": evaluation,
        "features": features,
        "class_labels": class_labels,
        "models_kept": [str(name) for name in predictor.model_names()],
        "fit_seconds": round(fit_seconds, 3),
        "score_seconds": round(score_seconds, 3),
        "import_seconds": round(import_seconds, 3),
        "prune_seconds": round(prune_seconds, 3),
    }


def preload() -> None:
    """Import what every fit needs (AutoGluon loads its model libraries lazily, during the fit)."""
    import pandas  # noqa: F401
    from autogluon.tabular import TabularPredictor  # noqa: F401

    from apps.automl import ag_callbacks  # noqa: F401

    for module in ("lightgbm", "catboost", "xgboost", "sklearn.ensemble", "sklearn.neighbors", "sklearn.linear_model"):
        try:
            __import__(module)
        except ImportError:
            pass


def redirect_output(path: Path) -> None:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``path``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m apps.automl.runner <job folder> | --wait", file=sys.stderr)
        return 2
    watch_parent()
    if argv[1] == "--wait":
        preload()
        line = sys.stdin.readline().strip()
        if not line:  # the worker closed the pipe without a job: it is shutting down
            return 0
        job_dir = Path(line)
        redirect_output(job_dir / LOG_FILE)
    else:
        job_dir = Path(argv[1])
    started = time.monotonic()
    try:
        spec = json.loads((job_dir / SPEC_FILE).read_text())
        result = fit(job_dir, spec)
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the worker in error.json
        write_json(
            job_dir / ERROR_FILE,
            {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()},
        )
        traceback.print_exc()
        return 1
    result["runner_seconds"] = round(time.monotonic() - started, 3)
    write_json(job_dir / RESULT_FILE, result)
    return 0


def exit_now(code: int) -> None:
    """Leave without the interpreter's teardown of AutoGluon's many modules (about a second): every
    result is already on disk, and the worker is waiting for this process to end."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main(sys.argv))
