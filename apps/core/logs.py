"""Structured logs: one JSON object per line (or readable console lines), with the request's context.

Every log line, from structlog or from the standard ``logging`` module (Django, Celery, Maestro ML's own
``logging.getLogger`` loggers), goes through the same processors:

- the context bound for the request or task: ``request_id`` (from ``X-Request-ID`` or generated, see
  :mod:`apps.core.middleware`), ``user_id`` and ``project_id`` where known, ``task_id``/``task_name`` in
  a Celery task;
- :func:`redact`: values of keys that name a secret (password, token, authorization, secret, cookie, api
  key…) are replaced, and JWTs, bearer tokens and ``password=…`` pairs inside any text (messages and
  tracebacks included) are masked, so no secret reaches a log line whatever a caller passes.

``LOG_FORMAT`` chooses the renderer: ``json`` (production, the log collector's input) or ``console``
(``make run``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog

REDACTED = "[redacted]"

SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|authori[sz]ation|cookie|api[_-]?key|access[_-]?key|credential|signature|"
    r"private[_-]?key|jwt|session[_-]?id|csrf",
    re.IGNORECASE,
)
# Keys that contain one of the words above but hold no secret.
NOT_SECRET_KEYS = frozenset({"token_type", "tokens_blacklisted", "password_changed", "secret_id"})
SECRET_TEXT = (
    # A JWT (header.payload.signature, base64url).
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"), REDACTED),
    # "Bearer <token>" / "Basic <credentials>", as in an Authorization header.
    (re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE), rf"\1 {REDACTED}"),
    # key=value or key: value pairs naming a secret (query strings, form bodies, reprs of dicts, URLs).
    (
        re.compile(
            r"""(?P<key>["']?[\w-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|authorization)"""
            r"""[\w-]*["']?\s*[=:(]\s*)(?P<quote>["']?)(?P<value>[^\s"'&,;}]+)""",
            re.IGNORECASE,
        ),
        rf"\g<key>\g<quote>{REDACTED}",
    ),
    # A password inside a URL (scheme://user:password@host).
    (re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@", re.IGNORECASE), rf"\g<scheme>{REDACTED}@"),
)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def redact_text(text: str) -> str:
    for pattern, replacement in SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any, depth: int = 0) -> Any:
    if key and key.lower() not in NOT_SECRET_KEYS and SECRET_KEY.search(key) and value not in (None, "", False):
        return REDACTED
    if depth > 5:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value("", v, depth + 1) for v in value]
    return value


def redact(logger: Any, method_name: str, event_dict: dict) -> dict:
    """structlog processor: no secret leaves through a log line (see the module's docstring)."""
    return {
        key: _redact_value(key, value) if key != "event" else _redact_event(value) for key, value in event_dict.items()
    }


def _redact_event(value: Any) -> Any:
    return redact_text(value) if isinstance(value, str) else _redact_value("", value)


def _drop_color_message(logger: Any, method_name: str, event_dict: dict) -> dict:
    event_dict.pop("color_message", None)  # uvicorn/celery duplicates of the message with ANSI colours
    return event_dict


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
    ]


def formatter(log_format: str) -> dict:
    """A ``logging.config`` formatter entry rendering stdlib and structlog records alike."""
    if log_format not in ("json", "console"):
        raise ValueError(f"LOG_FORMAT must be 'json' or 'console', not {log_format!r}")
    renderer = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    final = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if log_format == "json":
        final.append(structlog.processors.format_exc_info)
    final += [redact, renderer]
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "processors": final,
        "foreign_pre_chain": _shared_processors(),
    }


def configure_structlog() -> None:
    """Make ``structlog.get_logger()`` loggers go through the standard library's handlers (LOGGING)."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


# ---------------------------------------------------------------------------
# Request and task context
# ---------------------------------------------------------------------------
def request_id_from(value: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a sane identifier, else a new one."""
    if value and REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


def bind(**values: Any) -> None:
    """Add values (``None`` ones skipped) to the context of every log line of this request or task."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def current(name: str) -> Any:
    return structlog.contextvars.get_contextvars().get(name)


def clear() -> None:
    structlog.contextvars.clear_contextvars()


# Celery: what a request (or a task) binds travels in the headers of the tasks it sends.
PROPAGATED = ("request_id", "user_id", "project_id")
HEADER_PREFIX = "maestro_"


def headers_for_task() -> dict[str, Any]:
    context = structlog.contextvars.get_contextvars()
    return {HEADER_PREFIX + name: context[name] for name in PROPAGATED if context.get(name) is not None}


def connect_celery_signals() -> None:
    """Carry the context into tasks and bind it (plus the task's id and name) while each one runs."""
    from celery import signals

    signals.before_task_publish.connect(_add_headers, weak=False, dispatch_uid="maestro-log-headers")
    signals.task_prerun.connect(_bind_task, weak=False, dispatch_uid="maestro-log-bind")
    signals.task_postrun.connect(_unbind_task, weak=False, dispatch_uid="maestro-log-unbind")


def _add_headers(sender=None, headers=None, **kwargs) -> None:
    if headers is not None:
        for key, value in headers_for_task().items():
            headers.setdefault(key, value)


def _bind_task(sender=None, task_id=None, task=None, **kwargs) -> None:
    clear()
    request = getattr(task, "request", None)
    values = {}
    for name in PROPAGATED:
        value = getattr(request, HEADER_PREFIX + name, None)
        if value is None and isinstance(getattr(request, "headers", None), dict):
            value = request.headers.get(HEADER_PREFIX + name)
        values[name] = value
    bind(**values, task_id=task_id, task_name=getattr(task, "name", None))


def _unbind_task(**kwargs) -> None:
    clear()
