"""Small files that expand to huge tables are refused before they expand: Parquet by its metadata (rows,
columns, uncompressed size, fixed-width size) and while it is read row group by row group (text columns
are sized before they are decoded); a CSV by the length of its header line. The dataset preview reads
only the rows it shows."""

from __future__ import annotations

import io
import tracemalloc

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import FileSystemStorage

from apps.core.exceptions import ValidationError
from apps.projects import tabular
from apps.projects.models import Dataset
from apps.projects.selectors import dataset_preview
from tests.projects.conftest import StorageSnapshot, client_for, upload
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return ProjectFactory()


def parquet_bytes(table: pa.Table, **options) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


@pytest.fixture
def reads(monkeypatch):
    """Record every read of Parquet data (whole file or row group): a refused file must have none."""
    calls = []
    real_read_table, real_read_row_group = pq.read_table, pq.ParquetFile.read_row_group

    def read_table(*args, **kwargs):
        calls.append("read_table")
        return real_read_table(*args, **kwargs)

    def read_row_group(self, index, *args, **kwargs):
        calls.append(f"row_group {index}")
        return real_read_row_group(self, index, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", read_table)
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", read_row_group)
    return calls


def test_parquet_with_too_many_rows_is_refused_from_its_metadata(project, settings, reads, dataset_storage):
    settings.DATASET_MAX_ROWS = 100_000
    content = parquet_bytes(pa.table({"a": pa.array([1] * 300_000), "b": pa.array(["x"] * 300_000)}))
    assert len(content) < 20_000  # a few kilobytes on disk
    unchanged = StorageSnapshot(dataset_storage)
    response = upload(client_for(project.owner), project, content, filename="bomb.parquet")
    assert response.status_code == 400
    assert "300,000 rows" in response.json()["file"][0] and "DATASET_MAX_ROWS" in response.json()["file"][0]
    assert reads == []
    unchanged()


def test_parquet_whose_fixed_width_columns_expand_past_the_limit_is_refused_unread(project, settings, reads):
    settings.DATASET_MAX_TABLE_BYTES = 1_000_000
    columns = {f"c{index}": pa.array([7] * 50_000, pa.int64()) for index in range(4)}  # 1.6 MB as int64
    content = parquet_bytes(pa.table(columns))
    assert len(content) < 20_000
    response = upload(client_for(project.owner), project, content, filename="ints.parquet")
    assert response.status_code == 400
    message = response.json()["file"][0]
    assert "1,000,000 bytes" in message and "DATASET_MAX_TABLE_BYTES" in message
    assert reads == []


def test_parquet_whose_uncompressed_size_is_past_the_limit_is_refused_unread(project, settings, reads):
    settings.DATASET_MAX_TABLE_BYTES = 1_000_000
    text = pa.array([f"row-{index:07d}-" + "z" * 40 for index in range(40_000)])  # 2 MB of distinct text
    content = parquet_bytes(pa.table({"id": pa.array(range(40_000)), "text": text}), compression="zstd")
    response = upload(client_for(project.owner), project, content, filename="text.parquet")
    assert response.status_code == 400 and "DATASET_MAX_TABLE_BYTES" in response.json()["file"][0]
    assert reads == []


def test_a_repeated_long_text_is_sized_before_it_is_decoded(project, settings):
    """Dictionary encoding stores a long value once: its decoded size (the value times the rows) decides."""
    settings.DATASET_MAX_TABLE_BYTES = 5_000_000
    long_text = "y" * 5_000
    content = parquet_bytes(pa.table({"n": pa.array(range(20_000)), "text": pa.array([long_text] * 20_000)}))
    assert len(content) < 200_000  # it would be 100 MB once decoded
    pool, previous = pa.proxy_memory_pool(pa.default_memory_pool()), pa.default_memory_pool()
    pa.set_memory_pool(pool)  # Arrow's allocations during the upload, peak included
    try:
        response = upload(client_for(project.owner), project, content, filename="dictionary.parquet")
    finally:
        pa.set_memory_pool(previous)
    assert response.status_code == 400
    assert "DATASET_MAX_TABLE_BYTES" in response.json()["file"][0]
    assert pool.max_memory() < 20_000_000, f"Arrow peaked at {pool.max_memory():,} bytes"


def test_parquet_is_read_row_group_by_row_group(project, example_csv, reads, settings):
    frame = pd.read_csv(example_csv("penguins"))
    content = parquet_bytes(pa.Table.from_pandas(frame, preserve_index=False), row_group_size=50)
    response = upload(client_for(project.owner), project, content, filename="penguins.parquet")
    assert response.status_code == 201, response.json()
    assert (response.json()["n_rows"], response.json()["n_columns"]) == (344, 8)
    assert reads == [f"row_group {index}" for index in range(7)]
    body = response.json()
    assert {column["name"]: column["n_missing"] for column in body["columns"]}["sex"] == 11


def test_parquet_columns_of_lists_are_refused_with_a_clear_message(project):
    content = parquet_bytes(pa.table({"a": pa.array([1, 2]), "tags": pa.array([["x"], ["y", "z"]])}))
    response = upload(client_for(project.owner), project, content, filename="nested.parquet")
    assert response.status_code == 400
    assert "'tags'" in response.json()["file"][0]


def test_csv_rows_over_the_limit_are_refused(project, settings):
    settings.DATASET_MAX_ROWS = 10
    content = "a,b\n" + "".join(f"{index},{index}\n" for index in range(11))
    response = upload(client_for(project.owner), project, content.encode())
    assert response.status_code == 400 and "DATASET_MAX_ROWS" in response.json()["file"][0]


# ---------------------------------------------------------------------------
# CSV header
# ---------------------------------------------------------------------------
def test_a_huge_csv_header_is_refused_by_its_length_before_it_is_split(project, tmp_path, settings):
    settings.DATASET_MAX_HEADER_BYTES = 100_000
    path = tmp_path / "commas.csv"
    path.write_bytes(b"," * 5_000_000 + b"\n1,2\n")
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError) as refused:
            tabular.read_csv_header(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "100,000" in refused.value.message and "DATASET_MAX_HEADER_BYTES" in refused.value.message
    assert peak < 2_000_000  # splitting it would have made a list of five million names


def test_the_upload_of_a_huge_header_answers_400_naming_the_header(project, settings):
    settings.DATASET_MAX_HEADER_BYTES = 10_000
    response = upload(client_for(project.owner), project, b"a," * 20_000 + b"b\n1,2\n")
    assert response.status_code == 400
    assert "header" in response.json()["file"][0] and "10,000 bytes" in response.json()["file"][0]


def test_a_header_within_the_limit_is_read_even_across_quoted_newlines(tmp_path, settings):
    settings.DATASET_MAX_HEADER_BYTES = 100
    path = tmp_path / "quoted.csv"
    path.write_text('\n\n"first\nname",second\n1,2\n', encoding="utf-8")
    assert tabular.read_csv_header(path) == ["first\nname", "second"]


# ---------------------------------------------------------------------------
# Preview
# ---------------------------------------------------------------------------
def test_the_preview_of_a_parquet_dataset_reads_only_the_rows_it_shows(project, monkeypatch, dataset_storage):
    rows = 200_000
    table = pa.table({"n": pa.array(range(rows)), "text": pa.array([f"value {index}" for index in range(rows)])})
    content = parquet_bytes(table, row_group_size=10_000, compression="none")
    response = upload(client_for(project.owner), project, content, filename="big.parquet")
    assert response.status_code == 201, response.json()
    dataset = Dataset.objects.get(pk=response.json()["id"])

    read = []
    real_open = FileSystemStorage.open

    class Counting(io.RawIOBase):
        def __init__(self, raw):
            self.raw = raw

        def readable(self):
            return True

        def seekable(self):
            return True

        def seek(self, *args):
            return self.raw.seek(*args)

        def tell(self):
            return self.raw.tell()

        def read(self, size=-1):
            data = self.raw.read(size)
            read.append(len(data))
            return data

        def readinto(self, buffer):
            count = self.raw.readinto(buffer)
            read.append(count or 0)
            return count

        def close(self):
            self.raw.close()
            super().close()

    def counting_open(self, name, mode="rb"):
        handle = real_open(self, name, mode)
        handle.file = Counting(handle.file)
        return handle

    monkeypatch.setattr(FileSystemStorage, "open", counting_open)
    if not isinstance(dataset.file.storage, FileSystemStorage):
        pytest.skip("counts reads of local files")
    preview = dataset_preview(dataset=dataset, rows=20)
    assert preview["n_rows"] == 20 and preview["rows"][3] == {"n": 3, "text": "value 3"}
    assert preview["total_rows"] == rows
    assert sum(read) < len(content) / 5, f"read {sum(read):,} of {len(content):,} bytes for 20 rows"
