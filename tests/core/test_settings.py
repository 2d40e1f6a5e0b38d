"""Each settings module loads in a fresh interpreter, as the processes that use it would."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DJANGO_ALLOWED_HOSTS": "maestro.example.org",
    "DATABASE_URL": "postgres://maestro:Zq8vN3kP2xLm@db:5432/maestro",
    "CELERY_BROKER_URL": "redis://redis:6379/0",
    "CELERY_RESULT_BACKEND": "redis://redis:6379/1",
    "CACHE_URL": "redis://redis:6379/2",
    "AWS_ACCESS_KEY_ID": "AKIA" + secrets.token_hex(8).upper(),
    "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
    "MLFLOW_TRACKING_URI": "http://mlflow:5000",
}


SERVICE_VARIABLES = ("DJANGO_", "DATABASE_URL", "CELERY_", "CACHE_URL", "MLFLOW_")


def run_python(code: str, module: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_VARIABLES)}
    env.update({"DJANGO_SETTINGS_MODULE": module, "DATA_DIR": str(ROOT / "var" / "test" / "settings-check")})
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


LOAD = "import django; django.setup(); from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'])"


@pytest.mark.parametrize(
    ("module", "env", "engine"),
    [
        ("config.settings.local", {}, "sqlite3"),
        ("config.settings.test", {}, "sqlite3"),
        ("config.settings.production", STRONG_ENV, "postgresql"),
    ],
)
def test_settings_modules_load(module, env, engine):
    result = run_python(LOAD, module, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(engine)


def test_base_settings_load_on_their_own():
    result = run_python(LOAD, "config.settings.base", {"DJANGO_SECRET_KEY": secrets.token_urlsafe(64)})
    assert result.returncode == 0, result.stderr


def test_embedded_default_uses_no_server():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.CELERY_BROKER_URL, s.STORAGES['default']['BACKEND'], s.MLFLOW_TRACKING_URI)"
    )
    result = run_python(code, "config.settings.local")
    assert result.returncode == 0, result.stderr
    broker, storage, mlflow_uri = result.stdout.split()
    assert broker == "filesystem://"
    assert storage == "django.core.files.storage.FileSystemStorage"
    assert mlflow_uri.startswith("sqlite:///") and mlflow_uri.endswith("mlflow.db")


@pytest.mark.parametrize(
    "key",
    ["", "short-key", "django-insecure-" + "x" * 60, "changeme" * 8],
    ids=["missing", "short", "django-placeholder", "changeme"],
)
def test_production_refuses_weak_secret_key_with_a_clear_message(key):
    result = run_python(LOAD, "config.settings.production", {**STRONG_ENV, "DJANGO_SECRET_KEY": key})
    assert result.returncode != 0
    assert "Maestro ML refuses to start" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["DATABASE_URL", "CELERY_BROKER_URL", "MLFLOW_TRACKING_URI"])
def test_production_refuses_to_fall_back_to_embedded_services(name):
    env = {key: value for key, value in STRONG_ENV.items() if key != name}
    result = run_python(LOAD, "config.settings.production", env)
    assert result.returncode == 78
    assert f"Maestro ML refuses to start: {name} is not set." in result.stderr
    assert "Traceback" not in result.stderr


def test_production_check_deploy_reports_nothing():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "CELERY_", "CACHE_URL"))}
    env.update(STRONG_ENV)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
