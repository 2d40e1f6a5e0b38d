"""Geometry of the monitoring page's charts, drawn as SVG by its template: no script, no inline style (the
strict CSP allows neither), every number computed here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from apps.monitoring.drift import NUMERIC

WIDTH, HEIGHT = 360, 110
MAX_CATEGORIES = 12


def _bars(labels: list[str], series: list[list[float]], *, width: int = WIDTH, height: int = HEIGHT) -> dict[str, Any]:
    """Grouped bars: one group per label, one bar per series (values >= 0), scaled to the largest."""
    groups = len(labels)
    if not groups:
        return {"bars": [], "width": width, "height": height, "empty": True}
    top = max((value for values in series for value in values if value is not None), default=0.0) or 1.0
    group_width = width / groups
    bar_width = max(1.0, (group_width - 2) / max(1, len(series)))
    bars = []
    for index, label in enumerate(labels):
        for which, values in enumerate(series):
            value = values[index] or 0.0
            bar_height = round(value / top * (height - 14), 1)
            bars.append(
                {
                    "x": round(index * group_width + 1 + which * bar_width, 1),
                    "y": round(height - 14 - bar_height, 1),
                    "width": round(bar_width, 1),
                    "height": bar_height,
                    "series": which,
                    "label": label,
                    "value": values[index],
                }
            )
    return {"bars": bars, "width": width, "height": height, "top": top, "first": labels[0], "last": labels[-1]}


def feature_chart(*, kind: str, reference: dict[str, Any], current: pd.Series) -> dict[str, Any] | None:
    """Reference (series 0) against current (series 1) shares: over the reference's histogram bins for numbers,
    over the most frequent categories of both for categories."""
    present = current.dropna()
    if kind == NUMERIC:
        histogram = reference.get("histogram")
        if not histogram:
            return None
        edges = np.array(histogram["edges"], dtype=float)
        counts = np.array(histogram["counts"], dtype=float)
        ref_shares = (counts / counts.sum()).tolist() if counts.sum() else [0.0] * len(counts)
        values = pd.to_numeric(present, errors="coerce").dropna().to_numpy(dtype=float)
        inside = np.clip(values, edges[0], edges[-1])  # outside the reference's range: counted in the end bins
        cur_counts = np.histogram(inside, edges)[0] if len(values) else np.zeros(len(counts))
        cur_shares = (cur_counts / max(1, len(values))).tolist()
        labels = [f"{edges[i]:.3g}–{edges[i + 1]:.3g}" for i in range(len(counts))]
        return _bars(labels, [ref_shares, cur_shares])
    frequencies = reference.get("frequencies") or {}
    current_shares = present.astype(str).value_counts(normalize=True)
    keys = list(dict.fromkeys(list(frequencies)[:MAX_CATEGORIES] + list(current_shares.index[:MAX_CATEGORIES])))
    keys = keys[: MAX_CATEGORIES + 4]
    return _bars(keys, [[frequencies.get(k, 0.0) for k in keys], [float(current_shares.get(k, 0.0)) for k in keys]])


def series_chart(points: list[tuple[str, float | None]], *, reference: float | None = None) -> dict[str, Any]:
    """One bar per point (hours, days, reports); ``reference`` is drawn as a horizontal line (the held-out metric)."""
    labels = [label for label, _ in points]
    values = [value for _, value in points]
    chart = _bars(labels, [values])
    if reference is not None and not chart.get("empty"):
        top = max(chart["top"], reference)
        if top != chart["top"]:
            chart = _bars(labels + [""], [values + [top]])
            chart["bars"] = chart["bars"][:-1]
            chart["last"] = labels[-1]
        chart["reference_y"] = round(HEIGHT - 14 - reference / chart["top"] * (HEIGHT - 14), 1)
        chart["reference"] = reference
    return chart
