"""A hash chain that makes an append-only history tamper-evident.

Each row stores its content, the hash of the row before it (``previous_hash``; :data:`GENESIS` for the first row)
and its own hash::

    hash = sha256(previous_hash.encode("ascii") + canonical(content)).hexdigest()

``previous_hash`` is always 64 lowercase hex digits, so where it ends and the content begins is never ambiguous.
:func:`canonical` is JSON with sorted keys, no whitespace, UTF-8 (not ``\\u`` escapes), and these conversions,
applied recursively:

- ``datetime``: ISO 8601; an aware one is first converted to UTC (``2024-05-01T12:00:00+00:00``), so a value read
  back from the database in another time zone hashes the same; a naive one is written as it is;
- ``date`` and ``time``: ISO 8601;
- ``Decimal`` and ``UUID``: ``str()`` (so ``Decimal("1.50")`` and ``Decimal("1.5")`` differ: store a fixed scale);
- tuples: lists. Dictionary keys must be strings, and floats finite; anything else is a ``TypeError`` or
  ``ValueError`` rather than a guess.

Changing a row's content or hash breaks that row; removing, inserting or reordering rows breaks the first row whose
``previous_hash`` no longer names the row before it. Rewriting a row *and* every row after it is only caught
against a head hash kept elsewhere (``expected_head``), and so is dropping rows from the end.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

__all__ = ["GENESIS", "ChainReport", "canonical", "row_hash", "verify_chain"]

GENESIS = "0" * 64
_HEX64 = re.compile(r"[0-9a-f]{64}")

JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]


def _plain(value: Any, path: str) -> JSONValue:
    """``value`` as plain JSON types, by the rules in the module docstring."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} has no JSON form")
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            value = value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{path}: {value} has no JSON form")
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        plain: dict[str, JSONValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: key {key!r} is not a string")
            plain[key] = _plain(item, f"{path}.{key}")
        return plain
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise TypeError(f"{path}: {type(value).__name__} has no canonical form")


def canonical(data: Mapping[str, Any]) -> bytes:
    """The canonical bytes of ``data``: sorted-key, whitespace-free UTF-8 JSON (see the module docstring)."""
    return json.dumps(
        _plain(data, "$"), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def row_hash(*, content: Mapping[str, Any], previous_hash: str) -> str:
    """``sha256(previous_hash + canonical(content))`` in hex; ``previous_hash`` is :data:`GENESIS` for a first row.

    Raises ``ValueError`` if ``previous_hash`` is not 64 lowercase hex digits.
    """
    if not isinstance(previous_hash, str) or not _HEX64.fullmatch(previous_hash):
        raise ValueError("previous_hash must be 64 lowercase hex digits")
    return hashlib.sha256(previous_hash.encode("ascii") + canonical(content)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of :func:`verify_chain`.

    ``length`` is the number of rows read. Checking stops at the first broken row, whose index (from 0, in the order
    given) is ``broken_at``; then ``length == broken_at + 1``, except for a chain that ends before
    ``expected_head`` (``broken_at == length``: the missing row). ``reason`` is empty when ``ok``.
    """

    ok: bool
    length: int
    broken_at: int | None
    reason: str


def verify_chain(
    rows: Iterable[tuple[Mapping[str, Any], str, str]], *, expected_head: str | None = None
) -> ChainReport:
    """Check rows of ``(content, stored previous_hash, stored hash)``, oldest first. Reads ``rows`` once, lazily.

    With ``expected_head`` (the hash of the last row, kept somewhere the rows' writer cannot change) the chain must
    also end at that hash, which catches rows dropped from the end and a rewrite of the whole tail.
    """
    expected_previous = GENESIS
    length = 0
    for index, (content, previous_hash, stored_hash) in enumerate(rows):
        length = index + 1
        if previous_hash != expected_previous:
            what = "the genesis value" if index == 0 else f"the hash of row {index - 1}"
            return ChainReport(
                ok=False,
                length=length,
                broken_at=index,
                reason=f"previous_hash is not {what}: a row was removed, inserted or reordered here",
            )
        try:
            computed = row_hash(content=content, previous_hash=previous_hash)
        except (TypeError, ValueError) as exc:
            return ChainReport(ok=False, length=length, broken_at=index, reason=f"content cannot be hashed: {exc}")
        if computed != stored_hash:
            return ChainReport(
                ok=False,
                length=length,
                broken_at=index,
                reason="the stored hash does not match the content: the content or the hash was changed",
            )
        expected_previous = stored_hash
    if expected_head is not None and expected_previous != expected_head:
        return ChainReport(
            ok=False,
            length=length,
            broken_at=length,
            reason="the chain does not end at the expected head: rows are missing from the end or were rewritten",
        )
    return ChainReport(ok=True, length=length, broken_at=None, reason="")
