"""Evaluate every SLA target over a period, in the database, and shape the digest.

A period is the 7 whole days before the as-of date, counted in the configured time zone: the
digest run on a Monday covers Monday 00:00 to Sunday 24:00 of the week before. The previous
period is the 7 days before that, for the trend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

# Statuses of a proposal that still addresses its service: work agreed or under way.
OPEN_STATUSES = ("open", "approved", "in_progress")


@dataclass(frozen=True)
class TargetResult:
    """One target evaluated over the period.

    `actual` and `previous` are None when the period has no measurement. `breached` is None
    when there are too few samples for a fair verdict (`enough_samples` is False) or no value.
    `trend` compares `actual` with `previous`: "better", "worse", "same", or None when either is
    missing; `change` is actual - previous.
    """

    target_id: int
    service: str
    metric: str
    aggregate: str
    comparator: str
    target: float
    unit: str | None
    actual: float | None
    previous: float | None
    breached: bool | None
    samples: int
    enough_samples: bool
    min_samples: int
    trend: str | None
    change: float | None
    proposals: list[int]


@dataclass(frozen=True)
class Digest:
    """The evaluation of every target over one period (aware datetimes, UTC)."""

    period_start: datetime
    period_end: datetime
    timezone: str
    targets: list[TargetResult]
    unaddressed: list[TargetResult]
    measurements: int


def evaluate(*, session: Session, as_of: datetime, timezone: str) -> Digest:
    """Every target's aggregate over the 7 days before `as_of`'s date in `timezone`."""
    raise NotImplementedError


def target_json(result: TargetResult) -> dict[str, Any]:
    """One target as the digest's JSON shows it."""
    return {
        "id": result.target_id,
        "service": result.service,
        "metric": result.metric,
        "aggregate": result.aggregate,
        "comparator": result.comparator,
        "target": result.target,
        "unit": result.unit,
        "actual": result.actual,
        "previous": result.previous,
        "breached": result.breached,
        "samples": result.samples,
        "enough_samples": result.enough_samples,
        "trend": result.trend,
        "proposals": list(result.proposals),
    }


def digest_json(digest: Digest) -> dict[str, Any]:
    """The digest in the contract's JSON shape: period, targets, unaddressed."""
    return {
        "period": {
            "start": digest.period_start.isoformat(),
            "end": digest.period_end.isoformat(),
            "timezone": digest.timezone,
        },
        "targets": [target_json(result) for result in digest.targets],
        "unaddressed": [target_json(result) for result in digest.unaddressed],
        "measurements": digest.measurements,
    }
