"""Request bodies are bounded before anything parses them: a JSON (or form) body larger than the
endpoint's limit answers 413 naming the limit, without being read past it; JSON nested too deeply
answers 400, never a 500."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError
from rest_framework.test import APIClient

from apps.core.exceptions import PayloadTooLarge

pytestmark = pytest.mark.django_db


class CountingStream(io.BytesIO):
    """A request body that records how many bytes were asked for."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.asked = 0

    def read(self, size=-1):
        self.asked += len(data := super().read(size))
        return data


class FakeRequest:
    def __init__(self, meta=None):
        self.META = meta or {}


def json_parser():
    from apps.core.api.parsers import BoundedJSONParser

    return BoundedJSONParser()


def form_parser():
    from apps.core.api.parsers import BoundedFormParser

    return BoundedFormParser()


def parse(parser, body: bytes, *, meta=None, view=None):
    stream = CountingStream(body)
    context = {"request": FakeRequest(meta), "view": view, "encoding": "utf-8"}
    try:
        return parser.parse(stream, "application/json", context), stream
    except Exception as exc:
        exc.stream = stream
        raise


def test_login_refuses_a_body_over_the_limit_with_413_naming_it(settings):
    settings.API_JSON_MAX_BYTES = 1000
    body = json.dumps({"username": "alice", "password": "x" * 2000})
    response = APIClient().post("/api/v1/auth/login", body, content_type="application/json")
    assert response.status_code == 413
    assert "1,000 bytes" in response.json()["detail"]
    assert "API_JSON_MAX_BYTES" in response.json()["detail"]


def test_a_body_over_djangos_memory_limit_still_gets_the_413_naming_the_endpoints_limit(settings):
    # DRF hands its own JSON parser Django's request.body, which refused this with a bare 400 page.
    assert settings.API_JSON_MAX_BYTES < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"username": "alice", "password": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    response = APIClient().post("/api/v1/auth/login", body, content_type="application/json")
    assert response.status_code == 413
    assert f"{settings.API_JSON_MAX_BYTES:,} bytes" in response.json()["detail"]


def test_a_prediction_sized_body_over_djangos_memory_limit_is_read(settings):
    from django.test import RequestFactory
    from rest_framework.request import Request

    from apps.core.api.parsers import BoundedJSONParser

    class PredictLike:
        json_max_bytes_setting = "API_JSON_MAX_BYTES_PREDICT"

    rows = [{"x": "v" * 100} for _ in range(settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 100)]
    body = json.dumps({"instances": rows}).encode()
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(body) < settings.API_JSON_MAX_BYTES_PREDICT
    posted = RequestFactory().post("/api/v1/models/1/predict", data=body, content_type="application/json")
    request = Request(posted, parsers=[BoundedJSONParser()], parser_context={"view": PredictLike()})
    assert len(request.data["instances"]) == len(rows)


def test_an_array_of_empty_objects_is_refused_before_it_is_parsed(settings):
    settings.API_JSON_MAX_BYTES = 10_000
    body = b"[" + b"{}," * 100_000 + b"{}]"
    with pytest.raises(PayloadTooLarge) as caught:
        parse(json_parser(), body)  # no Content-Length: the parser itself stops reading
    assert caught.value.stream.asked <= 10_001


def test_a_declared_length_over_the_limit_is_refused_without_reading(settings):
    settings.API_JSON_MAX_BYTES = 10_000
    with pytest.raises(PayloadTooLarge) as caught:
        parse(json_parser(), b"{}" * 10_000, meta={"CONTENT_LENGTH": "20000"})
    assert caught.value.stream.asked == 0


def test_a_body_within_the_limit_parses(settings):
    settings.API_JSON_MAX_BYTES = 100
    data, _ = parse(json_parser(), b'{"a": [1, 2, {"b": null}]}')
    assert data == {"a": [1, 2, {"b": None}]}


def test_form_bodies_are_bounded_too(settings):
    settings.API_JSON_MAX_BYTES = 1000
    response = APIClient().post(
        "/api/v1/auth/login",
        "username=alice&password=" + "x" * 5000,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    with pytest.raises(PayloadTooLarge):
        parse(form_parser(), b"a=" + b"x" * 5000)


def test_a_view_can_ask_for_the_larger_limit(settings):
    settings.API_JSON_MAX_BYTES = 100
    settings.API_JSON_MAX_BYTES_PREDICT = 10_000

    class PredictLike:
        json_max_bytes_setting = "API_JSON_MAX_BYTES_PREDICT"

    body = json.dumps({"instances": [{"x": index} for index in range(100)]}).encode()
    data, _ = parse(json_parser(), body, view=PredictLike())
    assert len(data["instances"]) == 100
    with pytest.raises(PayloadTooLarge, match="10,000 bytes"):
        parse(json_parser(), body * 10, view=PredictLike())


def test_prediction_and_explanation_views_take_the_larger_limit():
    from apps.explain.api.views import ExplainLimeView, ExplainShapView
    from apps.registry.api.views import ModelVersionPredictView, RegisteredModelPredictView

    for view in (ModelVersionPredictView, RegisteredModelPredictView, ExplainShapView, ExplainLimeView):
        assert view.json_max_bytes_setting == "API_JSON_MAX_BYTES_PREDICT", view
    from apps.accounts.api.views import LoginView

    assert LoginView.json_max_bytes_setting == "API_JSON_MAX_BYTES"


def test_deeply_nested_json_is_400_not_500():
    body = "[" * 100_000 + "]" * 100_000
    response = APIClient().post("/api/v1/auth/login", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested" in response.json()["detail"]


def test_nesting_below_the_recursion_limit_but_over_the_depth_limit_is_400(settings):
    settings.API_JSON_MAX_DEPTH = 10
    with pytest.raises(ParseError, match="nested more than 10 levels"):
        parse(json_parser(), b"[" * 11 + b"]" * 11)
    data, _ = parse(json_parser(), b"[" * 10 + b"]" * 10)
    assert data == [[[[[[[[[[]]]]]]]]]]


def test_not_a_number_constants_are_refused():
    with pytest.raises(ParseError):
        parse(json_parser(), b'{"x": NaN}')
