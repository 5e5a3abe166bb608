"""How far each objective got: its steps by status, what they are worth, what the verified ones
measured, and, when the objective has a measurable target, whether it is on track.

Plain Python over storage, no Slack. The rules, as the README states them:

- A *step* is a proposal serving the objective. Counted by status: open, approved, in progress,
  implemented, verified, rejected. Expected value and effort are summed over the steps that are
  not rejected.
- An active objective with no open and no approved step is *neglected*: nothing new is on its way.
- Where the objective has a KPI, its latest measured value and whether it is on track: see
  bot/objective_target.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.lifecycle import Status
from bot.objective_target import TargetProgress, beyond, target_progress
from storage.models import Objective, Proposal

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
    targets = target_progress(session, objectives, now=now, timezone=timezone)
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
