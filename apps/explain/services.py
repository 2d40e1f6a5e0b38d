"""Writes and business rules of explanations: asking for one (answered from the cache when it exists),
computing it (in the request when quick, on the ``explain`` queue otherwise), storing its plots, and
telling the model card when a version's global explanation lands.

Models are loaded only through ``apps.registry.serving.predictor_cache``, which verifies the archive's
SHA-256 before the first load; a version whose archive fails the check is never explained (409).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pandas as pd
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.exceptions import Conflict, DomainError, NotFound, ValidationError
from apps.core.models import WorkStatus
from apps.core.work import work_created, work_transition
from apps.explain import engine, metrics
from apps.explain.choices import PLOTS, ExplanationMethod
from apps.explain.models import Explanation
from apps.projects.permissions import check_project_access
from apps.projects.selectors import dataset_dataframe
from apps.registry import hooks
from apps.registry.models import ModelVersion
from apps.registry.serving import predictor_cache, validate_instances

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger("maestro.explain")


class ExplanationFailed(Conflict):
    default_message = "The explanation could not be computed."


# ---------------------------------------------------------------------------
# Parameters and the cache key
# ---------------------------------------------------------------------------
def explanation_params(*, method: str, requested: dict[str, Any]) -> dict[str, Any]:
    """The full parameters of an explanation: what was asked, completed with the platform's defaults
    (so that a request naming a default and one leaving it out share one cache entry), and ``fixed``: the
    parameters the request named, which a budget may not shrink (the others it may)."""
    seed = requested.get("seed")
    seed = settings.EXPLAIN_SEED if seed is None else seed
    if method == ExplanationMethod.SHAP_GLOBAL:
        return {
            "background_size": requested.get("background_size") or settings.EXPLAIN_BACKGROUND_SIZE,
            "sample_size": requested.get("sample_size") or settings.EXPLAIN_GLOBAL_SAMPLE_SIZE,
            "max_evals": requested.get("max_evals"),
            "seed": seed,
            "exact_max_features": settings.EXPLAIN_EXACT_MAX_FEATURES,
            "permutation_shuffles": settings.EXPLAIN_PERMUTATION_SHUFFLES,
            "budget_s": float(requested.get("budget_s") or settings.EXPLAIN_GLOBAL_BUDGET_S),
            "fixed": _named(requested, "background_size", "sample_size", "max_evals"),
        }
    if method == ExplanationMethod.SHAP_LOCAL:
        budget = requested.get("budget_s")
        return {
            "background_size": requested.get("background_size") or settings.EXPLAIN_BACKGROUND_SIZE,
            "max_evals": requested.get("max_evals"),
            "seed": seed,
            "exact_max_features": settings.EXPLAIN_EXACT_MAX_FEATURES,
            "budget_s": None if budget is None else float(budget),  # None: EXPLAIN_LOCAL_BUDGET_S a row
            "fixed": _named(requested, "background_size", "max_evals"),
        }
    random_state = requested.get("random_state")
    return {
        "num_samples": requested.get("num_samples") or settings.EXPLAIN_LIME_NUM_SAMPLES,
        "random_state": seed if random_state is None else random_state,
        "num_features": requested.get("num_features"),
    }


def _named(requested: dict[str, Any], *names: str) -> list[str]:
    return sorted(name for name in names if requested.get(name) is not None)


def local_budget_s(params: dict[str, Any], rows: int) -> float:
    """The budget of a local SHAP explanation: the one asked for, else ``EXPLAIN_LOCAL_BUDGET_S`` a row."""
    budget = params.get("budget_s")
    return float(budget) if budget is not None else settings.EXPLAIN_LOCAL_BUDGET_S * max(rows, 1)


def explain_threads() -> int:
    """Threads one background explanation uses: ``EXPLAIN_THREADS``, or every core this worker may use (0)."""
    configured = int(settings.EXPLAIN_THREADS)
    return configured if configured > 0 else engine.available_cores()


def rows_sha256(rows: list[dict[str, Any]]) -> str:
    """SHA-256 of the input rows as canonical JSON (key order and spacing do not matter)."""
    return hashlib.sha256(json.dumps(rows, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def explanation_cache_key(*, version: ModelVersion, method: str, params: dict[str, Any], input_sha256: str) -> str:
    """Model version (and its archive) + method + parameters + input rows: equal keys, equal explanations."""
    material = {
        "version": version.pk,
        "artifact_sha256": version.artifact_sha256,
        "method": method,
        "params": params,
        "input_sha256": input_sha256,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------
# Asking for an explanation
# ---------------------------------------------------------------------------
def _checked_rows(version: ModelVersion, rows: list[dict[str, Any]] | None, *, method: str) -> list[dict[str, Any]]:
    if method == ExplanationMethod.SHAP_GLOBAL:
        return []
    if not rows:
        raise ValidationError("A local explanation needs the rows to explain.", field="instance_data")
    if len(rows) > settings.EXPLAIN_MAX_ROWS:
        raise ValidationError(
            f"At most {settings.EXPLAIN_MAX_ROWS} rows per explanation; this request has {len(rows)}.",
            field="instance_data",
        )
    try:
        validate_instances(features=version.features, instances=rows, max_rows=settings.EXPLAIN_MAX_ROWS)
    except ValidationError as exc:
        raise ValidationError(exc.message, field="instance_data") from exc
    names = [feature["name"] for feature in version.features]
    return [{name: row.get(name) for name in names} for row in rows]  # extra columns dropped, schema order


def _prepared(
    *, user: User | None, version: ModelVersion, method: str, params: dict[str, Any] | None, rows
) -> tuple[list[dict[str, Any]], dict[str, Any], str, str]:
    """Access, method and rows checked; the full parameters, the input hash and the cache key."""
    if user is not None:
        check_project_access(user=user, project=version.registered_model.project)
    if method not in ExplanationMethod.values:
        raise ValidationError(f"Unknown explanation method {method!r}.", field="method")
    checked = _checked_rows(version, rows, method=method)
    full_params = explanation_params(method=method, requested=params or {})
    input_sha256 = rows_sha256(checked)
    key = explanation_cache_key(version=version, method=method, params=full_params, input_sha256=input_sha256)
    return checked, full_params, input_sha256, key


def _new(version, method, params, rows, row_index, input_sha256, key, user) -> Explanation:
    """An unsaved explanation of what was asked."""
    return Explanation(
        model_version=version,
        method=method,
        params=params,
        rows=rows,
        row_index=list(row_index or []),
        input_sha256=input_sha256,
        cache_key=key,
        created_by=user,
    )


def _cached(version: ModelVersion, key: str):
    return Explanation.objects.filter(model_version=version, cache_key=key).exclude(status=WorkStatus.FAILED)


def explanation_request(
    *,
    user: User | None,
    version: ModelVersion,
    method: str,
    params: dict[str, Any] | None = None,
    rows: list[dict[str, Any]] | None = None,
    row_index: list[int] | None = None,
) -> tuple[Explanation, bool]:
    """The explanation of ``version`` by ``method`` for ``rows``: the cached one when it exists (or is being
    made), else a new queued one. Answers ``(explanation, created)``. Anyone who may see the project may
    ask (``user`` None: the platform itself, on registration)."""
    checked, full_params, input_sha256, key = _prepared(
        user=user, version=version, method=method, params=params, rows=rows
    )
    existing = _cached(version, key).first()
    if existing is not None:
        metrics.explanation_cache_hits.labels(method=method).inc()
        return existing, False
    return _create_queued(_new(version, method, full_params, checked, row_index, input_sha256, key, user))


def _create_queued(explanation: Explanation) -> tuple[Explanation, bool]:
    """Store a new queued explanation with its first history row; ``(row, created)``. The same request
    stored at the same moment by someone else hits the unique constraint, and theirs is answered."""
    try:
        with transaction.atomic():
            explanation.save()
            work_created(explanation, by=explanation.created_by, message=f"Asked: {explanation.get_method_display()}.")
    except IntegrityError:
        return _cached(explanation.model_version, explanation.cache_key).get(), False
    return explanation, True


def explanation_enqueue(*, explanation_id: int) -> None:
    """Send an explanation to the ``explain`` queue (after the row is committed)."""
    from apps.explain.tasks import run_explanation

    result = run_explanation.apply_async(args=[explanation_id])
    Explanation.objects.filter(pk=explanation_id).update(celery_task_id=result.id)


def explanation_ask(
    *,
    user: User | None,
    version: ModelVersion,
    method: str,
    params: dict[str, Any] | None = None,
    rows: list[dict[str, Any]] | None = None,
    row_index: list[int] | None = None,
) -> tuple[Explanation, bool]:
    """Ask and, when the answer is not cached: compute it now if quick, else queue it. Answers
    ``(explanation, cached)``; the caller answers 200 for a succeeded explanation, 202 for one in the making."""
    checked, full_params, input_sha256, key = _prepared(
        user=user, version=version, method=method, params=params, rows=rows
    )
    existing = _cached(version, key).first()
    if existing is not None:
        metrics.explanation_cache_hits.labels(method=method).inc()
        return existing, existing.status == WorkStatus.SUCCEEDED
    explanation = _new(version, method, full_params, checked, row_index, input_sha256, key, user)
    if method == ExplanationMethod.SHAP_GLOBAL:
        _refuse_a_budget_known_too_small(version, full_params)
    elif len(checked) <= settings.EXPLAIN_SYNC_MAX_ROWS:
        quick = _quick_or_none(explanation, version)
        if quick is not None:
            return _explain_in_request(explanation, version, quick), False
    explanation, created = _create_queued(explanation)
    if created:
        explanation_schedule(explanation=explanation)
    return explanation, not created and explanation.status == WorkStatus.SUCCEEDED


def _quick_or_none(explanation: Explanation, version: ModelVersion) -> Callable[[], tuple[dict, dict]] | None:
    """How to compute a local explanation in the request when it fits ``EXPLAIN_SYNC_BUDGET_S``, else None (it is
    queued). The predictor is timed on the first batch to tell; a budget nothing fits is a 400 naming the budget
    needed, before anything is stored."""
    try:
        predictor = predictor_cache.get(version)  # verifies the archive's SHA-256 before loading it
    except DomainError as exc:  # an archive that fails its hash: the refusal is recorded like any failure

        def refuse(error: DomainError = exc) -> tuple[dict, dict]:
            raise error

        return refuse
    started = time.monotonic()  # the budget is the explanation's: loading the predictor (once) is not part of it
    try:
        if explanation.method == ExplanationMethod.SHAP_LOCAL:
            prepared = _local_job(explanation, version, predictor, started=started)
            plan = prepared[2]
            estimate = plan.estimated_s if plan is not None else 0.0
            compute = partial(_compute_local, explanation, version, predictor, prepared=prepared)
        else:
            cost = engine.cost_of_predictor(predictor)
            params = explanation.params
            estimate = (
                engine.lime_seconds(
                    cost,
                    rows=len(explanation.rows),
                    num_samples=params["num_samples"],
                    n_features=len(version.features),
                )
                if cost is not None
                else 0.0
            )
            compute = partial(_compute_lime, explanation, version, predictor)
    except engine.BudgetTooSmall as exc:
        raise ValidationError(str(exc), field="budget_s") from exc
    except DomainError:
        raise
    except Exception as exc:
        logger.exception("Explanation of version %s could not be prepared", version.pk)
        raise ExplanationFailed(
            f"The explanation stopped on an unexpected error ({type(exc).__name__}: {exc})."
        ) from exc
    if estimate > settings.EXPLAIN_SYNC_BUDGET_S:
        return None
    return compute


def _refuse_a_budget_known_too_small(version: ModelVersion, params: dict[str, Any]) -> None:
    """400 at once for a global budget that the version's last global explanation shows cannot be met: what it
    measured (the model's cost, the background's share of differing values) gives the least the SHAP part needs."""
    last = (
        Explanation.objects.filter(
            model_version=version, method=ExplanationMethod.SHAP_GLOBAL, status=WorkStatus.SUCCEEDED
        )
        .order_by("-finished_at", "-id")
        .values_list("result__plan", flat=True)
        .first()
    )
    if not last or not last.get("cost"):
        return
    needed = (
        engine.least_global_seconds(
            cost=engine.CostModel.from_dict(last["cost"]),
            n_features=len(version.features),
            share=float(last.get("varying_share") or 1.0),
            params=params,
            threads=explain_threads(),
        )
        + settings.EXPLAIN_RESERVE_S
    )
    if needed > params["budget_s"]:
        raise ValidationError(
            f"budget_s={params['budget_s']:g} is too small for a global explanation of this model: the smallest "
            f"one its last explanation's measurements allow needs about {math.ceil(needed)} s.",
            field="budget_s",
        )


def _explain_in_request(
    explanation: Explanation, version: ModelVersion, compute: Callable[[], tuple[dict, dict]]
) -> Explanation:
    """Compute a quick explanation first, then store it with its whole history in one transaction (one
    commit instead of three: at tens of milliseconds of computing, the writes were a third of the request).
    A failure is stored as a failed explanation and raised as a 4xx."""
    started = time.monotonic()
    error: DomainError | None = None
    try:
        body, _images = compute()
    except engine.BudgetTooSmall as exc:
        error = ValidationError(str(exc), field="budget_s")
    except DomainError as exc:
        error = exc
    except Exception as exc:
        logger.exception("Explanation of version %s failed", version.pk)
        error = ExplanationFailed(f"The explanation stopped on an unexpected error ({type(exc).__name__}: {exc}).")
    now = timezone.now()
    explanation.started_at, explanation.finished_at = datetime_from_monotonic(started, now), now
    explanation.elapsed_seconds = round(time.monotonic() - started, 3)
    try:
        with transaction.atomic():
            explanation.save()
            work_created(explanation, by=explanation.created_by, message=f"Asked: {explanation.get_method_display()}.")
            work_transition(explanation, explanation.start, message="Computed in the request.")
            if error is None:
                explanation.result, explanation.progress = body, 1.0
                work_transition(
                    explanation, explanation.succeed, message=f"Computed in {explanation.elapsed_seconds} s."
                )
            else:
                explanation.error = error.message[:5000]
                work_transition(explanation, explanation.fail, message=explanation.error)
    except IntegrityError:  # the same request computed at the same moment: keep theirs
        if error is not None:
            raise error from None
        return _cached(version, explanation.cache_key).get()
    outcome = "succeeded" if error is None else "failed"
    metrics.explanations.labels(method=explanation.method, outcome=outcome).inc()
    metrics.explanation_seconds.labels(method=explanation.method).observe(explanation.elapsed_seconds)
    if error is not None:
        raise error
    return explanation


def datetime_from_monotonic(started: float, now):
    """The wall-clock moment ``started`` (a monotonic reading) was, given that it is ``now``."""
    return now - timedelta(seconds=time.monotonic() - started)


def explanation_schedule(*, explanation: Explanation) -> None:
    """Queue ``explanation`` on the ``explain`` queue once its row is committed."""
    transaction.on_commit(partial(explanation_enqueue, explanation_id=explanation.pk))


# ---------------------------------------------------------------------------
# Computing it
# ---------------------------------------------------------------------------
def _claim(explanation_id: int) -> Explanation | None:
    """Move a queued explanation to running for this process; None when there is nothing to do."""
    with transaction.atomic():
        explanation = Explanation.objects.select_for_update().filter(pk=explanation_id).first()
        if explanation is None or not explanation.is_active:
            return None
        if explanation.status == WorkStatus.RUNNING:  # redelivered: the worker computing it was lost
            work_transition(explanation, explanation.requeue, message="The worker was lost; computing again.")
        if not explanation.attempts_left():
            explanation.error = f"The explanation stopped its worker {explanation.attempts} times and was given up."
            explanation.finished_at = timezone.now()
            work_transition(explanation, explanation.fail, message=explanation.error)
            if explanation.method == ExplanationMethod.SHAP_GLOBAL:
                transaction.on_commit(
                    partial(hooks.global_explanation_ended, version_id=explanation.model_version_id, status="failed")
                )
            return None
        explanation.started_at = timezone.now()
        explanation.progress = 0.05
        work_transition(explanation, explanation.start, message=f"Attempt {explanation.attempts + 1}.")
        return explanation


def _set_progress(explanation_id: int, progress: float, seconds_left: float | None = None) -> None:
    """Move a running explanation's progress (never back) and its expected end."""
    eta = None if seconds_left is None else timezone.now() + timedelta(seconds=seconds_left)
    Explanation.objects.filter(pk=explanation_id, status=WorkStatus.RUNNING, progress__lte=progress).update(
        progress=progress, eta_at=eta
    )


class _ProgressWriter:
    """The engine's progress callback for one explanation: at most one write a second (and always the last)."""

    def __init__(self, explanation_id: int, interval: float = 1.0) -> None:
        self.explanation_id = explanation_id
        self.interval = interval
        self.written = 0.0

    def __call__(self, fraction: float, seconds_left: float | None) -> None:
        now = time.monotonic()
        if now - self.written < self.interval and fraction < 0.9:
            return
        self.written = now
        _set_progress(self.explanation_id, fraction, seconds_left)


def _frame(version: ModelVersion, rows: list[dict[str, Any]]) -> pd.DataFrame:
    return validate_instances(features=version.features, instances=rows, max_rows=max(len(rows), 1))


_TRAINING_FRAMES: OrderedDict[tuple[int, str], pd.DataFrame] = OrderedDict()
_TRAINING_FRAMES_LOCK = threading.Lock()
TRAINING_FRAMES_KEPT = 2


def _training_data(version: ModelVersion) -> pd.DataFrame:
    """The version's training dataset, read once per process and kept for the next explanations of it
    (LIME reads it on every request); keyed by the dataset's SHA-256, so a changed file is read again."""
    key = (version.dataset_id, version.dataset.sha256)
    with _TRAINING_FRAMES_LOCK:
        if key in _TRAINING_FRAMES:
            _TRAINING_FRAMES.move_to_end(key)
            return _TRAINING_FRAMES[key]
    try:
        frame = dataset_dataframe(dataset=version.dataset)
    except FileNotFoundError as exc:
        raise ExplanationFailed(f"{exc} The explanation needs the data the model was trained on.") from exc
    with _TRAINING_FRAMES_LOCK:
        _TRAINING_FRAMES[key] = frame
        while len(_TRAINING_FRAMES) > TRAINING_FRAMES_KEPT:
            _TRAINING_FRAMES.popitem(last=False)
    return frame


def _holdout(version: ModelVersion, data: pd.DataFrame) -> pd.DataFrame | None:
    """The held-out split the job scored the model on (the same seeded split), or None without a job."""
    from apps.automl.training import split_train_test

    job = version.job
    if job is None or version.target not in data.columns:
        return None
    split = split_train_test(
        data, target=version.target, task_type=version.task_type, test_size=job.test_size, seed=job.random_seed
    )
    return split.test


def _background(version: ModelVersion, params: dict[str, Any]) -> pd.DataFrame:
    """The background of the version's global explanation with the same seed and size (stored with it),
    else one drawn the same way from the training data."""
    stored = (
        Explanation.objects.filter(
            model_version=version, method=ExplanationMethod.SHAP_GLOBAL, status=WorkStatus.SUCCEEDED
        )
        .filter(params__seed=params["seed"], params__background_size=params["background_size"])
        .order_by("-finished_at")
        .values_list("result__background", flat=True)
        .first()
    )
    if stored:
        return _frame(version, stored)
    return engine.sample_background(
        _training_data(version), features=version.features, size=params["background_size"], seed=params["seed"]
    )


def _compute_global(
    explanation: Explanation, version: ModelVersion, predictor, started: float | None = None
) -> tuple[dict, dict[str, bytes]]:
    """SHAP and permutation importance within the explanation's budget, counted from ``started`` (loading the
    predictor and the data are part of it; plots and storing are in its reserve)."""
    params = explanation.params
    data = _training_data(version)
    holdout = _holdout(version, data)
    explained = engine.explain_global(
        predictor=predictor,
        features=version.features,
        problem_type=version.task_type,
        class_labels=version.class_labels,
        data=data,
        holdout=holdout,
        target=version.target,
        budget_s=float(params.get("budget_s") or settings.EXPLAIN_GLOBAL_BUDGET_S),
        background_size=params["background_size"],
        sample_size=params["sample_size"],
        seed=params["seed"],
        max_evals=params["max_evals"],
        exact_max_features=params["exact_max_features"],
        fixed=params.get("fixed") or (),
        permutation_shuffles=params["permutation_shuffles"],
        permutation_share=settings.EXPLAIN_PERMUTATION_SHARE,
        reserve_s=settings.EXPLAIN_RESERVE_S,
        threads=explain_threads(),
        progress=_ProgressWriter(explanation.pk),
        started=started,
    )
    result = explained.shap
    body = result.as_dict()  # with the background, stored for later local explanations
    body["permutation_importance"] = explained.permutation.as_dict() if explained.permutation else None
    body["budget"] = explained.budget
    from apps.explain import plots  # matplotlib: only where a plot is drawn, not in every process that starts

    images = {"summary": plots.summary_png(result), "bar": plots.bar_png(result)}
    _set_progress(explanation.pk, 0.97, 0.0)
    return body, images


def _local_job(explanation: Explanation, version: ModelVersion, predictor, started: float | None = None):
    """The local explanation planned for its budget (``engine.local_job``), counted from ``started``: the sync
    decision reads its estimate."""
    params = explanation.params
    return engine.local_job(
        predictor=predictor,
        features=version.features,
        problem_type=version.task_type,
        class_labels=version.class_labels,
        rows=_frame(version, explanation.rows),
        background=_background(version, params),
        seed=params["seed"],
        max_evals=params["max_evals"],
        exact_max_features=params["exact_max_features"],
        budget_s=local_budget_s(params, len(explanation.rows)),
        fixed=params.get("fixed") or (),
        started=started,
    )


def _compute_local(
    explanation: Explanation, version: ModelVersion, predictor, prepared=None, started: float | None = None
) -> tuple[dict, dict[str, bytes]]:
    params = explanation.params
    prepared = prepared or _local_job(explanation, version, predictor, started=started)
    result = engine.shap_local(
        predictor=predictor,
        features=version.features,
        problem_type=version.task_type,
        class_labels=version.class_labels,
        rows=prepared[0].rows,
        background=prepared[0].background,
        seed=params["seed"],
        budget_s=local_budget_s(params, len(explanation.rows)),
        prepared=prepared,
    )
    body = result.as_dict()
    body["background_seed"] = params["seed"]
    return body, {}  # plots are drawn when first fetched (explanation_plot): they cost more than the numbers


def _compute_lime(
    explanation: Explanation, version: ModelVersion, predictor, started: float | None = None
) -> tuple[dict, dict[str, bytes]]:
    params = explanation.params
    result = engine.lime_local(
        predictor=predictor,
        features=version.features,
        problem_type=version.task_type,
        class_labels=version.class_labels,
        rows=_frame(version, explanation.rows),
        training_data=_training_data(version),
        num_samples=params["num_samples"],
        random_state=params["random_state"],
        num_features=params["num_features"],
    )
    return result.as_dict(), {}  # the plot is drawn when first fetched (explanation_plot)


COMPUTE: dict[str, Callable[..., tuple[dict, dict[str, bytes]]]] = {
    ExplanationMethod.SHAP_GLOBAL: _compute_global,
    ExplanationMethod.SHAP_LOCAL: _compute_local,
    ExplanationMethod.LIME: _compute_lime,
}


def _store_plots(explanation: Explanation, images: dict[str, bytes]) -> dict[str, str]:
    stored = {}
    for name, png in images.items():
        if name not in PLOTS[explanation.method]:
            continue
        path = f"explanations/{explanation.model_version_id}/{explanation.pk}/{name}.png"
        if default_storage.exists(path):  # a retried attempt: replace what the lost one wrote
            default_storage.delete(path)
        stored[name] = default_storage.save(path, ContentFile(png))
    return stored


def _local_view(result: dict[str, Any]) -> SimpleNamespace:
    """What the local SHAP plots read, from the stored result."""
    rows = result.get("rows") or []
    return SimpleNamespace(
        values=[row["values"] for row in rows],
        base_values=[row["base_value"] for row in rows],
        feature_values=[row["feature_values"] for row in rows],
        output_names=[row["output_name"] for row in rows],
        feature_names=result.get("feature_names") or [],
    )


def _lime_view(result: dict[str, Any]) -> SimpleNamespace:
    """What the LIME plot reads, from the stored result."""
    return SimpleNamespace(rows=[SimpleNamespace(**row) for row in result.get("rows") or []])


def _draw(name: str, result: dict[str, Any]) -> bytes:
    """Plot ``name`` of a stored local result (matplotlib is imported here, where a plot is drawn)."""
    from apps.explain import plots

    if name == "lime":
        return plots.lime_png(_lime_view(result), row=0)
    draw = plots.waterfall_png if name == "waterfall" else plots.force_png
    return draw(_local_view(result), row=0)


DRAWN_ON_DEMAND = ("waterfall", "force", "lime")


def explanation_plot(*, explanation: Explanation, name: str) -> str:
    """The storage name of plot ``name`` of a succeeded explanation, drawn from its stored numbers and
    stored the first time it is asked for (local plots are not drawn in the request that computes them)."""
    if name not in PLOTS[explanation.method]:
        raise NotFound(f"A {explanation.get_method_display()} explanation has no plot '{name}'.")
    stored = (explanation.plots or {}).get(name)
    if stored and default_storage.exists(stored):
        return stored
    if explanation.status != WorkStatus.SUCCEEDED or name not in DRAWN_ON_DEMAND:
        raise NotFound(
            f"The plot '{name}' of explanation {explanation.pk} does not exist (it is {explanation.status})."
        )
    png = _draw(name, explanation.result)
    with transaction.atomic():
        locked = Explanation.objects.select_for_update().get(pk=explanation.pk)
        existing = (locked.plots or {}).get(name)
        if existing and default_storage.exists(existing):  # drawn by another request meanwhile
            return existing
        path = default_storage.save(f"explanations/{locked.model_version_id}/{locked.pk}/{name}.png", ContentFile(png))
        Explanation.objects.filter(pk=locked.pk).update(plots={**(locked.plots or {}), name: path})
    explanation.plots = {**(explanation.plots or {}), name: path}
    return path


def explanation_run(*, explanation_id: int) -> Explanation | None:
    """Compute a queued explanation and store it (the worker's side). Idempotent: an ended one is left
    alone, a redelivered one is computed again (up to its attempts); a failure is recorded on the row."""
    explanation = _claim(explanation_id)
    if explanation is None:
        return Explanation.objects.filter(pk=explanation_id).first()
    started = time.monotonic()
    version = ModelVersion.objects.select_related("registered_model", "dataset", "job").get(
        pk=explanation.model_version_id
    )
    try:
        predictor = predictor_cache.get(version)  # verifies the archive's SHA-256 before loading it
        body, images = COMPUTE[explanation.method](explanation, version, predictor, started=started)
        stored = _store_plots(explanation, images)
    except Exception as exc:
        if isinstance(exc, DomainError):
            message = exc.message
        elif isinstance(exc, engine.BudgetTooSmall):
            message = str(exc)
        else:
            logger.exception("Explanation %s failed", explanation_id)
            message = f"The explanation stopped on an unexpected error ({type(exc).__name__}: {exc})."
        return _explanation_end(explanation_id=explanation_id, succeeded=False, error=message[:5000], started=started)
    ended = _explanation_end(explanation_id=explanation_id, succeeded=True, result=body, plots=stored, started=started)
    if ended.method == ExplanationMethod.SHAP_GLOBAL and ended.status == WorkStatus.SUCCEEDED:
        from apps.registry.services import model_card_refresh

        model_card_refresh(version=version)  # the card shows the importances that just landed
    return ended


@transaction.atomic
def _explanation_end(*, explanation_id: int, succeeded: bool, started: float, **fields) -> Explanation:
    explanation = Explanation.objects.select_for_update().get(pk=explanation_id)
    if explanation.status != WorkStatus.RUNNING:
        return explanation
    for field, value in fields.items():
        setattr(explanation, field, value)
    explanation.finished_at = timezone.now()
    explanation.eta_at = None
    explanation.elapsed_seconds = round(time.monotonic() - started, 3)
    outcome = "succeeded" if succeeded else "failed"
    if succeeded:
        explanation.progress = 1.0
        work_transition(explanation, explanation.succeed, message=f"Computed in {explanation.elapsed_seconds} s.")
    else:
        work_transition(explanation, explanation.fail, message=explanation.error)
    metrics.explanations.labels(method=explanation.method, outcome=outcome).inc()
    metrics.explanation_seconds.labels(method=explanation.method).observe(explanation.elapsed_seconds)
    if explanation.method == ExplanationMethod.SHAP_GLOBAL:
        transaction.on_commit(
            partial(hooks.global_explanation_ended, version_id=explanation.model_version_id, status=explanation.status)
        )
    return explanation


# ---------------------------------------------------------------------------
# Registration, the model card, deletion
# ---------------------------------------------------------------------------
def explanation_for_new_version(*, version_id: int) -> Explanation | None:
    """Queue the global explanation of a newly registered version (when EXPLAIN_ON_REGISTRATION)."""
    if not settings.EXPLAIN_ON_REGISTRATION:
        return None
    version = ModelVersion.objects.select_related("registered_model__project").filter(pk=version_id).first()
    if version is None:
        return None
    with transaction.atomic():
        explanation, created = explanation_request(user=None, version=version, method=ExplanationMethod.SHAP_GLOBAL)
        if created:
            transaction.on_commit(partial(explanation_enqueue, explanation_id=explanation.pk))
    return explanation


def global_importances_for(versions) -> dict[int, dict[str, float]]:
    """The registry's feature-importance hook: each version's latest global SHAP importances, one query."""
    ids = [version.pk for version in versions]
    rows = (
        Explanation.objects.filter(
            model_version_id__in=ids, method=ExplanationMethod.SHAP_GLOBAL, status=WorkStatus.SUCCEEDED
        )
        .order_by("model_version_id", "-finished_at", "-id")
        .values_list("model_version_id", "result__feature_importances")
    )
    answers: dict[int, dict[str, float]] = {}
    for version_id, importances in rows:
        if version_id not in answers and importances:
            answers[version_id] = engine.ranked(importances)
    return answers


def explanation_files_delete(*, explanation: Explanation) -> None:
    """Remove an explanation's plot files once its row is gone (with its version)."""
    names = list((explanation.plots or {}).values())

    def remove() -> None:
        for name in names:
            try:
                default_storage.delete(name)
            except OSError:
                logger.warning("Could not remove plot %s of a deleted explanation", name, exc_info=True)

    transaction.on_commit(remove)
