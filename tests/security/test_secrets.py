"""check_secrets, generate_secrets / scripts/generate-secrets.sh, and production's refusal of weak keys."""

import io
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.core.secret_checks import secret_key_problem
from apps.core.secrets_env import GENERATED, check_secret_values, generate_values, parse_env_file

ROOT = Path(__file__).resolve().parents[2]
CLEAN_PREFIXES = ("DJANGO_", "DATABASE_URL", "CELERY_", "CACHE_URL", "AWS_", "GRAFANA_", "MLFLOW_", "POSTGRES_",
                  "REDIS_", "MINIO_", "STORAGE_")  # fmt: skip


def run(args: list[str], extra_env: dict | None = None, module: str = "config.settings.test"):
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEAN_PREFIXES)}
    env.update({"DJANGO_SETTINGS_MODULE": module, "DATA_DIR": str(ROOT / "var" / "test" / "settings-check")})
    env.update(extra_env or {})
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def manage(*args: str, extra_env: dict | None = None, module: str = "config.settings.test"):
    return run([sys.executable, "manage.py", *args], extra_env, module)


DEFAULTS_ENV = """\
DJANGO_SECRET_KEY=django-insecure-change-me-please-0123456789-0123456789-0123456789
DATABASE_URL=postgres://maestro:maestro@postgres:5432/maestro
POSTGRES_PASSWORD=postgres
STORAGE_BACKEND=s3
AWS_ACCESS_KEY_ID=minioadmin
AWS_SECRET_ACCESS_KEY=minioadmin
MINIO_ROOT_USER=minioadmin
MINIO_ROOT_PASSWORD=minioadmin
GRAFANA_ADMIN_PASSWORD=admin
MLFLOW_DB_PASSWORD=mlflow
REDIS_PASSWORD=changeme
CACHE_URL=redis://:changeme@redis:6379/2
"""


def test_check_secrets_fails_on_defaults_and_names_each_one(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(DEFAULTS_ENV)
    result = manage("check_secrets", "--env-file", str(env_file), "--deployment")
    assert result.returncode != 0
    failed = [
        line.split(":")[0].removeprefix("FAIL").strip()
        for line in result.stdout.splitlines()
        if line.startswith("FAIL")
    ]
    assert failed == [
        "DJANGO_SECRET_KEY",
        "the database password in DATABASE_URL",
        "POSTGRES_PASSWORD",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
        "MLFLOW_DB_PASSWORD",
        "REDIS_PASSWORD",
        "the Redis password in CACHE_URL",
    ]
    assert "secret(s) missing, default or weak" in result.stderr
    for value in ("minioadmin", "django-insecure-change-me-please", "maestro@postgres"):
        assert value not in result.stdout  # reports name the problem, never the value


def test_check_secrets_fails_with_nothing_configured():
    result = manage("check_secrets")
    assert result.returncode != 0
    assert "FAIL  DJANGO_SECRET_KEY" in result.stdout
    assert "skip  database password: embedded SQLite needs none" in result.stdout


def test_deployment_check_requires_grafana_and_s3_even_when_unset(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(64)}\nPOSTGRES_PASSWORD={secrets.token_urlsafe(24)}\n"
    )
    deployment = manage("check_secrets", "--env-file", str(env_file), "--deployment")
    assert deployment.returncode != 0
    assert "FAIL  GRAFANA_ADMIN_PASSWORD: GRAFANA_ADMIN_PASSWORD is not set" in deployment.stdout
    assert "FAIL  AWS_SECRET_ACCESS_KEY" in deployment.stdout
    embedded = manage("check_secrets", "--env-file", str(env_file), "--embedded")
    assert embedded.returncode == 0, embedded.stdout + embedded.stderr


def test_production_settings_check_as_a_deployment():
    env = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(64), "DJANGO_ALLOWED_HOSTS": "maestro.example.org",
           "DATABASE_URL": f"postgres://maestro:{secrets.token_urlsafe(20)}@db:5432/maestro",
           "CACHE_URL": "redis://redis:6379/2", "CELERY_BROKER_URL": "redis://redis:6379/0",
           "AWS_ACCESS_KEY_ID": "AKIA" + secrets.token_hex(8).upper(),
           "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30), "MLFLOW_TRACKING_URI": "http://mlflow:5000"}  # fmt: skip
    result = manage("check_secrets", extra_env=env, module="config.settings.production")
    assert result.returncode != 0
    assert "FAIL  GRAFANA_ADMIN_PASSWORD" in result.stdout
    assert "ok    the database password in DATABASE_URL" in result.stdout
    env["GRAFANA_ADMIN_PASSWORD"] = secrets.token_urlsafe(18)
    assert manage("check_secrets", extra_env=env, module="config.settings.production").returncode == 0


def test_generated_secrets_pass_the_check(tmp_path):
    target = tmp_path / ".env"
    result = manage("generate_secrets", "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    values = parse_env_file(target)
    assert set(values) == set(GENERATED)
    assert secret_key_problem(values["DJANGO_SECRET_KEY"]) is None
    check = manage("check_secrets", "--env-file", str(target), "--deployment")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Every required secret is set and strong." in check.stdout
    assert not any(value in check.stdout for value in values.values())


def test_generated_values_are_fresh_each_time():
    first, second = generate_values(), generate_values()
    assert all(first[name] != second[name] for name in GENERATED)


def test_generate_never_overwrites_an_existing_env_without_force(tmp_path):
    target = tmp_path / ".env"
    target.write_text("DJANGO_SECRET_KEY=keep-me\n")
    with pytest.raises(CommandError, match="exists already"):
        call_command("generate_secrets", "--output", str(target), stdout=io.StringIO())
    assert target.read_text() == "DJANGO_SECRET_KEY=keep-me\n"
    call_command("generate_secrets", "--output", str(target), "--force", stdout=io.StringIO())
    assert parse_env_file(target)["DJANGO_SECRET_KEY"] != "keep-me"
    [backup] = tmp_path.glob(".env.bak-*")
    assert backup.read_text() == "DJANGO_SECRET_KEY=keep-me\n"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600


def test_shell_script_writes_a_strong_env_without_django(tmp_path):
    target = tmp_path / "deploy.env"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    result = subprocess.run(
        ["sh", str(ROOT / "scripts" / "generate-secrets.sh"), "--output", str(target)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    values = parse_env_file(target)
    assert not [check for check in check_secret_values(values, deployment=True) if check.failed]
    again = subprocess.run(
        ["sh", str(ROOT / "scripts" / "generate-secrets.sh"), "--output", str(target)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert again.returncode != 0 and parse_env_file(target) == values


@pytest.mark.parametrize(
    "key",
    [
        "replace-me-with-a-long-random-string-of-at-least-fifty-characters",
        "maestro-local-development-key-never-use-in-production",
        "a" * 64,
    ],
    ids=["placeholder", "local-default", "one-character"],
)
def test_production_refuses_a_placeholder_key(key):
    env = {"DJANGO_SECRET_KEY": key, "DJANGO_ALLOWED_HOSTS": "maestro.example.org", "CACHE_URL": "redis://redis:6379/2",
           "DATABASE_URL": "postgres://maestro:Zq8vN3kP2xLm@db:5432/maestro",
           "CELERY_BROKER_URL": "redis://redis:6379/0", "MLFLOW_TRACKING_URI": "http://mlflow:5000"}  # fmt: skip
    result = manage("check", extra_env=env, module="config.settings.production")
    assert result.returncode != 0
    assert "Maestro ML refuses to start" in result.stderr
    assert "generate_secrets" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_starts_with_a_generated_key(tmp_path):
    target = tmp_path / ".env"
    manage("generate_secrets", "--output", str(target))
    key = parse_env_file(target)["DJANGO_SECRET_KEY"]
    env = {"DJANGO_SECRET_KEY": key, "DJANGO_ALLOWED_HOSTS": "maestro.example.org", "CACHE_URL": "redis://redis:6379/2",
           "DATABASE_URL": "postgres://maestro:Zq8vN3kP2xLm@db:5432/maestro",
           "CELERY_BROKER_URL": "redis://redis:6379/0", "MLFLOW_TRACKING_URI": "http://mlflow:5000"}  # fmt: skip
    result = manage("check", extra_env=env, module="config.settings.production")
    assert result.returncode == 0, result.stderr
