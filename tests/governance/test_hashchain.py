"""The tamper-evident hash chain: canonical form, row hashes, and what verification catches."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from apps.governance.hashchain import GENESIS, ChainReport, canonical, row_hash, verify_chain

Row = tuple[dict[str, Any], str, str]


def build_chain(contents: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    previous = GENESIS
    for content in contents:
        digest = row_hash(content=content, previous_hash=previous)
        rows.append((content, previous, digest))
        previous = digest
    return rows


@pytest.fixture
def chain() -> list[Row]:
    return build_chain(
        [
            {"event": "submitted", "version": 1, "by": "ana", "at": datetime(2025, 1, 1, 9, 0, tzinfo=UTC)},
            {"event": "review", "version": 1, "by": "ben", "note": "looks fine"},
            {"event": "approved", "version": 1, "by": "carla", "score": Decimal("0.93")},
            {"event": "deployed", "version": 1, "endpoint": uuid.UUID("12345678-1234-5678-1234-567812345678")},
            {"event": "retired", "version": 1, "by": "ana"},
        ]
    )


def test_genesis_is_64_zeros() -> None:
    assert GENESIS == "0" * 64


def test_canonical_is_sorted_compact_utf8_json() -> None:
    data = {"b": [1, 2.5, None, True], "a": {"y": "ü", "x": (1, 2)}, "when": date(2025, 1, 2)}
    assert canonical(data) == '{"a":{"x":[1,2],"y":"ü"},"b":[1,2.5,null,true],"when":"2025-01-02"}'.encode()


def test_canonical_converts_datetimes_decimals_and_uuids() -> None:
    the_uuid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    data = {
        "aware": datetime(2025, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
        "naive": datetime(2025, 5, 1, 12, 0, 0, 123456),  # naive on purpose
        "amount": Decimal("1.50"),
        "id": the_uuid,
    }
    assert canonical(data) == (
        b'{"amount":"1.50","aware":"2025-05-01T12:00:00+00:00",'
        b'"id":"12345678-1234-5678-1234-567812345678","naive":"2025-05-01T12:00:00.123456"}'
    )
    same_instant = {"at": datetime(2025, 5, 1, 12, 0, tzinfo=UTC)}
    assert canonical(same_instant) == canonical(
        {"at": datetime(2025, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))}
    )


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({1: "integer key"}, TypeError),
        ({"tags": {"a", "b"}}, TypeError),
        ({"x": object()}, TypeError),
        ({"x": float("nan")}, ValueError),
        ({"x": float("inf")}, ValueError),
        ({"x": Decimal("NaN")}, ValueError),
    ],
)
def test_canonical_refuses_what_has_no_single_form(data: dict[Any, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        canonical(data)


def test_row_hash_is_sha256_of_previous_hash_then_canonical_content() -> None:
    expected = hashlib.sha256(b"0" * 64 + b'{"a":1,"b":"two"}').hexdigest()
    assert row_hash(content={"b": "two", "a": 1}, previous_hash=GENESIS) == expected
    assert row_hash(content={"a": 1, "b": "two"}, previous_hash="f" * 64) != expected


@pytest.mark.parametrize("previous", ["", "0" * 63, "0" * 65, "A" * 64, "g" * 64])
def test_row_hash_needs_a_64_hex_digit_previous_hash(previous: str) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        row_hash(content={}, previous_hash=previous)


def test_an_intact_chain_verifies(chain: list[Row]) -> None:
    assert verify_chain(chain) == ChainReport(ok=True, length=5, broken_at=None, reason="")
    assert verify_chain(iter(chain), expected_head=chain[-1][2]).ok


def test_an_empty_chain_verifies() -> None:
    assert verify_chain([]) == ChainReport(ok=True, length=0, broken_at=None, reason="")
    assert verify_chain([], expected_head=GENESIS).ok


def test_changed_content_is_reported_at_its_row(chain: list[Row]) -> None:
    content, previous, digest = chain[2]
    chain[2] = ({**content, "by": "mallory"}, previous, digest)

    report = verify_chain(chain)

    assert (report.ok, report.broken_at, report.length) == (False, 2, 3)
    assert "content or the hash was changed" in report.reason


def test_a_changed_hash_is_reported_at_its_row(chain: list[Row]) -> None:
    content, previous, _ = chain[3]
    chain[3] = (content, previous, "e" * 64)

    report = verify_chain(chain)

    assert (report.ok, report.broken_at) == (False, 3)
    assert "content or the hash was changed" in report.reason


def test_a_rewritten_row_with_a_recomputed_hash_is_caught_at_the_next_row(chain: list[Row]) -> None:
    content, previous, _ = chain[1]
    forged = {**content, "note": "never reviewed"}
    chain[1] = (forged, previous, row_hash(content=forged, previous_hash=previous))

    report = verify_chain(chain)

    assert (report.ok, report.broken_at) == (False, 2)
    assert "previous_hash is not the hash of row 1" in report.reason


def test_a_deleted_row_is_reported_where_the_gap_is(chain: list[Row]) -> None:
    del chain[2]

    report = verify_chain(chain)

    assert (report.ok, report.broken_at) == (False, 2)
    assert "removed, inserted or reordered" in report.reason


def test_deleting_the_first_row_is_reported_at_index_0(chain: list[Row]) -> None:
    report = verify_chain(chain[1:])

    assert (report.ok, report.broken_at, report.length) == (False, 0, 1)
    assert "genesis" in report.reason


def test_swapped_rows_are_reported_at_the_first_of_them(chain: list[Row]) -> None:
    chain[1], chain[2] = chain[2], chain[1]

    report = verify_chain(chain)

    assert (report.ok, report.broken_at) == (False, 1)
    assert "reordered" in report.reason


def test_rows_dropped_from_the_end_need_the_expected_head(chain: list[Row]) -> None:
    head = chain[-1][2]
    truncated = chain[:-2]

    assert verify_chain(truncated).ok  # a shorter chain is still a valid chain...
    report = verify_chain(truncated, expected_head=head)  # ...but it does not end where it should
    assert (report.ok, report.broken_at, report.length) == (False, 3, 3)
    assert "expected head" in report.reason


def test_content_that_cannot_be_hashed_is_a_broken_row_not_an_exception(chain: list[Row]) -> None:
    content, previous, digest = chain[0]
    chain[0] = ({**content, "bad": float("nan")}, previous, digest)

    report = verify_chain(chain)

    assert (report.ok, report.broken_at) == (False, 0)
    assert "cannot be hashed" in report.reason
