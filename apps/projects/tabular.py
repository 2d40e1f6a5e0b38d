"""Reading, validating and profiling uploaded tables (CSV or Parquet).

CSV is parsed with Apache Arrow's multi-threaded reader (the engine behind
``pandas.read_csv(engine="pyarrow")``) into a pandas DataFrame backed by Arrow arrays
(``pd.ArrowDtype``): strings stay compact Arrow buffers instead of Python objects, which keeps an
upload's peak memory and time well under a plain ``pandas.read_csv``. Every column's dtype is then
decided once, and the profile computed from the same arrays.

Each problem a user can fix raises ``apps.core.exceptions.ValidationError`` with a message naming it.

Small files can stand for huge tables (a Parquet file of a few kilobytes can decode to gigabytes; a CSV
header of commas to millions of column names), so sizes are checked before anything expands:
``DATASET_MAX_HEADER_BYTES`` bounds the CSV header line before it is split; a Parquet file's metadata
(rows, columns, uncompressed size, and rows times the width of its fixed-width columns) is checked
against ``DATASET_MAX_ROWS``, ``DATASET_MAX_COLUMNS`` and ``DATASET_MAX_TABLE_BYTES`` before any data is
read, and it is then read row group by row group, its dictionary-encoded text sized before it is
decoded. ``DATASET_MAX_ROWS`` holds for CSV too.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from django.conf import settings

from apps.core.exceptions import ValidationError
from apps.projects.uploads import CHUNK_SIZE, UploadInspection

NUMERIC = "numeric"
CATEGORICAL = "categorical"
TEXT = "text"
DATETIME = "datetime"
BOOLEAN = "boolean"
DTYPES = (NUMERIC, CATEGORICAL, TEXT, DATETIME, BOOLEAN)

# A string column is categorical when it has at most this many distinct values, or when distinct
# values are at most CATEGORICAL_MAX_RATIO of its non-missing cells; otherwise it is free text.
CATEGORICAL_MAX_UNIQUE = 50
CATEGORICAL_MAX_RATIO = 0.05
TOP_VALUES = 10
HISTOGRAM_BINS = 20  # bins of the histogram stored for each numeric column (the dataset page draws it)
# Date formats recognised in text columns (ISO 8601 dates and times are recognised by the parser itself).
DATETIME_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
)
DATETIME_SAMPLE = 100
SHOWN_TEXT = 80
CARDINALITY_SAMPLE = 10_000
PANDAS_CHECK_ROWS = 100_000

# Signatures of common files people upload by mistake, named in the error.
BINARY_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)"),
    (b"\xd0\xcf\x11\xe0", "an old-style Office document (Excel .xls)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
)
PARQUET_MAGIC = b"PAR1"


@dataclass
class ParsedTable:
    """A validated table and how it was read."""

    frame: pd.DataFrame
    file_format: str


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_TEXT else text[: SHOWN_TEXT - 1] + "…"


def detect_format(inspection: UploadInspection, path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from the bytes themselves; ValidationError for anything else."""
    if inspection.size_bytes == 0:
        raise ValidationError("The file is empty.", field="file")
    head = inspection.head
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValidationError("The file is UTF-16 text; save it as CSV in UTF-8 and upload it again.", field="file")
    for signature, kind in BINARY_SIGNATURES:
        if head.startswith(signature):
            raise ValidationError(f"The file is {kind}, not a CSV file.", field="file")
    if inspection.has_nul:
        raise ValidationError("The file contains binary data (NUL bytes); it is not a CSV text file.", field="file")
    if not inspection.is_utf8:
        offset = inspection.utf8_error_offset
        line = _line_of_offset(path, offset)
        raise ValidationError(
            f"The file is not valid UTF-8 text: the byte at offset {offset} (line {line}) cannot be decoded. "
            "Save it as CSV in UTF-8 and upload it again.",
            field="file",
        )
    return "csv"


def _line_of_offset(path: Path, offset: int) -> int:
    newlines, read = 0, 0
    with open(path, "rb") as handle:
        while read < offset:
            chunk = handle.read(min(CHUNK_SIZE, offset - read))
            if not chunk:
                break
            newlines += chunk.count(b"\n")
            read += len(chunk)
    return newlines + 1


def check_column_names(names: list[str], *, max_columns: int) -> None:
    """Reject empty or duplicate column names, a single column, or more than ``max_columns`` columns."""
    if len(names) > max_columns:
        raise ValidationError(
            f"The file has {len(names)} columns; a dataset may have at most {max_columns} (DATASET_MAX_COLUMNS).",
            field="file",
        )
    empty = [str(position) for position, name in enumerate(names, start=1) if not str(name).strip()]
    if empty:
        raise ValidationError(
            f"Every column needs a name; column(s) {', '.join(empty)} of the header have none.", field="file"
        )
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise ValidationError(
            "Column names must be unique; repeated: " + ", ".join(repr(name) for name in duplicates) + ".",
            field="file",
        )
    if len(names) < 2:
        hint = ""
        if names and any(separator in names[0] for separator in (";", "\t", "|")):
            hint = " Maestro ML reads comma-separated values; this header looks separated by another character."
        raise ValidationError(
            f"The file has a single column ({_shown(str(names[0]))!r}); a dataset needs at least two.{hint}"
            if names
            else "The file has no columns.",
            field="file",
        )


def _header_lines(handle, limit: int):
    """The file's lines, until ``limit`` characters were read: then ValidationError (the header is too long)."""
    used = 0
    while True:
        line = handle.readline(limit - used + 1)
        if not line:
            return
        used += len(line)
        if used > limit:
            raise ValidationError(
                f"The header row is longer than {limit:,} bytes (DATASET_MAX_HEADER_BYTES); "
                "check that the file is comma-separated text with one header line.",
                field="file",
            )
        yield line


def read_csv_header(path: Path) -> list[str]:
    """The first non-blank record of a UTF-8 CSV file, as written (a BOM is dropped).

    At most ``DATASET_MAX_HEADER_BYTES`` are read for it, so a header of millions of commas is refused
    by its length, not split into millions of names first.
    """
    limit = settings.DATASET_MAX_HEADER_BYTES
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            for record in csv.reader(_header_lines(handle, limit)):
                if record:
                    return record
    except csv.Error as exc:
        raise ValidationError(f"The header row cannot be read as CSV: {exc}.", field="file") from exc
    raise ValidationError("The file has no header row (it holds only blank lines).", field="file")


def _csv_options(*, use_threads: bool, on_invalid_row=None):
    return dict(
        read_options=pacsv.ReadOptions(use_threads=use_threads),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid_row),
        convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
    )


def _raise_ragged(path: Path) -> None:
    """Find the first row with the wrong number of fields (single-threaded, so rows are numbered)."""
    seen: list = []

    def stop(row) -> str:
        seen.append(row)
        return "error"

    try:
        pacsv.read_csv(path, **_csv_options(use_threads=False, on_invalid_row=stop))
    except pa.ArrowInvalid:
        pass
    if seen:
        row = seen[0]
        where = f"Line {row.number}" if row.number is not None else "A row"
        raise ValidationError(
            f"{where} has {row.actual_columns} field(s) but the header has {row.expected_columns}: "
            f"{_shown(row.text)!r}. Every row needs one value per column (ragged rows are not accepted).",
            field="file",
        )


def _check_quotes_with_pandas(path: Path) -> None:
    """An odd number of quote characters may be a quoted value never closed, which Arrow reads to the end
    of the file while pandas (what jobs read datasets with) refuses it: let pandas decide, chunk by chunk."""
    try:
        for _ in pd.read_csv(path, dtype=str, encoding="utf-8", chunksize=PANDAS_CHECK_ROWS):
            pass
    except pd.errors.ParserError as exc:
        raise ValidationError(f"The file cannot be parsed as CSV: {exc}. Check its quotes.", field="file") from exc


def read_csv(path: Path, *, max_columns: int, odd_quotes: bool = False) -> pd.DataFrame:
    """Parse a UTF-8 CSV file into an Arrow-backed DataFrame, rejecting malformed files."""
    names = read_csv_header(path)
    check_column_names(names, max_columns=max_columns)
    if odd_quotes:
        _check_quotes_with_pandas(path)
    ragged: list = []

    def note_ragged(row) -> str:
        ragged.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(path, **_csv_options(use_threads=True, on_invalid_row=note_ragged))
    except pa.ArrowInvalid as exc:
        raise ValidationError(f"The file cannot be parsed as CSV: {exc}.", field="file") from exc
    if ragged:
        _raise_ragged(path)
        raise ValidationError(  # the single-threaded pass found nothing: report what the first pass saw
            f"A row has {ragged[0].actual_columns} field(s) but the header has {ragged[0].expected_columns}.",
            field="file",
        )
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def check_row_count(n_rows: int) -> None:
    limit = settings.DATASET_MAX_ROWS
    if n_rows > limit:
        raise ValidationError(
            f"The file has {n_rows:,} rows; a dataset may have at most {limit:,} (DATASET_MAX_ROWS).", field="file"
        )


def _too_big(size: int, what: str) -> ValidationError:
    limit = settings.DATASET_MAX_TABLE_BYTES
    return ValidationError(
        f"The file's data {what} {size:,} bytes once read; a dataset may take at most {limit:,} bytes "
        "(DATASET_MAX_TABLE_BYTES).",
        field="file",
    )


def _fixed_width_bytes(kind: pa.DataType) -> float:
    """Bytes per row a column of ``kind`` takes in memory when that is fixed (0 for text)."""
    if pa.types.is_dictionary(kind):
        kind = kind.index_type
    try:
        return kind.bit_width / 8
    except ValueError:  # variable width: strings and binary
        return 0


def _is_text(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or (pa.types.is_large_binary(kind))
    )


def _dictionary_encoded_text(metadata, schema: pa.Schema) -> list[str]:
    """Text columns stored dictionary-encoded in some row group: a value stored once may stand for every row."""
    text = {name for name in schema.names if _is_text(schema.field(name).type)}
    found = set()
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            column = row_group.column(index)
            if column.path_in_schema in text and any("DICTIONARY" in encoding for encoding in column.encodings):
                found.add(column.path_in_schema)
    return sorted(found)


def _decoded_bytes(table: pa.Table) -> int:
    """The memory ``table`` takes once its dictionary columns are decoded, computed without decoding them."""
    total = 0
    for column in table.columns:
        if not pa.types.is_dictionary(column.type):
            total += column.nbytes
            continue
        for chunk in column.chunks:
            total += chunk.indices.nbytes + 8 * len(chunk)  # validity, offsets
            if _is_text(chunk.dictionary.type):
                lengths = pc.take(pc.binary_length(chunk.dictionary), chunk.indices)
                total += pc.sum(lengths).as_py() or 0
            else:
                total += chunk.dictionary.nbytes
    return total


def read_parquet(path: Path, *, max_columns: int) -> pd.DataFrame:
    """Read a Parquet file into an Arrow-backed DataFrame, refusing one too large before it is read."""
    try:
        with pq.ParquetFile(path) as parquet:
            metadata = parquet.metadata
        schema = metadata.schema.to_arrow_schema()
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(f"The Parquet file cannot be read: {exc}.", field="file") from exc
    width = len(schema.names)
    if width > max_columns:
        check_column_names([""] * width, max_columns=max_columns)
    nested = [field.name for field in schema if pa.types.is_nested(field.type)]
    if nested:
        raise ValidationError(
            f"Column(s) {', '.join(repr(name) for name in nested)} hold lists, maps or records; the columns of a "
            "dataset hold single values (numbers, text, dates, true/false).",
            field="file",
        )
    check_row_count(metadata.num_rows)
    limit = settings.DATASET_MAX_TABLE_BYTES
    uncompressed = sum(metadata.row_group(group).total_byte_size for group in range(metadata.num_row_groups))
    if uncompressed > limit:
        raise _too_big(uncompressed, "holds")
    fixed = int(metadata.num_rows * sum(_fixed_width_bytes(field.type) for field in schema))
    if fixed > limit:
        raise _too_big(fixed, "would take")
    tables, decoded = [], 0
    try:
        with pq.ParquetFile(path, read_dictionary=_dictionary_encoded_text(metadata, schema)) as parquet:
            for group in range(metadata.num_row_groups):
                table = parquet.read_row_group(group)
                decoded += _decoded_bytes(table)
                if decoded > limit:
                    raise _too_big(decoded, "would take at least")
                tables.append(table.cast(schema))  # text read as dictionaries back to what the file declares
        table = pa.concat_tables(tables) if tables else schema.empty_table()
        frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(f"The Parquet file cannot be read: {exc}.", field="file") from exc
    check_column_names([str(name) for name in frame.columns], max_columns=max_columns)
    frame.columns = [str(name) for name in frame.columns]
    return frame.reset_index(drop=True)


def read_table(path: Path, inspection: UploadInspection, *, max_columns: int) -> ParsedTable:
    """Validate and parse an uploaded file. Raises ValidationError naming the first problem found."""
    file_format = detect_format(inspection, path)
    if file_format == "parquet":
        frame = read_parquet(path, max_columns=max_columns)
    else:
        frame = read_csv(path, max_columns=max_columns, odd_quotes=inspection.odd_quotes)
        check_row_count(len(frame))
    if len(frame) == 0:
        raise ValidationError("The file has a header but no data rows.", field="file")
    return ParsedTable(frame=frame, file_format=file_format)


# ---------------------------------------------------------------------------
# Profile
# ---------------------------------------------------------------------------
def _json_value(value):
    """A JSON-safe scalar: numpy and Arrow scalars unwrapped, non-finite floats as None, times as ISO."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "as_py"):
        value = value.as_py()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _arrow(series: pd.Series) -> pa.ChunkedArray:
    """The column's Arrow data without a copy (through the Arrow protocol) when it is Arrow-backed."""
    if isinstance(series.dtype, pd.ArrowDtype):
        array = series.array.__arrow_array__()
        return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])
    return pa.chunked_array([pa.array(series, from_pandas=True)])


def _value_counts(array: pa.ChunkedArray) -> pa.Table:
    """Each distinct non-missing value with its count (one hash pass)."""
    counts = pc.value_counts(array.drop_null() if array.null_count else array)
    return pa.table({"value": counts.field("values"), "count": counts.field("counts")})


def _top_values(counts: pa.Table, limit: int = TOP_VALUES) -> list[dict]:
    """The ``limit`` most frequent values as [{value, count}], ties in value order."""
    if counts.num_rows == 0:
        return []
    order = pc.select_k_unstable(counts, k=min(limit * 4, counts.num_rows), sort_keys=[("count", "descending")])
    chosen = counts.take(order).to_pylist()
    chosen.sort(key=lambda entry: (-entry["count"], str(entry["value"])))
    return [{"value": _json_value(entry["value"]), "count": entry["count"]} for entry in chosen[:limit]]


def _n_unique(array: pa.ChunkedArray) -> int:
    """Distinct non-missing values (``pc.unique`` is faster than ``count_distinct`` on high-cardinality data)."""
    distinct = pc.unique(array)
    return len(distinct) - (1 if distinct.null_count else 0)


def _numeric_stats(array: pa.ChunkedArray) -> dict:
    extremes = pc.min_max(array)
    stats = {
        "min": _json_value(extremes["min"]),
        "max": _json_value(extremes["max"]),
        "mean": _json_value(pc.mean(array)),
        "std": _json_value(pc.stddev(array, ddof=1)),
    }
    return stats


def _histogram(array: pa.ChunkedArray, n_unique: int) -> dict | None:
    """Counts of the finite values in up to HISTOGRAM_BINS equal-width bins ({edges, counts}); None if none."""
    values = pc.cast(array.drop_null(), pa.float64()).to_numpy()
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    counts, edges = np.histogram(values, bins=max(1, min(HISTOGRAM_BINS, n_unique)))
    return {"edges": [float(f"{edge:.6g}") for edge in edges], "counts": [int(count) for count in counts]}


def _parse_datetimes(array: pa.ChunkedArray) -> tuple[pa.ChunkedArray, str] | None:
    """The text column as timestamps when every value matches one known date format, else None."""
    sample = array.drop_null().slice(0, DATETIME_SAMPLE)
    if len(sample) == 0:
        return None
    lengths = pc.utf8_length(sample)
    if pc.max(lengths).as_py() > 32 or pc.min(lengths).as_py() < 6:
        return None
    for fmt in DATETIME_FORMATS:
        try:
            pc.strptime(sample, format=fmt, unit="s", error_is_null=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        parsed = pc.strptime(array, format=fmt, unit="s", error_is_null=True)
        if parsed.null_count == array.null_count:
            return parsed, fmt
        return None
    return None


def profile_column(name: str, series: pd.Series) -> dict:
    """Dtype (numeric / categorical / text / datetime / boolean), missing and distinct counts, and stats."""
    array = _arrow(series)
    kind = array.type
    n_missing = array.null_count
    entry: dict = {"name": name, "dtype": CATEGORICAL, "n_missing": n_missing, "n_unique": 0}
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        entry.update(dtype=NUMERIC, n_unique=_n_unique(array))
        entry.update(_numeric_stats(array))
        entry["histogram"] = _histogram(array, entry["n_unique"])
        return entry
    if pa.types.is_boolean(kind):
        counts = _value_counts(array)
        entry.update(dtype=BOOLEAN, n_unique=counts.num_rows, top_values=_top_values(counts))
        return entry
    if pa.types.is_temporal(kind):
        extremes = pc.min_max(array)
        entry.update(
            dtype=DATETIME,
            n_unique=_n_unique(array),
            min=_json_value(extremes["min"]),
            max=_json_value(extremes["max"]),
        )
        return entry
    if pa.types.is_null(kind):
        entry.update(top_values=[])
        return entry
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        array = pc.cast(array, pa.string())
    parsed = _parse_datetimes(array)
    if parsed is not None:
        timestamps, fmt = parsed
        extremes = pc.min_max(timestamps)
        entry.update(
            dtype=DATETIME,
            n_unique=_n_unique(array),
            min=_json_value(extremes["min"]),
            max=_json_value(extremes["max"]),
            format=fmt,
        )
        return entry
    # Counting every value costs more than listing distinct ones: only count when a sample looks categorical.
    sample = array.slice(0, CARDINALITY_SAMPLE)
    counts = _value_counts(array) if _n_unique(sample) <= len(sample) // 2 else None
    n_unique = counts.num_rows if counts is not None else _n_unique(array)
    n_present = len(array) - n_missing
    if n_unique <= CATEGORICAL_MAX_UNIQUE or n_unique <= CATEGORICAL_MAX_RATIO * n_present:
        counts = counts if counts is not None else _value_counts(array)
        entry.update(dtype=CATEGORICAL, n_unique=n_unique, top_values=_top_values(counts))
        return entry
    del counts
    lengths = pc.utf8_length(array)
    entry.update(
        dtype=TEXT,
        n_unique=n_unique,
        mean_length=_json_value(pc.mean(lengths)),
        max_length=_json_value(pc.max(lengths)),
    )
    return entry


def profile_frame(frame: pd.DataFrame) -> dict:
    """The stored profile of a table: sizes, missing cells, and one entry per column."""
    columns = [profile_column(str(name), frame[name]) for name in frame.columns]
    return {
        "n_rows": int(len(frame)),
        "n_columns": int(frame.shape[1]),
        "n_missing_cells": int(sum(column["n_missing"] for column in columns)),
        "dtypes": dict(sorted(Counter(column["dtype"] for column in columns).items())),
        "columns": columns,
    }


def column_summaries(profile: dict) -> list[dict]:
    """The ``columns`` field of a dataset: name, dtype, n_missing and n_unique of each column."""
    return [{key: column[key] for key in ("name", "dtype", "n_missing", "n_unique")} for column in profile["columns"]]


def release_memory() -> None:
    """Hand the memory Arrow pooled for a parse back to the system (a web worker lives on after an upload)."""
    pa.default_memory_pool().release_unused()
