"""scripts/audit_dependencies.py (make audit): a finding always fails; an unreachable service is reported
as NOT AUDITED and passes unless AUDIT_STRICT=1."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_dependencies.py"


@pytest.fixture
def audit(monkeypatch):
    spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def run_with(report, *, strict=False):
        stdout = report if isinstance(report, str) else json.dumps(report)
        monkeypatch.setattr(
            module.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, stdout=stdout, stderr="")
        )
        monkeypatch.setenv("AUDIT_STRICT", "1" if strict else "")
        return module.main([])

    return run_with


def test_a_known_vulnerability_fails(audit, capsys):
    report = {
        "dependencies": [{"name": "django", "version": "5.2.0", "vulns": [{"id": "X-1", "fix_versions": ["5.2.1"]}]}]
    }
    assert audit(report) == 1
    assert "VULNERABLE django 5.2.0: X-1 (fixed in 5.2.1)" in capsys.readouterr().out


def test_nothing_found_passes(audit):
    assert audit({"dependencies": [{"name": "django", "version": "5.2.9", "vulns": []}]}) == 0


def test_an_unreachable_service_is_not_an_all_clear_but_passes_unless_strict(audit, capsys):
    report = {
        "dependencies": [
            {
                "name": "django",
                "version": "5.2.9",
                "skip_reason": "Dependency not found on PyPI and could not be audited",
            },
            {"name": "maestro-ml", "skip_reason": "distribution marked as editable"},
        ]
    }
    assert audit(report) == 0
    assert "NOT AUDITED: 1 package(s)" in capsys.readouterr().out
    assert audit(report, strict=True) == 1
    assert audit("Traceback: connection refused") == 0
    assert audit("Traceback: connection refused", strict=True) == 1
