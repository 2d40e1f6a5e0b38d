"""The API renders JSON with orjson: the same bytes' meaning as DRF's encoder (datetimes with "Z", lazy
strings, decimals), and the browsable API still renders it."""

from __future__ import annotations

import datetime
import decimal
import json

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from apps.core.api.renderers import ORJSONRenderer
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_it_writes_what_drfs_renderer_writes():
    data = {
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC),
        "day": datetime.date(2026, 1, 2),
        "price": decimal.Decimal("1.50"),
        "lazy": gettext_lazy("Not found."),
        "nested": [{"a": 1, "b": None, "c": "é"}],
        3: "int key",
    }
    ours, theirs = ORJSONRenderer().render(data), JSONRenderer().render(data)
    assert json.loads(ours) == json.loads(theirs)
    assert b'"2026-01-02T03:04:05.678000Z"' in ours and "é".encode() in ours
    assert ORJSONRenderer().render(None) == b""


def test_the_browsable_api_still_renders(client):
    project = ProjectFactory(name="Visible in HTML")
    client.force_login(project.owner)
    response = client.get("/api/v1/projects", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and b"Visible in HTML" in response.content
    response = client.get("/api/v1/projects?format=json")
    assert response.status_code == 200 and response.json()["results"][0]["name"] == "Visible in HTML"
