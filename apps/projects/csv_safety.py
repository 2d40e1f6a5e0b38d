"""CSV formula-injection defence for every CSV Maestro ML writes back out.

Uploaded cells such as ``=HYPERLINK(...)``, ``+1+1``, ``-2+3``, ``@SUM(...)`` are kept as data (the
model trains on exactly what was uploaded), but a spreadsheet opening a CSV we produce would run
them as formulas. So whenever the platform writes a CSV (batch predictions, exports), text cells
and column names that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are prefixed
with a single quote, which spreadsheets show as text (OWASP's recommendation). Numbers are never
changed: ``-3.5`` in a numeric column stays a number.

Use ``frame_to_safe_csv(frame, handle)`` (or ``escape_frame`` / ``escape_cell`` for other writers).
"""

from __future__ import annotations

from typing import IO, Any

import numpy as np
import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"
CHUNK_ROWS = 100_000


def escape_cell(value: Any) -> Any:
    """``value`` with a leading quote when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return ESCAPE + value
    return value


def _is_text(series: pd.Series) -> bool:
    return (
        pd.api.types.is_object_dtype(series.dtype)
        or pd.api.types.is_string_dtype(series.dtype)
        or isinstance(series.dtype, pd.CategoricalDtype)
    )


def escape_series(series: pd.Series) -> pd.Series:
    """A copy of a text column with formula-like cells escaped; other columns are returned as they are."""
    if not _is_text(series):
        return series
    values = series.to_numpy(dtype=object, na_value=None)
    dangerous = np.fromiter(
        (isinstance(value, str) and value.startswith(FORMULA_PREFIXES) for value in values),
        dtype=bool,
        count=len(values),
    )
    if not dangerous.any():
        return series
    values = values.copy()
    values[dangerous] = [ESCAPE + value for value in values[dangerous]]
    return pd.Series(values, index=series.index, name=series.name, dtype=object)


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are safe to open in a spreadsheet."""
    escaped = pd.DataFrame(
        {position: escape_series(frame.iloc[:, position]).reset_index(drop=True) for position in range(frame.shape[1])}
    )
    escaped.columns = [escape_cell(str(name)) for name in frame.columns]
    escaped.index = frame.index
    return escaped


def frame_to_safe_csv(frame: pd.DataFrame, handle: IO[str], *, chunk_rows: int = CHUNK_ROWS, **to_csv_options) -> None:
    """Write ``frame`` as CSV (UTF-8 text, no index unless asked) into ``handle``, escaped chunk by chunk."""
    to_csv_options.setdefault("index", False)
    for start in range(0, max(len(frame), 1), chunk_rows):
        chunk = escape_frame(frame.iloc[start : start + chunk_rows])
        chunk.to_csv(handle, header=start == 0, **to_csv_options)
