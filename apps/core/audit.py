"""The append-only audit log: who did what, to what, when and from where.

Every security-relevant event (sign-in success and failure, sign-out, role changes, activation
changes, refused access) goes through :func:`audit_log_record`, which stores an ``AuditLogEntry`` and
writes one line to the ``maestro.audit`` logger. Text that came from a client (an attempted user
name, a path) is sanitised first, so a CR/LF in it can never forge a second log line.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.db import models

from apps.core.clientip import valid_ip
from apps.core.models import AuditLogEntry

logger = logging.getLogger("maestro.audit")

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _escape(character: str) -> str:
    if character in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[character]
    code = ord(character)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def sanitize_log_text(value: Any, *, max_length: int | None = None) -> str:
    """``value`` as one printable line: control characters (CR, LF, NUL...) become visible escapes."""
    text = "" if value is None else str(value)
    text = _CONTROL_CHARACTERS.sub(lambda match: _escape(match.group()), text)
    if max_length is not None and len(text) > max_length:
        text = text[: max_length - 1] + "…"
    return text


def _describe_target(target: Any) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk)
    if isinstance(target, tuple) and len(target) == 2:
        return str(target[0]), str(target[1])
    return "", str(target)


def _clean_data(data: dict | None) -> dict:
    """JSON-safe copy of ``data`` with every string sanitised (nested lists and dicts included)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {sanitize_log_text(key, max_length=200): clean(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set):
            return [clean(item) for item in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return sanitize_log_text(value, max_length=1000)

    return clean(data or {})


def audit_log_record(
    *,
    actor: Any,
    action: str,
    target: Any = None,
    ip: str | None = None,
    data: dict | None = None,
    actor_username: str | None = None,
) -> AuditLogEntry:
    """Append one entry to the audit log and write it as one line to the ``maestro.audit`` logger.

    ``actor`` is a user (or None / an anonymous user for events without a signed-in user; then
    ``actor_username`` may name who it claimed to be, e.g. the user name of a failed sign-in).
    ``target`` is a model instance, an ``(type, id)`` pair or a plain value. ``ip`` the client address.
    """
    user = actor if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) else None
    claimed = actor_username if actor_username is not None else (user.get_username() if user else "")
    target_type, target_id = _describe_target(target)
    entry = AuditLogEntry.objects.create(
        actor=user,
        actor_username=sanitize_log_text(claimed, max_length=150),
        action=sanitize_log_text(action, max_length=64),
        target_type=sanitize_log_text(target_type, max_length=64),
        target_id=sanitize_log_text(target_id, max_length=64),
        ip_address=valid_ip(ip),
        data=_clean_data(data),
    )
    logger.info(
        "audit action=%s actor=%s actor_id=%s target=%s:%s ip=%s data=%s",
        entry.action,
        json.dumps(entry.actor_username),
        user.pk if user else "-",
        entry.target_type or "-",
        entry.target_id or "-",
        entry.ip_address or "-",
        json.dumps(entry.data, sort_keys=True, default=str),
    )
    return entry
