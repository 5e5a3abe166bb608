"""How far each objective got: its steps by status, what they are worth, what the verified ones
measured, and, when the objective has a measurable target, whether it is on track.

Plain Python over storage, no Slack. The rules, as the README states them:

- A *step* is a proposal serving the objective. Counted by status: open, approved, in progress,
  implemented, verified, rejected. Expected value and effort are summed over the steps that are
  not rejected.
- An active objective with no open and no approved step is *neglected*: nothing new is on its way.
- The *latest measured value* of the objective's KPI: for one of the SLA targets, the target's
  aggregate over the last 7 whole days (as the digest computes it); for a KPI in words, the
  latest measured result (benefit check) of a step whose KPI has the same name.
- *On track*: the path runs in a straight line from the baseline, when it was set, to the target
  at the end of the target date. The latest value at or beyond today's point on that path is on
  track, short of it is behind; at or beyond the target is reached; past the date and short of
  the target is missed. The direction is baseline to target (for an SLA target: its comparator).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.lifecycle import Status
from bot.sla.evaluation import HIGHER_IS_BETTER, evaluate
from storage.lifecycle_tables import BenefitCheck
from storage.models import Objective, Proposal
from storage.sla_tables import SlaTarget

# The statuses a step is counted in, in the order they are shown.
STEP_STATUSES: tuple[Status, ...] = (
    Status.OPEN,
    Status.APPROVED,
    Status.IN_PROGRESS,
    Status.IMPLEMENTED,
    Status.VERIFIED,
    Status.REJECTED,
)
# Steps that keep an objective moving: with none of these it is neglected.
MOVING: frozenset[Status] = frozenset({Status.OPEN, Status.APPROVED})
# Steps whose expected value and effort are summed: all but the rejected ones.
SUMMED: tuple[Status, ...] = tuple(s for s in STEP_STATUSES if s is not Status.REJECTED)


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


@dataclass(frozen=True)
class VerifiedStep:
    """A verified step and the KPI result measured for it."""

    proposal_id: int
    title: str
    permalink: str | None
    kpi: str | None
    baseline: float | None
    target: float | None
    actual: float | None
    reached: bool | None  # None: it had no KPI target to reach


@dataclass(frozen=True)
class ObjectiveProgress:
    """Everything that says how far an objective got."""

    objective: Objective
    steps: dict[str, int]
    value: int  # the sum of the steps' expected value (1-5 each)
    effort_days: float  # the sum of their effort in person-days
    unestimated: int  # steps (not rejected) without a value or an effort
    verified: list[VerifiedStep]
    target: TargetProgress | None
    neglected: bool
    total: int = field(default=0)  # steps in any counted status


def progress(
    *,
    session: Session,
    objectives: Sequence[Objective],
    now: datetime,
    timezone: str = "UTC",
    with_verified: bool = True,
) -> list[ObjectiveProgress]:
    """The progress of each objective, in the order given; a few queries for all of them.
    `with_verified=False` leaves the verified steps' list empty (their count is in `steps`):
    the one-line views need no more."""
    ids = [o.id for o in objectives if o.id is not None]
    if not ids:
        return []
    counts, sums = _counts(session, ids)
    verified = _verified(session, ids) if with_verified else {}
    targets = _targets(session, objectives, now=now, timezone=timezone)
    found: list[ObjectiveProgress] = []
    for objective in objectives:
        oid = objective.id or 0
        steps = {str(s): counts.get((oid, s), 0) for s in STEP_STATUSES}
        value, days, unestimated = sums.get(oid, (0, 0.0, 0))
        found.append(
            ObjectiveProgress(
                objective=objective,
                steps=steps,
                value=value,
                effort_days=days,
                unestimated=unestimated,
                verified=verified.get(oid, []),
                target=targets.get(oid),
                neglected=objective.active and not any(steps[str(s)] for s in MOVING),
                total=sum(steps.values()),
            )
        )
    return found


def one(
    *, session: Session, objective: Objective, now: datetime, timezone: str = "UTC"
) -> ObjectiveProgress:
    """The progress of one objective."""
    return progress(session=session, objectives=[objective], now=now, timezone=timezone)[0]


def _counts(
    session: Session, ids: list[int]
) -> tuple[dict[tuple[int, str], int], dict[int, tuple[int, float, int]]]:
    statement = (
        select(  # type: ignore[call-overload]
            Proposal.objective_id,
            Proposal.status,
            func.count(),
            func.sum(Proposal.value),
            func.sum(Proposal.effort_days),
            func.count(col(Proposal.value)),
            func.count(col(Proposal.effort_days)),
        )
        .where(col(Proposal.objective_id).in_(ids), col(Proposal.status).in_(STEP_STATUSES))
        .group_by(Proposal.objective_id, Proposal.status)
    )
    counts: dict[tuple[int, str], int] = {}
    sums: dict[int, tuple[int, float, int]] = {}
    for oid, status, n, value, days, valued, estimated in session.execute(statement):
        counts[(int(oid), str(status))] = int(n)
        if status in SUMMED:
            v, d, u = sums.get(int(oid), (0, 0.0, 0))
            # A step lacking either a value or an effort is not fully estimated.
            missing = int(n) - min(int(valued), int(estimated))
            sums[int(oid)] = (v + int(value or 0), d + float(days or 0.0), u + missing)
    return counts, sums


def _verified(session: Session, ids: list[int]) -> dict[int, list[VerifiedStep]]:
    # Plain columns, not whole proposals: an objective may have thousands of verified steps.
    statement = (
        sa_select(
            col(Proposal.objective_id),
            col(Proposal.id),
            col(Proposal.title),
            col(Proposal.permalink),
            col(Proposal.kpi),
            col(Proposal.kpi_baseline),
            col(Proposal.kpi_target),
            col(Proposal.kpi_actual),
        )
        .where(col(Proposal.objective_id).in_(ids), col(Proposal.status) == Status.VERIFIED)
        .order_by(col(Proposal.id))
    )
    found: dict[int, list[VerifiedStep]] = {}
    for oid, pid, title, permalink, kpi, baseline, target, actual in session.execute(statement):
        found.setdefault(int(oid), []).append(
            VerifiedStep(
                proposal_id=int(pid),
                title=title,
                permalink=permalink,
                kpi=kpi,
                baseline=baseline,
                target=target,
                actual=actual,
                reached=_step_reached(baseline, target, actual),
            )
        )
    return found


def _step_reached(
    baseline: float | None, target: float | None, actual: float | None
) -> bool | None:
    if target is None or actual is None:
        return None
    upward = baseline is None or target >= baseline
    return beyond(actual, target, upward=upward)


def kpi_key(name: str | None) -> str:
    """How two spellings of one KPI compare: case and spacing do not matter."""
    return " ".join((name or "").split()).casefold()


def _targets(
    session: Session, objectives: Sequence[Objective], *, now: datetime, timezone: str
) -> dict[int, TargetProgress]:
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


# ---- JSON (csi-bot objective list --format json) ------------------------------------------


def _number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, 6)


def progress_json(found: ObjectiveProgress) -> dict[str, Any]:
    """One objective and its progress, as `csi-bot objective list --format json` prints it."""
    o = found.objective
    target = found.target
    return {
        "id": o.id,
        "title": o.title,
        "description": o.description,
        "weight": o.weight,
        "active": o.active,
        "steps": dict(found.steps),
        "value": found.value,
        "effort_days": _number(found.effort_days),
        "unestimated": found.unestimated,
        "neglected": found.neglected,
        "verified": [
            {
                "id": s.proposal_id,
                "title": s.title,
                "kpi": s.kpi,
                "baseline": s.baseline,
                "target": s.target,
                "actual": s.actual,
                "reached": s.reached,
            }
            for s in found.verified
        ],
        "target": None
        if target is None
        else {
            "kpi": target.kpi,
            "sla_target_id": target.sla_target_id,
            "unit": target.unit,
            "baseline": target.baseline,
            "target": target.target,
            "target_date": target.target_date.isoformat() if target.target_date else None,
            "since": target.since.isoformat() if target.since else None,
            "latest": None if target.latest is None else target.latest.value,
            "measured_at": None if target.latest is None else target.latest.at.isoformat(),
            "expected": _number(target.expected),
            "state": target.state.value,
        },
    }


def count_neglected(*, session: Session) -> int:
    """How many active objectives have no open and no approved step."""
    moving = select(Proposal.objective_id).where(
        col(Proposal.objective_id).is_not(None), col(Proposal.status).in_(list(MOVING))
    )
    statement = (
        select(func.count())
        .select_from(Objective)
        .where(col(Objective.active).is_(True), col(Objective.id).not_in(moving))
    )
    return int(session.exec(statement).one())
