"""An objective's measurable target on its way: the latest measured value of its KPI and
whether it is on track. Plain Python over storage, no Slack.

- The *latest measured value*: for one of the SLA targets, the target's aggregate over the last
  7 whole days (as the digest computes it, when there are enough measurements for a verdict);
  for a KPI in words, the latest measured result (benefit check) of a step serving the objective
  whose KPI has the same name.
- *On track*: the path runs in a straight line from the baseline, when it was set, to the target
  at the end of the target date (UTC). The latest value at or beyond today's point on that path
  is on track, short of it is behind; at or beyond the target is reached; past the date and short
  of the target is missed. The direction is baseline to target (for an SLA target: its
  comparator). Without a baseline or a date there is no path: not judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.sla.evaluation import HIGHER_IS_BETTER, evaluate
from storage.lifecycle_tables import BenefitCheck
from storage.models import Objective, Proposal
from storage.sla_tables import SlaTarget


class PathState(StrEnum):
    """Where the objective's KPI stands on the way from its baseline to its target."""

    REACHED = "reached"
    ON_TRACK = "on_track"
    BEHIND = "behind"
    MISSED = "missed"  # the target date passed before the target was reached
    NO_MEASUREMENT = "no_measurement"
    NOT_JUDGED = "not_judged"  # no baseline or no date: there is no path to judge against


@dataclass(frozen=True)
class Reading:
    """The latest measured value of a KPI and when it was measured."""

    value: float
    at: datetime
    source: str  # "sla": an SLA target's last 7 days; "step": a step's measured result


@dataclass(frozen=True)
class TargetProgress:
    """The objective's measurable target and where its KPI stands today."""

    kpi: str
    sla_target_id: int | None
    baseline: float | None
    target: float | None
    target_date: date | None
    since: datetime | None
    latest: Reading | None
    expected: float | None  # today's point on the path from baseline to target
    state: PathState
    unit: str | None = None


def kpi_key(name: str | None) -> str:
    """How two spellings of one KPI compare: case and spacing do not matter."""
    return " ".join((name or "").split()).casefold()


def target_progress(
    session: Session, objectives: Sequence[Objective], *, now: datetime, timezone: str
) -> dict[int, TargetProgress]:
    """Per objective with a KPI (by ID): its target, the latest measured value and the state."""
    with_kpi = [o for o in objectives if o.kpi]
    if not with_kpi:
        return {}
    sla = _sla_readings(
        session, [o for o in with_kpi if o.kpi_sla_target_id], now=now, timezone=timezone
    )
    steps = _step_readings(session, [o for o in with_kpi if not o.kpi_sla_target_id])
    found: dict[int, TargetProgress] = {}
    for o in with_kpi:
        oid = o.id or 0
        target, upward, unit, latest = o.kpi_target, None, None, steps.get(oid)
        if o.kpi_sla_target_id:
            sla_target, latest = sla.get(o.kpi_sla_target_id, (None, None))
            if sla_target is not None:
                upward = sla_target.comparator in HIGHER_IS_BETTER
                unit = sla_target.unit
                if target is None:
                    target = sla_target.target
        state, expected = judge_path(
            baseline=o.kpi_baseline,
            target=target,
            since=o.kpi_since,
            target_date=o.kpi_target_date,
            latest=latest.value if latest else None,
            now=now,
            upward=upward,
        )
        found[oid] = TargetProgress(
            kpi=o.kpi or "",
            sla_target_id=o.kpi_sla_target_id,
            baseline=o.kpi_baseline,
            target=target,
            target_date=o.kpi_target_date,
            since=o.kpi_since,
            latest=latest,
            expected=expected,
            state=state,
            unit=unit,
        )
    return found


def _sla_readings(
    session: Session, objectives: Sequence[Objective], *, now: datetime, timezone: str
) -> dict[int, tuple[SlaTarget | None, Reading | None]]:
    """Per SLA target: the target, and its aggregate over the 7 whole days before today when
    there were enough measurements for a fair value (as in the digest)."""
    if not objectives:
        return {}
    wanted = {o.kpi_sla_target_id for o in objectives if o.kpi_sla_target_id}
    rows = session.exec(select(SlaTarget).where(col(SlaTarget.id).in_(wanted)))
    stored = {t.id: t for t in rows}
    digest = evaluate(session=session, as_of=now, timezone=timezone)
    found: dict[int, tuple[SlaTarget | None, Reading | None]] = {}
    for target_id in wanted:
        result = next((r for r in digest.targets if r.target_id == target_id), None)
        reading = None
        if result is not None and result.enough_samples and result.actual is not None:
            at = digest.period_end.astimezone(UTC)
            reading = Reading(value=result.actual, at=at, source="sla")
        found[target_id] = (stored.get(target_id), reading)
    return found


def _step_readings(session: Session, objectives: Sequence[Objective]) -> dict[int, Reading]:
    """Per objective with a KPI in words: the latest measured result of a step whose KPI has
    the same name (when the owner answered its benefit check; an imported result counts from
    when its proposal last changed)."""
    if not objectives:
        return {}
    keys = {o.id or 0: kpi_key(o.kpi) for o in objectives}
    answered = (
        select(func.max(BenefitCheck.answered_at))
        .where(
            col(BenefitCheck.proposal_id) == col(Proposal.id),
            col(BenefitCheck.value).is_not(None),
        )
        .scalar_subquery()
    )
    statement = select(Proposal, answered).where(
        col(Proposal.objective_id).in_(list(keys)),
        col(Proposal.kpi_actual).is_not(None),
        col(Proposal.kpi).is_not(None),
    )
    found: dict[int, Reading] = {}
    for proposal, at in session.exec(statement):
        oid = proposal.objective_id or 0
        if kpi_key(proposal.kpi) != keys.get(oid):
            continue
        measured_at = at or proposal.updated_at
        if measured_at.tzinfo is None:  # a bare subquery value comes back as stored
            measured_at = measured_at.replace(tzinfo=UTC)
        reading = Reading(value=float(proposal.kpi_actual or 0.0), at=measured_at, source="step")
        if oid not in found or reading.at >= found[oid].at:
            found[oid] = reading
    return found


def deadline(target_date: date) -> datetime:
    """The end of the target date (UTC): the path reaches the target there."""
    return datetime.combine(target_date + timedelta(days=1), time(0), tzinfo=UTC)


def beyond(value: float, point: float, *, upward: bool) -> bool:
    """`value` at or beyond `point` in the KPI's direction (a hair of float rounding allowed)."""
    slack = 1e-9 * max(1.0, abs(point))
    return value >= point - slack if upward else value <= point + slack


def judge_path(
    *,
    baseline: float | None,
    target: float | None,
    since: datetime | None,
    target_date: date | None,
    latest: float | None,
    now: datetime,
    upward: bool | None = None,
) -> tuple[PathState, float | None]:
    """The state of a KPI on its straight path from `baseline` (at `since`) to `target` (at the
    end of `target_date`), and today's point on that path (None when there is no path).

    `upward` is the KPI's direction when known otherwise (an SLA target's comparator); else it
    is read from baseline to target (a target equal to the baseline means keep it or better).
    """
    if target is None:
        return PathState.NOT_JUDGED, None
    if upward is None and baseline is not None:
        upward = target >= baseline
    expected = _expected(baseline, target, since, target_date, now)
    if latest is None:
        return PathState.NO_MEASUREMENT, expected
    if upward is None:
        return PathState.NOT_JUDGED, expected
    if beyond(latest, target, upward=upward):
        return PathState.REACHED, expected
    if target_date is not None and now >= deadline(target_date):
        return PathState.MISSED, expected
    if expected is None:
        return PathState.NOT_JUDGED, None
    return (PathState.ON_TRACK if beyond(latest, expected, upward=upward) else PathState.BEHIND), (
        expected
    )


def _expected(
    baseline: float | None,
    target: float,
    since: datetime | None,
    target_date: date | None,
    now: datetime,
) -> float | None:
    if baseline is None or since is None or target_date is None:
        return None
    end = deadline(target_date)
    span = (end - since).total_seconds()
    if span <= 0:
        return target
    share = min(max((now - since).total_seconds() / span, 0.0), 1.0)
    return baseline + (target - baseline) * share
