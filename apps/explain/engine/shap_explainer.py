"""Global and local SHAP explanations of an AutoGluon predictor, in bounded time.

What is explained
    * ``binary``: the probability of the positive class (``predictor.positive_class``, else ``class_labels[-1]``).
    * ``multiclass``: locally, the probability of the class the model predicts for that row; globally, the
      importance of a feature is the *sum over classes* of its mean absolute SHAP value per class (the
      per-class means are returned too, in ``class_importances``), and ``shap_values`` hold, for each sampled
      row, the values of the class predicted for that row.
    * ``regression``: the predicted value.

How
    Exact (all 2**F coalitions, :mod:`apps.explain.engine.rows`) while the number of features is at most
    ``exact_max_features`` and its cost fits, the antithetic Permutation estimator otherwise; both are additive.
    The background is a seeded sample of the data (``shap.sample``), given to an ``Independent`` masker with
    ``max_samples`` equal to its size so shap never subsamples it again; when a budget shrinks it, the first rows
    of that sample are kept (still a seeded random sample), and the explained rows likewise.

Budget
    With ``budget_s`` the model is timed on the first batch and :func:`apps.explain.engine.budget.plan_shap`
    sizes the explanation to fit (``plan`` in the result says what it chose and why); rows are explained on
    ``threads`` threads and none is started that would end past the budget once the least number is done.

Reproducibility
    Every result records the explainer, the background size, the evaluation budget (``max_evals``) and the seed.
    A row's permutations come from a generator seeded with the seed and the row's position in the sample, so the
    same seed gives the same values whatever the threads; NumPy's global random state is never touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from apps.explain.engine import budget as budgeting
from apps.explain.engine import precision
from apps.explain.engine.adapter import ModelAdapter
from apps.explain.engine.budget import Config, CostModel, Plan
from apps.explain.engine.common import (
    DEFAULT_EXACT_MAX_FEATURES,
    EXACT,
    feature_frame,
    library_versions,
    plain,
    sample_background,
)
from apps.explain.engine.rows import RowsOutcome, explain_rows
from apps.explain.engine.warm import warm_up

if TYPE_CHECKING:
    from autogluon.tabular import TabularPredictor

# (fraction of the whole explanation done, seconds left or None)
ProgressCallback = Callable[[float, float | None], None]

# A local explanation times the model on fewer rows (it is measured once a predictor and kept), and keeps a little of
# its budget for the values' bookkeeping and the answer.
LOCAL_PROBE_ROWS = 2_000
LOCAL_RESERVE_S = 0.05

_COSTS: dict[int, tuple[Any, CostModel, float]] = {}  # id(predictor) -> (predictor, cost, when measured)
COST_KEPT_S = 600.0


def cost_of(adapter: ModelAdapter, background: np.ndarray, rows: np.ndarray, *, large: int = 20_000) -> CostModel:
    """The predictor's cost model, measured once per predictor object and kept for ``COST_KEPT_S``."""
    key = id(adapter.predictor)
    kept = _COSTS.get(key)
    now = time.monotonic()
    if kept is not None and kept[0] is adapter.predictor and now - kept[2] < COST_KEPT_S:
        return kept[1]
    cost = budgeting.measure_cost(adapter.predict_fn, background, rows, large=large)
    _COSTS[key] = (adapter.predictor, cost, now)
    while len(_COSTS) > 8:
        _COSTS.pop(next(iter(_COSTS)))
    return cost


def cost_of_predictor(predictor: Any) -> CostModel | None:
    """The cost model measured on ``predictor`` in this process lately, or None."""
    kept = _COSTS.get(id(predictor))
    if kept is None or kept[0] is not predictor or time.monotonic() - kept[2] >= COST_KEPT_S:
        return None
    return kept[1]


@dataclass(kw_only=True)
class ShapProvenance:
    """What produced a SHAP result: both kinds report these, once."""

    explainer: str
    background_size: int
    max_evals: int
    seed: int
    fast_transform: bool
    additivity_max_error: float
    stats: dict[str, int]
    elapsed_seconds: float
    versions: dict[str, str]
    budget_s: float | None = None
    plan: dict[str, Any] | None = None  # what the budget chose and why (None without a budget)

    def provenance(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in fields(ShapProvenance)}


@dataclass
class ShapRun:
    """One run of the explainer over encoded rows: what both global and local explanations are made from."""

    adapter: ModelAdapter
    matrix: np.ndarray  # the rows explained, encoded
    values: np.ndarray  # every output's values: (n, F) or (n, F, K)
    base_values: np.ndarray  # (n,) or (n, K)
    outputs: np.ndarray  # the model's outputs: (n,) or (n, K)
    predictions: list[Any]  # the predictor's answer per row
    explained_values: np.ndarray  # (n, F): the explained output's values
    explained_base_values: np.ndarray  # (n,)
    explained_outputs: np.ndarray  # (n,)
    explained_classes: list[Any] | None  # multiclass: the class explained per row
    config: Config
    rows: RowsOutcome

    @property
    def max_evals(self) -> int:
        return self.config.evaluations(self.matrix.shape[1])

    def additivity_max_error(self) -> float:
        """The largest |base + sum(values) - output| over rows (and classes)."""
        if len(self.outputs) == 0:
            return 0.0
        if self.values.ndim == 3:
            return float(np.max(np.abs(self.base_values + self.values.sum(axis=1) - self.outputs)))
        explained = self.explained_base_values + self.explained_values.sum(axis=1)
        return float(np.max(np.abs(explained - self.explained_outputs)))


class ShapJob:
    """A SHAP explanation being made: the adapter over the background and the rows, the model's measured cost,
    the plan that fits the budget, then the run."""

    def __init__(
        self,
        *,
        predictor: TabularPredictor,
        features: Sequence[dict[str, Any]],
        problem_type: str,
        class_labels: Sequence[Any] | None,
        background: pd.DataFrame,
        rows: pd.DataFrame,
        seed: int,
        fast_transform: bool = True,
    ) -> None:
        self.started = time.monotonic()
        warm_up()  # shap's compiled code, once per process: before any row is timed
        self.seed = seed
        self.background = background
        self.rows = rows
        self.adapter = ModelAdapter(
            predictor=predictor,
            features=features,
            problem_type=problem_type,
            class_labels=class_labels,
            reference=pd.concat([background, rows]),
            fast_transform=fast_transform,
        )
        self.background_matrix = self.adapter.encode(background)
        self.matrix = self.adapter.encode(rows)
        self.adapter.prepare(np.vstack([self.background_matrix, self.matrix]))
        self.n_features = self.matrix.shape[1]
        self.cost: CostModel | None = None
        self.plan: Plan | None = None

    def measure(self, *, large: int = 20_000) -> CostModel:
        if self.cost is None:
            self.cost = cost_of(self.adapter, self.background_matrix, self.matrix, large=large)
        return self.cost

    def choose(
        self,
        *,
        requested: Config,
        budget_s: float,
        threads: int,
        fixed: Sequence[str] = (),
        steps: Sequence = budgeting.GLOBAL_STEPS,
        what: str = "explanation",
    ) -> Plan:
        share = budgeting.varying_share(self.background_matrix[: requested.background_size], self.matrix)
        self.plan = budgeting.plan_shap(
            requested=requested,
            n_features=self.n_features,
            budget_s=budget_s,
            cost=self.measure(),
            share=share,
            threads=threads,
            fixed=fixed,
            steps=steps,
            what=what,
        )
        return self.plan

    def run(
        self,
        config: Config,
        *,
        threads: int = 1,
        deadline: float | None = None,
        min_rows: int = 1,
        progress: Callable[[int, int, float | None], None] | None = None,
    ) -> ShapRun:
        adapter = self.adapter
        background = self.background_matrix[: config.background_size]
        matrix = self.matrix[: config.rows]
        outcome = explain_rows(
            adapter,
            background,
            matrix,
            explainer=config.explainer,
            permutations=config.permutations,
            seed=self.seed,
            threads=threads,
            deadline=deadline,
            min_rows=min_rows,
            progress=progress,
        )
        matrix = matrix[: outcome.rows_done]
        outputs = adapter.predict_all(matrix)
        predictions = adapter.predictions_from(outputs)
        values, base_values = outcome.values, outcome.base_values
        if adapter.problem_type == "binary":
            chosen = (values, base_values, outputs[:, adapter.positive_index], None)
        elif adapter.problem_type == "regression":
            chosen = (values, base_values, outputs, None)
        else:
            classes = np.array([adapter.class_index(label) for label in predictions], dtype="int64")
            index = np.arange(len(classes))
            chosen = (
                values[index, :, classes],
                base_values[index, classes],
                outputs[index, classes],
                [adapter.class_labels[k] for k in classes],
            )
        return ShapRun(
            adapter=adapter,
            matrix=matrix,
            values=values,
            base_values=base_values,
            outputs=outputs,
            predictions=predictions,
            explained_values=chosen[0],
            explained_base_values=chosen[1],
            explained_outputs=chosen[2],
            explained_classes=chosen[3],
            config=config,
            rows=outcome,
        )


def _plan_record(plan: Plan | None, run: ShapRun) -> dict[str, Any] | None:
    """The plan as stored, with what the run measured (and whether it stopped early to keep to the budget)."""
    if plan is None:
        return None
    record = plan.as_dict()
    outcome = run.rows
    record.update(
        sample_size=outcome.rows_done,
        measured_s=round(outcome.seconds, 3),
        measured_seconds_per_row=round(outcome.seconds_per_row, 5),
    )
    if outcome.stopped_early:
        words = (
            f"explained rows {outcome.rows_planned} → {outcome.rows_done}: a row took "
            f"{outcome.seconds_per_row:.3f} s, not the {plan.seconds_per_row / budgeting.speedup(plan.threads):.3f} s "
            "estimated, and no row was started that would end past the budget"
        )
        record["reductions"] = [*record["reductions"], words]
        record["reason"] = plan.describe().rstrip(".") + f"; then {words}."
    return record


@dataclass(kw_only=True)
class GlobalShapResult(ShapProvenance):
    """Global SHAP explanation over a seeded sample of rows."""

    problem_type: str
    feature_names: list[str]
    feature_importances: dict[str, float]  # mean |SHAP| (multiclass: summed over classes), descending
    standard_errors: dict[str, float]  # of each importance, across the explained rows
    rank_stability: dict[str, Any]  # the top features' order under a bootstrap of the explained rows
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
    sample_size: int

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
                "standard_errors": self.standard_errors,
                "rank_stability": self.rank_stability,
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
                **self.provenance(),
            }
        )


class GlobalShapJob:
    """A global explanation in two steps, so that other work can be fitted into its budget in between:
    :meth:`start` draws the rows, builds the adapter and times the model; :meth:`finish` plans and runs."""

    def __init__(self, job: ShapJob, *, requested: Config, fixed: Sequence[str], data_rows: int) -> None:
        self.job = job
        self.requested = requested
        self.fixed = tuple(fixed)
        self.data_rows = data_rows

    @classmethod
    def start(
        cls,
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
        fixed: Sequence[str] = (),
    ) -> GlobalShapJob:
        import shap

        if sample_size < 1:
            raise ValueError("sample_size must be at least 1.")
        frame = feature_frame(data, features)
        if frame.empty:
            raise ValueError("The data has no rows to explain.")
        if background is None:
            background = sample_background(frame, features=features, size=background_size, seed=seed)
        else:
            background = feature_frame(background, features)
            if background.empty:
                raise ValueError("The background has no rows.")
            fixed = (*fixed, "background_size")
        sample = shap.sample(frame, sample_size, random_state=seed + 1)
        job = ShapJob(
            predictor=predictor,
            features=features,
            problem_type=problem_type,
            class_labels=class_labels,
            background=background,
            rows=sample,
            seed=seed,
            fast_transform=fast_transform,
        )
        requested = budgeting.requested_config(
            n_features=job.n_features,
            rows=len(sample),
            background_size=len(background),
            max_evals=max_evals,
            exact_max_features=exact_max_features,
        )
        return cls(job, requested=requested, fixed=fixed, data_rows=len(frame))

    def finish(
        self,
        *,
        budget_s: float | None = None,
        deadline: float | None = None,
        threads: int = 1,
        progress: Callable[[int, int, float | None], None] | None = None,
    ) -> GlobalShapResult:
        """Plan for ``budget_s`` seconds of SHAP (none: the requested explanation as it is) and run, starting no
        row past ``deadline`` (a ``time.monotonic()`` reading; by default the end of ``budget_s``)."""
        job = self.job
        plan = None
        config = self.requested
        if budget_s is not None:
            plan = job.choose(requested=self.requested, budget_s=budget_s, threads=threads, fixed=self.fixed)
            config = plan.config
            if deadline is None:
                deadline = time.monotonic() + budget_s
        minimum = min(config.rows, budgeting.MIN_GLOBAL_ROWS)
        run = job.run(config, threads=threads, deadline=deadline, min_rows=minimum, progress=progress)
        adapter = run.adapter
        names = adapter.feature_names
        contributions = precision.row_contributions(run.values)
        totals = contributions.mean(axis=0)
        errors = precision.standard_errors(contributions)
        class_importances = None
        if adapter.problem_type == "multiclass":
            per_class = np.abs(run.values).mean(axis=0)  # (F, K)
            class_importances = {
                str(label): {name: float(per_class[j, k]) for j, name in enumerate(names)}
                for k, label in enumerate(adapter.class_labels)
            }
            aggregation = "sum over classes of mean |SHAP| per class"
        else:
            aggregation = "mean |SHAP|"
        order = sorted(range(len(names)), key=lambda j: (-totals[j], j))
        sample = job.rows.iloc[: run.rows.rows_done]
        return GlobalShapResult(
            problem_type=adapter.problem_type,
            feature_names=names,
            feature_importances={names[j]: float(totals[j]) for j in order},
            standard_errors={names[j]: float(errors[j]) for j in order},
            rank_stability=precision.rank_stability(contributions, names, seed=job.seed),
            importance_aggregation=aggregation,
            shap_values=run.explained_values,
            base_values=run.explained_base_values,
            outputs=run.explained_outputs,
            predictions=run.predictions,
            explained_classes=run.explained_classes,
            class_importances=class_importances,
            data=sample,
            encoded=run.matrix,
            background=job.background.iloc[: config.background_size],
            categories=adapter.categories,
            output_name=adapter.output_name,
            class_labels=list(adapter.class_labels),
            explainer=config.explainer,
            background_size=config.background_size,
            sample_size=len(sample),
            max_evals=run.max_evals,
            seed=job.seed,
            fast_transform=adapter.fast_transform,
            additivity_max_error=run.additivity_max_error(),
            stats=dict(adapter.stats),
            elapsed_seconds=round(time.monotonic() - job.started, 3),
            versions=library_versions(),
            budget_s=budget_s,
            plan=_plan_record(plan, run),
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
    budget_s: float | None = None,
    fixed: Sequence[str] = (),
    threads: int = 1,
) -> GlobalShapResult:
    """Global SHAP importances of the predictor over ``sample_size`` rows of ``data``.

    ``data`` is training (or reference) data in the user's columns; extra columns such as the target are
    ignored. The background is ``background`` when given, else ``background_size`` rows of ``data`` drawn
    with ``seed``; the explained rows are ``sample_size`` rows drawn with ``seed + 1``. A feature's importance
    is its mean |SHAP value| over the rows (multiclass: summed over the classes, each class's mean being in
    ``class_importances``), with its standard error and the top features' rank stability. With ``budget_s``
    the whole call fits it (see the module doc); ``fixed`` names parameters the budget may not shrink."""
    started = time.monotonic()
    job = GlobalShapJob.start(
        predictor=predictor,
        features=features,
        problem_type=problem_type,
        class_labels=class_labels,
        data=data,
        background=background,
        background_size=background_size,
        sample_size=sample_size,
        seed=seed,
        max_evals=max_evals,
        exact_max_features=exact_max_features,
        fast_transform=fast_transform,
        fixed=fixed,
    )
    left = None if budget_s is None else budget_s - (time.monotonic() - started)
    result = job.finish(budget_s=left, threads=threads)
    result.budget_s = budget_s
    return result


@dataclass(kw_only=True)
class LocalShapResult(ShapProvenance):
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
                **self.provenance(),
            }
        )


def local_job(
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
    budget_s: float | None = None,
    fixed: Sequence[str] = (),
    started: float | None = None,
) -> tuple[ShapJob, Config, Plan | None]:
    """A local explanation ready to run: its job, the config it will run and, with a budget, the plan (raises
    :class:`~apps.explain.engine.budget.BudgetTooSmall` when none fits). Services ask it first to decide whether
    a request is answered at once or in the background. The budget counts from ``started`` (a
    ``time.monotonic()`` reading; by default now), so what the caller and the preparation spent is left out of
    what the SHAP values may take."""
    started = time.monotonic() if started is None else started
    started += warm_up()  # compiling shap's code is once a process, not this explanation's cost
    frame = feature_frame(rows, features)
    if frame.empty:
        raise ValueError("There are no rows to explain.")
    background = feature_frame(background, features)
    if background.empty:
        raise ValueError("The background has no rows.")
    job = ShapJob(
        predictor=predictor,
        features=features,
        problem_type=problem_type,
        class_labels=class_labels,
        background=background,
        rows=frame,
        seed=seed,
        fast_transform=fast_transform,
    )
    requested = budgeting.requested_config(
        n_features=job.n_features,
        rows=len(frame),
        background_size=len(background),
        max_evals=max_evals,
        exact_max_features=exact_max_features,
    )
    if budget_s is None:
        return job, requested, None
    job.measure(large=LOCAL_PROBE_ROWS)
    plan = job.choose(
        requested=requested,
        budget_s=budget_s - (time.monotonic() - started) - LOCAL_RESERVE_S,
        threads=1,
        fixed=fixed,
        steps=budgeting.LOCAL_STEPS,
        what="local explanation",
    )
    return job, plan.config, plan


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
    budget_s: float | None = None,
    fixed: Sequence[str] = (),
    prepared: tuple[ShapJob, Config, Plan | None] | None = None,
) -> LocalShapResult:
    """SHAP values of each of ``rows`` (user columns) against ``background`` (all of it, as stored from
    :func:`shap_global` or :func:`sample_background`, or its first rows when a budget shrinks it).

    Explains P(positive class) for binary, the probability of the predicted class for multiclass, the
    prediction for regression; base value + sum(values) equals that output for every row. ``prepared`` is
    :func:`local_job`'s answer for the same arguments, when the caller asked it first."""
    job, config, plan = prepared or local_job(
        predictor=predictor,
        features=features,
        problem_type=problem_type,
        class_labels=class_labels,
        rows=rows,
        background=background,
        seed=seed,
        max_evals=max_evals,
        exact_max_features=exact_max_features,
        fast_transform=fast_transform,
        budget_s=budget_s,
        fixed=fixed,
    )
    run = job.run(config, min_rows=config.rows)
    adapter = run.adapter
    frame = job.rows
    probabilities = None
    explained_classes = run.explained_classes
    if adapter.problem_type == "regression":
        output_names = [adapter.output_name] * len(frame)
    else:
        if adapter.problem_type == "binary":
            explained_classes = [adapter.positive_class] * len(frame)
        output_names = [adapter.class_output_name(adapter.class_index(label)) for label in explained_classes]
        probabilities = [
            {str(label): float(run.outputs[i, k]) for k, label in enumerate(adapter.class_labels)}
            for i in range(len(frame))
        ]
    return LocalShapResult(
        problem_type=adapter.problem_type,
        feature_names=adapter.feature_names,
        values=[[float(v) for v in row] for row in run.explained_values],
        base_values=[float(v) for v in run.explained_base_values],
        outputs=[float(v) for v in run.explained_outputs],
        output_names=output_names,
        predictions=run.predictions,
        explained_classes=explained_classes,
        probabilities=probabilities,
        feature_values=[plain(list(record)) for record in frame.itertuples(index=False, name=None)],
        rows=frame,
        encoded=run.matrix,
        categories=adapter.categories,
        output_name=adapter.output_name,
        class_labels=list(adapter.class_labels),
        explainer=config.explainer,
        background_size=config.background_size,
        max_evals=run.max_evals,
        seed=seed,
        fast_transform=adapter.fast_transform,
        additivity_max_error=run.additivity_max_error(),
        stats=dict(adapter.stats),
        elapsed_seconds=round(time.monotonic() - job.started, 3),
        versions=library_versions(),
        budget_s=budget_s,
        plan=_plan_record(plan, run),
    )


def choose_explainer(
    n_features: int, *, max_evals: int | None = None, exact_max_features: int = DEFAULT_EXACT_MAX_FEATURES
) -> tuple[str, int]:
    """Which explainer an unbudgeted explanation uses for ``n_features`` and with what evaluations per row:
    Exact when ``n_features <= exact_max_features`` and ``max_evals`` (if given) affords its 2**F masked
    evaluations; Permutation otherwise, with as many whole antithetic permutations (2F+1 evaluations each) as
    ``max_evals`` or, by default, max(500, 10 × (2F + 1)) allow."""
    config = budgeting.requested_config(
        n_features=n_features, rows=1, background_size=1, max_evals=max_evals, exact_max_features=exact_max_features
    )
    return config.explainer, (2**n_features if config.explainer == EXACT else config.evaluations(n_features))
