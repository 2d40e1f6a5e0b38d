"""Template helpers shared by the pages: metric values by name, and server-drawn charts."""

from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from apps.core import charts

register = template.Library()


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template (None when absent)."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(key)


@register.simple_tag
def metric_value(metrics, name):
    """The value of metric ``name`` in ``metrics`` to four decimals, or an empty string."""
    if not isinstance(metrics, dict) or name not in metrics or metrics[name] is None:
        return ""
    try:
        return f"{float(metrics[name]):.4f}"
    except (TypeError, ValueError):
        return str(metrics[name])


@register.simple_tag
def column_chart(column, n_rows):
    """The chart of one profiled column: a histogram of a numeric one (bins stored at upload), the most
    frequent values of a categorical or boolean one; empty for columns the profile has no counts for."""
    name = column.get("name", "")
    histogram = column.get("histogram") or {}
    if histogram.get("counts"):
        return mark_safe(  # noqa: S308 - charts escape every text they draw
            charts.histogram(histogram["edges"], histogram["counts"], title=f"Distribution of {name}")
        )
    top = column.get("top_values") or []
    if top:
        items = [(str(entry.get("value")), entry.get("count") or 0) for entry in top[:8]]
        return mark_safe(  # noqa: S308 - charts escape every text they draw
            charts.horizontal_bars(items, title=f"Most frequent values of {name}", width=300, label_width=110)
        )
    return ""


@register.simple_tag
def missing_bar(column, n_rows):
    """A bar filled to the share of missing values of ``column``."""
    share = (column.get("n_missing") or 0) / n_rows if n_rows else 0.0
    return mark_safe(  # noqa: S308 - charts escape every text they draw
        charts.share_bar(share, title=f"{share:.1%} of {column.get('name', '')} is missing")
    )


@register.simple_tag
def leaderboard_chart(leaderboard, metric):
    """Validation and test score of each model of a leaderboard, best first."""
    rows = [
        (str(row.get("model")), [row.get("score_val"), row.get("score_test")])
        for row in (leaderboard or [])[:15]
        if row.get("score_val") is not None or row.get("score_test") is not None
    ]
    if not rows:
        return ""
    return mark_safe(  # noqa: S308 - charts escape every text they draw
        charts.grouped_bars(rows, ["validation", "test"], title=f"Validation and test {metric} of each model")
    )
