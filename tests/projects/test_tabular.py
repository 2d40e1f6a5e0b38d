"""Units under the upload: streaming inspection, the upload handler, parsing, profiling and CSV escaping."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.test.client import MULTIPART_CONTENT, encode_multipart

from apps.core.exceptions import PayloadTooLarge, ValidationError
from apps.projects.csv_safety import escape_cell, escape_frame, frame_to_safe_csv
from apps.projects.tabular import profile_frame, read_table
from apps.projects.uploads import DatasetUploadHandler, UploadInspector, local_upload, use_dataset_upload_handler


def inspect(data: bytes, chunk: int = 3):
    inspector = UploadInspector()
    for start in range(0, len(data), chunk):
        inspector.feed(data[start : start + chunk])
    return inspector.finish()


def test_inspection_hashes_and_accepts_characters_split_across_chunks():
    data = "a,b\nété,名前\n".encode()
    result = inspect(data, chunk=1)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size_bytes == len(data) and result.is_utf8 and not result.has_nul
    assert result.head == data[:8]


def test_inspection_finds_the_first_bad_byte_and_truncated_characters():
    assert inspect(b"ab,c\n\xff\n").utf8_error_offset == 5
    assert inspect("a,é".encode()[:-1]).utf8_error_offset == 2  # where the cut character starts
    assert inspect(b"a\x00b").has_nul


def test_inspection_enforces_the_size_limit():
    inspector = UploadInspector(limit=10)
    inspector.feed(b"x" * 10)
    with pytest.raises(PayloadTooLarge):
        inspector.feed(b"y")


def test_handler_streams_every_file_to_disk_with_its_inspection(settings):
    content = b"a,b\n1,2\n"
    request = RequestFactory().post(
        "/upload",
        data=encode_multipart("BoUnDaRy", {"file": SimpleUploadedFile("x.csv", content)}),
        content_type=MULTIPART_CONTENT.replace("BoUnDaRyStRiNg", "BoUnDaRy"),
    )
    use_dataset_upload_handler(request)
    uploaded = request.FILES["file"]
    assert isinstance(request.upload_handlers[0], DatasetUploadHandler)
    assert Path(uploaded.temporary_file_path()).read_bytes() == content  # on disk even though tiny
    assert uploaded.inspection.sha256 == hashlib.sha256(content).hexdigest()
    with local_upload(uploaded) as (path, inspection):
        assert path == Path(uploaded.temporary_file_path()) and inspection is uploaded.inspection


def test_local_upload_spools_other_files_and_removes_the_copy():
    with local_upload(SimpleUploadedFile("x.csv", b"a,b\n1,2\n")) as (path, inspection):
        assert path.read_bytes() == b"a,b\n1,2\n" and inspection.size_bytes == 8
    assert not path.exists()


def parse(tmp_path, content: bytes, *, max_columns: int = 100):
    path = tmp_path / "upload"
    path.write_bytes(content)
    return read_table(path, inspect(content), max_columns=max_columns)


def test_csv_parsing_keeps_names_and_treats_empty_strings_as_missing(tmp_path):
    frame = parse(tmp_path, b'a b,c.d,e\n1,"",x\n2,y,\n').frame
    assert list(frame.columns) == ["a b", "c.d", "e"]
    assert frame["c.d"].isna().sum() == 1 and frame["e"].isna().sum() == 1


def test_a_type_change_deep_in_the_file_is_read_as_text(tmp_path):
    content = b"n,m\n" + b"1,2\n" * 300_000 + b"oops,3\n"
    parsed = parse(tmp_path, content)
    column = profile_frame(parsed.frame)["columns"][0]
    assert column["dtype"] == "categorical" and column["n_unique"] == 2


def test_ragged_row_found_deep_in_a_large_file_names_its_line(tmp_path):
    content = b"a,b\n" + b"1,2\n" * 300_000 + b"3\n"
    with pytest.raises(ValidationError, match="Line 300002 has 1 field"):
        parse(tmp_path, content)


def test_profile_dtypes_and_statistics(tmp_path):
    rows = ["num,cat,txt,flag,day,empty"]
    rows += [
        f"{i},{'ab'[i % 2]},free text {i},{'true' if i % 3 else 'false'},2024-01-{i % 28 + 1:02d}," for i in range(200)
    ]
    profile = profile_frame(parse(tmp_path, "\n".join(rows).encode()).frame)
    columns = {column["name"]: column for column in profile["columns"]}

    assert columns["num"] | {"dtype": "numeric", "min": 0, "max": 199, "mean": 99.5, "n_unique": 200} == columns["num"]
    assert columns["cat"]["dtype"] == "categorical"
    assert columns["cat"]["top_values"] == [{"value": "a", "count": 100}, {"value": "b", "count": 100}]
    assert columns["txt"]["dtype"] == "text" and columns["txt"]["n_unique"] == 200
    assert columns["flag"]["dtype"] == "boolean" and columns["flag"]["n_unique"] == 2
    assert columns["day"] | {"dtype": "datetime", "min": "2024-01-01", "max": "2024-01-28"} == columns["day"]
    assert columns["empty"] | {"n_missing": 200, "n_unique": 0} == columns["empty"]
    assert profile["n_missing_cells"] == 200
    assert profile["dtypes"] == {"boolean": 1, "categorical": 2, "datetime": 1, "numeric": 1, "text": 1}


def test_non_finite_numbers_are_stored_as_null(tmp_path):
    profile = profile_frame(parse(tmp_path, b"x,y\ninf,1\n2,2\n").frame)
    assert profile["columns"][0]["max"] is None


def test_escape_cell_and_frame():
    assert [escape_cell(value) for value in ["=1", "+1", "-1", "@a", "\tx", "\rx", "ok", -1, None]] == [
        "'=1",
        "'+1",
        "'-1",
        "'@a",
        "'\tx",
        "'\rx",
        "ok",
        -1,
        None,
    ]
    frame = pd.DataFrame({"=name": ["=cmd", "fine"], "value": [-3.5, 2.0]}, index=[5, 5])
    escaped = escape_frame(frame)
    assert list(escaped.columns) == ["'=name", "value"]
    assert list(escaped["'=name"]) == ["'=cmd", "fine"] and list(escaped["value"]) == [-3.5, 2.0]
    assert list(frame["=name"]) == ["=cmd", "fine"]  # the original is untouched


def test_safe_csv_is_written_chunk_by_chunk_with_one_header():
    frame = pd.DataFrame({"a": ["=x"] * 5, "b": range(5)})
    out = io.StringIO()
    frame_to_safe_csv(frame, out, chunk_rows=2)
    assert out.getvalue().splitlines() == ["a,b"] + [f"'=x,{i}" for i in range(5)]
