"""The load-test harness works end to end (``BENCH_PROFILE=short``): it seeds, starts gunicorn and MLflow's
server, loads both and prints its tables. Not timed: the figures of a two-second run on a shared machine
mean nothing, so only failed requests fail it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_the_load_harness_runs_end_to_end(tmp_path):
    env = {**os.environ, "BENCH_PROFILE": "short", "BENCH_LOAD_DATA_DIR": str(tmp_path / "bench-load")}
    run = subprocess.run(
        [sys.executable, str(HERE / "bench_load.py")],
        cwd=HERE.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for line in (
        "GET registered-models?page_size=50",
        "MLflow registered-models/search (50)",
        "GET models/{id}",
        "MLflow model-versions/get",
        "POST models/{id}/predict (1 row)",
        "all requests",
    ):
        assert line in run.stdout, f"{line!r} missing from:\n{run.stdout[-3000:]}"
