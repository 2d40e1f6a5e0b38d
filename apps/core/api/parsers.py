"""Request-body parsers of every API view: DRF's JSON and form parsers, with a byte limit and a nesting limit.

DRF hands its own JSON and form parsers Django's ``request.body``, which refuses anything over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` with a bare 400 and otherwise reads the body whole. These parsers are not
DRF's (so DRF gives them the request stream) and read at most *limit + 1* bytes (and nothing when
``Content-Length`` already says more): a larger body answers 413 naming the limit before anything is
parsed, whoever sends it, signed in or not.

The limit is the setting a view names in ``json_max_bytes_setting``: ``API_JSON_MAX_BYTES`` (small) for
ordinary endpoints and sign-in, ``API_JSON_MAX_BYTES_PREDICT`` for prediction and explanations, whose
bodies carry rows. JSON nested deeper than ``API_JSON_MAX_DEPTH`` (or deep enough to exhaust Python's
recursion limit) answers 400. Multipart uploads (datasets) keep their own streaming limit.
"""

from __future__ import annotations

from django.conf import settings
from django.http import QueryDict
from rest_framework import renderers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, get_encoding
from rest_framework.settings import api_settings
from rest_framework.utils import json

from apps.core.exceptions import PayloadTooLarge

DEFAULT_LIMIT_SETTING = "API_JSON_MAX_BYTES"
PREDICT_LIMIT_SETTING = "API_JSON_MAX_BYTES_PREDICT"


def body_limit(parser_context: dict) -> tuple[int, str]:
    """The byte limit of the view being called, and the name of the setting it comes from."""
    name = getattr(parser_context.get("view"), "json_max_bytes_setting", DEFAULT_LIMIT_SETTING)
    return int(getattr(settings, name)), name


def too_large(limit: int, name: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the {limit:,} bytes this endpoint accepts ({name}).")


def read_bounded(stream, parser_context: dict) -> bytes:
    """The whole body, or PayloadTooLarge (413) once it exceeds the view's limit (read no further than that)."""
    limit, name = body_limit(parser_context)
    request = parser_context.get("request")
    meta = getattr(request, "META", {}) or {}
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        declared = 0
    if declared > limit:
        raise too_large(limit, name)
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise too_large(limit, name)
    return body


def nested_deeper_than(data, limit: int) -> bool:
    """Whether lists/objects in ``data`` are nested more than ``limit`` levels (iterative: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class BoundedJSONParser(BaseParser):
    """``application/json`` with a byte limit (413) and a nesting limit (400)."""

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer
    strict = api_settings.STRICT_JSON

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = get_encoding(parser_context)
        body = read_bounded(stream, parser_context)
        try:
            data = json.loads(body.decode(encoding), parse_constant=json.strict_constant if self.strict else None)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
        except ValueError as exc:  # UnicodeDecodeError and json's errors are ValueErrors
            raise ParseError(f"JSON parse error - {exc}") from exc
        depth = settings.API_JSON_MAX_DEPTH
        if isinstance(data, dict | list) and nested_deeper_than(data, depth):
            raise ParseError(f"JSON parse error - the document is nested more than {depth} levels deep.")
        return data


class BoundedFormParser(BaseParser):
    """``application/x-www-form-urlencoded`` with the same byte limit (DRF's own reads the body whole)."""

    media_type = "application/x-www-form-urlencoded"

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = get_encoding(parser_context)
        return QueryDict(read_bounded(stream, parser_context), encoding=encoding)
