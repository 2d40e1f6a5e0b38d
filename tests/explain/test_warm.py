"""shap's compiled code is compiled once a process, in the background where a worker starts."""

from __future__ import annotations

from apps.explain.engine import warm


def test_warming_up_compiles_once_and_a_background_warm_up_finishes():
    thread = warm.warm_in_background()
    thread.join(timeout=120)
    assert not thread.is_alive() and warm.is_warm()
    assert warm.warm_up() == 0.0  # already warm: nothing more to do


def test_gunicorn_warms_each_web_process_when_explanations_are_warmed(settings, monkeypatch, tmp_path):
    from pathlib import Path

    started = []
    monkeypatch.setattr(warm, "warm_in_background", lambda: started.append(True))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the config sets it otherwise; undone after
    monkeypatch.delenv("GUNICORN_BOOTED_DIR", raising=False)
    namespace: dict = {}
    source = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "gunicorn.conf.py"
    exec(compile(source.read_text(), "gunicorn.conf.py", "exec"), namespace)  # noqa: S102 - the project's own config
    worker = type("Worker", (), {"pid": 12345})()
    settings.EXPLAIN_WARM_WORKERS = False
    namespace["post_worker_init"](worker)
    assert started == []
    settings.EXPLAIN_WARM_WORKERS = True
    namespace["post_worker_init"](worker)
    assert started == [True]
