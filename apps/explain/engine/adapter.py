"""The model seen as a function of a float matrix, for SHAP and LIME.

SHAP and LIME need numbers, so :class:`ModelAdapter` encodes the user's columns as a float matrix: numbers stay
numbers (NaN stays NaN), categoricals become ordinal codes of a vocabulary learned from the background / training
rows (extended with the rows explained), datetimes become nanoseconds since the epoch. Inside ``predict_fn`` the
matrix is decoded back to the original values and dtypes (an unknown code or NaN becomes a missing value) before
AutoGluon sees it, one ``predict_proba`` call per batch that SHAP's masker or LIME's sampler hands over, never one
per row.

When AutoGluon's feature generators transform each original column on its own (the usual case, checked from the
generator's feature links and then verified on real predictions), the adapter calls ``transform_features`` once per
explanation on the rows it knows and assembles the transformed batch from cached per-column blocks
(``predict_proba(..., transform_features=False)``), which saves most of the cost of AutoGluon's preprocessing;
otherwise it falls back to the plain path. Results say which was used. Columns AutoGluon passes through unchanged
(plain numbers) are copied from the matrix without a lookup; the others are looked up per distinct value.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from apps.explain.engine.common import (
    CATEGORICAL,
    DATETIME,
    NUMERIC,
    PROBLEM_TYPES,
    category_sort_key,
    feature_frame,
    feature_kind,
    is_missing,
)

if TYPE_CHECKING:
    from autogluon.tabular import TabularPredictor

logger = logging.getLogger("maestro.explain.engine")

# Whether the per-column transform cache was verified against AutoGluon's own path, per predictor object.
_FAST_PATH_VERIFIED: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
_FAST_PATH_LOCK = threading.Lock()


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

    def adopt(self, categories: Sequence[Any]) -> None:
        """Take ``categories`` as the vocabulary (another process's adapter, so both give the same codes)."""
        self.categories = list(categories)
        self._codes = {value: code for code, value in enumerate(self.categories)}

    def learn(self, values: pd.Series) -> None:
        """Append the values not seen yet (sorted, so the vocabulary does not depend on row order)."""
        if self.kind != CATEGORICAL:
            return
        new = {value for value in values.astype(object).tolist() if not is_missing(value) and value not in self._codes}
        for value in sorted(new, key=category_sort_key):
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
            [np.nan if is_missing(value) else codes.get(value, np.nan) for value in values.astype(object).tolist()],
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
    feature links tell; :meth:`ModelAdapter.prepare` also checks it against the plain path on real rows.

    A feature whose one transformed column holds the very numbers it was given (AutoGluon passes plain numbers
    through) is marked *identity*: its column is copied from the matrix (cast to the column's dtype) instead of
    being looked up, which is most of the cost of assembling a batch of a numeric data set.
    """

    def __init__(self, adapter: ModelAdapter, links: dict[str, list[str]], columns: list[str]) -> None:
        self.adapter = adapter
        self.columns = columns
        self.blocks: list[dict[str, pd.Series]] = [{} for _ in adapter.codecs]
        self.feature_columns: list[list[str]] = [list(links.get(codec.name, [])) for codec in adapter.codecs]
        self.keys: list[dict[Any, int]] = [{} for _ in adapter.codecs]
        self.identity: list[bool | None] = [None] * len(adapter.codecs)
        self.tables: list[np.ndarray | None] = [None] * len(adapter.codecs)  # categorical code -> position
        self.table_keys: list[int] = [0] * len(adapter.codecs)  # how many keys each table was built from
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
            self.identity[j] = self._passes_through(j, matrix[rows, j]) and self.identity[j] is not False

    def _passes_through(self, j: int, values: np.ndarray) -> bool:
        """Whether feature ``j``'s one transformed column holds exactly ``values`` (just cached) as numbers."""
        if self.adapter.codecs[j].kind != NUMERIC or len(self.feature_columns[j]) != 1:
            return False
        block = self.blocks[j][self.feature_columns[j][0]]
        dtype = block.dtype
        # Plain numbers stay float or int64; narrower integers are AutoGluon's codes (a 0/1 column becomes an
        # int8 flag, and a value it never saw is not passed through unchanged).
        if isinstance(dtype, pd.CategoricalDtype) or not (pd.api.types.is_float_dtype(dtype) or str(dtype) == "int64"):
            return False
        cached = block.to_numpy(dtype="float64", na_value=np.nan)[-len(values) :]
        if pd.api.types.is_integer_dtype(dtype):  # only whole numbers are ever copied into an integer column
            whole = np.isfinite(values) & (values == np.round(values))
            cached, values = cached[whole], values[whole]
        return bool(np.array_equal(cached, values, equal_nan=True))

    def _copied(self, j: int, column: np.ndarray) -> Any:
        """Feature ``j``'s transformed column copied from the matrix, or None when it must be looked up."""
        if not self.identity[j]:
            return None
        dtype = self.blocks[j][self.feature_columns[j][0]].dtype
        if pd.api.types.is_float_dtype(dtype):
            return column.astype(dtype, copy=False)
        with np.errstate(invalid="ignore"):
            converted = column.astype(dtype)
            if (converted == column).all():  # whole numbers only (NaN and fractions compare unequal)
                return converted
        return None  # a missing or fractional value of an integer column: AutoGluon's transform decides

    def _code_positions(self, j: int, column: np.ndarray) -> np.ndarray | None:
        """Block positions of categorical feature ``j``'s codes through a lookup table (-1: not cached yet), or
        None when the column holds something other than whole codes and NaN."""
        size = len(self.adapter.codecs[j].categories)
        table = self.tables[j]
        if table is None or len(table) != size + 1 or self.table_keys[j] != len(self.keys[j]):
            table = np.full(size + 1, -1, dtype="int64")
            for key, position in self.keys[j].items():
                if key == "nan":
                    table[size] = position
                elif 0 <= key < size and key == int(key):
                    table[int(key)] = position
            self.tables[j], self.table_keys[j] = table, len(self.keys[j])
        filled = column.copy()
        filled[np.isnan(filled)] = size
        codes = filled.astype("int64")
        if len(codes) and (codes.min() < 0 or codes.max() > size or not (codes == filled).all()):
            return None
        return table[codes]

    def _positions(self, j: int, column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block positions of feature ``j``'s values (-1: not cached yet) and the values not cached yet."""
        if self.adapter.codecs[j].kind == CATEGORICAL:
            positions = self._code_positions(j, column)
            if positions is not None:
                return positions, np.unique(column[positions < 0])
        inverse, unique = pd.factorize(column, use_na_sentinel=False)
        keys = self.keys[j]
        found = np.array([keys.get(self._key(value), -1) for value in unique.tolist()], dtype="int64")
        return found[inverse], unique[found < 0]

    def frame(self, matrix: np.ndarray) -> pd.DataFrame:
        """The transformed frame of encoded ``matrix``, assembled from the cache (new values are transformed
        first, all in one call)."""
        answers: dict[int, np.ndarray] = {}  # per feature: its copied column, or block positions
        copied: set[int] = set()
        missing: dict[int, np.ndarray] = {}
        by_feature = np.ascontiguousarray(matrix.T)  # one pass, then every column is contiguous
        for j, columns in enumerate(self.feature_columns):
            if not columns:
                continue
            column = by_feature[j]
            values = self._copied(j, column)
            if values is not None:
                answers[j] = values
                copied.add(j)
                continue
            answers[j], new = self._positions(j, column)
            if len(new):
                missing[j] = new
        if missing:
            longest = max(len(values) for values in missing.values())
            fresh = np.tile(self.filler, (longest, 1))
            for j, values in missing.items():
                fresh[:, j] = values[0]
                fresh[: len(values), j] = values
            self.add(fresh)
            for j in missing:
                answers[j], _ = self._positions(j, by_feature[j])
        data: dict[str, Any] = {}
        for j, answer in answers.items():
            if j in copied:
                data[self.feature_columns[j][0]] = answer
                continue
            for column in self.feature_columns[j]:
                data[column] = self.blocks[j][column].array.take(answer)
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
        self._stats_lock = threading.Lock()
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
                        self._drop_cache()
            except Exception:  # noqa: BLE001 - any surprise in the optimisation falls back to the plain path
                logger.warning("Cached feature transforms unavailable; using the plain path.", exc_info=True)
                self._drop_cache()
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
        unseen = rows.copy()  # numbers never cached, where a column is copied through instead of looked up
        cache = self._cache
        for j, identity in enumerate(cache.identity if cache is not None else []):
            if not identity:
                continue
            if pd.api.types.is_float_dtype(cache.blocks[j][cache.feature_columns[j][0]].dtype):
                unseen[:, j] = rows[:, j] * 1.37 + 0.37
            else:  # whole numbers, which an integer column copies too
                unseen[:, j] = np.round(rows[:, j] * 1.37) + 1
        probe = np.vstack([rows, mixed, unseen])
        fast = self._raw_predict(probe, fast=True)
        slow = self._raw_predict(probe, fast=False)
        return bool(np.allclose(fast, slow, rtol=1e-7, atol=1e-9, equal_nan=True))

    def _model_input(self, matrix: np.ndarray, *, fast: bool) -> tuple[pd.DataFrame, bool]:
        """The frame AutoGluon is given for ``matrix`` and whether it still needs ``transform_features``."""
        if fast and self._cache is not None:
            return self._cache.frame(matrix), False
        return self.decode(matrix), True

    def _model_call(self, data: pd.DataFrame, *, transform: bool) -> np.ndarray:
        with self._stats_lock:
            self.stats["model_calls"] += 1
            self.stats["model_rows"] += len(data)
        if self.problem_type == "regression":
            return np.asarray(
                self.predictor.predict(data, as_pandas=False, transform_features=transform), dtype="float64"
            )
        proba = np.asarray(
            self.predictor.predict_proba(data, as_pandas=False, as_multiclass=True, transform_features=transform),
            dtype="float64",
        )
        return proba[:, self._column_order]

    def _raw_predict(self, matrix: np.ndarray, *, fast: bool) -> np.ndarray:
        data, transform = self._model_input(matrix, fast=fast)
        return self._model_call(data, transform=transform)

    def predict_all(self, matrix: np.ndarray) -> np.ndarray:
        """All outputs of encoded ``matrix``: class probabilities in ``class_labels`` order (n, K), or the
        regression prediction (n,). One model call.

        The batch is assembled under the adapter's lock (the cache may learn new values); the model call itself
        runs outside it, so threads explaining different rows share one adapter and run their calls at once."""
        matrix = np.asarray(matrix, dtype="float64")
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        with self._lock:
            data, transform = None, True
            if self._cache is not None:
                try:
                    data, transform = self._model_input(matrix, fast=True)
                except Exception:  # noqa: BLE001 - the optimisation must never cost an explanation
                    logger.warning("Cached feature transforms failed; using the plain path.", exc_info=True)
                    self._drop_cache()
            if data is None:
                data, transform = self._model_input(matrix, fast=False)
        if not transform:
            try:
                return self._model_call(data, transform=False)
            except Exception:  # noqa: BLE001 - a cached frame AutoGluon refuses: the plain path answers
                logger.warning("Cached feature transforms failed; using the plain path.", exc_info=True)
                with self._lock:
                    self._drop_cache()
                data = self.decode(matrix)
        return self._model_call(data, transform=True)

    def _drop_cache(self) -> None:
        _remember(self.predictor, False)
        self._cache = None
        self._want_fast = False

    # -- another process's copy ---------------------------------------------
    def state(self) -> dict[str, Any]:
        """What another process needs to build an adapter that encodes exactly as this one does (with the same
        predictor loaded there): the schema, the problem, the classes and every vocabulary."""
        return {
            "features": self.features,
            "problem_type": self.problem_type,
            "class_labels": list(self.class_labels) or None,
            "categories": {codec.name: list(codec.categories) for codec in self.codecs if codec.kind == CATEGORICAL},
            "fast_transform": self._want_fast,
        }

    @classmethod
    def from_state(cls, predictor: TabularPredictor, state: dict[str, Any]) -> ModelAdapter:
        adapter = cls(
            predictor=predictor,
            features=state["features"],
            problem_type=state["problem_type"],
            class_labels=state["class_labels"],
            fast_transform=state["fast_transform"],
        )
        for codec in adapter.codecs:
            if codec.name in state["categories"]:
                codec.adopt(state["categories"][codec.name])
        return adapter

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
