"""POST datasets: the four samples are profiled right, every bad file gets a 400 naming it and leaves nothing."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from apps.projects.csv_safety import frame_to_safe_csv
from apps.projects.models import Dataset
from apps.projects.selectors import dataset_dataframe
from tests.projects.conftest import client_for, stored_files, upload
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return ProjectFactory()


@pytest.fixture
def owner_client(project):
    return client_for(project.owner)


def columns_by_name(body: dict) -> dict:
    return {column["name"]: column for column in body["columns"]}


@pytest.mark.parametrize("sample", ["titanic", "boston", "iris", "penguins"])
def test_sample_upload_matches_pandas_counts(sample, project, owner_client, example_csv, dataset_storage):
    path = example_csv(sample)
    response = upload(owner_client, project, path, name=sample)

    assert response.status_code == 201, response.json()
    body = response.json()
    frame = pd.read_csv(path)
    assert body["project"] == project.pk
    assert body["name"] == sample
    assert (body["n_rows"], body["n_columns"]) == frame.shape
    assert body["size_bytes"] == path.stat().st_size
    assert len(body["sha256"]) == 64
    assert [column["name"] for column in body["columns"]] == list(frame.columns)
    for column in body["columns"]:
        assert column["n_missing"] == int(frame[column["name"]].isna().sum()), column
        assert column["n_unique"] == int(frame[column["name"]].nunique()), column
    dataset = Dataset.objects.get(pk=body["id"])
    assert dataset.file.name.startswith(f"datasets/{project.pk}/") and dataset.file.name.endswith(".csv")
    assert dataset.file.name in stored_files(dataset_storage)
    assert dataset.profile["n_rows"] == len(frame)


def test_titanic_profile_types_and_stats(project, owner_client, example_csv):
    body = upload(owner_client, project, example_csv("titanic")).json()
    columns = columns_by_name(body)
    assert {name: column["dtype"] for name, column in columns.items()} == {
        "Name": "text",
        "PClass": "categorical",
        "Age": "numeric",
        "Sex": "categorical",
        "Survived": "numeric",
    }
    assert columns["Age"]["n_missing"] == 557
    profile = {column["name"]: column for column in body["profile"]["columns"]}
    frame = pd.read_csv(example_csv("titanic"))
    assert profile["Age"]["min"] == frame["Age"].min()
    assert profile["Age"]["max"] == frame["Age"].max()
    assert profile["Age"]["mean"] == pytest.approx(frame["Age"].mean())
    assert profile["Sex"]["top_values"] == [{"value": "male", "count": 851}, {"value": "female", "count": 462}]
    assert profile["Name"]["max_length"] == frame["Name"].str.len().max()


def test_iris_and_penguins_categories_and_missing_values(project, owner_client, example_csv):
    iris = upload(owner_client, project, example_csv("iris")).json()
    species = {column["name"]: column for column in iris["profile"]["columns"]}["species"]
    assert species["dtype"] == "categorical"
    assert species["top_values"] == [
        {"value": "setosa", "count": 50},
        {"value": "versicolor", "count": 50},
        {"value": "virginica", "count": 50},
    ]
    assert columns_by_name(iris)["sepal length (cm)"]["dtype"] == "numeric"

    penguins = upload(owner_client, project, example_csv("penguins")).json()
    columns = columns_by_name(penguins)
    assert columns["sex"] == {"name": "sex", "dtype": "categorical", "n_missing": 11, "n_unique": 2}
    assert columns["island"]["dtype"] == "categorical" and columns["island"]["n_unique"] == 3
    assert columns["bill_length_mm"]["dtype"] == "numeric" and columns["bill_length_mm"]["n_missing"] == 2
    assert penguins["profile"]["n_missing_cells"] == 19


def test_boston_is_all_numeric(project, owner_client, example_csv):
    body = upload(owner_client, project, example_csv("boston")).json()
    assert body["n_rows"] == 506 and body["n_columns"] == 14
    assert {column["dtype"] for column in body["columns"]} == {"numeric"}
    medv = {column["name"]: column for column in body["profile"]["columns"]}["medv"]
    assert (medv["min"], medv["max"]) == (5.0, 50.0)


def test_datetime_and_boolean_columns_are_recognised(project, owner_client):
    content = (
        b"when,day,flag,amount\n"
        b"2024-01-05 10:00:00,25/12/2020,true,1.5\n"
        b"2024-02-06 11:30:00,26/12/2020,false,2.5\n"
        b"2024-03-07 12:45:00,27/12/2020,true,\n"
    )
    body = upload(owner_client, project, content).json()
    profile = {column["name"]: column for column in body["profile"]["columns"]}
    assert profile["when"]["dtype"] == "datetime"
    assert profile["when"]["min"].startswith("2024-01-05")
    assert profile["day"]["dtype"] == "datetime" and profile["day"]["format"] == "%d/%m/%Y"
    assert profile["flag"]["dtype"] == "boolean"
    assert profile["amount"] == profile["amount"] | {"dtype": "numeric", "n_missing": 1, "mean": 2.0}


def test_column_names_with_spaces_unicode_and_dots_work_downstream(project, owner_client):
    content = "sepal length (cm),température °C,a.b,名前,x\n1,20.5,3,太郎,a\n2,21.5,4,花子,b\n".encode()
    response = upload(owner_client, project, content)

    assert response.status_code == 201, response.json()
    names = ["sepal length (cm)", "température °C", "a.b", "名前", "x"]
    assert [column["name"] for column in response.json()["columns"]] == names
    dataset = Dataset.objects.get(pk=response.json()["id"])
    assert list(dataset_dataframe(dataset=dataset).columns) == names
    preview = owner_client.get(f"/api/v1/datasets/{dataset.pk}/preview").json()
    assert preview["columns"] == names
    assert preview["rows"][1] == {"sepal length (cm)": 2, "température °C": 21.5, "a.b": 4, "名前": "花子", "x": "b"}


def test_formula_like_cells_are_kept_as_data_and_escaped_when_written_out(project, owner_client):
    content = b'label,value\n=1+1,1\n"+SUM(A1)",2\n-2+3,3\n@cmd,4\nplain,5\n'
    response = upload(owner_client, project, content)

    assert response.status_code == 201, response.json()
    dataset = Dataset.objects.get(pk=response.json()["id"])
    frame = dataset_dataframe(dataset=dataset)
    assert list(frame["label"]) == ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "plain"]
    out = io.StringIO()
    frame_to_safe_csv(frame, out)
    assert out.getvalue().splitlines() == ["label,value", "'=1+1,1", "'+SUM(A1),2", "'-2+3,3", "'@cmd,4", "plain,5"]


def test_quoted_newlines_and_utf8_bom_parse(project, owner_client):
    content = '\ufeffid,comment\n1,"first line\nsecond line"\n2,"plain, with comma"\n'.encode()
    body = upload(owner_client, project, content).json()
    assert body["n_rows"] == 2
    assert [column["name"] for column in body["columns"]] == ["id", "comment"]


def test_a_lone_quote_inside_a_value_is_data(project, owner_client):
    body = upload(owner_client, project, b"name,height\nAda,5'11\"\nBob,6'0\"\n").json()
    assert body["n_rows"] == 2
    preview = owner_client.get(f"/api/v1/datasets/{body['id']}/preview").json()
    assert preview["rows"][0]["height"] == "5'11\""


def test_name_defaults_to_the_file_name(project, owner_client, example_csv):
    response = upload(owner_client, project, example_csv("iris").read_bytes(), name="", filename="flowers.csv")
    assert response.status_code == 201
    assert response.json()["name"] == "flowers"
    assert response.json()["original_filename"] == "flowers.csv"


def test_parquet_upload_is_profiled_too(project, owner_client, example_csv, dataset_storage):
    buffer = io.BytesIO()
    pd.read_csv(example_csv("penguins")).to_parquet(buffer, index=False)
    response = upload(owner_client, project, buffer.getvalue(), filename="penguins.parquet")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["file_format"] == "parquet" and (body["n_rows"], body["n_columns"]) == (344, 8)
    assert columns_by_name(body)["sex"]["n_missing"] == 11
    dataset = Dataset.objects.get(pk=body["id"])
    assert dataset.file.name.endswith(".parquet")
    assert dataset_dataframe(dataset=dataset, nrows=5).shape == (5, 8)


# ---------------------------------------------------------------------------
# Duplicates
# ---------------------------------------------------------------------------
def test_same_content_twice_in_a_project_answers_409_with_the_existing_dataset(
    project, owner_client, example_csv, dataset_storage
):
    first = upload(owner_client, project, example_csv("iris"), name="iris")
    rows, files = Dataset.objects.count(), stored_files(dataset_storage)

    second = upload(owner_client, project, example_csv("iris"), name="iris again")

    assert second.status_code == 409
    assert second.json()["existing_dataset_id"] == first.json()["id"]
    assert "already in project" in second.json()["detail"]
    assert Dataset.objects.count() == rows
    assert stored_files(dataset_storage) == files


def test_same_content_in_another_project_is_a_new_dataset(project, owner_client, example_csv):
    other = ProjectFactory(owner=project.owner)
    assert upload(owner_client, project, example_csv("iris")).status_code == 201
    assert upload(owner_client, other, example_csv("iris")).status_code == 201


# ---------------------------------------------------------------------------
# Bad input: 400 naming the problem, nothing stored
# ---------------------------------------------------------------------------
BAD_FILES = {
    "empty file": (b"", "The file is empty"),
    "png image": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "PNG image"),
    "excel workbook": (b"PK\x03\x04" + b"\x00" * 64, "ZIP archive"),
    "binary bytes": (b"a,b\n1,\x00\x01\n", "binary data"),
    "latin-1 text": (
        "name,city\nJosé,Köln\n".encode("latin-1"),
        "not valid UTF-8 text: the byte at offset 13 (line 2)",
    ),
    "utf-16 text": ("a,b\n1,2\n".encode("utf-16"), "UTF-16"),
    "row with too few fields": (b"a,b,c\n1,2,3\n4,5\n", "Line 3 has 2 field(s) but the header has 3"),
    "row with too many fields": (b"a,b\n1,2\n3,4,5\n", "Line 3 has 3 field(s) but the header has 2"),
    "duplicate column names": (b"a,b,a\n1,2,3\n", "Column names must be unique; repeated: 'a'"),
    "empty column name": (b"a,,c\n1,2,3\n", "column(s) 2 of the header have none"),
    "blank column name": (b"a,  ,c\n1,2,3\n", "column(s) 2 of the header have none"),
    "single column": (b"value\n1\n2\n", "single column"),
    "semicolon separated": (b"a;b;c\n1;2;3\n", "separated by another character"),
    "header only": (b"a,b,c\n", "no data rows"),
    "blank lines only": (b"\n\n\n", "no header row"),
    "quote never closed": (b'a,b\n1,"open\n2,3\n', "Check its quotes"),
}


@pytest.mark.parametrize("content,message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_file_is_refused_with_a_named_problem_and_nothing_stored(
    content, message, project, owner_client, nothing_stored
):
    response = upload(owner_client, project, content)

    assert response.status_code == 400, response.json()
    assert message in response.json()["file"][0]
    nothing_stored()


def test_more_columns_than_the_limit_is_refused(settings, project, owner_client, nothing_stored):
    settings.DATASET_MAX_COLUMNS = 5
    response = upload(owner_client, project, b"a,b,c,d,e,f\n1,2,3,4,5,6\n")

    assert response.status_code == 400
    assert "6 columns; a dataset may have at most 5" in response.json()["file"][0]
    nothing_stored()


def test_a_file_over_the_size_limit_answers_413(settings, project, owner_client, nothing_stored):
    settings.DATASET_MAX_UPLOAD_BYTES = 1000
    response = upload(owner_client, project, b"a,b\n" + b"1,2\n" * 400)

    assert response.status_code == 413
    assert "larger than the 1,000 bytes" in response.json()["file"][0]
    nothing_stored()


def test_a_request_announcing_too_many_bytes_is_refused_before_reading(settings, project, owner_client, nothing_stored):
    settings.DATASET_MAX_UPLOAD_BYTES = 1000
    response = upload(owner_client, project, b"a,b\n" + b"1,2\n" * 600_000)

    assert response.status_code == 413
    nothing_stored()


def test_failure_while_saving_the_row_removes_the_stored_file(
    monkeypatch, project, owner_client, example_csv, nothing_stored
):
    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Dataset, "save", broken_save)
    with pytest.raises(RuntimeError):
        upload(owner_client, project, example_csv("iris"))
    monkeypatch.undo()
    nothing_stored()


@pytest.mark.parametrize(
    "fields,problem",
    [
        ({"name": "x"}, "project"),
        ({"project": "abc", "name": "x"}, "project"),
        ({"project": 1, "name": "x" * 201}, "name"),
    ],
)
def test_missing_or_malformed_form_fields_answer_400(fields, problem, project, owner_client, example_csv):
    if fields.get("project") == 1:
        fields["project"] = project.pk
    with open(example_csv("iris"), "rb") as handle:
        response = owner_client.post("/api/v1/datasets", {**fields, "file": handle}, format="multipart")
    assert response.status_code == 400
    assert problem in response.json()


def test_missing_file_answers_400(project, owner_client):
    response = owner_client.post("/api/v1/datasets", {"project": project.pk, "name": "x"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()


def test_unknown_project_answers_404(project, owner_client, example_csv):
    assert upload(owner_client, 999_999, example_csv("iris")).status_code == 404


def test_trailing_slash_is_accepted(project, owner_client, example_csv):
    with open(example_csv("iris"), "rb") as handle:
        response = owner_client.post("/api/v1/datasets/", {"project": project.pk, "file": handle}, format="multipart")
    assert response.status_code == 201
    assert owner_client.get(f"/api/v1/datasets/{response.json()['id']}/preview/").status_code == 200


def test_json_body_is_not_an_upload(project, owner_client):
    response = owner_client.post("/api/v1/datasets", {"project": project.pk, "name": "x"}, format="json")
    assert response.status_code == 415
