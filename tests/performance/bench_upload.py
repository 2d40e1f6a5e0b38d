"""Dataset upload + profile against ``pandas.read_csv`` of the same file alone: time and peak memory.

A CSV of about 100 MB (1,000,000 rows x 12 mixed columns: integers, floats with missing values,
categories, booleans, ISO dates, free text) is generated in a temporary folder. Then, each in a fresh
process so that one measurement cannot inherit another's memory:

- ``pandas``: ``pandas.read_csv(path)`` with its default (C) engine: the reference;
- ``pandas-pyarrow``: ``pandas.read_csv(path, engine="pyarrow")``, for information;
- ``upload``: one ``POST /api/v1/datasets`` through Django's WSGI handler, the multipart body read
  from a file on disk the way a server hands over a socket: JWT authentication, the streaming upload
  handler (temporary file, SHA-256, UTF-8 check), validation, parsing, profiling, storing the file
  (local storage) and saving the row (SQLite in the temporary folder).

Time is the wall time of that one call. Memory is the peak resident memory *added* by the call: the
process is warmed up first (imports, a tiny CSV read or upload), its resident size is noted, the
kernel's peak-RSS mark is reset (``/proc/self/clear_refs``), and after the call the peak (``VmHWM``)
minus the starting size is reported. Where the mark cannot be reset, the growth of ``ru_maxrss`` is used.
Each measurement is repeated (BENCH_UPLOAD_REPEAT, default 3) and the median is shown.

Goals: upload peak memory < 2x pandas', upload time < 1.5x pandas'. Exit code 1 when one is missed.
Run: ``python tests/performance/bench_upload.py`` (``make bench`` runs every ``bench_*.py``).
Environment: BENCH_UPLOAD_ROWS (1000000), BENCH_UPLOAD_REPEAT (3).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ROWS = int(os.environ.get("BENCH_UPLOAD_ROWS", "1000000"))
REPEAT = int(os.environ.get("BENCH_UPLOAD_REPEAT", "3"))
GOAL_MEMORY, GOAL_TIME = 2.0, 1.5
SMALL_CSV = ROOT / "examples" / "data" / "iris.csv"
MB = 1024 * 1024


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
def generate_csv(path: Path, rows: int) -> None:
    """1M rows x 12 columns of mixed types, about 100 MB, reproducible (seeded)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(42)
    cities = np.array([f"City {number}" for number in range(200)])
    segments = np.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"])
    ratio = rng.random(rows)
    days = rng.integers(0, 1500, rows).astype("timedelta64[D]") + np.datetime64("2020-01-01")
    table = pa.table(
        {
            "id": np.arange(rows),
            "age": rng.integers(18, 90, rows),
            "income": np.round(rng.normal(50_000, 15_000, rows), 2),
            "score": np.round(rng.random(rows), 6),
            "city": rng.choice(cities, rows),
            "segment": rng.choice(segments, rows),
            "active": rng.random(rows) < 0.5,
            "signup": pa.array(days, type=pa.date32()),
            "comment": np.char.add("note ", rng.integers(0, 10**9, rows).astype(str)),
            "ratio": pa.array(ratio, mask=rng.random(rows) < 0.1),
            "count": rng.poisson(3, rows),
            "label": rng.choice(np.array(["yes", "no"]), rows),
        }
    )
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="needed"))


# ---------------------------------------------------------------------------
# Measuring inside a child process
# ---------------------------------------------------------------------------
def _status_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def measure(call: Callable[[], object]) -> dict:
    """Run ``call`` once; its wall time and the peak resident memory it added (MiB)."""
    gc.collect()
    start_rss = _status_kib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark (VmHWM)
        exact = start_rss is not None
    except OSError:
        exact = False
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - began
    if exact:
        extra_kib = _status_kib("VmHWM") - start_rss
        method = "VmHWM - VmRSS"
    else:
        extra_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before
        method = "ru_maxrss growth"
    return {
        "seconds": seconds,
        "extra_mib": extra_kib / 1024,
        "start_mib": (start_rss or 0) / 1024,
        "method": method,
    }, result


def child_pandas(csv_path: str, engine: str) -> dict:
    import pandas as pd

    options = {"engine": "pyarrow"} if engine == "pyarrow" else {}
    pd.read_csv(SMALL_CSV, **options)  # warm-up: lazy imports and first-call costs
    numbers, frame = measure(lambda: pd.read_csv(csv_path, **options))
    numbers["shape"] = list(frame.shape)
    return numbers


def _multipart_body(path: Path, csv_path: Path, project_id: int, boundary: str) -> int:
    """Write the request body a browser or client would send; returns its length."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="project"\r\n\r\n{project_id}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nbenchmark\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{csv_path.name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    with open(path, "wb") as body, open(csv_path, "rb") as source:
        body.write(head)
        shutil.copyfileobj(source, body, MB)
        body.write(f"\r\n--{boundary}--\r\n".encode())
    return path.stat().st_size


def child_upload(csv_path: str, workdir: str, run: int) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.wsgi import get_wsgi_application
    from rest_framework_simplejwt.tokens import RefreshToken

    from apps.projects.services import project_create

    application = get_wsgi_application()
    user = get_user_model().objects.create_user(username=f"bench{run}-{os.getpid()}", password=None)
    user.groups.set(Group.objects.filter(name="ml_engineer"))
    token = str(RefreshToken.for_user(user).access_token)
    boundary = "MaestroBenchBoundary7MA4YWxkTrZu0gW"

    def post(body_path: Path, length: int) -> tuple[str, dict]:
        outcome = {}

        def start_response(status, headers, exc_info=None):
            outcome["status"] = status

        with open(body_path, "rb") as stream:
            environ = {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/api/v1/datasets",
                "SCRIPT_NAME": "",
                "QUERY_STRING": "",
                "SERVER_NAME": "testserver",
                "SERVER_PORT": "80",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REMOTE_ADDR": "127.0.0.1",
                "HTTP_HOST": "testserver",
                "HTTP_AUTHORIZATION": f"Bearer {token}",
                "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
                "CONTENT_LENGTH": str(length),
                "wsgi.input": stream,
                "wsgi.errors": sys.stderr,
                "wsgi.version": (1, 0),
                "wsgi.url_scheme": "http",
                "wsgi.multithread": False,
                "wsgi.multiprocess": False,
                "wsgi.run_once": False,
            }
            response = application(environ, start_response)
            content = b"".join(response)
            response.close()
        return outcome["status"], json.loads(content)

    work = Path(workdir)
    warm_project = project_create(owner=user, name=f"warm-up {run}")
    warm_body = work / f"warm-{os.getpid()}.body"
    status, payload = post(warm_body, _multipart_body(warm_body, SMALL_CSV, warm_project.pk, boundary))
    if not status.startswith("201"):
        raise RuntimeError(f"warm-up upload answered {status}: {payload}")

    project = project_create(owner=user, name=f"benchmark {run}")
    body = work / f"big-{os.getpid()}.body"
    length = _multipart_body(body, Path(csv_path), project.pk, boundary)
    numbers, (status, payload) = measure(lambda: post(body, length))
    body.unlink()
    if not status.startswith("201"):
        raise RuntimeError(f"upload answered {status}: {payload}")
    numbers["shape"] = [payload["n_rows"], payload["n_columns"]]
    numbers["dtypes"] = sorted({column["dtype"] for column in payload["columns"]})
    return numbers


# ---------------------------------------------------------------------------
# Parent: prepare, run children, report
# ---------------------------------------------------------------------------
def run_child(args: list[str], env: dict[str, str]) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark step {args[0]} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="maestro-bench-upload-") as tmp:
        work = Path(tmp)
        (work / "uploads").mkdir()
        csv_path = work / "bench.csv"
        began = time.perf_counter()
        generate_csv(csv_path, ROWS)
        size = csv_path.stat().st_size
        took = time.perf_counter() - began
        print(
            f"Generated {csv_path.name}: {size / MB:.1f} MiB ({size:,} bytes), {ROWS:,} rows x 12 columns, {took:.1f} s"
        )

        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
            "DATA_DIR": str(work / "data"),
            "FILE_UPLOAD_TEMP_DIR": str(work / "uploads"),
            "DATASET_MAX_UPLOAD_BYTES": str(max(size * 2, 200 * MB)),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if migrate.returncode != 0:
            print(f"Could not prepare the benchmark database:\n{migrate.stderr[-4000:]}")
            return 1

        results: dict[str, list[dict]] = {"pandas": [], "pandas-pyarrow": [], "upload": []}
        for run in range(REPEAT):
            results["pandas"].append(run_child(["pandas", str(csv_path), "c"], env))
            results["pandas-pyarrow"].append(run_child(["pandas", str(csv_path), "pyarrow"], env))
            results["upload"].append(run_child(["upload", str(csv_path), str(work), str(run)], env))

    def median(name: str, key: str) -> float:
        return statistics.median(result[key] for result in results[name])

    shapes = {tuple(result["shape"]) for runs in results.values() for result in runs}
    labels = {
        "pandas": "pandas.read_csv (default C engine)",
        "pandas-pyarrow": "pandas.read_csv(engine='pyarrow')",
        "upload": "POST datasets (upload + profile)",
    }
    print(f"\nMedian of {REPEAT} run(s), each in a fresh process; memory = peak RSS added by the call")
    print(f"({results['upload'][0]['method']}); every read saw shape(s) {sorted(shapes)}.\n")
    print(f"{'measure':<40}{'time (s)':>10}{'peak +MiB':>12}{'process start MiB':>20}")
    for name, label in labels.items():
        print(
            f"{label:<40}{median(name, 'seconds'):>10.2f}{median(name, 'extra_mib'):>12.0f}"
            f"{median(name, 'start_mib'):>20.0f}"
        )
    time_ratio = median("upload", "seconds") / median("pandas", "seconds")
    memory_ratio = median("upload", "extra_mib") / median("pandas", "extra_mib")
    time_ok, memory_ok = time_ratio < GOAL_TIME, memory_ratio < GOAL_MEMORY
    verdict = {True: "met", False: "MISSED"}
    print(
        f"\nupload / pandas.read_csv: time {time_ratio:.2f}x (goal < {GOAL_TIME}x: {verdict[time_ok]}), "
        f"memory {memory_ratio:.2f}x (goal < {GOAL_MEMORY}x: {verdict[memory_ok]})"
    )
    print(f"column types found by the profile: {', '.join(results['upload'][0]['dtypes'])}")
    return 0 if time_ok and memory_ok else 1


def child_main(args: list[str]) -> None:
    kind = args[0]
    if kind == "pandas":
        result = child_pandas(args[1], args[2])
    elif kind == "upload":
        result = child_upload(args[1], args[2], int(args[3]))
    else:
        raise SystemExit(f"unknown benchmark step {kind!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        sys.exit(main())
