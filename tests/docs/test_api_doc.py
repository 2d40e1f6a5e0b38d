"""docs/API.md cannot drift from the server: its `sh` blocks are run, in order, as one script against
gunicorn serving the application on a free port (the test database, a private Redis as broker so the
job the guide starts goes nowhere). The blocks set their own shell variables (token, ids); the test gives
only the server's address and an account."""

from __future__ import annotations

import re
import subprocess

import pytest

from apps.automl.models import TrainingJob
from apps.projects.models import Dataset, Project
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)


def sh_blocks(path) -> list[str]:
    return SH_BLOCK.findall(path.read_text())


def test_every_sh_block_of_the_api_guide_runs_against_a_live_server(role_groups, private_redis, web_server):
    from tests.accounts.factories import PASSWORD, UserFactory

    UserFactory(username="ada", roles=["ml_engineer"])
    server = web_server(CELERY_BROKER_URL=private_redis.url(0), CELERY_RESULT_BACKEND=private_redis.url(1))
    blocks = sh_blocks(ROOT / "docs" / "API.md")
    assert len(blocks) >= 8
    script = "set -euo pipefail\n" + "\n".join(f"echo '--- block {n}'\n{block}" for n, block in enumerate(blocks))
    run = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "MAESTRO": server.url, "MAESTRO_USER": "ada",
             "MAESTRO_PASSWORD": PASSWORD, "MAX_POLLS": "2", "POLL_INTERVAL": "0"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert '"username":"ada"' in run.stdout.replace(" ", "")
    project = Project.objects.get(name="Titanic")
    assert Dataset.objects.get(project=project).name == "titanic"
    assert "already in project" in run.stdout  # the 409 example
    job = TrainingJob.objects.get(project=project)
    assert f"job {job.pk}: queued" in run.stdout
    assert job.status == "cancelled"
