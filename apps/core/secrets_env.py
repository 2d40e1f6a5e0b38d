"""Generate the secrets of a Maestro ML installation and check the ones configured.

Plain Python (standard library and ``apps.core.secret_checks`` only), so it runs where Django is
not installed yet: ``scripts/generate-secrets.sh`` calls ``python3 -m apps.core.secrets_env``;
``manage.py generate_secrets`` and ``manage.py check_secrets`` use the same functions.
"""

from __future__ import annotations

import argparse
import os
import secrets
import string
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from apps.core.secret_checks import password_problem, secret_key_problem

# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


def _until_clean(make: Callable[[], str], problem: Callable[[str], str | None]) -> str:
    """Draw values until one passes ``problem`` (a random draw matching a placeholder word is possible)."""
    while True:
        value = make()
        if problem(value) is None:
            return value


def _access_key_id() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "MAESTRO" + "".join(secrets.choice(alphabet) for _ in range(13))


def _password(name: str, min_length: int = 24) -> tuple[Callable[[], str], Callable[[str], str | None]]:
    return (lambda: secrets.token_urlsafe(24)), (lambda value: password_problem(name, value, min_length=min_length))


# name -> (what it is, how to make one, why a value would be refused). The names are those
# docker-compose.yml reads from .env.
GENERATED: dict[str, tuple[str, Callable[[], str], Callable[[str], str | None]]] = {
    "DJANGO_SECRET_KEY": (
        "Django signing key (sessions, CSRF, JWT signatures).",
        lambda: secrets.token_urlsafe(64),
        secret_key_problem,
    ),
    "POSTGRES_PASSWORD": (
        "Password of PostgreSQL's superuser postgres, for operators (psql, pg_dump); no application uses it.",
        *_password("POSTGRES_PASSWORD"),
    ),
    "MAESTRO_DB_PASSWORD": (
        "Password of the PostgreSQL role maestro Maestro ML connects as, no superuser "
        "(DATABASE_URL=postgres://maestro:<this>@postgres:5432/maestro).",
        *_password("MAESTRO_DB_PASSWORD"),
    ),
    "MLFLOW_DB_PASSWORD": (
        "Password of the PostgreSQL user of the MLflow tracking server.",
        *_password("MLFLOW_DB_PASSWORD"),
    ),
    "REDIS_PASSWORD": ("Password of Redis (broker, results, cache).", *_password("REDIS_PASSWORD")),
    "MINIO_ROOT_USER": (
        "MinIO's administrator.",
        lambda: "maestro" + secrets.token_hex(4),
        lambda value: password_problem("MINIO_ROOT_USER", value, min_length=3),
    ),
    "MINIO_ROOT_PASSWORD": ("MinIO's administrator password.", *_password("MINIO_ROOT_PASSWORD")),
    "AWS_ACCESS_KEY_ID": (
        "S3 / MinIO access key Maestro ML and MLflow use.",
        _access_key_id,
        lambda value: password_problem("AWS_ACCESS_KEY_ID", value, min_length=16),
    ),
    "AWS_SECRET_ACCESS_KEY": (
        "S3 / MinIO secret key Maestro ML and MLflow use.",
        lambda: secrets.token_urlsafe(30),
        lambda value: password_problem("AWS_SECRET_ACCESS_KEY", value, min_length=30),
    ),
    "GRAFANA_ADMIN_PASSWORD": ("Password of Grafana's admin user.", *_password("GRAFANA_ADMIN_PASSWORD", 16)),
    "HEALTH_CHECK_TOKEN": (
        "What monitoring sends as 'Authorization: Bearer <this>' to GET /health/deep.",
        *_password("HEALTH_CHECK_TOKEN", 32),
    ),
}


def generate_values() -> dict[str, str]:
    """A fresh strong value for every secret Maestro ML's deployment needs."""
    return {name: _until_clean(make, problem) for name, (_, make, problem) in GENERATED.items()}


def render_env(values: Mapping[str, str]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"# Maestro ML secrets, generated {stamp} by generate_secrets. Keep this file private (mode 600),",
        "# never commit it. Other settings are documented in .env.example and may be added below;",
        "# docker-compose also needs DJANGO_ALLOWED_HOSTS (the public host name, not a secret).",
        "",
    ]
    for name, value in values.items():
        description = GENERATED[name][0] if name in GENERATED else ""
        if description:
            lines.append(f"# {description}")
        lines.append(f"{name}={value}")
    return "\n".join(lines) + "\n"


class EnvFileExists(Exception):
    """The target .env exists and overwriting was not asked for."""


def write_env_file(path: Path, content: str, *, force: bool = False) -> Path | None:
    """Write ``content`` to ``path`` with mode 600; an existing file is kept as a dated backup with ``force``.

    Returns the backup's path (or None). Raises EnvFileExists when the file exists and ``force`` is False.
    """
    backup = None
    if path.exists():
        if not force:
            raise EnvFileExists(f"{path} exists already; it was left untouched (use --force to replace it).")
        backup = path.with_name(f"{path.name}.bak-{datetime.now(UTC):%Y%m%d%H%M%S}")
        backup.write_bytes(path.read_bytes())
        backup.chmod(0o600)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(content)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return backup


# ---------------------------------------------------------------------------
# Checking
# ---------------------------------------------------------------------------


def parse_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a .env file (comments, blank lines and ``export`` prefixes allowed)."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@dataclass(frozen=True)
class SecretCheck:
    """The verdict on one secret: ``problem`` is None when it is fine; ``skipped`` when not needed."""

    name: str
    problem: str | None = None
    skipped: str | None = None

    @property
    def failed(self) -> bool:
        return self.problem is not None


def _url_password(url: str) -> tuple[bool, str]:
    """(whether ``url`` names a password, the password)."""
    parts = urlsplit(url)
    if parts.password is None:
        return False, ""
    return True, unquote(parts.password)


def _check(name: str, value: str | None, *, min_length: int = 12) -> SecretCheck:
    return SecretCheck(name, password_problem(name, value, min_length=min_length))


def check_secret_values(values: Mapping[str, str], *, deployment: bool) -> list[SecretCheck]:
    """Judge every secret in ``values`` (environment-style names); values themselves are never reported.

    Always required: DJANGO_SECRET_KEY. Required when used, and always for a deployment
    (docker-compose, Kubernetes): the database password (in DATABASE_URL or POSTGRES_PASSWORD), the
    S3 keys (STORAGE_BACKEND=s3) and GRAFANA_ADMIN_PASSWORD. Checked whenever present: MLflow's
    credentials (MLFLOW_DB_PASSWORD, passwords in its URIs, MLFLOW_TRACKING_PASSWORD), Redis'
    (REDIS_PASSWORD, passwords in its URLs) and MinIO's administrator.
    """
    results = [SecretCheck("DJANGO_SECRET_KEY", secret_key_problem(values.get("DJANGO_SECRET_KEY", "")))]

    database_url = values.get("DATABASE_URL", "")
    uses_server_database = bool(database_url) and not database_url.startswith("sqlite")
    if uses_server_database:
        has_password, password = _url_password(database_url)
        results.append(_check("the database password in DATABASE_URL", password if has_password else ""))
    if "POSTGRES_PASSWORD" in values or (deployment and not uses_server_database):
        results.append(_check("POSTGRES_PASSWORD", values.get("POSTGRES_PASSWORD", "")))
    elif not uses_server_database:
        results.append(SecretCheck("database password", skipped="embedded SQLite needs none"))
    if "MAESTRO_DB_PASSWORD" in values:
        results.append(_check("MAESTRO_DB_PASSWORD", values["MAESTRO_DB_PASSWORD"]))

    storage = values.get("STORAGE_BACKEND", "").strip() or ("s3" if deployment else "local")
    for name, min_length in (("AWS_ACCESS_KEY_ID", 16), ("AWS_SECRET_ACCESS_KEY", 20)):
        if storage == "s3" or deployment or values.get(name):
            results.append(_check(name, values.get(name, ""), min_length=min_length))
        else:
            results.append(SecretCheck(name, skipped="local file storage needs none"))
    if "MINIO_ROOT_USER" in values:
        results.append(_check("MINIO_ROOT_USER", values["MINIO_ROOT_USER"], min_length=3))
    if "MINIO_ROOT_PASSWORD" in values:
        results.append(_check("MINIO_ROOT_PASSWORD", values["MINIO_ROOT_PASSWORD"]))

    if deployment or "GRAFANA_ADMIN_PASSWORD" in values:
        results.append(_check("GRAFANA_ADMIN_PASSWORD", values.get("GRAFANA_ADMIN_PASSWORD", "")))
    else:
        results.append(SecretCheck("GRAFANA_ADMIN_PASSWORD", skipped="no monitoring stack in the embedded default"))

    mlflow_checked = False
    if "MLFLOW_DB_PASSWORD" in values:
        mlflow_checked = True
        results.append(_check("MLFLOW_DB_PASSWORD", values["MLFLOW_DB_PASSWORD"]))
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_BACKEND_STORE_URI"):
        has_password, password = _url_password(values.get(name, ""))
        if has_password:
            mlflow_checked = True
            results.append(_check(f"the password in {name}", password))
    if values.get("MLFLOW_TRACKING_USERNAME") or "MLFLOW_TRACKING_PASSWORD" in values:
        mlflow_checked = True
        results.append(_check("MLFLOW_TRACKING_PASSWORD", values.get("MLFLOW_TRACKING_PASSWORD", "")))
    if not mlflow_checked:
        results.append(SecretCheck("MLflow credentials", skipped="MLflow is configured without credentials"))

    if values.get("HEALTH_CHECK_TOKEN"):  # optional (empty: only administrators see /health/deep)
        results.append(_check("HEALTH_CHECK_TOKEN", values["HEALTH_CHECK_TOKEN"], min_length=24))
    if "REDIS_PASSWORD" in values:
        results.append(_check("REDIS_PASSWORD", values["REDIS_PASSWORD"]))
    for name in ("CACHE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        has_password, password = _url_password(values.get(name, ""))
        if has_password:
            results.append(_check(f"the Redis password in {name}", password))
    return results


def format_report(results: list[SecretCheck]) -> list[str]:
    """One line per secret; values are never printed."""
    lines = []
    for result in results:
        if result.failed:
            lines.append(f"FAIL  {result.name}: {result.problem}")
        elif result.skipped:
            lines.append(f"skip  {result.name}: {result.skipped}")
        else:
            lines.append(f"ok    {result.name}")
    return lines


# ---------------------------------------------------------------------------
# Command line (scripts/generate-secrets.sh)
# ---------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent.parent


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", default=str(ROOT / ".env"), help="File to write (default: the project's .env); '-' for stdout."
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="Replace an existing file (kept as .env.bak-<time>). New keys end every session and a new "
        "database password must also be set in PostgreSQL.",
    )


def generate(output: str, *, force: bool, stdout=sys.stdout) -> int:
    """Write fresh secrets to ``output``; the exit code (0, or 1 when the file exists without ``force``)."""
    content = render_env(generate_values())
    if output == "-":
        stdout.write(content)
        return 0
    try:
        backup = write_env_file(Path(output), content, force=force)
    except EnvFileExists as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    if backup:
        stdout.write(f"Kept the previous file as {backup}\n")
    stdout.write(f"Wrote strong secrets for {', '.join(GENERATED)} to {output} (mode 600).\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a .env with strong random secrets for Maestro ML.")
    add_generate_arguments(parser)
    options = parser.parse_args(argv)
    return generate(options.output, force=options.force)


if __name__ == "__main__":
    raise SystemExit(main())
