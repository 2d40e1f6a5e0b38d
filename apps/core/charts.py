"""Small charts drawn on the server as SVG: no script, no inline style, no library in the browser.

Every function answers a complete ``<svg>`` document as a string, with a ``<title>`` that says what it
shows (screen readers read it; the page's ``alt`` or caption repeats it) and text escaped. Pages either
embed it (``mark_safe``) or serve it as ``image/svg+xml`` for an ``<img>``. Presentation attributes
(``fill``, ``stroke``) are not inline styles, so the strict CSP (``style-src 'self'``) allows them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape

INK = "#1d2330"
MUTED = "#5b6475"
GRID = "#dde1ea"
PALETTE = ("#3451b2", "#c2410c", "#067647", "#7e22ce", "#b42318", "#0e7490", "#a16207", "#be185d", "#4d7c0f", "#334155")
FONT = 'font-family="system-ui, sans-serif"'


def _number(value: float) -> str:
    """A short label for an axis tick or a bar."""
    if value is None:
        return ""
    value = float(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10000 or magnitude < 0.001:
        return f"{value:.2e}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {FONT}><title>{escape(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 11, fill: str = INK, extra="") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{extra}>'
        f"{escape(text)}</text>"
    )


def _clip(label: str, length: int) -> str:
    label = str(label)
    return label if len(label) <= length else label[: length - 1] + "…"


def _extent(values: Sequence[float], *, include_zero: bool = False) -> tuple[float, float]:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if include_zero:
        finite.append(0.0)
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if low == high:
        low, high = low - 1, high + 1
    return low, high


def horizontal_bars(
    items: Sequence[tuple[str, float]], *, title: str, width: int = 420, label_width: int = 130, color: str = PALETTE[0]
) -> str:
    """One labelled bar per item, longest value widest (counts of categories, importances)."""
    bar, gap = 16, 5
    height = max(1, len(items)) * (bar + gap) + 6
    largest = max((abs(float(value)) for _, value in items), default=0.0) or 1.0
    room = width - label_width - 60
    body = []
    for index, (label, value) in enumerate(items):
        y = 3 + index * (bar + gap)
        length = max(1.0, abs(float(value)) / largest * room)
        body.append(_text(label_width - 6, y + bar - 4, _clip(label, 20), anchor="end"))
        body.append(
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar}" fill="{color}">'
            f"<title>{escape(str(label))}: {escape(_number(value))}</title></rect>"
        )
        body.append(_text(label_width + length + 4, y + bar - 4, _number(value), fill=MUTED))
    return _svg(width, height, title, body)


def histogram(edges: Sequence[float], counts: Sequence[int], *, title: str, width: int = 300, height: int = 120) -> str:
    """Bars over consecutive bins; the first and last edges are labelled under the axis."""
    left, bottom, top = 8, 18, 6
    plot_w, plot_h = width - 2 * left, height - bottom - top
    largest = max(counts, default=0) or 1
    step = plot_w / max(1, len(counts))
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{GRID}"/>']
    for index, count in enumerate(counts):
        bar_h = count / largest * plot_h
        x = left + index * step
        low, high = edges[index], edges[index + 1]
        body.append(
            f'<rect x="{x + 0.5:.1f}" y="{top + plot_h - bar_h:.1f}" width="{max(step - 1, 1):.1f}" '
            f'height="{bar_h:.1f}" fill="{PALETTE[0]}"><title>{escape(_number(low))} to {escape(_number(high))}: '
            f"{count}</title></rect>"
        )
    if len(edges) >= 2:
        body.append(_text(left, height - 4, _number(edges[0]), size=10, fill=MUTED))
        body.append(_text(left + plot_w, height - 4, _number(edges[-1]), anchor="end", size=10, fill=MUTED))
    return _svg(width, height, title, body)


def share_bar(share: float, *, title: str, width: int = 120, height: int = 14) -> str:
    """A thin bar filled to ``share`` (0..1): the part of a column that is missing."""
    share = min(max(float(share or 0.0), 0.0), 1.0)
    body = [
        f'<rect x="0" y="2" width="{width}" height="{height - 4}" fill="{GRID}"/>',
        f'<rect x="0" y="2" width="{share * width:.1f}" height="{height - 4}" fill="#b42318"/>',
    ]
    return _svg(width, height, title, body)


def _axes(
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    *,
    width: int,
    height: int,
    x_label: str,
    y_label: str,
    margin: tuple[int, int, int, int] = (12, 14, 40, 52),
):
    """Frame, ticks and labels; answers the body so far and a function mapping data to pixels."""
    top, right, bottom, left = margin
    plot_w, plot_h = width - left - right, height - top - bottom
    (x0, x1), (y0, y1) = x_range, y_range

    def point(x: float, y: float) -> tuple[float, float]:
        return left + (x - x0) / (x1 - x0) * plot_w, top + plot_h - (y - y0) / (y1 - y0) * plot_h

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="{GRID}"/>']
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        xv, yv = x0 + fraction * (x1 - x0), y0 + fraction * (y1 - y0)
        px, _ = point(xv, y0)
        _, py = point(x0, yv)
        body.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{top + plot_h}" stroke="{GRID}"/>')
        body.append(f'<line x1="{left}" y1="{py:.1f}" x2="{left + plot_w}" y2="{py:.1f}" stroke="{GRID}"/>')
        body.append(_text(px, top + plot_h + 14, _number(xv), anchor="middle", size=10, fill=MUTED))
        body.append(_text(left - 4, py + 3, _number(yv), anchor="end", size=10, fill=MUTED))
    body.append(_text(left + plot_w / 2, height - 6, x_label, anchor="middle"))
    body.append(
        _text(
            12, top + plot_h / 2, y_label, anchor="middle", extra=f' transform="rotate(-90 12 {top + plot_h / 2:.1f})"'
        )
    )
    return body, point


def line_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    width: int = 420,
    height: int = 320,
    unit_square: bool = True,
) -> str:
    """Lines through (x, y) points, one colour per series, with a legend (ROC and precision-recall curves)."""
    xs = [v for _, x, _ in series for v in x]
    ys = [v for _, _, y in series for v in y]
    x_range = (0.0, 1.0) if unit_square else _extent(xs)
    y_range = (0.0, 1.0) if unit_square else _extent(ys)
    body, point = _axes(x_range, y_range, width=width, height=height, x_label=x_label, y_label=y_label)
    if diagonal:
        (ax, ay), (bx, by) = point(x_range[0], y_range[0]), point(x_range[1], y_range[1])
        body.append(
            f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="{MUTED}" stroke-dasharray="4 4"/>'
        )
    for index, (name, x_values, y_values) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        coordinates = [
            point(float(x), float(y))
            for x, y in zip(x_values, y_values, strict=False)
            if x is not None and y is not None
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
        body.append(
            f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"><title>{escape(name)}</title>'
            "</polyline>"
        )
        body.append(f'<rect x="62" y="{18 + index * 15}" width="10" height="10" fill="{color}"/>')
        body.append(_text(76, 27 + index * 15, _clip(name, 40), size=10))
    return _svg(width, height, title, body)


def scatter(
    points: Sequence[tuple[float, float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    horizontal_zero: bool = False,
    width: int = 420,
    height: int = 320,
) -> str:
    """Dots at (x, y); optionally the y = x line (predicted against actual) or y = 0 (residuals)."""
    clean = [(float(x), float(y)) for x, y in points if x is not None and y is not None]
    if diagonal:
        both = _extent([v for pair in clean for v in pair])
        x_range = y_range = both
    else:
        x_range = _extent([x for x, _ in clean])
        y_range = _extent([y for _, y in clean], include_zero=horizontal_zero)
    body, point = _axes(x_range, y_range, width=width, height=height, x_label=x_label, y_label=y_label)
    if diagonal:
        (ax, ay), (bx, by) = point(x_range[0], y_range[0]), point(x_range[1], y_range[1])
        body.append(
            f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="{MUTED}" stroke-dasharray="4 4"/>'
        )
    if horizontal_zero:
        (ax, ay), (bx, _) = point(x_range[0], 0.0), point(x_range[1], 0.0)
        body.append(
            f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{ay:.1f}" stroke="{MUTED}" stroke-dasharray="4 4"/>'
        )
    for x, y in clean:
        px, py = point(x, y)
        body.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{PALETTE[0]}" fill-opacity="0.6"/>')
    return _svg(width, height, title, body)


def heatmap(matrix: Sequence[Sequence[int]], labels: Sequence[str], *, title: str, cell: int = 44) -> str:
    """A confusion matrix: rows are the actual class, columns the predicted one, counts in the cells."""
    n = len(labels)
    cell = max(18, min(cell, 360 // max(n, 1)))
    left, top = 110, 40
    width, height = left + n * cell + 12, top + n * cell + 36
    largest = max((value for row in matrix for value in row), default=0) or 1
    body = [
        _text(left + n * cell / 2, 14, "predicted", anchor="middle", fill=MUTED),
        _text(8, top + n * cell + 28, "rows: actual class", fill=MUTED),
    ]
    for index, label in enumerate(labels):
        body.append(_text(left + index * cell + cell / 2, top - 8, _clip(label, 8), anchor="middle", size=10))
        body.append(_text(left - 6, top + index * cell + cell / 2 + 4, _clip(label, 16), anchor="end", size=10))
    for row_index, row in enumerate(matrix):
        for column_index, value in enumerate(row):
            strength = value / largest
            # From white to the accent colour; the count is white on dark cells, ink on light ones.
            red, green, blue = (round(255 - strength * (255 - c)) for c in (0x34, 0x51, 0xB2))
            x, y = left + column_index * cell, top + row_index * cell
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="rgb({red},{green},{blue})" '
                'stroke="#ffffff">'
                f"<title>actual {escape(str(labels[row_index]))}, predicted {escape(str(labels[column_index]))}: "
                f"{value}</title></rect>"
            )
            body.append(
                _text(
                    x + cell / 2,
                    y + cell / 2 + 4,
                    str(value),
                    anchor="middle",
                    fill="#ffffff" if strength > 0.5 else INK,
                )
            )
    return _svg(width, height, title, body)


def grouped_bars(
    rows: Sequence[tuple[str, Sequence[float | None]]],
    series: Sequence[str],
    *,
    title: str,
    width: int = 560,
    label_width: int = 170,
) -> str:
    """Per row a group of horizontal bars, one per series (a leaderboard's validation and test scores).

    Scores may be negative (AutoGluon negates error metrics): bars start at the smallest value shown.
    """
    bar, gap = 10, 8
    per_row = len(series) * bar + gap
    legend = 18
    height = legend + max(1, len(rows)) * per_row + 22
    values = [v for _, group in rows for v in group if v is not None]
    low, high = _extent(values, include_zero=all(v >= 0 for v in values))
    if low < 0 and high <= 0:
        low, high = low, max(high, 0.0)
    room = width - label_width - 60
    body = []
    for index, name in enumerate(series):
        body.append(f'<rect x="{label_width + index * 110}" y="3" width="10" height="10" fill="{PALETTE[index]}"/>')
        body.append(_text(label_width + index * 110 + 14, 12, name, size=10))
    for row_index, (label, group) in enumerate(rows):
        y0 = legend + row_index * per_row
        body.append(_text(label_width - 6, y0 + len(series) * bar / 2 + 4, _clip(label, 26), anchor="end", size=10))
        for index, value in enumerate(group):
            if value is None:
                continue
            length = max(1.0, (float(value) - low) / (high - low) * room)
            y = y0 + index * bar
            body.append(
                f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar - 1}" fill="{PALETTE[index]}">'
                f"<title>{escape(label)} {escape(series[index])}: {escape(_number(value))}</title></rect>"
            )
            body.append(_text(label_width + length + 4, y + bar - 2, _number(value), size=9, fill=MUTED))
    axis_y = height - 8
    body.append(_text(label_width, axis_y, _number(low), size=10, fill=MUTED))
    body.append(_text(label_width + room, axis_y, _number(high), anchor="end", size=10, fill=MUTED))
    return _svg(width, height, title, body)
