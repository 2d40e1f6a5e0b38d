"""Prediction serving: verified loading of predictor archives, an in-process LRU of loaded predictors,
validation of input rows against a version's feature schema, and the prediction itself.

A predictor is only ever unpickled after the archive in storage hashed to the SHA-256 recorded when
the platform made it. Extraction goes through ``apps.core.archives.extract_archive_safely`` into a
content-addressed folder under ``MODEL_CACHE_DIR``. Loaded predictors stay in memory (``persist()``)
in an LRU of ``MODEL_CACHE_SIZE`` entries per process, so only the first call pays the load.

``MODEL_CACHE_DIR`` is shared by the processes of a host and bounded (``MODEL_CACHE_DIR_MAX_ENTRIES``
folders, ``MODEL_CACHE_DIR_MAX_BYTES``): after each extraction the least recently used folders are
removed, except the one just extracted, those whose predictor this process holds, and those used within
``MODEL_CACHE_DIR_MIN_IDLE`` seconds (another process may hold them; every use touches a folder's marker).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from django.conf import settings

from apps.core.archives import UnsafeArchive, copy_verified, extract_archive_safely
from apps.core.exceptions import Conflict, ValidationError

if TYPE_CHECKING:
    from autogluon.tabular import TabularPredictor

    from apps.registry.models import ModelVersion

logger = logging.getLogger("maestro.registry.serving")

VERIFIED_MARKER = ".maestro-verified"
CLASSIFICATION = frozenset({"binary", "multiclass"})

# ---------------------------------------------------------------------------
# Feature schema
# ---------------------------------------------------------------------------
NUMBER, BOOLEAN, DATETIME, STRING = "number", "boolean", "datetime", "string"
MAX_FLOAT = sys.float_info.max


def feature_kind(dtype: str) -> str:
    """Map a recorded dtype (pandas' ``float64``/``object``... or AutoGluon's ``int``/``category``...) to
    what a JSON value must be: ``number``, ``boolean``, ``datetime`` or ``string``."""
    name = (dtype or "").lower()
    if name in {"bool", "boolean"}:
        return BOOLEAN
    if name.startswith(("int", "uint", "float", "double", "decimal", "numeric", "number")):
        return NUMBER
    if name.startswith("datetime") or name in {"date", "timestamp"}:
        return DATETIME
    return STRING


def _type_error(value: Any, kind: str) -> str | None:
    """Why ``value`` is not acceptable for a feature of ``kind`` (None when it is; null is always fine)."""
    if value is None:
        return None
    if kind == NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expects a number, got {type(value).__name__} {value!r}"
        if isinstance(value, float) and math.isinf(value):
            return "expects a finite number"
        if isinstance(value, int) and abs(value) > MAX_FLOAT:  # JSON integers are unbounded; floats are not
            return "expects a finite number (this integer is too large for a 64-bit float)"
        return None
    if kind == BOOLEAN:
        return None if isinstance(value, bool) else f"expects true or false, got {value!r}"
    if kind == DATETIME:
        if not isinstance(value, str):
            return f"expects a date/time string, got {type(value).__name__}"
        try:
            pd.Timestamp(value)
        except (ValueError, TypeError):
            return f"expects a date/time string, got {value!r}"
        return None
    if not isinstance(value, str):
        return f"expects a string, got {type(value).__name__} {value!r}"
    return None


def validate_instances(
    *, features: list[dict[str, str]], instances: Any, ignore_extra: bool = False, max_rows: int | None = None
) -> pd.DataFrame:
    """Check ``instances`` (a list of ``{feature: value}``) against the feature schema; answer a DataFrame
    with exactly the model's columns, in order. Raise ValidationError naming every problem found."""
    check_instances(features=features, instances=instances, ignore_extra=ignore_extra, max_rows=max_rows)
    return instances_frame(features=features, instances=instances)


def check_instances(
    *, features: list[dict[str, str]], instances: Any, ignore_extra: bool = False, max_rows: int | None = None
) -> None:
    """Raise ValidationError naming every problem of ``instances`` against the feature schema (nothing built)."""
    if not isinstance(instances, list) or not instances:
        raise ValidationError("'instances' must be a non-empty list of objects.", field="instances")
    limit = max_rows or settings.PREDICT_MAX_ROWS
    if len(instances) > limit:
        raise ValidationError(f"At most {limit} instances per call; use batch predictions for more.", field="instances")
    names = [feature["name"] for feature in features]
    kinds = {feature["name"]: feature_kind(feature.get("dtype", "")) for feature in features}
    known = set(names)
    missing: dict[str, list[int]] = {}
    unknown: dict[str, list[int]] = {}
    mistyped: list[str] = []
    for index, row in enumerate(instances):
        if not isinstance(row, dict):
            raise ValidationError(f"Instance {index} is not an object of feature values.", field="instances")
        for name in names:
            if name not in row:
                missing.setdefault(name, []).append(index)
        for key in row:
            if key not in known:
                unknown.setdefault(str(key), []).append(index)
        for name in names:
            if name in row:
                problem = _type_error(row[name], kinds[name])
                if problem and len(mistyped) < 20:
                    mistyped.append(f"'{name}' {problem} (instance {index})")
    problems = []
    if missing:
        problems.append("missing features: " + ", ".join(_with_rows(name, rows) for name, rows in missing.items()))
    if unknown and not ignore_extra:
        problems.append(
            "unknown features: "
            + ", ".join(_with_rows(name, rows) for name, rows in unknown.items())
            + ' (send "ignore_extra": true to drop them)'
        )
    if mistyped:
        problems.append("mistyped features: " + "; ".join(mistyped))
    if problems:
        raise ValidationError(
            "; ".join(problems) + ".",
            field="instances",
        )


def instances_frame(*, features: list[dict[str, str]], instances: list[dict[str, Any]]) -> pd.DataFrame:
    """The model's input frame of already checked ``instances``: its columns, in order, built column by
    column from numpy arrays (one pass, no per-row pandas work). Extra keys are ignored."""
    names = [feature["name"] for feature in features]
    kinds = {feature["name"]: feature_kind(feature.get("dtype", "")) for feature in features}
    columns: dict[str, Any] = {}
    for name in names:
        values = [row[name] for row in instances]
        kind = kinds[name]
        if kind == NUMBER:
            columns[name] = np.array(values, dtype="float64")  # None becomes NaN
        elif kind == DATETIME:
            columns[name] = pd.to_datetime(pd.Series(values, dtype="object"), errors="coerce").to_numpy()
        elif kind == BOOLEAN:  # plain bool as trained; object when some are missing
            columns[name] = np.array(values, dtype="object" if None in values else "bool")
        else:
            columns[name] = np.array(values, dtype="object")
    return pd.DataFrame(columns, columns=names)


def _with_rows(name: str, rows: list[int]) -> str:
    if len(rows) == 1:
        return f"'{name}' (instance {rows[0]})"
    return f"'{name}' ({len(rows)} instances)"


# ---------------------------------------------------------------------------
# Verified loading and the in-process cache
# ---------------------------------------------------------------------------
def cache_root() -> Path:
    return Path(settings.MODEL_CACHE_DIR)


def _download_and_verify(version: ModelVersion, destination: Path) -> None:
    """Copy the version's archive from storage to ``destination`` and check its SHA-256 while copying."""
    expected = version.artifact_sha256
    storage = version.artifact.storage
    name = version.artifact.name
    if not name or not storage.exists(name):
        raise Conflict(f"The predictor archive of model version {version.version} is missing from storage.")
    try:
        with storage.open(name, "rb") as source:
            copy_verified(source, destination, expected)
    except UnsafeArchive as exc:
        logger.error(
            "Refusing to load model version id=%s (%s v%s) from %s: %s "
            "The archive was changed after the platform made it; it was NOT loaded.",
            version.pk,
            version.registered_model.name,
            version.version,
            name,
            exc,
        )
        raise UnsafeArchive(
            f"The predictor archive of model version {version.version} does not match its recorded SHA-256; "
            "it was changed after training and will not be loaded."
        ) from exc


def extracted_predictor_dir(version: ModelVersion) -> Path:
    """Verify the archive, extract it once into a folder named by its hash, and answer that folder."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / version.artifact_sha256
    token = uuid.uuid4().hex
    archive = root / f".{version.artifact_sha256}.{token}.tar.gz"
    try:
        _download_and_verify(version, archive)  # always, before the first load in every process
        if (target / VERIFIED_MARKER).exists():
            return target
        staging = root / f".{version.artifact_sha256}.{token}.extract"
        try:
            try:
                extract_archive_safely(archive, staging)
            except UnsafeArchive:
                logger.error("Refusing to extract model version id=%s: its archive has unsafe entries", version.pk)
                raise
            (staging / VERIFIED_MARKER).write_text(version.artifact_sha256)
            if target.exists():  # a folder left half-made by a crash: it has no marker
                shutil.rmtree(target, ignore_errors=True)
            try:
                os.rename(staging, target)
            except OSError:
                if not (target / VERIFIED_MARKER).exists():  # not another process winning the race
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target
    finally:
        archive.unlink(missing_ok=True)


def _touch(sha256: str) -> None:
    """Record that this host uses the extracted folder of ``sha256`` now (its marker's mtime)."""
    try:
        os.utime(cache_root() / sha256 / VERIFIED_MARKER)
    except OSError:  # the folder was pruned meanwhile: the next load extracts it again
        pass


def _folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def model_cache_dir_prune(*, keep: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Remove least recently used extracted folders until ``MODEL_CACHE_DIR`` holds at most
    ``MODEL_CACHE_DIR_MAX_ENTRIES`` folders and ``MODEL_CACHE_DIR_MAX_BYTES``; never one named in ``keep``,
    one whose predictor this process holds, or one used within ``MODEL_CACHE_DIR_MIN_IDLE`` seconds.
    Leftovers of interrupted extractions that old go too. Answers the names removed."""
    root = cache_root()
    if not root.is_dir():
        return []
    now = time.time()
    idle = settings.MODEL_CACHE_DIR_MIN_IDLE
    entries = []
    for folder in root.iterdir():
        try:
            if folder.name.startswith("."):  # a download or extraction in progress, or left by a crash
                if now - folder.stat().st_mtime > max(idle, 3600):
                    if folder.is_dir():
                        shutil.rmtree(folder, ignore_errors=True)
                    else:
                        folder.unlink(missing_ok=True)
                continue
            if not folder.is_dir():
                continue
            marker = folder / VERIFIED_MARKER
            used = marker.stat().st_mtime if marker.exists() else 0.0  # no marker: half-made, first to go
        except OSError:
            continue
        entries.append((used, folder))
    entries.sort(key=lambda entry: entry[0])
    sizes = {folder: _folder_bytes(folder) for _, folder in entries}
    count, total = len(entries), sum(sizes.values())
    protected = set(keep) | predictor_cache.loaded_sha256s()
    removed = []
    for used, folder in entries:
        if count <= settings.MODEL_CACHE_DIR_MAX_ENTRIES and total <= settings.MODEL_CACHE_DIR_MAX_BYTES:
            break
        if folder.name in protected or now - used < idle:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        count, total = count - 1, total - sizes[folder]
        removed.append(folder.name)
    if removed:
        logger.info("Removed %s least recently used predictor folder(s) from %s", len(removed), root)
    return removed


def load_predictor(version: ModelVersion) -> TabularPredictor:
    """Load (and keep in memory) the verified predictor of ``version``."""
    from autogluon.tabular import TabularPredictor

    folder = extracted_predictor_dir(version)
    _touch(version.artifact_sha256)
    try:
        predictor = TabularPredictor.load(str(folder), verbosity=0, check_packages=False)
        predictor.persist()
    except Exception as exc:
        logger.exception("Model version id=%s could not be loaded from %s", version.pk, folder)
        raise Conflict(f"Model version {version.version} could not be loaded: {exc}") from exc
    logger.info("Loaded model version id=%s (sha256 %s) from %s", version.pk, version.artifact_sha256, folder)
    return predictor


@dataclass
class _Entry:
    predictor: Any
    lock: threading.Lock


class PredictorCache:
    """A thread-safe LRU of loaded predictors keyed by (version id, archive SHA-256)."""

    TOUCH_INTERVAL = 60.0  # seconds between two touches of a folder whose predictor keeps being used

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[int, str], Any] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[int, str], threading.Lock] = {}
        self._touched: dict[str, float] = {}

    def _used(self, sha256: str) -> None:
        """Tell other processes of the host (``model_cache_dir_prune``) that this folder is in use."""
        now = time.monotonic()
        if now - self._touched.get(sha256, 0.0) >= self.TOUCH_INTERVAL:
            self._touched[sha256] = now
            _touch(sha256)

    def loaded_sha256s(self) -> set[str]:
        with self._lock:
            return {sha256 for _, sha256 in self._entries}

    def get(self, version: ModelVersion) -> TabularPredictor:
        key = (version.pk, version.artifact_sha256)
        with self._lock:
            hit = key in self._entries
            if hit:
                self._entries.move_to_end(key)
                predictor = self._entries[key]
            else:
                loading = self._loading.setdefault(key, threading.Lock())
        if hit:
            self._used(key[1])
            return predictor
        with loading:  # one load per key; other callers wait for it
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]
            predictor = load_predictor(version)
            with self._lock:
                self._entries[key] = predictor
                self._entries.move_to_end(key)
                while len(self._entries) > max(1, settings.MODEL_CACHE_SIZE):
                    evicted, _ = self._entries.popitem(last=False)
                    logger.info("Evicted model version id=%s from the predictor cache", evicted[0])
                self._loading.pop(key, None)
        try:  # with the new predictor held, and the evicted ones no longer
            model_cache_dir_prune(keep={key[1]})
        except OSError:  # bounding the folder never stops a prediction
            logger.warning("Could not prune %s", cache_root(), exc_info=True)
        return predictor

    def evict(self, version_id: int) -> None:
        with self._lock:
            for key in [key for key in self._entries if key[0] == version_id]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __contains__(self, version_id: int) -> bool:
        with self._lock:
            return any(key[0] == version_id for key in self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


predictor_cache = PredictorCache()

# Columns serving never reads (the card and leaderboard can be large).
SERVING_DEFERRED = ("card", "leaderboard", "metrics", "intended_use", "limitations", "mlflow_sync_error")


class ServingVersions:
    """Per-process cache of the fields serving reads from a version (features, class labels, task type,
    artifact), which never change once a version is registered. Keyed by (id, archive SHA-256), so a
    changed archive record is a new entry; whether the version still exists and who may call it are
    checked on every request by the caller."""

    LIMIT = 256

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[int, str], ModelVersion] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, *, version_id: int, sha256: str) -> ModelVersion:
        key = (version_id, sha256)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        from apps.registry.models import ModelVersion

        version = ModelVersion.objects.select_related("registered_model").defer(*SERVING_DEFERRED).get(pk=version_id)
        with self._lock:
            self._entries[(version.pk, version.artifact_sha256)] = version
            while len(self._entries) > self.LIMIT:
                self._entries.popitem(last=False)
        return version

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


serving_versions = ServingVersions()


# ---------------------------------------------------------------------------
# Prediction
# ---------------------------------------------------------------------------
def _native(value: Any) -> Any:
    """numpy/pandas scalars to JSON-able Python values."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def ordered_probability_columns(proba: pd.DataFrame, class_labels: list[Any]) -> list[Any]:
    """The columns of AutoGluon's probability frame in the order of the version's ``class_labels``."""
    if not class_labels:
        return list(proba.columns)
    by_text = {str(column): column for column in proba.columns}
    ordered = [by_text[str(label)] for label in class_labels if str(label) in by_text]
    return ordered + [column for column in proba.columns if column not in ordered]


@dataclass
class Prediction:
    predictions: list[Any]
    probabilities: list[list[float]] | None
    class_labels: list[Any]


def predict_frame(*, version: ModelVersion, frame: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame | None]:
    """Predictions (and class probabilities for classification) of ``version`` for ``frame``."""
    predictor = predictor_cache.get(version)
    if version.task_type in CLASSIFICATION:
        proba = predictor.predict_proba(frame, as_multiclass=True)
        predictions = predictor.predict_from_proba(proba)
        columns = ordered_probability_columns(proba, version.class_labels)
        return predictions, proba[columns]
    return predictor.predict(frame), None


def _predict_rows(version: ModelVersion, rows: list[dict[str, Any]]) -> tuple[list[Any], Any, list[Any]]:
    """Predictions, probabilities (classification) and class labels of ``version`` for checked ``rows``."""
    frame = instances_frame(features=version.features, instances=rows)
    predictions, proba = predict_frame(version=version, frame=frame)
    if proba is None:
        return [_native(value) for value in predictions.tolist()], None, []
    return (
        [_native(value) for value in predictions.tolist()],
        proba.to_numpy(dtype="float64").tolist(),
        [_native(label) for label in proba.columns],
    )


def model_version_predict(*, version: ModelVersion, instances: Any, ignore_extra: bool = False) -> Prediction:
    """Validate ``instances`` against the version's features, then predict with its cached predictor:
    together with other requests' rows of the same version when batching is on (``apps.registry.batching``)."""
    from apps.registry import batching

    check_instances(features=version.features, instances=instances, ignore_extra=ignore_extra)
    predictor_cache.get(version)  # a first load happens here, in this request, not inside a batch's time
    predict_rows = partial(_predict_rows, version)
    if batching.enabled() and len(instances) < settings.PREDICT_BATCH_MAX_ROWS:
        key = (version.pk, version.artifact_sha256)
        predictions, probabilities, class_labels = batching.predict_batched(key, instances, predict_rows)
    else:
        predictions, probabilities, class_labels = predict_rows(instances)
    return Prediction(predictions=predictions, probabilities=probabilities, class_labels=class_labels)
