"""The production files (Dockerfile, docker-compose.yml, deploy/**) checked statically: fast, no network.

No Docker engine or cluster is needed: every YAML parses, docker-compose.yml validates against the
Compose specification's JSON schema (vendored by check-jsonschema), the Kubernetes manifests are
checked for the properties production relies on, and the Grafana panels and Prometheus alerts only
use metric names that django-prometheus (read from the installed library) and celery-exporter export.
"""

from __future__ import annotations

import ast
import copy
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from functools import cache
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.conf import settings

from apps.core.secret_checks import secret_key_problem

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s" / "base"
OVERLAYS = DEPLOY / "k8s" / "overlays"
ENVIRONMENTS = ("staging", "production")
KUBERNETES_VERSION = "1.33.0"  # the schemas manifests are validated against (kubernetes-validate, offline)
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
NGINX_CONF = DEPLOY / "nginx" / "maestro.conf"
DASHBOARD_DIR = DEPLOY / "grafana" / "dashboards"
DASHBOARD = DASHBOARD_DIR / "maestro-overview.json"
DASHBOARDS = sorted(DASHBOARD_DIR.glob("*.json"))
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"

MAESTRO_SERVICES = ("web", "worker-training", "worker-default", "beat", "migrate")
EXPECTED_SERVICES = {
    *MAESTRO_SERVICES,
    "postgres",
    "redis",
    "minio",
    "createbuckets",
    "mlflow",
    "nginx",
    "prometheus",
    "grafana",
    "celery-exporter",
    "node-exporter",
    "alertmanager",
}
SECRET_KEY_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|CREDENTIAL|_AUTH$", re.IGNORECASE)
# A whole value that only refers to a variable, with no default: ${NAME}, ${NAME:?message}, ${NAME?message}.
PURE_REFERENCE = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*(?::?\?[^}]*)?\}$")
INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
URL_PASSWORD = re.compile(r"://[^/@\s:]*:([^@\s]+)@")

# celery-exporter (danihodovic/celery-exporter, src/exporter.py): metric -> labels. The image is
# not a Python dependency of Maestro ML, so its names are written down here.
CELERY_EXPORTER_METRICS = {
    **{
        f"celery_task_{event}_total": {"name", "hostname", "queue_name"}
        for event in ("sent", "received", "started", "succeeded", "rejected", "revoked", "retried")
    },
    "celery_task_failed_total": {"name", "hostname", "queue_name", "exception"},
    "celery_task_runtime_bucket": {"name", "hostname", "queue_name", "le"},
    "celery_task_runtime_count": {"name", "hostname", "queue_name"},
    "celery_task_runtime_sum": {"name", "hostname", "queue_name"},
    "celery_worker_up": {"hostname"},
    "celery_worker_tasks_active": {"hostname"},
    "celery_queue_length": {"queue_name"},
    "celery_active_consumer_count": {"queue_name"},
    "celery_active_worker_count": {"queue_name"},
    "celery_active_process_count": {"queue_name"},
}
# node-exporter (prometheus/node_exporter, collectors cpu, meminfo, filesystem, loadavg): metric -> labels.
NODE_EXPORTER_METRICS = {
    "node_cpu_seconds_total": {"cpu", "mode"},
    "node_memory_MemAvailable_bytes": set(),
    "node_memory_MemTotal_bytes": set(),
    "node_filesystem_avail_bytes": {"device", "fstype", "mountpoint"},
    "node_filesystem_size_bytes": {"device", "fstype", "mountpoint"},
    "node_load1": set(),
}
# Exported by `manage.py backup` (the backup feature); the backup alert may name it before that code lands
# here, dashboards may not.
BACKUP_METRICS = {"maestro_backup_last_success_timestamp_seconds": set()}
PROMETHEUS_BUILTIN_METRICS = {"up": set()}
TARGET_LABELS = {"job", "instance", "service", "deployment"}
PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------
def yaml_files() -> list[Path]:
    found = [COMPOSE_FILE, *DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")]
    return sorted(set(found))


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict:
    return compose()["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: (None if value is None else str(value)) for key, value in env.items()}


def command_of(service: dict) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


@cache
def env_example_keys() -> frozenset[str]:
    keys = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
        if match:
            keys.add(match.group(1))
    return frozenset(keys)


@cache
def k8s_documents() -> tuple[tuple[Path, dict], ...]:
    documents = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                documents.append((path, document))
    return tuple(documents)


def k8s_of_kind(kind: str) -> list[dict]:
    return [document for _, document in k8s_documents() if document["kind"] == kind]


def pod_specs() -> list[tuple[str, dict]]:
    """(name, pod spec) of every Deployment, Job and CronJob."""
    return (
        [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in k8s_of_kind("Deployment")]
        + [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in k8s_of_kind("Job")]
        + [
            (d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]["spec"])
            for d in k8s_of_kind("CronJob")
        ]
    )


def nginx_directives(name: str) -> list[str]:
    """Arguments of every `name ...;` directive in the nginx config (comments stripped)."""
    text = "\n".join(line.split("#", 1)[0] for line in NGINX_CONF.read_text().splitlines())
    return [match.group(1).strip() for match in re.finditer(rf"(?:^|[\s{{;]){name}\s+([^;]*);", text)]


def production_settings_ast() -> ast.Module:
    return ast.parse((ROOT / "config" / "settings" / "production.py").read_text())


def assigned_literal(module: ast.Module, name: str):
    for node in ast.walk(module):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned a literal")


def size_in_bytes(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value.strip()).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


# ---------------------------------------------------------------------------
# Metric names: django-prometheus read from the installed library
# ---------------------------------------------------------------------------
@cache
def django_prometheus_metrics() -> dict[str, set[str]]:
    """Every sample name django-prometheus can export, with its label names."""
    import django_prometheus.cache.metrics  # noqa: F401 - registers the cache metrics
    import django_prometheus.db.metrics  # noqa: F401 - registers the database metrics
    from django_prometheus.middleware import Metrics
    from prometheus_client import REGISTRY

    Metrics.get_instance()  # registers the HTTP metrics
    catalogue: dict[str, set[str]] = {}
    for collector, names in REGISTRY._collector_to_names.items():
        labels = set(getattr(collector, "_labelnames", ()))
        for name in names:
            catalogue[name] = labels | ({"le"} if name.endswith("_bucket") else set())
    return {name: labels for name, labels in catalogue.items() if name.startswith("django_")}


@cache
def maestro_metrics() -> dict[str, set[str]]:
    """Every sample name Maestro ML's own metrics export (read from the live registry), with label names."""
    from django.apps import apps
    from prometheus_client import REGISTRY

    assert apps.ready  # the apps' ready() registered their collectors
    catalogue: dict[str, set[str]] = {}
    for collector in list(REGISTRY._collector_to_names):
        for family in collector.describe() if hasattr(collector, "describe") else ():
            if not family.name.startswith("maestro_"):
                continue
            labels = set(getattr(collector, "_labelnames", ()) or getattr(family, "_labelnames", ()))
            if family.type == "counter":
                catalogue[family.name + "_total"] = labels
            elif family.type == "histogram":
                catalogue[family.name + "_bucket"] = labels | {"le"}
                catalogue[family.name + "_sum"] = labels
                catalogue[family.name + "_count"] = labels
            else:
                catalogue[family.name] = labels
    return catalogue


def known_metrics(*, alerts: bool = False) -> dict[str, set[str]]:
    return {
        **django_prometheus_metrics(),
        **maestro_metrics(),
        **CELERY_EXPORTER_METRICS,
        **NODE_EXPORTER_METRICS,
        **PROMETHEUS_BUILTIN_METRICS,
        **(BACKUP_METRICS if alerts else {}),
    }


def promql_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) used by a PromQL expression."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    labels: set[str] = set()
    for clause in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        labels.update(part.strip() for part in clause.split(",") if part.strip())
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    for matchers in re.findall(r"\{([^}]*)\}", text):
        labels.update(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    metrics = {
        match.group(1)
        for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text)
        if match.group(1).lower() not in PROMQL_WORDS
    }
    return metrics, labels


def check_promql(expr: str, where: str, *, alerts: bool = False) -> set[str]:
    catalogue = known_metrics(alerts=alerts)
    metrics, labels = promql_names(expr)
    assert metrics, f"{where}: no metric in {expr!r}"
    unknown = metrics - catalogue.keys()
    assert not unknown, f"{where}: {sorted(unknown)} are not exported metrics ({expr})"
    allowed = set().union(*(catalogue[name] for name in metrics)) | TARGET_LABELS
    assert labels <= allowed, f"{where}: labels {sorted(labels - allowed)} do not exist on {sorted(metrics)}"
    return metrics


def test_promql_parser_finds_metrics_and_labels():
    metrics, labels = promql_names(
        'sum by (le, view) (rate(django_x_bucket{status=~"5.."}[$__rate_interval])) / clamp_min(up, 1e-9)'
    )
    assert metrics == {"django_x_bucket", "up"}
    assert labels == {"le", "view", "status"}


# ---------------------------------------------------------------------------
# Every YAML file
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_file_parses(path):
    documents = [document for document in yaml.safe_load_all(path.read_text()) if document is not None]
    assert documents, f"{path} holds no document"


# ---------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------
@cache
def compose_schema_validator():
    schema = json.loads(files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_compose_file_follows_the_compose_specification():
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in compose_schema_validator().iter_errors(compose())]
    assert not errors, "\n".join(errors)


def test_compose_schema_check_catches_mistakes():
    broken = json.loads(json.dumps(compose()))
    broken["services"]["web"]["healthcheck"]["tset"] = broken["services"]["web"]["healthcheck"].pop("test")
    broken["services"]["web"]["depends_on"]["postgres"]["condition"] = "service_ready"
    assert len(list(compose_schema_validator().iter_errors(broken))) >= 2


def test_compose_has_every_service():
    assert set(services()) >= EXPECTED_SERVICES


def is_one_shot(name: str) -> bool:
    return str(services()[name].get("restart", "")) == "no"


def test_every_service_has_a_healthcheck_or_is_one_shot():
    for name, service in services().items():
        if is_one_shot(name) and service.get("profiles"):
            continue  # run on demand (docker compose run), never as part of `up`
        if is_one_shot(name):
            waited_for = [
                other
                for other, spec in services().items()
                if isinstance(spec.get("depends_on"), dict)
                and spec["depends_on"].get(name, {}).get("condition") == "service_completed_successfully"
            ]
            assert waited_for, f"one-shot {name} is not awaited with service_completed_successfully"
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check.get("test"), f"{name} has no health check"


def test_depends_on_waits_for_health_or_completion():
    for name, service in services().items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must name conditions"
        for target, spec in depends_on.items():
            assert target in services(), f"{name} depends on unknown {target}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert services()[target].get("healthcheck", {}).get("test"), f"{target} has no health check"
            else:
                assert condition == "service_completed_successfully" and is_one_shot(target), (name, target)


def test_maestro_processes_run_production_settings_and_never_get_env_whole():
    for name in MAESTRO_SERVICES:
        service = services()[name]
        assert environment(service)["DJANGO_SETTINGS_MODULE"] == "config.settings.production", name
        env_files = service.get("env_file")
        env_files = [env_files] if isinstance(env_files, str) else env_files
        assert env_files == [{"path": "maestro.env", "required": False}], name  # non-secret settings only
        assert environment(service)["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?"), name


def test_web_environment_is_documented_in_env_example():
    undocumented = set(environment(services()["web"])) - env_example_keys()
    assert not undocumented, f"set for web but missing from .env.example: {sorted(undocumented)}"


def test_workers_consume_every_queue_with_the_documented_options():
    training = command_of(services()["worker-training"])
    default = command_of(services()["worker-default"])
    assert training[:4] == ["celery", "-A", "config", "worker"]
    assert training[training.index("-Q") + 1] == "training"
    assert training[training.index("--concurrency") + 1] == "1"
    assert training[training.index("--prefetch-multiplier") + 1] == "1"
    assert default[default.index("-Q") + 1] == "default,explain"
    consumed = {"training", *default[default.index("-Q") + 1].split(",")}
    assert consumed == {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert "--task-events" in training and "--task-events" in default  # celery-exporter's input


def test_beat_migrate_and_mlflow_commands():
    beat = command_of(services()["beat"])
    assert beat[:4] == ["celery", "-A", "config", "beat"]
    assert beat[beat.index("--scheduler") + 1] == "django_celery_beat.schedulers:DatabaseScheduler"
    assert "--scale" not in str(services()["beat"]) and "deploy" not in services()["beat"]
    assert command_of(services()["migrate"]) == ["python", "manage.py", "migrate", "--noinput"]
    mlflow = services()["mlflow"]
    command = command_of(mlflow)
    assert command[command.index("--artifacts-destination") + 1] == "s3://mlflow"
    assert environment(mlflow)["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg://mlflow:${")
    assert environment(mlflow)["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")
    assert environment(mlflow)["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert environment(services()["web"])["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def all_strings(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from all_strings(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from all_strings(value, f"{path}[{index}]")
    elif node is not None:
        yield path, str(node)


def test_compose_holds_no_secret_literal():
    for name, service in services().items():
        for key, value in environment(service).items():
            if SECRET_KEY_NAME.search(key) and value is not None:
                assert PURE_REFERENCE.match(value), f"{name}: {key} must be ${{{key}:?...}}-style, not {value!r}"
    for path, value in all_strings(compose()):
        for password in URL_PASSWORD.findall(value):
            assert PURE_REFERENCE.match(password), f"{path}: a URL carries a literal password"
        for flag, secret in re.findall(r"--(requirepass|password)[ =](\S+)", value):
            assert secret.strip("\"'").startswith("$"), f"{path}: --{flag} is given a literal"


def test_compose_interpolations_are_well_formed_and_secrets_have_no_default():
    text = "\n".join(value for _, value in all_strings(compose()))
    for expression in INTERPOLATION.findall(text):
        match = re.fullmatch(r"([A-Z_][A-Z0-9_]*)(?:(:?[-?])(.*))?", expression, re.DOTALL)
        assert match, f"malformed interpolation ${{{expression}}}"
        variable, operator, _ = match.groups()
        if SECRET_KEY_NAME.search(variable):
            assert operator in (":?", "?"), f"${{{variable}}} must be required (:?), never defaulted"


def test_required_variables_are_documented():
    text = "\n".join(value for _, value in all_strings(compose()))
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", text))
    assert "DJANGO_SECRET_KEY" in required
    doc = (ROOT / "docs" / "deployment.md").read_text()
    missing = {variable for variable in required if variable not in doc}
    assert not missing, f"docs/deployment.md does not mention {sorted(missing)}"


def test_generate_secrets_writes_every_secret_compose_requires():
    from apps.core.secrets_env import GENERATED, generate_values

    text = "\n".join(value for _, value in all_strings(compose()))
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", text)) - {"DJANGO_ALLOWED_HOSTS"}
    assert required <= set(GENERATED), f"generate_secrets does not write {sorted(required - set(GENERATED))}"
    for name, value in generate_values().items():
        if name in required:  # compose puts them into URLs and shell commands
            assert re.fullmatch(r"[A-Za-z0-9_-]+", value), f"{name} is not URL-safe"


def test_bind_mounts_exist_in_the_repository():
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_only_nginx_is_published_beyond_the_host():
    for name, service in services().items():
        for port in service.get("ports", []):
            if name != "nginx":
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to every interface"
    assert {str(port) for port in services()["nginx"]["ports"]} == {"80:80", "443:443"}


def test_every_maestro_image_service_overrides_the_web_healthcheck():
    for name, service in services().items():
        if "build" in service and name != "web":
            check = service.get("healthcheck", {})
            assert check.get("disable") or "web" not in " ".join(map(str, check.get("test", []))).split(), name


# ---------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            result.append((instruction.upper(), rest.strip()))
    return result


def test_dockerfile_base_image_and_system_libraries():
    text = DOCKERFILE.read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in text
    froms = [rest for instruction, rest in dockerfile_instructions() if instruction == "FROM"]
    assert froms and all(rest.startswith("${PYTHON_IMAGE}") for rest in froms)
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "libgomp1"):
        assert package in text, f"{package} is not installed"
    assert "pip install ." in text


def test_dockerfile_runs_as_a_non_root_numeric_user():
    users = [rest for instruction, rest in dockerfile_instructions() if instruction == "USER"]
    assert users, "no USER instruction"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"final USER {users[-1]} must be a numeric non-root uid"
    assert f"--uid {uid}" in DOCKERFILE.read_text()
    instructions = [instruction for instruction, _ in dockerfile_instructions()]
    last_user = len(instructions) - 1 - instructions[::-1].index("USER")
    assert "RUN" not in instructions[last_user:], "nothing may run as root after the final USER"


def test_dockerfile_embeds_no_secret():
    for instruction, rest in dockerfile_instructions():
        if instruction in ("ENV", "ARG", "LABEL"):
            assert "SECRET" not in rest.upper() and "PASSWORD" not in rest.upper(), f"{instruction} {rest}"
    runs = [rest for instruction, rest in dockerfile_instructions() if instruction == "RUN"]
    with_key = [rest for rest in runs if "DJANGO_SECRET_KEY" in rest]
    assert len(with_key) == 1 and "collectstatic" in with_key[0], "the key may only reach the collectstatic RUN"
    dummy = re.search(r"DJANGO_SECRET_KEY=(\S+)", with_key[0]).group(1)
    assert secret_key_problem(dummy), "production must refuse the build-time key"
    assert "DJANGO_SETTINGS_MODULE=deploy.docker.build_settings" in with_key[0]


def test_collectstatic_settings_write_the_manifest_production_serves():
    build = (DEPLOY / "docker" / "build_settings.py").read_text()
    assert "from config.settings.local import *" in build
    production = production_settings_ast()
    backends = [
        ast.literal_eval(node.values[node.keys.index(key)])["BACKEND"]
        for node in ast.walk(production)
        if isinstance(node, ast.Dict)
        for key in node.keys
        if isinstance(key, ast.Constant) and key.value == "staticfiles"
    ]
    assert backends, "production.py names no staticfiles storage"
    assert f'"BACKEND": "{backends[0]}"' in build


def test_dockerfile_entrypoint_defaults_to_gunicorn_with_a_healthcheck():
    instructions = dict(dockerfile_instructions())
    assert json.loads(instructions["ENTRYPOINT"])[-1] == "/app/deploy/docker/entrypoint.sh"
    assert json.loads(instructions["CMD"]) == ["web"]
    assert "healthcheck.py" in instructions["HEALTHCHECK"] and '"web"' in instructions["HEALTHCHECK"]
    entrypoint = (DEPLOY / "docker" / "entrypoint.sh").read_text()
    assert "exec gunicorn config.wsgi:application" in entrypoint
    assert 'exec "$@"' in entrypoint


def test_dockerignore_keeps_secrets_out_and_what_the_build_needs_in():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".env.*", ".venv", ".git", "var"} <= ignored
    for needed in ("deploy/docker", "manage.py", "config", "apps", "templates", "static", "pyproject.toml"):
        assert needed not in ignored and not any(needed.startswith(f"{entry}/") for entry in ignored), needed


@pytest.mark.parametrize(
    "script",
    ["docker/entrypoint.sh", "postgres/initdb/10-mlflow.sh", "minio/createbuckets.sh"],
)
def test_shell_scripts_parse_and_are_executable(script):
    path = DEPLOY / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    result = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_gunicorn_keeps_idle_connections_longer_than_nginx(monkeypatch, tmp_path):
    # The config sets PROMETHEUS_MULTIPROC_DIR when it is unset: keep that out of this process (and of the
    # subprocesses later tests start, which would write their metrics into a folder that does not exist).
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    namespace: dict = {}
    exec(compile((DEPLOY / "docker" / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)  # noqa: S102
    assert namespace["bind"] == "0.0.0.0:8000"
    assert callable(namespace["child_exit"]) and callable(namespace["on_starting"])
    upstream = re.search(r"upstream maestro_web \{([^}]*)\}", NGINX_CONF.read_text()).group(1)
    nginx_idle = int(re.search(r"keepalive_timeout\s+(\d+)s;", upstream).group(1))
    assert namespace["keepalive"] > nginx_idle, "nginx would reuse connections gunicorn already closed"
    read_timeout = int(nginx_directives("proxy_read_timeout")[0].rstrip("s"))
    assert read_timeout > namespace["timeout"]


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200
    hosts: list[str] = []

    def do_GET(self):  # noqa: N802 - the stdlib's name
        _Handler.hosts.append(self.headers.get("Host"))
        self.send_response(_Handler.status)
        self.end_headers()

    def log_message(self, *args):
        return


@pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (503, 1)])
def test_healthcheck_script_reports_the_answer(status, exit_code):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.status = status
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/health"
        result = subprocess.run(
            [sys.executable, str(DEPLOY / "docker" / "healthcheck.py"), "url", url],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        server.shutdown()
    assert result.returncode == exit_code, result.stderr
    if exit_code:
        assert str(status) in result.stderr


def test_healthcheck_host_is_an_allowed_host_everywhere():
    script = (DEPLOY / "docker" / "healthcheck.py").read_text()
    host = re.search(r'^WEB_HOST = "([^"]+)"', script, re.MULTILINE).group(1)
    assert host in environment(services()["web"])["DJANGO_ALLOWED_HOSTS"].split(",")
    configmap = k8s_of_kind("ConfigMap")[0]["data"]
    assert host in configmap["DJANGO_ALLOWED_HOSTS"].split(",")


# ---------------------------------------------------------------------------
# nginx
# ---------------------------------------------------------------------------
def test_nginx_terminates_tls_and_redirects_http():
    listens = nginx_directives("listen")
    assert any("443 ssl" in listen for listen in listens)
    assert nginx_directives("ssl_certificate") == ["/etc/nginx/certs/fullchain.pem"]
    assert nginx_directives("ssl_certificate_key") == ["/etc/nginx/certs/privkey.pem"]
    assert all("SSL" not in protocol for protocol in nginx_directives("ssl_protocols"))
    assert "301 https://$host$request_uri" in nginx_directives("return")


def test_nginx_sets_the_header_production_trusts_for_https():
    header, value = assigned_literal(production_settings_ast(), "SECURE_PROXY_SSL_HEADER")
    assert (header, value) == ("HTTP_X_FORWARDED_PROTO", "https")
    proxy_headers = dict(directive.split(None, 1) for directive in nginx_directives("proxy_set_header"))
    assert proxy_headers["X-Forwarded-Proto"] == "$scheme"
    assert proxy_headers["Host"] == "$host"
    assert proxy_headers["X-Real-IP"] == "$remote_addr"
    assert proxy_headers["X-Forwarded-For"] == "$remote_addr"


@cache
def nginx_tree() -> tuple:
    """The nginx config as nested ``(name, args, children)`` blocks (quotes kept, comments dropped)."""
    text = "\n".join(line.split("#", 1)[0] for line in NGINX_CONF.read_text().splitlines())
    tokens = re.findall(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[{};]|[^\s{};'"]+""", text)

    def block(position: int) -> tuple[list, int]:
        items, words = [], []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == ";":
                items.append((words[0], tuple(words[1:]), ()))
                words = []
            elif token == "{":
                children, position = block(position)
                items.append((words[0], tuple(words[1:]), tuple(children)))
                words = []
            elif token == "}":
                return items, position
            else:
                words.append(token)
        return items, position

    return tuple(block(0)[0])


def https_server() -> tuple:
    servers = [item for item in nginx_tree() if item[0] == "server"]
    return next(s for s in servers if any(c[0] == "listen" and "443" in c[1][0] for c in s[2]))


def directive(block: tuple, name: str) -> str | None:
    return next((" ".join(child[1]) for child in block[2] if child[0] == name), None)


def nginx_location_for(path: str) -> tuple:
    """The location of the HTTPS server nginx would choose for ``path`` (exact, then regex, then longest prefix)."""
    locations = [child for child in https_server()[2] if child[0] == "location" and not child[1][0].startswith("@")]
    for location in locations:
        if location[1][0] == "=" and location[1][1] == path:
            return location
    prefixes = [loc for loc in locations if loc[1][0] not in ("=", "~", "~*") and path.startswith(loc[1][-1])]
    longest = max(prefixes, key=lambda loc: len(loc[1][-1]))
    if longest[1][0] != "^~":
        for location in locations:
            if location[1][0] in ("~", "~*"):
                flags = re.IGNORECASE if location[1][0] == "~*" else 0
                if re.search(location[1][1].strip("\"'"), path, flags):
                    return location
    return longest


def nginx_body_limit(path: str) -> int:
    location = nginx_location_for(path)
    return size_in_bytes(
        directive(location, "client_max_body_size") or directive(https_server(), "client_max_body_size")
    )


def ingress_body_limit(path: str) -> int:
    """The proxy-body-size of the Ingress path ingress-nginx routes ``path`` to (longest matching path first)."""
    candidates = []
    for ingress in k8s_of_kind("Ingress"):
        annotations = ingress["metadata"].get("annotations", {})
        regex = annotations.get("nginx.ingress.kubernetes.io/use-regex") == "true"
        for rule in ingress["spec"]["rules"]:
            for entry in rule["http"]["paths"]:
                pattern = entry["path"]
                if entry["pathType"] == "Exact":
                    matches = path == pattern
                elif regex:
                    matches = re.match(pattern, path, re.IGNORECASE) is not None
                else:
                    matches = path.startswith(pattern)
                if matches:
                    candidates.append((len(pattern), annotations.get("nginx.ingress.kubernetes.io/proxy-body-size")))
    assert candidates, f"no Ingress routes {path}"
    return size_in_bytes(max(candidates)[1] or "1m")


UPLOAD_PATHS = ("/api/v1/datasets", "/api/v1/datasets/", "/projects/7/upload")
PREDICT_PATHS = (
    "/api/v1/models/7/predict",
    "/api/v1/models/7/predict/",
    "/api/v1/registered-models/7/predict",
    "/api/v1/explain/shap",
    "/api/v1/explain/lime/",
)
SMALL_BODY_PATHS = (
    "/api/v1/auth/login",
    "/api/v1/auth/register",
    "/api/v1/auth/refresh",
    "/api/v1/projects",
    "/api/v1/datasets/7",
    "/api/v1/datasets/7/preview",
    "/api/v1/models/7",
    "/api/v1/models/7/batch-predictions",
    "/api/v1/explain/7",
    "/projects/7/uploads",
    "/accounts/login/",
    "/admin/login/",
)


@pytest.mark.parametrize("limit_of", [nginx_body_limit, ingress_body_limit], ids=["nginx", "ingress"])
def test_body_limits_are_large_only_where_data_is_sent(limit_of):
    dataset, predict = settings.DATASET_MAX_UPLOAD_BYTES, settings.API_JSON_MAX_BYTES_PREDICT
    small = {path: limit_of(path) for path in SMALL_BODY_PATHS}
    default = max(small.values())
    assert set(small.values()) == {default}, small
    # Above the application's own limits (it answers with its message), far below an upload's.
    assert max(settings.API_JSON_MAX_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE) < default <= 4 * 1024 * 1024
    for path in UPLOAD_PATHS:
        assert dataset < limit_of(path) <= dataset * 1.1, f"{path}: the proxy must let the application judge"
    for path in PREDICT_PATHS:
        assert predict < limit_of(path) <= predict * 1.2, path


def test_nginx_locations_with_their_own_limit_pass_to_the_application():
    for location in https_server()[2]:
        if location[0] == "location" and directive(location, "client_max_body_size"):
            assert directive(location, "proxy_pass") == "http://maestro_web", location[1]


def test_nginx_serves_static_and_hides_metrics():
    text = NGINX_CONF.read_text()
    static = re.search(r"location /static/ \{(.*?)\n    \}", text, re.DOTALL).group(1)
    assert "root /srv;" in static and "try_files $uri @web;" in static
    assert re.search(r"location = /metrics \{\s*return 404;", text)
    assert "/srv/static" in " ".join(services()["nginx"]["volumes"])
    assert "static:/srv/static" in services()["web"]["volumes"]
    for directive in ("proxy_connect_timeout", "proxy_send_timeout", "client_body_timeout"):
        assert nginx_directives(directive), directive


def test_nginx_configuration_is_accepted_by_nginx(tmp_path):
    nginx = shutil.which("nginx")
    if not nginx:
        pytest.skip("nginx is not installed on this machine")
    (tmp_path / "certs").mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=maestro.test"]
        + ["-keyout", str(tmp_path / "certs/privkey.pem"), "-out", str(tmp_path / "certs/fullchain.pem")],
        capture_output=True,
        check=True,
    )
    site = (
        NGINX_CONF.read_text()
        .replace("server web:8000;", "server 127.0.0.1:8000;")
        .replace("/etc/nginx/certs/", f"{tmp_path}/certs/")
        .replace("http2 on;", "")  # older nginx builds spell it on `listen`
    )
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        f"  fastcgi_temp_path {tmp_path}/fastcgi;\n  uwsgi_temp_path {tmp_path}/uwsgi;\n"
        f"  scgi_temp_path {tmp_path}/scgi;\n"
        f"  include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-q", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------
# Prometheus and Grafana
# ---------------------------------------------------------------------------
def test_prometheus_scrapes_web_metrics_and_celery_exporter():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    web = jobs["maestro-web"]
    assert web.get("metrics_path", "/metrics") == "/metrics"
    assert web["static_configs"][0]["targets"] == ["web:8000"]
    assert "8000" in services()["web"]["expose"]
    assert jobs["celery"]["static_configs"][0]["targets"] == ["celery-exporter:9808"]
    for rule_file in config["rule_files"]:
        assert (DEPLOY / "prometheus" / Path(rule_file).name).exists()
    assert "./deploy/prometheus:/etc/prometheus:ro" in services()["prometheus"]["volumes"]


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def test_alert_rules_use_exported_metrics():
    for rule in alert_rules():
        check_promql(rule["expr"], rule["alert"], alerts=True)


def test_alert_rules_cover_what_operations_watch():
    exprs = {rule["alert"]: " ".join(rule["expr"].split()) for rule in alert_rules()}
    assert '{status=~"5.."}' in exprs["MaestroHighErrorRate"] and exprs["MaestroHighErrorRate"].endswith("> 0.01")
    assert exprs["MaestroSlowRequests"].startswith("histogram_quantile(0.99,") and exprs[
        "MaestroSlowRequests"
    ].endswith("> 1")
    assert "maestro_database_max_connections" in exprs["MaestroDatabaseConnectionsNearLimit"]
    assert "> 0.8" in exprs["MaestroDiskAlmostFull"]
    assert 'status="failed"' in exprs["MaestroJobFailureRate"] and "> 0.1" in exprs["MaestroJobFailureRate"]
    assert "maestro_celery_queue_length" in exprs["MaestroQueueBacklog"]
    assert "maestro_backup_last_success_timestamp_seconds" in exprs["MaestroBackupTooOld"]
    assert "> 86400" in exprs["MaestroBackupTooOld"]
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    assert not (DEPLOY / "prometheus" / "alerts.yml").exists()


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os_environ_ci():
            pytest.fail("promtool is missing in CI (.ci/run installs Debian's prometheus package)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def os_environ_ci() -> bool:
    import os

    return bool(os.environ.get("CI"))


def test_promtool_accepts_the_rules_and_the_prometheus_configuration(tmp_path):
    tool = promtool()
    result = subprocess.run([tool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout
    # The configuration as the container sees it: rule files under /etc/prometheus, here beside it.
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["rule_files"] = [str(DEPLOY / "prometheus" / Path(path).name) for path in config["rule_files"]]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [tool, "check", "config", "--syntax-only", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_refuses_a_broken_rule(tmp_path):
    tool = promtool()
    broken = tmp_path / "broken.yaml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m]) > \n")
    result = subprocess.run([tool, "check", "rules", str(broken)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


ALERTMANAGER_EXAMPLE = DEPLOY / "alertmanager" / "alertmanager.example.yml"


def test_alertmanager_example_routes_to_email_and_a_webhook(tmp_path):
    config = yaml.safe_load(ALERTMANAGER_EXAMPLE.read_text())
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}

    def routes(route):
        yield route
        for child in route.get("routes", []):
            yield from routes(child)

    used = {route["receiver"] for route in routes(config["route"])}
    assert used <= set(receivers), f"routes name unknown receivers {sorted(used - set(receivers))}"
    kinds = {key for name in used for key in receivers[name] if key.endswith("_configs")}
    assert {"email_configs", "webhook_configs"} <= kinds
    severities = {label for rule in alert_rules() for label in [rule["labels"]["severity"]]}
    matched = " ".join(" ".join(route.get("matchers", [])) for route in routes(config["route"]))
    assert all(severity in matched for severity in severities)
    text = ALERTMANAGER_EXAMPLE.read_text()
    assert "smtp_auth_password:" not in text and "credentials:" not in text  # secrets come from files
    amtool = shutil.which("amtool")
    if amtool:
        for secret in ("smtp-password", "pager-token"):
            (tmp_path / secret).write_text("x")
        checked = tmp_path / "alertmanager.yml"
        checked.write_text(text.replace("/etc/alertmanager/secrets", str(tmp_path)))
        result = subprocess.run([amtool, "check-config", str(checked)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def dashboard_targets(path: Path = DASHBOARD) -> list[tuple[str, str]]:
    dashboard = json.loads(path.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def test_django_prometheus_exports_the_names_the_dashboard_is_built_on():
    exported = django_prometheus_metrics()
    for name in (
        "django_http_requests_total_by_view_transport_method_total",
        "django_http_requests_latency_seconds_by_view_method_bucket",
        "django_http_responses_total_by_status_total",
        "django_db_execute_total",
    ):
        assert name in exported, name


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_grafana_dashboard_panels_use_exported_metrics(path):
    for title, expr in dashboard_targets(path):
        check_promql(expr, f"{path.name}: {title}")


# What each dashboard exists to show: (dashboard, metric) pairs its panels must use.
DASHBOARD_NEEDS = {
    "maestro-overview.json": {
        "django_http_requests_total_by_view_transport_method_total",
        "django_http_requests_latency_seconds_by_view_method_bucket",
        "django_http_responses_total_by_status_total",
        "django_db_execute_total",
        "celery_queue_length",
        "celery_task_failed_total",
        "celery_worker_up",
    },
    "maestro-api.json": {
        "django_http_requests_total_by_view_transport_method_total",  # rate, slowest and busiest endpoints
        "django_http_requests_latency_seconds_by_view_method_bucket",  # p50/p95/p99
        "django_http_responses_total_by_status_total",  # errors
    },
    "maestro-system.json": {
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_filesystem_avail_bytes",
        "maestro_database_connections",
        "maestro_database_max_connections",
        "maestro_celery_queue_length",
    },
    "maestro-ml.json": {
        "maestro_training_jobs",
        "maestro_training_jobs_finished_total",
        "maestro_training_job_duration_seconds_bucket",
        "maestro_model_registrations_total",
        "maestro_approval_requests_open",
        "maestro_predictions_total",
        "maestro_prediction_duration_seconds_bucket",
        "maestro_explanations_total",
    },
}


def test_each_dashboard_shows_what_it_is_for():
    assert {path.name for path in DASHBOARDS} == set(DASHBOARD_NEEDS)
    for path in DASHBOARDS:
        used = set().union(*(promql_names(expr)[0] for _, expr in dashboard_targets(path)))
        missing = DASHBOARD_NEEDS[path.name] - used
        assert not missing, f"{path.name} uses none of {sorted(missing)}"
    api = " ".join(expr for _, expr in dashboard_targets(DASHBOARD_DIR / "maestro-api.json"))
    assert all(f"histogram_quantile(0.{q}" in api for q in ("50", "95", "99"))
    assert "topk(10, histogram_quantile(0.95, sum by (le, view)" in api  # slowest endpoints


def test_the_backup_metric_is_left_to_the_alert_not_the_dashboards():
    for path in DASHBOARDS:
        assert "maestro_backup" not in path.read_text(), path.name


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_grafana_dashboard_and_provisioning_fit_together(path):
    dashboard = json.loads(path.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"]
    assert dashboard["uid"] not in {json.loads(other.read_text())["uid"] for other in DASHBOARDS if other != path}
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid
            assert all(target["datasource"]["uid"] == uid for target in panel["targets"])
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/maestro.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in services()["grafana"]["volumes"]


def test_node_exporter_is_scraped():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["node"]["static_configs"][0]["targets"] == ["node-exporter:9100"]
    assert "node-exporter" in services()


# ---------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------
CLUSTER_SCOPED = {"Namespace"}


def test_k8s_documents_have_identity():
    kinds = set()
    for path, document in k8s_documents():
        for field in ("apiVersion", "kind", "metadata"):
            assert document.get(field), f"{path}: no {field}"
        assert document["metadata"].get("name"), f"{path}: {document['kind']} without metadata.name"
        if document["kind"] not in CLUSTER_SCOPED:
            assert document["metadata"].get("namespace") == "maestro", f"{path}: {document['metadata']['name']}"
        kinds.add(document["kind"])
    assert kinds >= {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "Job",
        "PodDisruptionBudget",
        "CronJob",
        "NetworkPolicy",
    }


def test_k8s_deployments_cover_every_process():
    components = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] for d in k8s_of_kind("Deployment")
    }
    assert components >= {"web", "worker-training", "worker-default", "beat", "mlflow"}


def test_k8s_selectors_match_their_pod_labels():
    for kind in ("Deployment",):
        for document in k8s_of_kind(kind):
            selector = document["spec"]["selector"]["matchLabels"]
            labels = document["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), document["metadata"]["name"]


def test_k8s_pods_are_hardened_and_sized():
    for name, pod in pod_specs():
        pod_context = pod.get("securityContext", {})
        assert pod.get("automountServiceAccountToken") is False, name
        assert pod_context.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        for container in pod["containers"]:
            context = container.get("securityContext", {})
            assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, name
            assert int(context.get("runAsUser", pod_context.get("runAsUser", 0))) > 0, name
            assert context.get("allowPrivilegeEscalation") is False, name
            assert context.get("capabilities", {}).get("drop") == ["ALL"], name
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{name}: resources.{bound}"
            if context.get("readOnlyRootFilesystem"):
                mounted = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
                assert "/tmp" in mounted, f"{name}: a read-only root needs a writable /tmp"
                if container["image"] == "maestro-ml":
                    assert {"/data", "/home/maestro"} <= mounted or name == "maestro-mlflow", name


def test_k8s_deployments_have_probes():
    served = {
        tuple(sorted(service["spec"]["selector"].items()))
        for service in k8s_of_kind("Service")
        if service["spec"].get("clusterIP") != "None"
    }
    for document in k8s_of_kind("Deployment"):
        labels = document["spec"]["template"]["metadata"]["labels"]
        behind_service = any(set(selector) <= set(labels.items()) for selector in served)
        for container in document["spec"]["template"]["spec"]["containers"]:
            assert container.get("livenessProbe"), f"{document['metadata']['name']} has no liveness probe"
            if behind_service:
                assert container.get("readinessProbe"), f"{document['metadata']['name']} has no readiness probe"


def test_k8s_web_probes_use_the_health_endpoints():
    web = next(d for d in k8s_of_kind("Deployment") if d["metadata"]["name"] == "maestro-web")
    assert web["spec"]["replicas"] >= 2
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        headers = {h["name"]: h["value"] for h in container[probe]["httpGet"].get("httpHeaders", [])}
        allowed = k8s_of_kind("ConfigMap")[0]["data"]["DJANGO_ALLOWED_HOSTS"].split(",")
        assert headers.get("Host") in allowed, f"{probe} would be refused by ALLOWED_HOSTS"


def test_k8s_services_select_existing_pods_and_ports():
    pods = [
        (d["spec"]["template"]["metadata"]["labels"], d["spec"]["template"]["spec"]) for d in k8s_of_kind("Deployment")
    ]
    for service in k8s_of_kind("Service"):
        selector = service["spec"]["selector"]
        matches = [spec for labels, spec in pods if selector.items() <= labels.items()]
        assert matches, f"Service {service['metadata']['name']} selects no pod"
        port_names = {port.get("name") for spec in matches for c in spec["containers"] for port in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"{service['metadata']['name']}: no port {port['targetPort']}"


def test_k8s_ingress_hpa_and_pdb_point_at_existing_objects():
    services_by_name = {s["metadata"]["name"]: s for s in k8s_of_kind("Service")}
    deployments = {d["metadata"]["name"]: d for d in k8s_of_kind("Deployment")}
    for ingress in k8s_of_kind("Ingress"):
        assert ingress["spec"]["tls"][0]["secretName"], "the Ingress must terminate TLS"
        hosts = set(ingress["spec"]["tls"][0]["hosts"])
        for rule in ingress["spec"]["rules"]:
            assert rule["host"] in hosts
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                ports = {p["name"] for p in services_by_name[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in ports
    scaled = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in k8s_of_kind("HorizontalPodAutoscaler")}
    assert scaled == {"maestro-web", "maestro-worker-training", "maestro-worker-default"}
    assert scaled <= deployments.keys()
    for hpa in k8s_of_kind("HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] >= 1 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    (pdb,) = k8s_of_kind("PodDisruptionBudget")
    web_labels = deployments["maestro-web"]["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= web_labels.items()


def test_k8s_beat_is_a_single_replica_never_two_at_once():
    beat = next(d for d in k8s_of_kind("Deployment") if d["metadata"]["name"] == "maestro-beat")
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    assert "maestro-beat" not in {h["spec"]["scaleTargetRef"]["name"] for h in k8s_of_kind("HorizontalPodAutoscaler")}


def test_k8s_migrate_job_runs_migrations():
    (job,) = k8s_of_kind("Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == command_of(services()["migrate"])
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_k8s_celery_commands_match_compose():
    by_component = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in k8s_of_kind("Deployment")
    }
    for component in ("worker-training", "worker-default", "beat"):
        container = by_component[component]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == command_of(services()[component]), component


def test_k8s_secret_template_holds_no_value_and_is_not_applied():
    (secret,) = k8s_of_kind("Secret")
    values = {**secret.get("stringData", {}), **secret.get("data", {})}
    assert values, "the template lists no key"
    assert all(value in ("", None) for value in values.values()), "the Secret template must hold no value"
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert "secret.template.yaml" not in kustomization["resources"]
    for _, pod in pod_specs():
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] == secret["metadata"]["name"]
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] == secret["metadata"]["name"]:
                    assert ref["key"] in values, f"{variable['name']} reads missing key {ref['key']}"


def test_k8s_configmap_holds_documented_non_secret_settings():
    (configmap,) = k8s_of_kind("ConfigMap")
    data = configmap["data"]
    assert data["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert not (set(data) - env_example_keys()), f"undocumented: {sorted(set(data) - env_example_keys())}"
    secret_keys = set(k8s_of_kind("Secret")[0]["stringData"])
    assert not any(SECRET_KEY_NAME.search(key) for key in data) and not (set(data) & secret_keys)
    assert not any(URL_PASSWORD.search(str(value)) for value in data.values())
    for _, pod in pod_specs():
        for container in pod["containers"]:
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert ref["key"] in data, ref["key"]


def test_k8s_kustomizations_list_existing_files_with_one_image():
    main = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    migrate = yaml.safe_load((K8S / "migrate" / "kustomization.yaml").read_text())
    for folder, kustomization in ((K8S, main), (K8S / "migrate", migrate)):
        for resource in kustomization["resources"]:
            assert (folder / resource).exists(), resource
    listed = {K8S / name for name in main["resources"]}
    manifests = {path for path in K8S.glob("*.yaml") if path.name not in ("kustomization.yaml", "secret.template.yaml")}
    assert manifests == listed, "every manifest but the Secret template is applied"
    assert main["images"] == migrate["images"]
    for environment_name in ENVIRONMENTS:
        overlay = yaml.safe_load((OVERLAYS / environment_name / "kustomization.yaml").read_text())
        overlay_migrate = yaml.safe_load((OVERLAYS / environment_name / "migrate" / "kustomization.yaml").read_text())
        assert overlay["resources"] == ["../../base"] and overlay_migrate["resources"] == ["../../../base/migrate"]
        assert overlay["images"] == overlay_migrate["images"], environment_name  # migrations run the rollout's image
        assert overlay["namespace"] == overlay_migrate["namespace"], environment_name
    assert not list((DEPLOY / "k8s").glob("*.yaml")), "manifests live in base/ and overlays/"


def kubectl_build(folder: Path) -> list[dict] | None:
    kubectl = shutil.which("kubectl") or shutil.which("kustomize")
    if not kubectl:
        return None
    command = [kubectl, "kustomize", str(folder)] if kubectl.endswith("kubectl") else [kubectl, "build", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@cache
def rendered(folder: Path) -> tuple[dict, ...]:
    """The folder built by kubectl/kustomize when installed, else by tests/deploy/kustomize.py."""
    from tests.deploy.kustomize import build

    built = kubectl_build(folder)
    return tuple(build(folder) if built is None else built)


def by_name(documents, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def test_kustomize_builds_the_manifests():
    built = rendered(K8S)
    assert len(built) == len(k8s_documents()) - 2  # without the Secret template and the Job
    assert {
        c["image"] for d in built if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]
    } >= {"registry.example.org/maestro/maestro-ml:0.1.0"}


@pytest.mark.parametrize("folder", ["base", "base/migrate", *ENVIRONMENTS, *(f"{e}/migrate" for e in ENVIRONMENTS)])
def test_the_small_kustomize_renders_what_kubectl_renders(folder):
    from tests.deploy.kustomize import build

    path = DEPLOY / "k8s" / folder if folder.startswith("base") else OVERLAYS / folder
    theirs = kubectl_build(path)
    if theirs is None:
        pytest.skip("neither kubectl nor kustomize is installed: the small kustomize renders alone")

    def key(document):
        return document["kind"], document["metadata"]["name"]

    assert {key(d): d for d in build(path)} == {key(d): d for d in theirs}


def validate_k8s(document: dict, where: str) -> None:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError(f"{where}: {document['kind']} {document['metadata']['name']}: {exc.message}") from exc


def test_every_base_manifest_follows_the_kubernetes_schemas():
    for path, document in k8s_documents():
        validate_k8s(document, str(path.relative_to(ROOT)))


@pytest.mark.parametrize("environment_name", ENVIRONMENTS)
def test_every_rendered_overlay_follows_the_kubernetes_schemas(environment_name):
    documents = rendered(OVERLAYS / environment_name) + rendered(OVERLAYS / environment_name / "migrate")
    for document in documents:
        validate_k8s(document, f"overlays/{environment_name}")
    assert {d["kind"] for d in documents} >= {"Deployment", "Job", "CronJob", "NetworkPolicy", "Ingress"}


def test_schema_validation_catches_mistakes():
    web = copy.deepcopy(next(d for d in k8s_of_kind("Deployment") if d["metadata"]["name"] == "maestro-web"))
    web["spec"]["template"]["spec"]["containers"][0]["resource"] = web["spec"]["template"]["spec"]["containers"][0].pop(
        "resources"
    )
    with pytest.raises(AssertionError, match="resource"):
        validate_k8s(web, "broken")
    web = copy.deepcopy(next(d for d in k8s_of_kind("Deployment") if d["metadata"]["name"] == "maestro-web"))
    web["spec"]["replicas"] = "three"
    with pytest.raises(AssertionError):
        validate_k8s(web, "broken")


def test_overlays_differ_in_replicas_resources_hosts_and_issuer():
    staging, production = (rendered(OVERLAYS / name) for name in ENVIRONMENTS)
    namespaces = {
        name: {d["metadata"].get("namespace") for d in rendered(OVERLAYS / name)} - {None} for name in ENVIRONMENTS
    }
    assert namespaces == {"staging": {"maestro-staging"}, "production": {"maestro"}}
    web = {
        name: by_name(docs, "Deployment")["maestro-web"]
        for name, docs in zip(ENVIRONMENTS, (staging, production), strict=True)
    }
    assert web["staging"]["spec"]["replicas"] < web["production"]["spec"]["replicas"]

    def requested(deployment, what):
        return deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"][what]

    assert requested(web["staging"], "cpu") != requested(web["production"], "cpu")
    for name, docs in (("staging", staging), ("production", production)):
        hosts = {rule["host"] for ingress in by_name(docs, "Ingress").values() for rule in ingress["spec"]["rules"]}
        tls = {host for ingress in by_name(docs, "Ingress").values() for host in ingress["spec"]["tls"][0]["hosts"]}
        assert len(hosts) == 1 and hosts == tls, name
        (host,) = hosts
        assert (host.startswith("staging.")) == (name == "staging")
        config = by_name(docs, "ConfigMap")["maestro-config"]["data"]
        assert config["DJANGO_ALLOWED_HOSTS"].split(",")[0] == host
        assert config["DJANGO_CSRF_TRUSTED_ORIGINS"] == f"https://{host}"
        issuer = by_name(docs, "Ingress")["maestro"]["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
        assert issuer == {"staging": "letsencrypt-staging", "production": "letsencrypt-prod"}[name]
        hpa = by_name(docs, "HorizontalPodAutoscaler")["maestro-web"]["spec"]
        assert (
            hpa["minReplicas"] <= by_name(docs, "Deployment")["maestro-web"]["spec"]["replicas"] <= hpa["maxReplicas"]
        )


def network_policies(documents) -> dict[str, dict]:
    return by_name(documents, "NetworkPolicy")


def selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        if expression["operator"] == "In" and value not in expression["values"]:
            return False
        if expression["operator"] == "NotIn" and value in expression["values"]:
            return False
    return True


def pod_labels() -> dict[str, dict]:
    labels = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in k8s_of_kind("Deployment")}
    labels |= {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in k8s_of_kind("Job")}
    labels |= {
        d["metadata"]["name"]: d["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        for d in k8s_of_kind("CronJob")
    }
    return labels


def test_network_policies_let_only_the_ingress_reach_web_and_only_database_clients_reach_postgres():
    policies = network_policies(document for _, document in k8s_documents())
    deny = policies["maestro-default-deny-ingress"]
    assert (
        deny["spec"]["podSelector"] == {}
        and deny["spec"]["policyTypes"] == ["Ingress"]
        and "ingress" not in deny["spec"]
    )
    labels = pod_labels()
    # Who may send to the web pods: ingress-nginx and Prometheus's namespace, on the web port only.
    web_sources = [
        rule
        for policy in policies.values()
        if "Ingress" in policy["spec"]["policyTypes"] and selects(policy["spec"]["podSelector"], labels["maestro-web"])
        for rule in policy["spec"].get("ingress", [])
    ]
    namespaces = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in web_sources
        for peer in rule["from"]
    }
    assert namespaces == {"ingress-nginx", "monitoring"}
    assert all(rule["ports"] == [{"port": 8000, "protocol": "TCP"}] for rule in web_sources)
    assert all(
        "podSelector" not in peer or "namespaceSelector" in peer for rule in web_sources for peer in rule["from"]
    )
    # The database's range: excluded for every pod, opened on 5432 for the processes that use PostgreSQL.
    everyone = policies["maestro-egress-except-database"]
    database = everyone["spec"]["egress"][1]["to"][0]["ipBlock"]["except"][0]
    clients = policies["maestro-database-clients"]
    assert clients["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": database}}], "ports": [{"port": 5432, "protocol": "TCP"}]}
    ]
    reach = {name for name, pod in labels.items() if selects(clients["spec"]["podSelector"], pod)}
    assert reach == {
        "maestro-web",
        "maestro-worker-training",
        "maestro-worker-default",
        "maestro-beat",
        "maestro-migrate",
        "maestro-backup",
        "maestro-mlflow",
    }
    assert "maestro-celery-exporter" in labels and "maestro-celery-exporter" not in reach
    # MLflow only from Maestro ML's processes.
    mlflow = policies["maestro-mlflow-from-maestro"]
    assert selects(mlflow["spec"]["podSelector"], labels["maestro-mlflow"])
    senders = {
        name for name, pod in labels.items() if selects(mlflow["spec"]["ingress"][0]["from"][0]["podSelector"], pod)
    }
    assert "maestro-celery-exporter" not in senders and "maestro-web" in senders


@pytest.mark.parametrize("environment_name", ENVIRONMENTS)
def test_each_overlay_names_its_own_database_range(environment_name):
    policies = network_policies(rendered(OVERLAYS / environment_name))
    excluded = policies["maestro-egress-except-database"]["spec"]["egress"][1]["to"][0]["ipBlock"]["except"]
    allowed = policies["maestro-database-clients"]["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"]
    assert excluded == [allowed]


def test_backup_cronjob_runs_the_backup_command_with_its_target_and_keys():
    (cronjob,) = k8s_of_kind("CronJob")
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and spec["schedule"]
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["python", "manage.py", "backup"]
    assert pod["restartPolicy"] == "Never"
    (configmap,) = k8s_of_kind("ConfigMap")
    assert configmap["data"]["BACKUP_TARGET"].startswith("s3://")
    assert {"configMapRef": {"name": "maestro-config"}} in container["envFrom"]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL"} <= secret_keys_read(pod)


def test_workers_scale_on_the_exported_queue_length():
    hpas = {hpa["metadata"]["name"]: hpa for hpa in k8s_of_kind("HorizontalPodAutoscaler")}
    queues = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    for name, expected in (
        ("maestro-worker-training", {"training"}),
        ("maestro-worker-default", {"default", "explain"}),
    ):
        (metric,) = hpas[name]["spec"]["metrics"]
        assert metric["type"] == "External"
        assert metric["external"]["metric"]["name"] == "maestro_celery_queue_length"
        assert "maestro_celery_queue_length" in maestro_metrics()
        assert maestro_metrics()["maestro_celery_queue_length"] == {"queue"}
        selector = metric["external"]["metric"]["selector"]
        named = set(selector.get("matchLabels", {}).values()) | {
            value for expression in selector.get("matchExpressions", []) for value in expression["values"]
        }
        assert named == expected and named <= queues
        assert metric["external"]["target"]["type"] == "AverageValue"


# ---------------------------------------------------------------------------
# Documentation
# ---------------------------------------------------------------------------
def test_deployment_guide_covers_operations():
    doc = (ROOT / "docs" / "deployment.md").read_text()
    for needed in (
        ".env.example",
        "generate_secrets",
        "check_secrets",
        "docker compose",
        "kubectl apply -k deploy/k8s",
        "pg_dump",
        "manage.py backup",
        "manage.py restore",
        "--scale worker-training",
    ):
        assert needed in doc, f"docs/deployment.md does not cover {needed}"
    assert "docs/deployment.md" in (ROOT / "README.md").read_text()


# ---------------------------------------------------------------------------
# Secrets: each process gets only its own; the application is no database superuser
# ---------------------------------------------------------------------------
APP_SECRETS = {
    "DJANGO_SECRET_KEY",
    "MAESTRO_DB_PASSWORD",
    "REDIS_PASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
}
# Compose: the secrets (names generate_secrets writes) each service may receive.
COMPOSE_SECRETS = {
    "web": APP_SECRETS | {"HEALTH_CHECK_TOKEN"},
    "worker-training": APP_SECRETS,
    "worker-default": APP_SECRETS,
    "beat": {"DJANGO_SECRET_KEY", "MAESTRO_DB_PASSWORD", "REDIS_PASSWORD"},
    "migrate": {"DJANGO_SECRET_KEY", "MAESTRO_DB_PASSWORD"},
    "backup": {
        "DJANGO_SECRET_KEY",
        "MAESTRO_DB_PASSWORD",
        "MLFLOW_DB_PASSWORD",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    },
    "postgres": {"POSTGRES_PASSWORD", "MAESTRO_DB_PASSWORD", "MLFLOW_DB_PASSWORD"},
    "redis": {"REDIS_PASSWORD"},
    "minio": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    "createbuckets": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
    "mlflow": {"MLFLOW_DB_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
    "celery-exporter": {"REDIS_PASSWORD"},
    "grafana": {"GRAFANA_ADMIN_PASSWORD"},
}
# Kubernetes: the keys of the Secret each workload reads.
K8S_SECRET_KEYS = {
    "maestro-web": {
        "DJANGO_SECRET_KEY",
        "DATABASE_URL",
        "CACHE_URL",
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "HEALTH_CHECK_TOKEN",
    },
    "maestro-beat": {"DJANGO_SECRET_KEY", "DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"},
    "maestro-migrate": {"DJANGO_SECRET_KEY", "DATABASE_URL"},
    "maestro-mlflow": {"MLFLOW_BACKEND_STORE_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
    "maestro-celery-exporter": {"CELERY_BROKER_URL"},
    "maestro-backup": {
        "DJANGO_SECRET_KEY",
        "DATABASE_URL",
        "MLFLOW_BACKEND_STORE_URI",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    },
}
K8S_SECRET_KEYS["maestro-worker-training"] = K8S_SECRET_KEYS["maestro-web"] - {"HEALTH_CHECK_TOKEN"}
K8S_SECRET_KEYS["maestro-worker-default"] = K8S_SECRET_KEYS["maestro-worker-training"]


def secrets_received(service: dict) -> set[str]:
    """Names of generated secrets a compose service receives: interpolated into it, or all of .env by env_file."""
    from apps.core.secrets_env import GENERATED

    files = service.get("env_file") or []
    files = [files] if isinstance(files, str) else files
    if ".env" in [item if isinstance(item, str) else item["path"] for item in files]:
        return set(GENERATED)
    text = "\n".join(value for _, value in all_strings(service))
    return {match.split(":")[0].split("?")[0].split("-")[0] for match in INTERPOLATION.findall(text)} & set(GENERATED)


def test_compose_gives_each_service_only_its_own_secrets():
    assert set(COMPOSE_SECRETS) | {"nginx", "prometheus", "node-exporter", "alertmanager"} == set(services())
    for name, service in services().items():
        extra = secrets_received(service) - COMPOSE_SECRETS.get(name, set())
        assert not extra, f"{name} receives secrets it does not use: {sorted(extra)}"


def test_the_application_connects_as_a_database_role_that_is_not_a_superuser():
    postgres = environment(services()["postgres"])
    assert postgres["POSTGRES_USER"] == "postgres", "the superuser is not the application's role"
    for name in MAESTRO_SERVICES:
        url = environment(services()[name])["DATABASE_URL"]
        assert url.startswith("postgres://maestro:${MAESTRO_DB_PASSWORD:?") and url.endswith("@postgres:5432/maestro")
    script = (DEPLOY / "postgres" / "initdb" / "00-maestro.sh").read_text()
    assert re.search(r"CREATE ROLE maestro LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE", script)
    assert "CREATE DATABASE maestro OWNER maestro" in script
    assert (DEPLOY / "postgres" / "initdb" / "00-maestro.sh").stat().st_mode & 0o111
    assert "docker-entrypoint-initdb.d" in " ".join(services()["postgres"]["volumes"])


def secret_keys_read(pod: dict) -> set[str]:
    keys = set()
    for container in pod["containers"]:
        assert not any("secretRef" in source for source in container.get("envFrom", [])), "a whole Secret"
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                keys.add(ref["key"])
    return keys


def test_k8s_workloads_read_only_their_own_secret_keys():
    pods = dict(pod_specs())
    assert set(K8S_SECRET_KEYS) == set(pods)
    for name, pod in pods.items():
        assert secret_keys_read(pod) == K8S_SECRET_KEYS[name], name


def test_the_k8s_secret_template_asks_for_a_role_that_is_not_a_superuser():
    text = (K8S / "secret.template.yaml").read_text()
    assert "NOSUPERUSER" in text and "postgres://maestro:" in text
    guide = (ROOT / "docs" / "deployment.md").read_text()
    assert "NOSUPERUSER" in guide
