"""MODEL_CACHE_DIR is bounded: past MODEL_CACHE_DIR_MAX_ENTRIES folders or MODEL_CACHE_DIR_MAX_BYTES, the
least recently used extracted predictors are removed, never one this process holds, one used lately (another
process may hold it) or the one just extracted."""

from __future__ import annotations

import os
import time

import pytest
from rest_framework.test import APIClient

from apps.registry import serving

pytestmark = pytest.mark.django_db


@pytest.fixture
def cache_dir(settings, tmp_path):
    settings.MODEL_CACHE_DIR = tmp_path / "model-cache"
    settings.MODEL_CACHE_DIR.mkdir()
    settings.MODEL_CACHE_DIR_MIN_IDLE = 0
    return settings.MODEL_CACHE_DIR


def extracted(root, name: str, *, used_ago: float, size: int = 10):
    folder = root / name
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"x" * size)
    marker = folder / serving.VERIFIED_MARKER
    marker.write_text(name)
    when = time.time() - used_ago
    os.utime(marker, (when, when))
    return folder


def names(root) -> set[str]:
    return {path.name for path in root.iterdir()}


def test_the_least_recently_used_folders_go_past_the_entry_limit(cache_dir, settings):
    settings.MODEL_CACHE_DIR_MAX_ENTRIES = 2
    for name, age in (("a" * 64, 500), ("b" * 64, 400), ("c" * 64, 300), ("d" * 64, 200)):
        extracted(cache_dir, name, used_ago=age)
    assert sorted(serving.model_cache_dir_prune()) == ["a" * 64, "b" * 64]
    assert names(cache_dir) == {"c" * 64, "d" * 64}


def test_the_size_limit_is_kept_too(cache_dir, settings):
    settings.MODEL_CACHE_DIR_MAX_ENTRIES = 100
    settings.MODEL_CACHE_DIR_MAX_BYTES = 2500
    for name, age in (("a" * 64, 500), ("b" * 64, 400), ("c" * 64, 300)):
        extracted(cache_dir, name, used_ago=age, size=1000)
    assert serving.model_cache_dir_prune() == ["a" * 64]


def test_folders_in_use_or_used_lately_are_kept(cache_dir, settings, monkeypatch):
    settings.MODEL_CACHE_DIR_MAX_ENTRIES = 1
    settings.MODEL_CACHE_DIR_MIN_IDLE = 60
    extracted(cache_dir, "a" * 64, used_ago=500)  # loaded in this process
    extracted(cache_dir, "b" * 64, used_ago=30)  # used by another process half a minute ago
    extracted(cache_dir, "c" * 64, used_ago=400)  # just extracted (kept by the caller)
    extracted(cache_dir, "d" * 64, used_ago=450)
    monkeypatch.setattr(serving.predictor_cache, "loaded_sha256s", lambda: {"a" * 64})
    assert serving.model_cache_dir_prune(keep={"c" * 64}) == ["d" * 64]
    assert names(cache_dir) == {"a" * 64, "b" * 64, "c" * 64}


def test_serving_more_models_than_the_limit_keeps_the_folder_bounded(cache_dir, settings, make_version, trained):
    settings.MODEL_CACHE_SIZE = 1
    settings.MODEL_CACHE_DIR_MAX_ENTRIES = 1
    versions = [make_version(sample) for sample in ("titanic", "iris", "boston")]
    for version in versions:
        client = APIClient()
        client.force_authenticate(version.registered_model.project.owner)
        body = {"instances": trained[version.dataset.name].rows}
        assert client.post(f"/api/v1/models/{version.pk}/predict", body, format="json").status_code == 200
    assert {path.name for path in cache_dir.iterdir() if not path.name.startswith(".")} == {
        versions[-1].artifact_sha256
    }
