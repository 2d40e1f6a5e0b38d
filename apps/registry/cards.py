"""Model cards: what a version is for, what it was trained on, how it scored, and who approved it.

The card is a JSON document stored on the version (``ModelVersion.card``), built from its inputs;
``card_inputs_digest`` changes whenever one of those inputs does, which triggers a rebuild. HTML is
rendered from a Django template; the PDF is WeasyPrint's rendering of that same HTML.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import TYPE_CHECKING, Any

from django.template.loader import render_to_string

from apps.registry.hooks import approval_for, explanation_state_of, feature_importances_of

if TYPE_CHECKING:
    from apps.registry.models import ModelVersion

CARD_SCHEMA_VERSION = 1
LEADERBOARD_ROWS = 10
TOP_IMPORTANCES = 10


def dataset_summary(dataset) -> dict[str, Any]:
    """Name, hash, size and the per-column profile of a dataset, as stored at upload."""
    columns = [
        {key: column.get(key) for key in ("name", "dtype", "n_missing", "n_unique") if key in column}
        for column in (dataset.columns or [])
    ]
    missing_cells = sum(int(column.get("n_missing") or 0) for column in columns)
    cells = (dataset.n_rows or 0) * (dataset.n_columns or 0)
    return {
        "id": dataset.pk,
        "name": dataset.name,
        "sha256": dataset.sha256,
        "size_bytes": dataset.size_bytes,
        "n_rows": dataset.n_rows,
        "n_columns": dataset.n_columns,
        "missing_cells": missing_cells,
        "missing_fraction": round(missing_cells / cells, 4) if cells else 0.0,
        "columns": columns,
        "uploaded_at": dataset.created_at.isoformat() if dataset.created_at else None,
    }


def leaderboard_summary(leaderboard: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("model", "score_val", "score_test", "fit_time", "pred_time_val")
    return [{key: row.get(key) for key in keys if key in row} for row in (leaderboard or [])[:LEADERBOARD_ROWS]]


def top_importances(importances: dict[str, float], errors: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """The largest importances, each with its standard error when the explanation measured one."""
    ranked = sorted(importances.items(), key=lambda item: abs(float(item[1])), reverse=True)
    errors = errors or {}
    return [
        {"feature": name, "importance": float(value), "standard_error": errors.get(name)}
        for name, value in ranked[:TOP_IMPORTANCES]
    ]


def card_inputs(version: ModelVersion) -> dict[str, Any]:
    """Everything the card is made of; the card is rebuilt whenever this changes."""
    registered_model = version.registered_model
    job = version.job
    return {
        "schema": CARD_SCHEMA_VERSION,
        "model": {
            "id": version.pk,
            "name": registered_model.name,
            "registered_model_id": registered_model.pk,
            "description": registered_model.description,
            "project": {"id": registered_model.project_id, "name": registered_model.project.name},
            "version": version.version,
            "status": version.status,
            "task_type": version.task_type,
            "target": version.target,
            "class_labels": version.class_labels,
            "best_model": version.best_model,
            "created_at": version.created_at.isoformat() if version.created_at else None,
            "created_by": version.created_by.username if version.created_by else None,
            "artifact_sha256": version.artifact_sha256,
        },
        "intended_use": version.intended_use,
        "limitations": version.limitations,
        "training_data": dataset_summary(version.dataset),
        "training": {
            "job_id": version.job_id,
            "time_budget": job.time_budget if job else None,
            "presets": job.presets if job else None,
            "test_size": job.test_size if job else None,
            "mlflow_run_id": version.mlflow_run_id,
        },
        "features": version.features,
        "eval_metric": version.eval_metric,
        "metrics": version.metrics,
        "leaderboard": leaderboard_summary(version.leaderboard),
        "feature_importances": top_importances(
            feature_importances_of(version), dict(explanation_state_of(version).standard_errors)
        ),
        "approvals": list(approval_for(version).history),
    }


def card_inputs_digest(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


BAR_WIDTH = 360  # px of the longest importance bar in the card's chart
BAR_HEIGHT = 18


def importance_bars(importances: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The geometry of the card's bar chart of global importances, drawn as SVG by the template (no
    script, no inline style: it passes the CSP and WeasyPrint draws it in the PDF)."""
    if not importances:
        return None
    largest = max(abs(float(item["importance"])) + float(item.get("standard_error") or 0) for item in importances)
    scale = BAR_WIDTH / (largest or 1.0)
    bars = []
    for index, item in enumerate(importances):
        value, error = abs(float(item["importance"])), float(item.get("standard_error") or 0)
        y = index * (BAR_HEIGHT + 6)
        bars.append(
            {
                "feature": item["feature"],
                "importance": float(item["importance"]),
                "standard_error": item.get("standard_error"),
                "y": y,
                "text_y": y + BAR_HEIGHT - 5,
                "width": max(1, round(value * scale)),
                # the error bar: ± one standard error around the bar's end
                "error_from": round(176 + max(value - error, 0) * scale, 1),
                "error_to": round(176 + (value + error) * scale, 1),
                "error_y": y + BAR_HEIGHT / 2,
            }
        )
    return {"bars": bars, "height": len(bars) * (BAR_HEIGHT + 6), "bar_height": BAR_HEIGHT, "width": BAR_WIDTH}


def card_template_context(card: dict[str, Any]) -> dict[str, Any]:
    metrics = card.get("metrics") or {}
    return {
        "card": card,
        "importance_chart": importance_bars(card.get("feature_importances") or []),
        "model": card.get("model", {}),
        "metrics": sorted(metrics.items()),
        "data": card.get("training_data", {}),
        "training": card.get("training", {}),
    }


def card_render_html(card: dict[str, Any], *, for_print: bool = False) -> str:
    """The card as a whole HTML document (``for_print`` inlines no stylesheet link; WeasyPrint gets CSS)."""
    return render_to_string("registry/card.html", {**card_template_context(card), "for_print": for_print})


@cache
def _url_fetcher_class():
    """Defined on first use: importing WeasyPrint needs Pango, which only PDF rendering may require."""
    from weasyprint.urls import URLFetcher

    class CardURLFetcher(URLFetcher):
        """WeasyPrint's fetcher for cards: every resource a card needs is in its HTML and CSS, so no URL is
        ever fetched (http(s), file, ftp...: no request to internal services, no local file read into a
        PDF); only ``data:`` URIs, which carry their bytes inline."""

        def __init__(self) -> None:
            super().__init__(allowed_protocols={"data"}, allow_redirects=False, fail_on_errors=False)

        def fetch(self, url, headers=None):
            if not str(url).lower().startswith("data:"):
                raise ValueError(f"Model cards load nothing from outside ({str(url)[:100]} was not fetched).")
            return super().fetch(url, headers)

    return CardURLFetcher


def __getattr__(name: str):
    if name == "CardURLFetcher":  # WeasyPrint is imported only when a card is rendered as PDF
        return _url_fetcher_class()
    raise AttributeError(name)


def pdf_url_fetcher():
    """The fetcher every PDF made from a card (or a document that embeds one) renders with:
    ``HTML(..., url_fetcher=pdf_url_fetcher())`` and the same for each ``CSS``."""
    return _url_fetcher_class()()


def card_render_pdf(card: dict[str, Any]) -> bytes:
    """The same HTML, laid out on A4 pages by WeasyPrint, fetching no URL (``CardURLFetcher``)."""
    from weasyprint import CSS, HTML

    fetcher = pdf_url_fetcher()
    html = card_render_html(card, for_print=True)
    stylesheet = CSS(string=render_to_string("registry/card_print.css"), url_fetcher=fetcher)
    return HTML(string=html, url_fetcher=fetcher).write_pdf(stylesheets=[stylesheet])
