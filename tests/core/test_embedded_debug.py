"""`make run` (the embedded default, config.settings.local) runs with DEBUG off unless the operator asks for
it, serves static files through WhiteNoise all the same, and unknown paths never show Django's debug page:
under /api/ they answer the API's JSON 404."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
SERVICE_VARIABLES = ("DJANGO_", "DATABASE_URL", "CELERY_", "CACHE_URL", "MLFLOW_", "STORAGE_")

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
client = Client()
static = client.get("/static/core/swagger-ui-page.css")
api = client.get("/api/v1/no-such-endpoint")
page = client.get("/no-such-page/")
print(json.dumps({
    "debug": settings.DEBUG,
    "static": static.status_code,
    "static_body": b"".join(static.streaming_content).decode()[:200] if static.status_code == 200 else "",
    "api_status": api.status_code,
    "api_type": api["Content-Type"],
    "api_body": api.content.decode(),
    "page_status": page.status_code,
    "page_body": page.content.decode(),
}))
"""


def embedded(tmp_path, **env) -> dict:
    """What the web process `make run` starts sees: manage.py's default settings, no DJANGO_* variable."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith(SERVICE_VARIABLES)}
    clean.update({"DATA_DIR": str(tmp_path), **env})
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_embedded_default_runs_without_debug_and_still_serves_static_files(tmp_path):
    seen = embedded(tmp_path)
    assert seen["debug"] is False
    assert seen["static"] == 200 and seen["static_body"]
    assert seen["api_status"] == 404 and seen["api_type"] == "application/json"
    assert json.loads(seen["api_body"]) == {"detail": "Not found."}
    assert seen["page_status"] == 404
    assert "URLconf" not in seen["page_body"] and "api/v1/" not in seen["page_body"]  # no list of patterns


def test_an_operator_can_still_ask_for_debug_pages(tmp_path):
    assert embedded(tmp_path, DJANGO_DEBUG="true")["debug"] is True


def test_make_run_and_serve_do_not_turn_debug_on():
    makefile = (ROOT / "Makefile").read_text()
    run = re.search(r"^run:.*?(?=^\S)", makefile, re.MULTILINE | re.DOTALL).group(0)
    assert "django_debug=true" not in run.replace(" ", "").lower() and "manage.py serve" in run


@pytest.mark.django_db
def test_unknown_api_paths_answer_json_404():
    client = Client()
    for path in ("/api/v1/no-such-endpoint", "/api/v2/projects", "/api/v1/projects/1/nothing-here"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json" and response.json() == {"detail": "Not found."}
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
