"""Evaluate every SLA target over a period, in the database, and shape the digest.

A period is the 7 whole days before the as-of date, counted in the configured time zone: the
digest run on a Monday covers Monday 00:00 to Sunday 24:00 of the week before. The previous
period is the 7 days before that, for the trend.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlmodel import Session

from storage import sla_repository as repo
from storage.models import Proposal
from storage.sla_tables import Measurement, SlaTarget, service_key

# Statuses of a proposal that still addresses its service: work agreed or under way.
OPEN_STATUSES = ("open", "approved", "in_progress")
PERIOD_DAYS = 7
# Fewest measurements in the period for a fair verdict. A count is its own answer (no
# measurement is a count of 0); a sum needs one; mean, min and max need 5; p95 needs 20, because
# below that the nearest-rank 95th percentile is simply the largest value.
MIN_SAMPLES = {"count": 0, "sum": 1, "mean": 5, "min": 5, "max": 5, "p95": 20}
# The higher the better for these comparators; for the others, the lower the better.
HIGHER_IS_BETTER = (">=", ">")


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
    previous_samples: int = 0


@dataclass(frozen=True)
class Digest:
    """The evaluation of every target over one period.

    `period_start` and `period_end` are aware, in the configured time zone; `measurements` is
    how many measurements the targets saw in the period (0: nothing to judge by).
    """

    period_start: datetime
    period_end: datetime
    timezone: str
    targets: list[TargetResult]
    unaddressed: list[TargetResult]
    measurements: int


def period(as_of: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The 7 whole days before `as_of`'s date in `timezone` (a naive `as_of` is read there)."""
    zone = ZoneInfo(timezone)
    day = (as_of.astimezone(zone) if as_of.tzinfo else as_of).date()
    # Midnight by the calendar, so a week across a daylight-saving change is 167 or 169 hours.
    end = datetime.combine(day, time(0), tzinfo=zone)
    start = datetime.combine(day - timedelta(days=PERIOD_DAYS), time(0), tzinfo=zone)
    return start, end


def evaluate(*, session: Session, as_of: datetime, timezone: str) -> Digest:
    """Every target's aggregate over the 7 days before `as_of`'s date in `timezone`, with the
    previous 7 days for the trend and the open proposals on each target's service."""
    start, end = period(as_of, timezone)
    previous_start, _ = period(start, timezone)
    targets = repo.list_targets(session=session)
    current = _aggregates(session, start, end)
    before = _aggregates(session, previous_start, start)
    proposals = _open_proposals(session)
    results: list[TargetResult] = []
    for target, service in targets:
        assert target.id is not None
        samples, actual = current.get(target.id, (0, None))
        previous_samples, previous = before.get(target.id, (0, None))
        if target.aggregate == "count":
            actual, previous = float(samples), float(previous_samples)
        minimum = MIN_SAMPLES.get(target.aggregate, 1)
        enough = samples >= minimum and actual is not None
        results.append(
            TargetResult(
                target_id=target.id,
                service=service.name,
                metric=target.metric,
                aggregate=target.aggregate,
                comparator=target.comparator,
                target=target.target,
                unit=target.unit,
                actual=actual,
                previous=previous,
                breached=(not meets(actual, target.comparator, target.target))
                if enough and actual is not None
                else None,
                samples=samples,
                enough_samples=enough,
                min_samples=minimum,
                trend=trend(actual, previous, target.comparator),
                change=None if actual is None or previous is None else actual - previous,
                proposals=proposals.get(service.key, []),
                previous_samples=previous_samples,
            )
        )
    return Digest(
        period_start=start,
        period_end=end,
        timezone=timezone,
        targets=results,
        unaddressed=[r for r in results if r.breached and not r.proposals],
        measurements=sum(r.samples for r in results),
    )


def meets(actual: float, comparator: str, target: float) -> bool:
    """Whether `actual` satisfies `comparator target`."""
    if comparator == ">=":
        return actual >= target
    if comparator == "<=":
        return actual <= target
    if comparator == ">":
        return actual > target
    if comparator == "<":
        return actual < target
    raise ValueError(f"unknown comparator {comparator!r}")


def trend(actual: float | None, previous: float | None, comparator: str) -> str | None:
    """'better', 'worse' or 'same' against the previous period, in the target's direction."""
    if actual is None or previous is None:
        return None
    if actual == previous:
        return "same"
    higher = actual > previous
    return "better" if higher == (comparator in HIGHER_IS_BETTER) else "worse"


def _aggregates(
    session: Session, start: datetime, end: datetime
) -> dict[int, tuple[int, float | None]]:
    """(samples, the target's aggregate) per target ID over [start, end), computed by the
    database: one grouped query for the plain aggregates, one ranked query for p95."""
    m = Measurement.__table__  # type: ignore[attr-defined]
    t = SlaTarget.__table__  # type: ignore[attr-defined]
    joined = t.join(
        m,
        and_(
            m.c.service_id == t.c.service_id,
            m.c.metric == t.c.metric,
            m.c.timestamp >= start,
            m.c.timestamp < end,
        ),
    )
    plain = (
        select(
            t.c.id,
            t.c.aggregate,
            func.count(m.c.id),
            func.avg(m.c.value),
            func.min(m.c.value),
            func.max(m.c.value),
            func.sum(m.c.value),
        )
        .select_from(joined)
        .group_by(t.c.id, t.c.aggregate)
    )
    found: dict[int, tuple[int, float | None]] = {}
    for target_id, aggregate, count, mean, low, high, total in session.execute(plain):
        value = {"mean": mean, "min": low, "max": high, "sum": total, "count": count}.get(aggregate)
        found[target_id] = (int(count), None if value is None else float(value))
    # p95 by nearest rank: sorted ascending, the value at rank ceil(0.95 n) (1-based), written
    # in integers as (95 n + 99) // 100 so both databases agree to the last digit.
    ranked = (
        select(
            t.c.id.label("target_id"),
            m.c.value.label("value"),
            func.row_number().over(partition_by=t.c.id, order_by=m.c.value).label("rank"),
            func.count().over(partition_by=t.c.id).label("n"),
        )
        .select_from(joined)
        .where(t.c.aggregate == "p95")
        .subquery()
    )
    p95 = select(ranked.c.target_id, ranked.c.value).where(
        ranked.c.rank == (ranked.c.n * 95 + 99) // 100
    )
    for target_id, value in session.execute(p95):
        count, _ = found.get(target_id, (0, None))
        found[target_id] = (count, float(value))
    return found


def _open_proposals(session: Session) -> dict[str, list[int]]:
    """IDs of open, approved and in-progress proposals by service key, oldest first."""
    # A proposal names its service as typed; one captured before it got its service row is
    # matched by name, spelled as the service's key.
    statement = (
        select(Proposal.id, Proposal.service)  # type: ignore[call-overload]
        .where(Proposal.status.in_(OPEN_STATUSES))  # type: ignore[attr-defined]
        .where(Proposal.service.is_not(None))  # type: ignore[union-attr]
        .order_by(Proposal.id)
    )
    by_service: dict[str, list[int]] = defaultdict(list)
    for proposal_id, service in session.execute(statement):
        key = service_key(service or "")
        if key:
            by_service[key].append(int(proposal_id))
    return by_service


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
        "min_samples": result.min_samples,
        "enough_samples": result.enough_samples,
        "previous_samples": result.previous_samples,
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
