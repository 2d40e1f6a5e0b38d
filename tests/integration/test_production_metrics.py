"""What Prometheus scrapes in production: gunicorn with the project's own config (``deploy/docker/gunicorn.conf.py``:
several workers, ``PROMETHEUS_MULTIPROC_DIR``) after a real backup and a real drift report. Every metric that an
alert rule under ``deploy/prometheus/`` or a Grafana dashboard names, and that Maestro ML's ``/metrics`` is meant to
export, is there with samples, or an alert such as ``MaestroBackupTooOld`` (an ``absent()`` rule) fires for ever.

Which names may be missing is decided by rule, from the metrics themselves:

- names another scrape job exports (celery-exporter, node-exporter, Prometheus' own ``up``);
- counters and histograms that code counts as it works (prometheus_client metric objects with labels): they have
  no sample until something counts them, in whichever process that happens;
- what a scrape-time collector does not produce on this configuration (asked here, in the test process, on the
  same database and broker: PostgreSQL's connection counts on SQLite).

Everything a scrape-time collector produces here must be served too, whichever gunicorn worker answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests
import yaml
from django.core.management import call_command
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from apps.monitoring import services
from tests.conftest import ROOT, database_url_for_worker
from tests.deploy.test_deploy_files import (
    CELERY_EXPORTER_METRICS,
    DASHBOARDS,
    DEPLOY,
    NODE_EXPORTER_METRICS,
    PROMETHEUS_BUILTIN_METRICS,
    dashboard_targets,
    django_prometheus_metrics,
    promql_names,
)
from tests.faults.conftest import free_port, wait_until
from tests.governance.conftest import no_explanations_queued, tasks_here  # noqa: F401 - fixtures
from tests.monitoring.conftest import *  # noqa: F403 - production, trained, make_version, approvals, ...
from tests.monitoring.conftest import log_drifted_predictions

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

OTHER_JOBS = {*CELERY_EXPORTER_METRICS, *NODE_EXPORTER_METRICS, *PROMETHEUS_BUILTIN_METRICS}
GUNICORN_CONF = DEPLOY / "docker" / "gunicorn.conf.py"


def named_by_rules_and_dashboards() -> dict[str, str]:
    """Every metric name a Prometheus rule file or a Grafana dashboard uses, with where it is used."""
    named: dict[str, str] = {}
    for path in sorted((DEPLOY / "prometheus").glob("*.y*ml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group["rules"]:
                for name in promql_names(rule["expr"])[0]:
                    named.setdefault(name, f"{path.name}: {rule.get('alert') or rule.get('record')}")
    for path in DASHBOARDS:
        for title, expr in dashboard_targets(path):
            for name in promql_names(expr)[0]:
                named.setdefault(name, f"{path.name}: {title}")
    return named


def sample_names(families) -> set[str]:
    return {sample.name for family in families for sample in family.samples}


def kinds_of_metrics() -> dict[str, str]:
    """Every sample name registered in this process: ``collector`` (read when Prometheus scrapes), ``counted``
    (a labelled counter or histogram that code counts) or ``object`` (any other metric object)."""
    django_prometheus_metrics()  # registers django-prometheus' metric objects (the middleware makes them lazily)
    kinds: dict[str, str] = {}
    for collector, names in list(REGISTRY._collector_to_names.items()):
        if not isinstance(collector, MetricWrapperBase):
            kind = "collector"
        elif collector._labelnames and collector._type in ("counter", "histogram"):
            kind = "counted"
        else:
            kind = "object"
        kinds.update(dict.fromkeys(names, kind))
    return kinds


def produced_by_collectors_here() -> set[str]:
    """Sample names the scrape-time collectors produce in this process, on the same database and broker as the
    server."""
    collectors = [c for c in list(REGISTRY._collector_to_names) if not isinstance(c, MetricWrapperBase)]
    return set().union(*(sample_names(collector.collect()) for collector in collectors))


@pytest.fixture
def production_gunicorn(tmp_path):
    """gunicorn as the web container runs it (the project's config, two workers, multiprocess metrics), on a free
    port of 127.0.0.1 against the test database."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for_worker(),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "WEB_CONCURRENCY": "2",
    }
    process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{port}",
         "--no-control-socket", "config.wsgi:application"],
        cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115 - closed with it
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(f"{url}/health/live", timeout=2).status_code == 200, 90, "gunicorn start")
    except AssertionError:
        process.kill()
        raise AssertionError(f"gunicorn did not start:\n{log.read_text()[-3000:]}") from None
    yield url
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.mark.usefixtures("role_groups", "no_explanations_queued", "tasks_here")
def test_production_metrics_export_every_metric_the_alerts_and_dashboards_use(
    production, production_gunicorn, settings, tmp_path
):
    settings.BACKUP_TARGET = str(tmp_path / "backups")
    settings.BACKUP_MLFLOW_ARTIFACT_ROOT = str(tmp_path / "mlartifacts")
    call_command("backup", "--no-prune")
    settings.MONITORING_MIN_REPORT_ROWS = 10
    log_drifted_predictions(production, rows=60)
    assert services.drift_report_create(registered_model=production.registered_model).flagged
    for path in ("/health/live", "/api/v1/projects", "/accounts/login/", "/metrics"):  # requests to count
        requests.get(production_gunicorn + path, timeout=20)

    scrapes = [requests.get(f"{production_gunicorn}/metrics", timeout=20) for _ in range(4)]  # both workers answer
    assert all(scrape.status_code == 200 for scrape in scrapes)
    served = [sample_names(text_string_to_metric_families(scrape.text)) for scrape in scrapes]

    kinds, here = kinds_of_metrics(), produced_by_collectors_here()
    named = named_by_rules_and_dashboards()
    assert {"maestro_backup_last_success_timestamp_seconds", "maestro_model_drift_flagged"} <= named.keys() & here
    missing = {}
    for name, where in sorted(named.items()):
        if name in OTHER_JOBS:
            continue
        kind = kinds.get(name)
        assert kind, f"{name} ({where}) is exported by nothing in Maestro ML"
        if kind == "counted" or (kind == "collector" and name not in here):
            continue
        absent = [number for number, names in enumerate(served, start=1) if name not in names]
        if absent:
            missing[name] = f"{where}; absent from scrape {absent}"
    assert not missing, f"production /metrics lacks what alerts and dashboards use: {missing}"
