"""One reader for a measurement, from a CSV row or a JSON item: what it accepts and refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.ingest import parse_body
from bot.sla.measurements import parse_measurement


def test_a_timestamp_in_any_zone_is_stored_as_its_utc_moment() -> None:
    item = parse_measurement(" Email ", "availability", "2026-11-16T01:30:00+01:00", "99.5")

    assert item.service == "Email"
    assert item.timestamp == datetime(2026, 11, 16, 0, 30, tzinfo=UTC)
    assert item.value == 99.5


@pytest.mark.parametrize(
    ("timestamp", "value", "message"),
    [
        ("2026-11-16T01:30:00", 1, "has no time zone"),
        ("2026-11-16", 1, "has no time zone"),
        ("yesterday", 1, "is not an ISO 8601 time"),
        ("0001-01-01T00:00:00+01:00", 1, "is out of range"),
        ("2026-11-16T00:00:00Z", "nan", "finite number"),
        ("2026-11-16T00:00:00Z", float("inf"), "finite number"),
        ("2026-11-16T00:00:00Z", 10**400, "too large"),
        ("2026-11-16T00:00:00Z", True, "not a number"),
        ("2026-11-16T00:00:00Z", "1_000", "not a number"),
        ("2026-11-16T00:00:00Z", None, "the value is missing"),
    ],
)
def test_a_bad_timestamp_or_value_is_refused_with_its_reason(
    timestamp: str, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_measurement("Email", "availability", timestamp, value)


def test_deeply_nested_json_is_refused_not_crashed_on() -> None:
    with pytest.raises(ValueError, match="too deeply"):
        parse_body(b"[" * 100_000 + b"]" * 100_000)
