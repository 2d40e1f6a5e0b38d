"""The evaluation plots of a model version, drawn from the evaluation stored at training time.

``evaluation_plots`` names the plots a version has (for the page's ``<img>`` tags and their alt texts);
``evaluation_plot_svg`` draws one. Nothing is recomputed: the numbers come from ``ModelVersion.evaluation``.
"""

from __future__ import annotations

from typing import Any

from apps.core import charts


def _classification(evaluation: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    labels = [str(label) for label in evaluation.get("labels", [])]
    curves = [curve for curve in evaluation.get("curves", []) if curve.get("roc", {}).get("fpr")]
    plots: dict[str, tuple[str, Any]] = {}
    if labels and evaluation.get("confusion_matrix"):
        plots["confusion-matrix"] = (
            "Confusion matrix on the held-out split (rows actual, columns predicted)",
            lambda title: charts.heatmap(evaluation["confusion_matrix"], labels, title=title),
        )

    def name(curve: dict, key: str, value: str) -> str:
        area = curve.get(key, {}).get(value)
        return f"{curve['label']} ({value.replace('_', ' ')} {area:.3f})" if area is not None else str(curve["label"])

    if curves:
        plots["roc"] = (
            "ROC curve on the held-out split: true against false positive rate",
            lambda title: charts.line_chart(
                [(name(c, "roc", "auc"), c["roc"]["fpr"], c["roc"]["tpr"]) for c in curves],
                title=title,
                x_label="false positive rate",
                y_label="true positive rate",
                diagonal=True,
            ),
        )
    pr_curves = [curve for curve in curves if curve.get("pr", {}).get("recall")]
    if pr_curves:
        plots["precision-recall"] = (
            "Precision-recall curve on the held-out split",
            lambda title: charts.line_chart(
                [(name(c, "pr", "average_precision"), c["pr"]["recall"], c["pr"]["precision"]) for c in pr_curves],
                title=title,
                x_label="recall",
                y_label="precision",
            ),
        )
    return plots


def _regression(evaluation: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    points = evaluation.get("points") or []
    plots: dict[str, tuple[str, Any]] = {}
    if points:
        plots["predicted-vs-actual"] = (
            "Predicted against actual values on the held-out split",
            lambda title: charts.scatter(points, title=title, x_label="actual", y_label="predicted", diagonal=True),
        )
        plots["residuals-vs-predicted"] = (
            "Residuals (actual minus predicted) against predicted values",
            lambda title: charts.scatter(
                [(p, a - p) for a, p in points if a is not None and p is not None],
                title=title,
                x_label="predicted",
                y_label="residual",
                horizontal_zero=True,
            ),
        )
    residuals = evaluation.get("residuals") or {}
    if residuals.get("counts"):
        plots["residuals"] = (
            "Distribution of the residuals (actual minus predicted)",
            lambda title: charts.histogram(residuals["edges"], residuals["counts"], title=title, width=420, height=200),
        )
    return plots


def _plots(evaluation: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    kind = (evaluation or {}).get("kind")
    if kind == "classification":
        return _classification(evaluation)
    if kind == "regression":
        return _regression(evaluation)
    return {}


def evaluation_plots(evaluation: dict[str, Any]) -> list[dict[str, str]]:
    """[{name, title}] of the plots ``evaluation`` can draw, in page order."""
    return [{"name": name, "title": title} for name, (title, _) in _plots(evaluation).items()]


def evaluation_plot_svg(evaluation: dict[str, Any], name: str) -> str | None:
    """The SVG document of plot ``name``; None when the evaluation has no such plot."""
    found = _plots(evaluation).get(name)
    if found is None:
        return None
    title, draw = found
    return draw(title)
