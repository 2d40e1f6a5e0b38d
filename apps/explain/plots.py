"""PNG plots of the engine's results: SHAP beeswarm, bar, waterfall and force plots, and LIME weights.

Everything draws headless with matplotlib's Agg backend, under one module lock (pyplot's global state is not
thread-safe), at a fixed size and 100 dpi, and closes its figure before returning the PNG bytes. Plots that
jitter points (the beeswarm) draw under a seeded NumPy global state, so the same result gives the same PNG.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - the backend is chosen first
import numpy as np  # noqa: E402

from apps.explain.engine import GlobalShapResult, LimeResult, LocalShapResult, seeded_global_numpy  # noqa: E402

DPI = 100
PLOT_SEED = 0
POSITIVE_COLOR = "#ff0051"  # shap's colours: pushes the output up
NEGATIVE_COLOR = "#008bfb"  # pushes it down
_PYPLOT_LOCK = threading.RLock()

# Fixed metadata so the bytes depend only on what is drawn (and matplotlib's version).
_PNG_METADATA = {"Software": None}


@contextmanager
def _pyplot() -> Iterator[None]:
    """Hold pyplot for one plot, and close every figure made meanwhile whatever happens."""
    with _PYPLOT_LOCK:
        before = set(plt.get_fignums())
        try:
            with plt.rc_context({"figure.dpi": DPI, "savefig.dpi": DPI}):
                yield
        finally:
            for number in set(plt.get_fignums()) - before:
                plt.close(number)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata=_PNG_METADATA)
    plt.close(figure)
    return buffer.getvalue()


def _display_value(value: Any) -> Any:
    """A value as a plot shows it: numbers stay numbers (formatted by shap), the rest become strings."""
    if value is None:
        return "missing"
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return str(value)


def global_explanation(result: GlobalShapResult) -> Any:
    """The ``shap.Explanation`` of a global result: one row per sampled row, the explained output's values,
    and the encoded feature values (codes for categoricals) that colour the beeswarm."""
    import shap

    return shap.Explanation(
        values=np.asarray(result.shap_values, dtype="float64"),
        base_values=np.asarray(result.base_values, dtype="float64"),
        data=np.asarray(result.encoded, dtype="float64"),
        feature_names=list(result.feature_names),
    )


def local_explanation(result: LocalShapResult, row: int = 0) -> Any:
    """The one-row ``shap.Explanation`` of row ``row`` of a local result, showing the row's own values."""
    import shap

    if not 0 <= row < len(result.values):
        raise IndexError(f"The result explains {len(result.values)} rows; there is no row {row}.")
    display = np.array([_display_value(value) for value in result.feature_values[row]], dtype=object)
    return shap.Explanation(
        values=np.asarray(result.values[row], dtype="float64"),
        base_values=float(result.base_values[row]),
        data=display,
        display_data=display,
        feature_names=list(result.feature_names),
    )


def summary_png(result: GlobalShapResult, *, max_display: int = 15, width: float = 8.0) -> bytes:
    """SHAP beeswarm (summary) plot of a global result: each dot a sampled row, coloured by feature value."""
    import shap

    explanation = global_explanation(result)
    rows = min(max_display, len(result.feature_names))
    with _pyplot(), seeded_global_numpy(PLOT_SEED):
        figure = plt.figure(figsize=(width, 0.45 * rows + 1.6))
        shap.plots.beeswarm(explanation, max_display=max_display, show=False, plot_size=None)
        plt.xlabel(f"SHAP value (impact on {result.output_name})")
        return _png(figure)


def bar_png(result: GlobalShapResult, *, max_display: int = 15, width: float = 8.0) -> bytes:
    """Horizontal bars of the global importances (mean |SHAP|). For multiclass the bar of each feature is
    stacked by class, as its importance is the sum of the classes' mean |SHAP|."""
    names = list(result.feature_importances)[:max_display]
    names.reverse()  # largest on top
    with _pyplot():
        figure, axes = plt.subplots(figsize=(width, 0.4 * len(names) + 1.4))
        positions = np.arange(len(names))
        if result.class_importances:
            left = np.zeros(len(names))
            colors = plt.get_cmap("tab10")
            for k, (label, importances) in enumerate(result.class_importances.items()):
                widths = np.array([importances[name] for name in names])
                axes.barh(positions, widths, left=left, color=colors(k % 10), label=str(label))
                left += widths
            axes.legend(title="class", loc="lower right", frameon=False)
        else:
            widths = np.array([result.feature_importances[name] for name in names])
            axes.barh(positions, widths, color=POSITIVE_COLOR)
            for y, value in zip(positions, widths, strict=True):
                axes.text(value, y, f" {value:.3g}", va="center", fontsize=9)
        axes.set_yticks(positions, names)
        axes.set_xlabel(f"mean |SHAP value| ({result.output_name})")
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        return _png(figure)


def waterfall_png(result: LocalShapResult, *, row: int = 0, max_display: int = 12) -> bytes:
    """SHAP waterfall plot of one explained row: from the base value to the model output, feature by feature."""
    import shap

    explanation = local_explanation(result, row)
    with _pyplot():
        figure = plt.figure(figsize=(8, 0.5 * min(max_display, len(result.feature_names)) + 1.5))
        shap.plots.waterfall(explanation, max_display=max_display, show=False)
        figure = plt.gcf()
        figure.suptitle(result.output_names[row], fontsize=11, y=1.06)
        return _png(figure)


def force_png(result: LocalShapResult, *, row: int = 0, width: float = 16.0, height: float = 3.0) -> bytes:
    """SHAP force plot (matplotlib version) of one explained row."""
    import shap

    explanation = local_explanation(result, row)
    with _pyplot():
        figure = shap.plots.force(
            explanation.base_values,
            explanation.values,
            explanation.data,
            feature_names=list(result.feature_names),
            out_names=result.output_names[row],
            matplotlib=True,
            show=False,
            figsize=(width, height),
        )
        if figure is None:  # some shap versions return None and leave the figure current
            figure = plt.gcf()
        return _png(figure)


def lime_png(result: LimeResult, *, row: int = 0, max_display: int = 15, width: float = 8.0) -> bytes:
    """Horizontal bars of LIME's weights for one row (positive weights push the explained output up)."""
    if not 0 <= row < len(result.rows):
        raise IndexError(f"The result explains {len(result.rows)} rows; there is no row {row}.")
    explained = result.rows[row]
    weights = explained.feature_weights[:max_display][::-1]
    labels = [str(description) for description, _ in weights]
    values = np.array([float(weight) for _, weight in weights])
    title = f"LIME: {explained.output_name} for row {explained.index}"
    with _pyplot():
        figure, axes = plt.subplots(figsize=(width, 0.4 * max(len(labels), 1) + 1.4))
        positions = np.arange(len(labels))
        axes.barh(positions, values, color=[POSITIVE_COLOR if value > 0 else NEGATIVE_COLOR for value in values])
        axes.axvline(0, color="#666666", linewidth=0.8)
        axes.set_yticks(positions, labels)
        axes.set_xlabel("weight in the local linear model")
        axes.set_title(title, fontsize=11)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        return _png(figure)
