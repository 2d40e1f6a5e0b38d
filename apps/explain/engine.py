"""The explanation engine: SHAP (global and local), LIME (local) and permutation importance for an AutoGluon
``TabularPredictor``, in pure Python (no Django), for the ``explain`` app to wrap.

Every explanation is model-agnostic: it explains what the predictor as a whole answers (usually a weighted
ensemble), through ``predict_proba`` for classification and ``predict`` for regression, never one inner model.

What is explained
    * ``binary``: the probability of the positive class (``predictor.positive_class``, else ``class_labels[-1]``).
    * ``multiclass``: locally, the probability of the class the model predicts for that row; globally, the
      importance of a feature is the *sum over classes* of its mean absolute SHAP value per class (the
      per-class means are returned too, in ``class_importances``), and ``shap_values`` hold, for each sampled
      row, the values of the class predicted for that row.
    * ``regression``: the predicted value.

How
    SHAP and LIME need numbers, so a :class:`ModelAdapter` encodes the user's columns as a float matrix:
    numbers stay numbers (NaN stays NaN), categoricals become ordinal codes of a vocabulary learned from the
    background / training rows (extended with the rows explained), datetimes become nanoseconds since the
    epoch. Inside its ``predict_fn`` the matrix is decoded back to the original values and dtypes (an unknown
    code or NaN becomes a missing value) before AutoGluon sees it, one ``predict_proba`` call per batch that
    SHAP's masker or LIME's sampler hands over, never one per row.

    When AutoGluon's feature generators transform each original column on its own (the usual case, checked
    from the generator's feature links and then verified on real predictions), the adapter calls
    ``transform_features`` once per explanation on the rows it knows and assembles the transformed batch from
    cached per-column blocks (``predict_proba(..., transform_features=False)``), which saves most of the cost
    of AutoGluon's preprocessing; otherwise it falls back to the plain path. Results say which was used.

    SHAP uses ``shap.ExactExplainer`` while the number of features is at most ``exact_max_features`` (12 by
    default: 2**12 masked evaluations per row) and ``shap.PermutationExplainer`` beyond; both are additive:
    base value + sum of SHAP values == model output of the explained row. ``KernelExplainer`` is not used.
    The background is a seeded sample of the data (``shap.sample``), given to an ``Independent`` masker with
    ``max_samples`` equal to its size so shap never subsamples it again.

Reproducibility
    Every result records the explainer, the background size, the evaluation budget (``max_evals``) and the
    seed. ``PermutationExplainer`` draws its permutations from NumPy's *global* random state (it calls
    ``np.random.seed(seed)``); the engine does so under a module lock and restores the caller's global state
    afterwards. LIME gets a fresh explainer per row seeded with ``random_state``, so a row's weights depend
    only on that row, the training data, ``num_samples`` and ``random_state``.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from autogluon.tabular import TabularPredictor

logger = logging.getLogger("maestro.explain.engine")

PROBLEM_TYPES = ("binary", "multiclass", "regression")
NUMERIC, CATEGORICAL, DATETIME = "numeric", "categorical", "datetime"
EXACT, PERMUTATION = "exact", "permutation"
DEFAULT_EXACT_MAX_FEATURES = 12
DEFAULT_PERMUTATION_EVALS = 500

_GLOBAL_RNG_LOCK = threading.RLock()
# Whether the per-column transform cache was verified against AutoGluon's own path, per predictor object.
_FAST_PATH_VERIFIED: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
_FAST_PATH_LOCK = threading.Lock()


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """A JSON-ready copy of ``value``: numpy / pandas scalars and arrays become Python values and lists,
    NaN, infinities, ``None``, ``pd.NA`` and ``NaT`` become None, timestamps become ISO strings."""
    if isinstance(value, dict):
        return {str(plain(key)) if not isinstance(key, str) else key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return [plain(item) for item in value.tolist()]
    if isinstance(value, pd.DataFrame):
        return [plain(record) for record in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return plain(value.tolist())
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def ranked(importances: dict[str, Any] | None) -> dict[str, float]:
    """``importances`` largest first (a JSON column may not keep the order it was stored in)."""
    pairs = [(str(name), float(value)) for name, value in (importances or {}).items() if value is not None]
    return dict(sorted(pairs, key=lambda pair: (-abs(pair[1]), pair[0])))


def feature_kind(dtype: str) -> str:
    """How the engine treats a feature of recorded ``dtype`` (a pandas dtype such as ``float64``/``object``
    or an AutoGluon raw type such as ``int``/``category``): ``numeric``, ``datetime`` or ``categorical``
    (everything else: object, category, string, bool, text)."""
    name = (dtype or "").lower()
    if name in {"bool", "boolean"}:
        return CATEGORICAL
    if name.startswith(("int", "uint", "float", "double", "decimal", "numeric", "number")):
        return NUMERIC
    if name.startswith("datetime") or name in {"date", "timestamp"}:
        return DATETIME
    return CATEGORICAL


@contextmanager
def seeded_global_numpy(seed: int) -> Iterator[None]:
    """Seed NumPy's global random state for the block, under a lock, and give the caller's state back after.

    shap's PermutationExplainer and beeswarm plot draw from the global state; this keeps them reproducible
    and keeps two explanations in different threads from stealing each other's draws."""
    with _GLOBAL_RNG_LOCK:
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return False


def _category_sort_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, str(value))


@functools.cache
def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("shap", "lime", "autogluon.tabular"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - all three are dependencies
            continue
    return found


def _versions() -> dict[str, str]:
    return dict(_library_versions())


def feature_frame(data: pd.DataFrame, features: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The model's feature columns of ``data``, in schema order (extra columns, such as the target, dropped).

    Raises ValueError naming every feature that ``data`` lacks."""
    names = [str(feature["name"]) for feature in features]
    missing = [name for name in names if name not in data.columns]
    if missing:
        raise ValueError(f"The data lacks the features {', '.join(repr(name) for name in missing)}.")
    return data.loc[:, names].copy()


def sample_background(
    data: pd.DataFrame, *, features: Sequence[dict[str, Any]], size: int = 100, seed: int = 0
) -> pd.DataFrame:
    """A seeded sample of ``size`` rows of ``data`` (all rows when it has fewer), in the model's columns:
    the background that SHAP integrates masked features over. Store it to explain single rows later."""
    import shap

    if size < 1:
        raise ValueError("background_size must be at least 1.")
    frame = feature_frame(data, features)
    if frame.empty:
        raise ValueError("The data has no rows to draw a background from.")
    return shap.sample(frame, size, random_state=seed)


# ---------------------------------------------------------------------------
# The adapter: user columns <-> float matrix, and the explained output
# ---------------------------------------------------------------------------
def _verdict(predictor: Any) -> bool | None:
    with _FAST_PATH_LOCK:
        try:
            return _FAST_PATH_VERIFIED.get(predictor)
        except TypeError:  # not weak-referenceable: verify every time
            return None


def _remember(predictor: Any, verdict: bool) -> None:
    with _FAST_PATH_LOCK:
        try:
            _FAST_PATH_VERIFIED[predictor] = verdict
        except TypeError:  # a predictor that cannot be weakly referenced is simply verified again next time
            pass


@dataclass
class FeatureCodec:
    """How one feature is encoded: its kind, recorded dtype and, for categoricals, the vocabulary (the code of a
    value is its position in ``categories``)."""

    name: str
    dtype: str
    kind: str
    categories: list[Any] = field(default_factory=list)
    _codes: dict[Any, int] = field(default_factory=dict, repr=False)

    def learn(self, values: pd.Series) -> None:
        """Append the values not seen yet (sorted, so the vocabulary does not depend on row order)."""
        if self.kind != CATEGORICAL:
            return
        new = {value for value in values.astype(object).tolist() if not _missing(value) and value not in self._codes}
        for value in sorted(new, key=_category_sort_key):
            self._codes[value] = len(self.categories)
            self.categories.append(value)

    def encode(self, values: pd.Series) -> np.ndarray:
        if self.kind == NUMERIC:
            try:
                return pd.to_numeric(values, errors="raise").to_numpy(dtype="float64", na_value=np.nan)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"Feature {self.name!r} is numeric but holds {exc}.") from exc
        if self.kind == DATETIME:
            if pd.api.types.is_datetime64_any_dtype(values):
                stamps = values
            else:
                stamps = pd.to_datetime(values, errors="coerce", format="mixed")
            if getattr(stamps.dt, "tz", None) is not None:
                stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
            stamps = stamps.astype("datetime64[ns]")
            encoded = stamps.to_numpy().astype("int64").astype("float64")
            encoded[stamps.isna().to_numpy()] = np.nan
            return encoded
        codes = self._codes
        return np.array(
            [np.nan if _missing(value) else codes.get(value, np.nan) for value in values.astype(object).tolist()],
            dtype="float64",
        )

    def decode(self, column: np.ndarray) -> Any:
        """The values of encoded ``column`` as the model was trained on them (a numpy array or a Categorical)."""
        if self.kind == NUMERIC:
            if self.dtype.lower().startswith(("int", "uint")) and np.isfinite(column).all():
                if np.array_equal(column, np.round(column)):
                    return column.astype(self.dtype.lower() if self.dtype.lower() not in {"int", "uint"} else "int64")
            return column.astype("float64", copy=True)
        if self.kind == DATETIME:
            nat = ~np.isfinite(column)
            nanos = np.where(nat, 0, column).astype("int64")
            stamps = nanos.astype("datetime64[ns]")
            stamps[nat] = np.datetime64("NaT")
            return stamps
        vocabulary = np.empty(len(self.categories) + 1, dtype=object)
        vocabulary[: len(self.categories)] = self.categories
        vocabulary[len(self.categories)] = np.nan
        index = np.full(column.shape, len(self.categories), dtype="int64")
        valid = np.isfinite(column)
        rounded = np.round(column[valid])
        inside = (rounded >= 0) & (rounded < len(self.categories))
        valid_positions = np.flatnonzero(valid)
        index[valid_positions[inside]] = rounded[inside].astype("int64")
        values = vocabulary[index]
        name = self.dtype.lower()
        if name == "category":
            return pd.Categorical(values, categories=self.categories)
        if name in {"bool", "boolean"}:
            missing = index == len(self.categories)
            if not missing.any():
                return values.astype(bool)
        return values


class _TransformCache:
    """AutoGluon's transformed columns of each original feature, cached per encoded value.

    Valid only when every transformed column depends on exactly one original feature, which AutoGluon's
    feature links tell; :meth:`ModelAdapter.prepare` also checks it against the plain path on real rows."""

    def __init__(self, adapter: ModelAdapter, links: dict[str, list[str]], columns: list[str]) -> None:
        self.adapter = adapter
        self.columns = columns
        self.blocks: list[dict[str, pd.Series]] = [{} for _ in adapter.codecs]
        self.feature_columns: list[list[str]] = [list(links.get(codec.name, [])) for codec in adapter.codecs]
        self.keys: list[dict[Any, int]] = [{} for _ in adapter.codecs]
        self.filler: np.ndarray | None = None

    @staticmethod
    def _key(value: float) -> Any:
        return "nan" if value != value else float(value)

    def add(self, matrix: np.ndarray) -> None:
        """Transform the rows of ``matrix`` (one ``transform_features`` call) and cache each feature's new values."""
        if self.filler is None:
            self.filler = matrix[0].copy()
        frame = self.adapter.predictor.transform_features(self.adapter.decode(matrix))
        frame = frame.reset_index(drop=True)
        self.adapter.stats["transform_calls"] += 1
        if list(frame.columns) != self.columns:
            raise RuntimeError("transform_features answered other columns than the feature generator lists.")
        for j, columns in enumerate(self.feature_columns):
            if not columns:
                continue
            keys = self.keys[j]
            rows = []
            for row, value in enumerate(matrix[:, j].tolist()):
                key = self._key(value)
                if key not in keys:
                    keys[key] = -1  # placeholder, fixed below
                    rows.append(row)
            if not rows:
                continue
            start = len(next(iter(self.blocks[j].values()))) if self.blocks[j] else 0
            for offset, row in enumerate(rows):
                keys[self._key(matrix[row, j])] = start + offset
            taken = frame.iloc[rows].reset_index(drop=True)
            for column in columns:
                old = self.blocks[j].get(column)
                new = taken[column]
                self.blocks[j][column] = new if old is None else pd.concat([old, new], ignore_index=True)

    def frame(self, matrix: np.ndarray) -> pd.DataFrame:
        """The transformed frame of encoded ``matrix``, assembled from the cache (new values are transformed
        first, all in one call)."""
        lookups: list[tuple[np.ndarray, np.ndarray] | None] = []
        missing: dict[int, np.ndarray] = {}
        for j, columns in enumerate(self.feature_columns):
            if not columns:
                lookups.append(None)
                continue
            unique, inverse = np.unique(matrix[:, j], return_inverse=True)
            keys = self.keys[j]
            positions = np.array([keys.get(self._key(value), -1) for value in unique.tolist()], dtype="int64")
            if (positions < 0).any():
                missing[j] = unique[positions < 0]
            lookups.append((unique, inverse.reshape(-1)))
        if missing:
            longest = max(len(values) for values in missing.values())
            fresh = np.tile(self.filler, (longest, 1))
            for j, values in missing.items():
                fresh[:, j] = values[0]
                fresh[: len(values), j] = values
            self.add(fresh)
        data: dict[str, Any] = {}
        for j, lookup in enumerate(lookups):
            if lookup is None:
                continue
            unique, inverse = lookup
            keys = self.keys[j]
            positions = np.array([keys[self._key(value)] for value in unique.tolist()], dtype="int64")[inverse]
            for column in self.feature_columns[j]:
                data[column] = self.blocks[j][column].array.take(positions)
        return pd.DataFrame(data, columns=self.columns, copy=False)


class ModelAdapter:
    """A predictor seen as a function of a float matrix, for SHAP and LIME.

    Built from the predictor, its feature schema (``[{"name", "dtype"}]``), the problem type and the class
    labels. ``reference`` (background or training rows, in the user's columns) gives the categorical
    vocabularies; :meth:`learn` extends them with more rows (codes already given never change).

    ``predict_fn(matrix)`` answers the explained output: P(positive class) for binary (n,), all class
    probabilities in ``class_labels`` order for multiclass (n, K), the prediction for regression (n,).
    ``stats`` counts model calls, model rows and ``transform_features`` calls.
    """

    def __init__(
        self,
        *,
        predictor: TabularPredictor,
        features: Sequence[dict[str, Any]],
        problem_type: str,
        class_labels: Sequence[Any] | None = None,
        reference: pd.DataFrame | None = None,
        fast_transform: bool = True,
    ) -> None:
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, not {problem_type!r}.")
        actual = getattr(predictor, "problem_type", problem_type)
        if actual != problem_type:
            raise ValueError(f"The predictor solves a {actual!r} problem, not {problem_type!r}.")
        if not features:
            raise ValueError("The feature schema is empty.")
        self.predictor = predictor
        self.features = [dict(feature) for feature in features]
        self.problem_type = problem_type
        self.codecs = [
            FeatureCodec(name=str(feature["name"]), dtype=str(feature.get("dtype") or "object"), kind="")
            for feature in self.features
        ]
        for codec in self.codecs:
            codec.kind = feature_kind(codec.dtype)
        self.feature_names = [codec.name for codec in self.codecs]
        self.label = str(getattr(predictor, "label", "target"))
        self.stats = {"model_calls": 0, "model_rows": 0, "transform_calls": 0}
        self._lock = threading.RLock()
        self._cache: _TransformCache | None = None
        self._want_fast = fast_transform
        self._column_order: np.ndarray | None = None
        self.class_labels: list[Any] = []
        self.positive_index: int | None = None
        if problem_type != "regression":
            self._init_classes(class_labels)
        if reference is not None:
            self.learn(reference)

    # -- classes and outputs ------------------------------------------------
    def _init_classes(self, class_labels: Sequence[Any] | None) -> None:
        model_labels = list(self.predictor.class_labels)
        labels = list(class_labels) if class_labels else model_labels
        if len(labels) != len(model_labels):
            raise ValueError(f"class_labels {labels!r} do not match the predictor's classes {model_labels!r}.")
        order = []
        for label in labels:
            matches = [i for i, known in enumerate(model_labels) if known == label]
            if not matches:
                matches = [i for i, known in enumerate(model_labels) if str(known) == str(label)]
            if len(matches) != 1:
                raise ValueError(f"class label {label!r} is not one of the predictor's classes {model_labels!r}.")
            order.append(matches[0])
        if sorted(order) != list(range(len(model_labels))):
            raise ValueError(f"class_labels {labels!r} do not match the predictor's classes {model_labels!r}.")
        self.class_labels = labels
        self._column_order = np.array(order, dtype="int64")
        if self.problem_type == "binary":
            positive = getattr(self.predictor, "positive_class", None)
            index = len(labels) - 1
            if positive is not None:
                for i, label in enumerate(labels):
                    if label == positive or str(label) == str(positive):
                        index = i
            self.positive_index = index

    @property
    def positive_class(self) -> Any:
        return None if self.positive_index is None else self.class_labels[self.positive_index]

    @property
    def categorical_indices(self) -> list[int]:
        return [j for j, codec in enumerate(self.codecs) if codec.kind == CATEGORICAL]

    @property
    def categories(self) -> dict[str, list[Any]]:
        return {codec.name: list(codec.categories) for codec in self.codecs if codec.kind == CATEGORICAL}

    @property
    def output_name(self) -> str:
        """What the explained output is, in words: ``P(Survived=1)``, ``P(species=predicted class)``, ``medv``."""
        if self.problem_type == "binary":
            return f"P({self.label}={self.positive_class})"
        if self.problem_type == "multiclass":
            return f"P({self.label}=predicted class)"
        return self.label

    def class_output_name(self, index: int) -> str:
        return f"P({self.label}={self.class_labels[index]})"

    # -- encoding -----------------------------------------------------------
    def learn(self, frame: pd.DataFrame) -> None:
        """Extend the categorical vocabularies with the values of ``frame`` (user columns)."""
        frame = feature_frame(frame, self.features)
        with self._lock:
            for codec in self.codecs:
                codec.learn(frame[codec.name])

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The float matrix (rows × features, schema order) of ``frame``; unseen categories become NaN, so call
        :meth:`learn` first with every frame that will be explained."""
        frame = feature_frame(frame, self.features)
        matrix = np.empty((len(frame), len(self.codecs)), dtype="float64")
        for j, codec in enumerate(self.codecs):
            matrix[:, j] = codec.encode(frame[codec.name])
        return matrix

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        """The user-column DataFrame of encoded ``matrix``, with the recorded dtypes."""
        matrix = np.asarray(matrix, dtype="float64")
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.shape[1] != len(self.codecs):
            raise ValueError(f"Expected {len(self.codecs)} columns, got {matrix.shape[1]}.")
        return pd.DataFrame(
            {codec.name: codec.decode(matrix[:, j]) for j, codec in enumerate(self.codecs)},
            columns=self.feature_names,
        )

    # -- prediction ---------------------------------------------------------
    def prepare(self, matrix: np.ndarray) -> bool:
        """Transform the rows that will be explained or masked with (one ``transform_features`` call), so
        later batches are assembled from cached columns. The first time for a predictor, check that this path
        predicts exactly what the plain path does (the verdict is remembered per predictor object). Answers
        whether the fast path is in use."""
        with self._lock:
            if not self._want_fast:
                return False
            verdict = _verdict(self.predictor)
            if verdict is False:
                self._want_fast = False
                return False
            try:
                if self._cache is None:
                    self._cache = self._new_cache()
                if self._cache is None:
                    _remember(self.predictor, False)
                    self._want_fast = False
                    return False
                self._cache.add(matrix)
                if verdict is None:
                    verified = self._verify(matrix)
                    _remember(self.predictor, verified)
                    if not verified:
                        logger.warning("Cached feature transforms disagree with AutoGluon's; using the plain path.")
                        self._cache = None
                        self._want_fast = False
            except Exception:  # noqa: BLE001 - any surprise in the optimisation falls back to the plain path
                logger.warning("Cached feature transforms unavailable; using the plain path.", exc_info=True)
                _remember(self.predictor, False)
                self._cache = None
                self._want_fast = False
            return self._cache is not None

    @property
    def fast_transform(self) -> bool:
        """Whether predictions assemble AutoGluon's transformed features from the per-column cache."""
        return self._cache is not None

    def _new_cache(self) -> _TransformCache | None:
        generator = getattr(getattr(self.predictor, "_learner", None), "feature_generator", None)
        if generator is None or not hasattr(generator, "get_feature_links"):
            return None
        links = {
            str(name): [str(column) for column in columns] for name, columns in generator.get_feature_links().items()
        }
        if not set(links) <= set(self.feature_names):
            return None
        owners: dict[str, str] = {}
        for name, columns in links.items():
            for column in columns:
                if owners.setdefault(column, name) != name:  # a column made of several features
                    return None
        columns = list(getattr(generator, "features_out", None) or [])
        if not columns or set(columns) != set(owners):
            return None
        return _TransformCache(self, links, columns)

    def _verify(self, matrix: np.ndarray) -> bool:
        rng = np.random.default_rng(0)
        rows = matrix[rng.choice(len(matrix), size=min(len(matrix), 24), replace=False)]
        partners = rows[rng.permutation(len(rows))]
        mixed = np.where(rng.random(rows.shape) < 0.5, rows, partners)
        probe = np.vstack([rows, mixed])
        fast = self._raw_predict(probe, fast=True)
        slow = self._raw_predict(probe, fast=False)
        return bool(np.allclose(fast, slow, rtol=1e-7, atol=1e-9, equal_nan=True))

    def _raw_predict(self, matrix: np.ndarray, *, fast: bool) -> np.ndarray:
        if fast and self._cache is not None:
            data = self._cache.frame(matrix)
            transform = False
        else:
            data = self.decode(matrix)
            transform = True
        self.stats["model_calls"] += 1
        self.stats["model_rows"] += len(matrix)
        if self.problem_type == "regression":
            return np.asarray(
                self.predictor.predict(data, as_pandas=False, transform_features=transform), dtype="float64"
            )
        proba = np.asarray(
            self.predictor.predict_proba(data, as_pandas=False, as_multiclass=True, transform_features=transform),
            dtype="float64",
        )
        return proba[:, self._column_order]

    def predict_all(self, matrix: np.ndarray) -> np.ndarray:
        """All outputs of encoded ``matrix``: class probabilities in ``class_labels`` order (n, K), or the
        regression prediction (n,). One model call."""
        matrix = np.asarray(matrix, dtype="float64")
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        with self._lock:
            if self._cache is not None:
                try:
                    return self._raw_predict(matrix, fast=True)
                except Exception:  # noqa: BLE001 - the optimisation must never cost an explanation
                    logger.warning("Cached feature transforms failed; using the plain path.", exc_info=True)
                    _remember(self.predictor, False)
                    self._cache = None
                    self._want_fast = False
            return self._raw_predict(matrix, fast=False)

    def predict_fn(self, matrix: np.ndarray) -> np.ndarray:
        """The explained output of encoded ``matrix`` (see the class doc). One model call per batch."""
        outputs = self.predict_all(matrix)
        if self.problem_type == "binary":
            return outputs[:, self.positive_index]
        return outputs

    def predictions_from(self, outputs: np.ndarray) -> list[Any]:
        """The predictor's answer per row from :meth:`predict_all`'s ``outputs``: the class label as
        ``predictor.predict`` gives it (``predict_from_proba`` honours a calibrated decision threshold), or the
        value for regression."""
        if self.problem_type == "regression":
            return [float(value) for value in np.asarray(outputs).reshape(-1)]
        model_order = np.empty_like(outputs)
        model_order[:, self._column_order] = outputs
        proba = pd.DataFrame(model_order, columns=list(self.predictor.class_labels))
        predicted = np.asarray(self.predictor.predict_from_proba(proba)).tolist()
        return [self.class_labels[self.class_index(label)] for label in predicted]

    def class_index(self, label: Any) -> int:
        for i, known in enumerate(self.class_labels):
            if known == label or str(known) == str(label):
                return i
        raise ValueError(f"{label!r} is not one of the classes {self.class_labels!r}.")


# ---------------------------------------------------------------------------
# SHAP
# ---------------------------------------------------------------------------
@dataclass
class _ShapRun:
    values: np.ndarray  # (n, F) or (n, F, K)
    base_values: np.ndarray  # (n,) or (n, K)
    explainer: str
    max_evals: int


def choose_explainer(
    n_features: int, *, max_evals: int | None = None, exact_max_features: int = DEFAULT_EXACT_MAX_FEATURES
) -> tuple[str, int]:
    """Which shap explainer to use for ``n_features`` and with what evaluation budget per row.

    Exact when ``n_features <= exact_max_features`` and the budget (if given) affords its 2**F masked
    evaluations; Permutation otherwise, with ``max_evals`` or, by default, max(500, 10 × (2F + 1)) (at
    least ten antithetic permutations)."""
    exact_cost = 2**n_features
    if n_features <= exact_max_features and (max_evals is None or max_evals >= exact_cost):
        return EXACT, exact_cost
    minimum = 2 * n_features + 1
    budget = max_evals if max_evals is not None else max(DEFAULT_PERMUTATION_EVALS, 10 * minimum)
    if budget < minimum:
        raise ValueError(f"max_evals={budget} is too low for the Permutation explainer: it needs at least {minimum}.")
    return PERMUTATION, int(budget)


def _run_shap(
    adapter: ModelAdapter,
    *,
    background: np.ndarray,
    rows: np.ndarray,
    seed: int,
    max_evals: int | None,
    exact_max_features: int,
) -> _ShapRun:
    import shap

    n_features = rows.shape[1]
    kind, budget = choose_explainer(n_features, max_evals=max_evals, exact_max_features=exact_max_features)
    masker = shap.maskers.Independent(background, max_samples=len(background))
    if kind == EXACT:
        explainer = shap.ExactExplainer(adapter.predict_fn, masker, feature_names=adapter.feature_names)
        explanation = explainer(rows, max_evals=budget, silent=True)
    else:
        with seeded_global_numpy(seed):
            explainer = shap.PermutationExplainer(
                adapter.predict_fn, masker, feature_names=adapter.feature_names, seed=seed
            )
            explanation = explainer(rows, max_evals=budget, silent=True)
    values = np.asarray(explanation.values, dtype="float64")
    base_values = np.asarray(explanation.base_values, dtype="float64")
    if base_values.ndim == 0:
        base_values = np.full(len(rows), float(base_values))
    return _ShapRun(values=values, base_values=base_values, explainer=kind, max_evals=budget)


def _select_explained(
    adapter: ModelAdapter, run: _ShapRun, outputs: np.ndarray, predicted: list[Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any] | None]:
    """Per row: SHAP values, base value and output of the explained output, and the explained class."""
    if adapter.problem_type == "binary":
        return run.values, run.base_values, outputs[:, adapter.positive_index], None
    if adapter.problem_type == "regression":
        return run.values, run.base_values, outputs, None
    classes = [adapter.class_index(label) for label in predicted]
    index = np.arange(len(classes))
    chosen = np.array(classes, dtype="int64")
    return (
        run.values[index, :, chosen],
        run.base_values[index, chosen],
        outputs[index, chosen],
        [adapter.class_labels[k] for k in classes],
    )


def _explain(
    *,
    predictor: Any,
    features: Sequence[dict[str, Any]],
    problem_type: str,
    class_labels: Sequence[Any] | None,
    background: pd.DataFrame,
    frame: pd.DataFrame,
    seed: int,
    max_evals: int | None,
    exact_max_features: int,
    fast_transform: bool,
) -> tuple:
    """The SHAP run both global and local explanations share: an adapter over background and rows, the
    explainer over the encoded rows, the model's outputs and the explained output per row."""
    adapter = ModelAdapter(
        predictor=predictor,
        features=features,
        problem_type=problem_type,
        class_labels=class_labels,
        reference=pd.concat([background, frame]),
        fast_transform=fast_transform,
    )
    background_matrix = adapter.encode(background)
    matrix = adapter.encode(frame)
    adapter.prepare(np.vstack([background_matrix, matrix]))
    run = _run_shap(
        adapter,
        background=background_matrix,
        rows=matrix,
        seed=seed,
        max_evals=max_evals,
        exact_max_features=exact_max_features,
    )
    outputs = adapter.predict_all(matrix)
    predictions = adapter.predictions_from(outputs)
    values, base_values, explained_outputs, explained_classes = _select_explained(adapter, run, outputs, predictions)
    return adapter, matrix, run, outputs, predictions, values, base_values, explained_outputs, explained_classes


def _additivity_error(base: np.ndarray, values: np.ndarray, outputs: np.ndarray) -> float:
    if len(outputs) == 0:
        return 0.0
    return float(np.max(np.abs(base + values.sum(axis=1) - outputs)))


PROVENANCE = (
    "explainer", "background_size", "max_evals", "seed", "fast_transform", "additivity_max_error", "stats",
    "elapsed_seconds", "versions",
)  # fmt: skip


def _provenance(result: Any) -> dict[str, Any]:
    """What produced a SHAP result (explainer, background, budget, seed, timings): both kinds report it."""
    return {name: getattr(result, name) for name in PROVENANCE}


@dataclass
class GlobalShapResult:
    """Global SHAP explanation over a seeded sample of rows."""

    problem_type: str
    feature_names: list[str]
    feature_importances: dict[str, float]  # mean |SHAP| (multiclass: summed over classes), descending
    importance_aggregation: str
    shap_values: np.ndarray  # (n_sample, n_features), the explained output of each row
    base_values: np.ndarray  # (n_sample,)
    outputs: np.ndarray  # (n_sample,) the explained model output of each row
    predictions: list[Any]  # the predictor's answer per row (label or value)
    explained_classes: list[Any] | None  # multiclass: the class explained per row
    class_importances: dict[str, dict[str, float]] | None  # multiclass: mean |SHAP| per class
    data: pd.DataFrame  # the sampled rows, user columns
    encoded: np.ndarray  # the same rows as the float matrix explained (categoricals as codes)
    background: pd.DataFrame  # the background rows, to store for later local explanations
    categories: dict[str, list[Any]]
    output_name: str
    class_labels: list[Any]
    explainer: str
    background_size: int
    sample_size: int
    max_evals: int
    seed: int
    fast_transform: bool
    additivity_max_error: float
    stats: dict[str, int]
    elapsed_seconds: float
    versions: dict[str, str]

    @property
    def base_value(self) -> float | None:
        """The one base value of binary and regression explanations (None for multiclass, where it differs per
        explained class)."""
        if self.problem_type == "multiclass" or len(self.base_values) == 0:
            return None
        return float(self.base_values[0])

    def as_dict(self) -> dict[str, Any]:
        return plain(
            {
                "kind": "shap_global",
                "problem_type": self.problem_type,
                "output_name": self.output_name,
                "class_labels": self.class_labels,
                "feature_names": self.feature_names,
                "feature_importances": self.feature_importances,
                "importance_aggregation": self.importance_aggregation,
                "class_importances": self.class_importances,
                "base_value": self.base_value,
                "base_values": self.base_values,
                "shap_values": self.shap_values,
                "outputs": self.outputs,
                "predictions": self.predictions,
                "explained_classes": self.explained_classes,
                "rows": self.data,
                "row_index": list(self.data.index),
                "encoded": self.encoded,
                "categories": self.categories,
                "background": self.background,
                "sample_size": self.sample_size,
                **_provenance(self),
            }
        )


def shap_global(
    *,
    predictor: TabularPredictor,
    features: Sequence[dict[str, Any]],
    problem_type: str,
    class_labels: Sequence[Any] | None,
    data: pd.DataFrame,
    background: pd.DataFrame | None = None,
    background_size: int = 100,
    sample_size: int = 300,
    seed: int = 0,
    max_evals: int | None = None,
    exact_max_features: int = DEFAULT_EXACT_MAX_FEATURES,
    fast_transform: bool = True,
) -> GlobalShapResult:
    """Global SHAP importances of the predictor over ``sample_size`` rows of ``data``.

    ``data`` is training (or reference) data in the user's columns; extra columns such as the target are
    ignored. The background is ``background`` when given, else ``background_size`` rows of ``data`` drawn
    with ``seed``; the explained rows are ``sample_size`` rows drawn with ``seed + 1``. A feature's importance
    is its mean |SHAP value| over the rows (multiclass: summed over the classes, each class's mean being in
    ``class_importances``)."""
    started = time.monotonic()
    if sample_size < 1:
        raise ValueError("sample_size must be at least 1.")
    import shap

    frame = feature_frame(data, features)
    if frame.empty:
        raise ValueError("The data has no rows to explain.")
    if background is None:
        background = sample_background(frame, features=features, size=background_size, seed=seed)
    else:
        background = feature_frame(background, features)
        if background.empty:
            raise ValueError("The background has no rows.")
    sample = shap.sample(frame, sample_size, random_state=seed + 1)
    adapter, rows, run, outputs, predictions, values, base_values, explained_outputs, explained_classes = _explain(
        predictor=predictor,
        features=features,
        problem_type=problem_type,
        class_labels=class_labels,
        background=background,
        frame=sample,
        seed=seed,
        max_evals=max_evals,
        exact_max_features=exact_max_features,
        fast_transform=fast_transform,
    )
    names = adapter.feature_names
    class_importances = None
    if problem_type == "multiclass":
        per_class = np.abs(run.values).mean(axis=0)  # (F, K)
        class_importances = {
            str(label): {name: float(per_class[j, k]) for j, name in enumerate(names)}
            for k, label in enumerate(adapter.class_labels)
        }
        totals = per_class.sum(axis=1)
        aggregation = "sum over classes of mean |SHAP| per class"
        error = max(
            _additivity_error(run.base_values[:, k], run.values[:, :, k], outputs[:, k])
            for k in range(len(adapter.class_labels))
        )
    else:
        totals = np.abs(values).mean(axis=0)
        aggregation = "mean |SHAP|"
        error = _additivity_error(base_values, values, explained_outputs)
    order = sorted(range(len(names)), key=lambda j: (-totals[j], j))
    return GlobalShapResult(
        problem_type=problem_type,
        feature_names=names,
        feature_importances={names[j]: float(totals[j]) for j in order},
        importance_aggregation=aggregation,
        shap_values=values,
        base_values=base_values,
        outputs=explained_outputs,
        predictions=predictions,
        explained_classes=explained_classes,
        class_importances=class_importances,
        data=sample,
        encoded=rows,
        background=background,
        categories=adapter.categories,
        output_name=adapter.output_name,
        class_labels=list(adapter.class_labels),
        explainer=run.explainer,
        background_size=len(background),
        sample_size=len(sample),
        max_evals=run.max_evals,
        seed=seed,
        fast_transform=adapter.fast_transform,
        additivity_max_error=error,
        stats=dict(adapter.stats),
        elapsed_seconds=round(time.monotonic() - started, 3),
        versions=_versions(),
    )


@dataclass
class LocalShapResult:
    """SHAP values of individual rows."""

    problem_type: str
    feature_names: list[str]
    values: list[list[float]]  # per row, in feature order, for the explained output
    base_values: list[float]  # per row
    outputs: list[float]  # per row: the explained model output (base + sum(values))
    output_names: list[str]  # per row: what the output is ("P(species=Adelie)", "medv")
    predictions: list[Any]  # per row: the predictor's answer (label or value)
    explained_classes: list[Any] | None  # classification: the class whose probability is explained, per row
    probabilities: list[dict[str, float]] | None  # classification: every class's probability, per row
    feature_values: list[list[Any]]  # per row: the row's own values (JSON-ready), feature order
    rows: pd.DataFrame
    encoded: np.ndarray
    categories: dict[str, list[Any]]
    output_name: str
    class_labels: list[Any]
    explainer: str
    background_size: int
    max_evals: int
    seed: int
    fast_transform: bool
    additivity_max_error: float
    stats: dict[str, int]
    elapsed_seconds: float
    versions: dict[str, str]

    @property
    def base_value(self) -> float | None:
        """The one base value when every row shares it (binary, regression); None otherwise."""
        if not self.base_values or len({round(value, 12) for value in self.base_values}) != 1:
            return None
        return self.base_values[0]

    def as_dict(self) -> dict[str, Any]:
        return plain(
            {
                "kind": "shap_local",
                "problem_type": self.problem_type,
                "output_name": self.output_name,
                "class_labels": self.class_labels,
                "feature_names": self.feature_names,
                "rows": [
                    {
                        "index": index,
                        "values": self.values[i],
                        "base_value": self.base_values[i],
                        "output": self.outputs[i],
                        "output_name": self.output_names[i],
                        "prediction": self.predictions[i],
                        "explained_class": self.explained_classes[i] if self.explained_classes else None,
                        "probabilities": self.probabilities[i] if self.probabilities else None,
                        "feature_values": self.feature_values[i],
                    }
                    for i, index in enumerate(self.rows.index)
                ],
                "base_value": self.base_value,
                **_provenance(self),
            }
        )


def shap_local(
    *,
    predictor: TabularPredictor,
    features: Sequence[dict[str, Any]],
    problem_type: str,
    class_labels: Sequence[Any] | None,
    rows: pd.DataFrame,
    background: pd.DataFrame,
    seed: int = 0,
    max_evals: int | None = None,
    exact_max_features: int = DEFAULT_EXACT_MAX_FEATURES,
    fast_transform: bool = True,
) -> LocalShapResult:
    """SHAP values of each of ``rows`` (user columns) against ``background`` (all of it, as stored from
    :func:`shap_global` or :func:`sample_background`).

    Explains P(positive class) for binary, the probability of the predicted class for multiclass, the
    prediction for regression; base value + sum(values) equals that output for every row."""
    started = time.monotonic()
    frame = feature_frame(rows, features)
    if frame.empty:
        raise ValueError("There are no rows to explain.")
    background = feature_frame(background, features)
    if background.empty:
        raise ValueError("The background has no rows.")
    adapter, matrix, run, outputs, predictions, values, base_values, explained_outputs, explained_classes = _explain(
        predictor=predictor,
        features=features,
        problem_type=problem_type,
        class_labels=class_labels,
        background=background,
        frame=frame,
        seed=seed,
        max_evals=max_evals,
        exact_max_features=exact_max_features,
        fast_transform=fast_transform,
    )
    probabilities = None
    if problem_type == "regression":
        output_names = [adapter.output_name] * len(frame)
    else:
        if problem_type == "binary":
            explained_classes = [adapter.positive_class] * len(frame)
        output_names = [adapter.class_output_name(adapter.class_index(label)) for label in explained_classes]
        probabilities = [
            {str(label): float(outputs[i, k]) for k, label in enumerate(adapter.class_labels)}
            for i in range(len(frame))
        ]
    return LocalShapResult(
        problem_type=problem_type,
        feature_names=adapter.feature_names,
        values=[[float(v) for v in row] for row in values],
        base_values=[float(v) for v in base_values],
        outputs=[float(v) for v in explained_outputs],
        output_names=output_names,
        predictions=predictions,
        explained_classes=explained_classes,
        probabilities=probabilities,
        feature_values=[plain(list(record)) for record in frame.itertuples(index=False, name=None)],
        rows=frame,
        encoded=matrix,
        categories=adapter.categories,
        output_name=adapter.output_name,
        class_labels=list(adapter.class_labels),
        explainer=run.explainer,
        background_size=len(background),
        max_evals=run.max_evals,
        seed=seed,
        fast_transform=adapter.fast_transform,
        additivity_max_error=_additivity_error(base_values, values, explained_outputs),
        stats=dict(adapter.stats),
        elapsed_seconds=round(time.monotonic() - started, 3),
        versions=_versions(),
    )


# ---------------------------------------------------------------------------
# LIME
# ---------------------------------------------------------------------------
@dataclass
class LimeRow:
    """LIME's explanation of one row."""

    index: Any
    feature_weights: list[list[Any]]  # [[description, weight], ...], largest |weight| first
    feature_contributions: dict[str, float]  # feature name -> weight
    explained_class: Any  # classification: the class whose probability LIME explains; None for regression
    output_name: str  # what the weights explain: "P(species=Adelie)", "medv"
    prediction: Any  # the predictor's answer for the row (label or value)
    probabilities: dict[str, float] | None  # classification: the model's probabilities for the row
    intercept: float
    local_prediction: float  # the local linear model's output for the row
    score: float  # R² of the local linear model on the weighted neighbourhood
    imputed: dict[str, Any]  # features that were missing in the row, and the value LIME used instead

    def as_dict(self) -> dict[str, Any]:
        return plain(self.__dict__)


@dataclass
class LimeResult:
    """LIME explanations of some rows."""

    problem_type: str
    mode: str
    feature_names: list[str]
    output_name: str
    class_labels: list[Any]
    rows: list[LimeRow]
    random_state: int
    num_samples: int
    num_features: int
    training_rows: int
    fast_transform: bool
    stats: dict[str, int]
    elapsed_seconds: float
    versions: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return plain(
            {
                "kind": "lime_local",
                "problem_type": self.problem_type,
                "mode": self.mode,
                "feature_names": self.feature_names,
                "output_name": self.output_name,
                "class_labels": self.class_labels,
                "rows": [row.as_dict() for row in self.rows],
                "random_state": self.random_state,
                "num_samples": self.num_samples,
                "num_features": self.num_features,
                "training_rows": self.training_rows,
                "fast_transform": self.fast_transform,
                "stats": self.stats,
                "elapsed_seconds": self.elapsed_seconds,
                "versions": self.versions,
            }
        )


def _impute_values(adapter: ModelAdapter, matrix: np.ndarray) -> np.ndarray:
    """Per feature: the training median (numeric, datetime) or most frequent code (categorical); 0 when a
    column has no value at all."""
    fill = np.zeros(matrix.shape[1])
    for j, codec in enumerate(adapter.codecs):
        column = matrix[:, j]
        column = column[np.isfinite(column)]
        if len(column) == 0:
            continue
        if codec.kind == CATEGORICAL:
            codes, counts = np.unique(column, return_counts=True)
            fill[j] = codes[np.argmax(counts)]
        else:
            fill[j] = float(np.median(column))
    return fill


def lime_local(
    *,
    predictor: TabularPredictor,
    features: Sequence[dict[str, Any]],
    problem_type: str,
    class_labels: Sequence[Any] | None,
    rows: pd.DataFrame,
    training_data: pd.DataFrame,
    num_samples: int = 1000,
    random_state: int = 0,
    num_features: int | None = None,
    max_training_rows: int = 10_000,
    fast_transform: bool = False,
) -> LimeResult:
    """LIME explanation of each of ``rows`` with ``LimeTabularExplainer`` on the encoded matrix.

    ``training_data`` (user columns; the target column may stay) gives LIME its statistics and the
    categorical vocabularies (at most ``max_training_rows`` of it, drawn with ``random_state``). Missing values
    are replaced for LIME only by the training median (numeric) or mode (categorical); the row's prediction
    and probabilities are the model's on the row as given, and ``imputed`` says what LIME saw instead. LIME
    explains P(positive class) for binary, the predicted class for multiclass, the value for regression.
    ``num_features=None`` keeps every feature. Each row gets a fresh explainer seeded with ``random_state``,
    so the same arguments give bit-for-bit the same weights.

    LIME's neighbourhood is made of new numbers, so the per-column transform cache rarely pays off here
    (``fast_transform`` is off by default); each row costs one model call on ``num_samples`` rows."""
    from lime.lime_tabular import LimeTabularExplainer

    started = time.monotonic()
    if num_samples < 2:
        raise ValueError("num_samples must be at least 2.")
    frame = feature_frame(rows, features)
    if frame.empty:
        raise ValueError("There are no rows to explain.")
    training = feature_frame(training_data, features)
    if training.empty:
        raise ValueError("The training data has no rows.")
    if len(training) > max_training_rows:
        training = training.sample(max_training_rows, random_state=random_state)
    adapter = ModelAdapter(
        predictor=predictor,
        features=features,
        problem_type=problem_type,
        class_labels=class_labels,
        reference=pd.concat([training, frame]),
        fast_transform=fast_transform,
    )
    training_matrix = adapter.encode(training)
    matrix = adapter.encode(frame)
    if fast_transform:
        adapter.prepare(np.vstack([training_matrix, matrix]))
    fill = _impute_values(adapter, training_matrix)
    lime_training = np.where(np.isfinite(training_matrix), training_matrix, fill)
    lime_rows = np.where(np.isfinite(matrix), matrix, fill)
    categorical = adapter.categorical_indices
    categorical_names = {j: [str(value) for value in adapter.codecs[j].categories] or ["nan"] for j in categorical}
    names = adapter.feature_names
    count = len(names) if num_features is None else max(1, min(int(num_features), len(names)))
    mode = "regression" if problem_type == "regression" else "classification"
    outputs = adapter.predict_all(matrix)
    predictions = adapter.predictions_from(outputs)

    def lime_predict(batch: np.ndarray) -> np.ndarray:  # class probabilities (n, K), or values (n,)
        return adapter.predict_all(batch)

    explained: list[LimeRow] = []
    for i, index in enumerate(frame.index):
        explainer = LimeTabularExplainer(
            lime_training,
            mode=mode,
            feature_names=names,
            categorical_features=categorical,
            categorical_names=categorical_names,
            class_names=[str(label) for label in adapter.class_labels] or None,
            discretize_continuous=True,
            feature_selection="none" if num_features is None else "auto",
            random_state=random_state,
        )
        if mode == "classification":
            if problem_type == "binary":
                label = adapter.positive_index
            else:
                label = adapter.class_index(predictions[i])
            exp = explainer.explain_instance(
                lime_rows[i], lime_predict, labels=(label,), num_features=count, num_samples=num_samples
            )
            weights = exp.as_list(label=label)
            pairs = exp.as_map()[label]
            intercept = exp.intercept[label]
            explained_class = adapter.class_labels[label]
            probabilities = {str(name): float(outputs[i, k]) for k, name in enumerate(adapter.class_labels)}
        else:
            exp = explainer.explain_instance(lime_rows[i], lime_predict, num_features=count, num_samples=num_samples)
            weights = exp.as_list()
            pairs = exp.as_map()[1]
            intercept = exp.intercept[1]
            explained_class = None
            probabilities = None
            label = None
        local = np.asarray(exp.local_pred).reshape(-1)
        imputed = {
            names[j]: plain(adapter.decode(lime_rows[i : i + 1]).iloc[0, j])
            for j in range(len(names))
            if not np.isfinite(matrix[i, j])
        }
        explained.append(
            LimeRow(
                index=plain(index),
                feature_weights=[[str(description), float(weight)] for description, weight in weights],
                feature_contributions={names[j]: float(weight) for j, weight in pairs},
                explained_class=explained_class,
                output_name=adapter.output_name if label is None else adapter.class_output_name(label),
                prediction=predictions[i],
                probabilities=probabilities,
                intercept=float(intercept),
                local_prediction=float(local[0]) if len(local) else float("nan"),
                score=float(exp.score),
                imputed=imputed,
            )
        )
    return LimeResult(
        problem_type=problem_type,
        mode=mode,
        feature_names=names,
        output_name=adapter.output_name,
        class_labels=list(adapter.class_labels),
        rows=explained,
        random_state=random_state,
        num_samples=num_samples,
        num_features=count,
        training_rows=len(training),
        fast_transform=adapter.fast_transform,
        stats=dict(adapter.stats),
        elapsed_seconds=round(time.monotonic() - started, 3),
        versions=_versions(),
    )


# ---------------------------------------------------------------------------
# Permutation importance (AutoGluon's own)
# ---------------------------------------------------------------------------
@dataclass
class PermutationImportanceResult:
    """AutoGluon's permutation importance of each feature on held-out rows: the drop of ``eval_metric``
    (higher is better) when the feature is shuffled."""

    importances: dict[str, dict[str, float | int | None]]  # feature -> importance, stddev, p_value, n, pXX_*
    eval_metric: str
    model: str
    confidence_level: float
    rows: int
    seed: int
    num_shuffle_sets: int
    time_limit: float | None
    elapsed_seconds: float
    versions: dict[str, str]

    @property
    def feature_importances(self) -> dict[str, float | None]:
        return {name: values["importance"] for name, values in self.importances.items()}

    def as_dict(self) -> dict[str, Any]:
        return plain({"kind": "permutation_importance", **self.__dict__})


def permutation_importance(
    *,
    predictor: TabularPredictor,
    holdout: pd.DataFrame,
    target: str,
    features: Sequence[dict[str, Any]] | None = None,
    seed: int = 0,
    subsample_size: int | None = 5000,
    num_shuffle_sets: int = 5,
    time_limit: float | None = None,
    confidence_level: float = 0.99,
    model: str | None = None,
) -> PermutationImportanceResult:
    """Permutation importance with ``predictor.feature_importance`` on ``holdout`` (user columns and the
    ``target`` column; rows without a target are dropped).

    AutoGluon shuffles with fixed seeds of its own; the engine makes ``seed`` count by drawing
    ``subsample_size`` rows (all when fewer) and putting them in a seeded order first, so the same seed gives
    the same numbers and another seed other shuffles. With ``time_limit`` fewer than ``num_shuffle_sets`` may
    be evaluated (``n`` says how many). Values are plain floats; NaN (e.g. a stddev from one shuffle) is None."""
    started = time.monotonic()
    if target not in holdout.columns:
        raise ValueError(f"The holdout data lacks the target column {target!r}.")
    if features is not None:
        data = feature_frame(holdout, features)
        data[target] = holdout[target].to_numpy()
    else:
        data = holdout.copy()
    data = data[data[target].notna()]
    if len(data) < 2:
        raise ValueError("Permutation importance needs at least two holdout rows with a target.")
    size = len(data) if subsample_size is None else min(len(data), int(subsample_size))
    data = data.sample(n=size, random_state=seed).reset_index(drop=True)
    table = predictor.feature_importance(
        data,
        model=model,
        features=[str(feature["name"]) for feature in features] if features is not None else None,
        subsample_size=None,
        time_limit=time_limit,
        num_shuffle_sets=num_shuffle_sets,
        include_confidence_band=True,
        confidence_level=confidence_level,
        silent=True,
    )
    importances: dict[str, dict[str, float | int | None]] = {}
    for name, record in table.iterrows():
        values: dict[str, float | int | None] = {}
        for column, value in record.items():
            value = plain(value)
            if column == "n" and value is not None:
                value = int(value)
            values[str(column)] = value
        importances[str(name)] = values
    return PermutationImportanceResult(
        importances=importances,
        eval_metric=str(getattr(predictor.eval_metric, "name", predictor.eval_metric)),
        model=str(model or predictor.model_best),
        confidence_level=confidence_level,
        rows=len(data),
        seed=seed,
        num_shuffle_sets=num_shuffle_sets,
        time_limit=time_limit,
        elapsed_seconds=round(time.monotonic() - started, 3),
        versions=_versions(),
    )
