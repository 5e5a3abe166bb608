"""Did we get there? The benefit check of an implemented proposal (SPEC C6).

`CSI_BENEFIT_CHECK_DAYS` after a proposal becomes implemented, its owner (the assignee, else
the submitter) is asked for the measured KPI value. The answer decides:

- a KPI with a baseline and a target: the direction is baseline → target (a target above the
  baseline is reached at or above it, one below at or below it); reached → `verified`; missed →
  the shortfall is recorded, the proposal stays `implemented`, and the owner is asked again after
  another delay (the change may still take effect);
- a KPI with a target but no baseline: the first measurement becomes the baseline (as ITIL
  advises: measure before you judge) and the owner is asked again after another delay;
- no KPI target at all: the owner confirms "benefit realised" yes (→ `verified`) or no
  (recorded, stays `implemented`, asked again later).

Plain Python, no Slack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col, select

from bot.decisions import owner_of
from bot.errors import InvalidInput, NotFound, PermissionDenied
from bot.lifecycle import Status, state_phrase
from storage import repositories as repo
from storage.lifecycle_tables import BenefitCheck
from storage.models import AuditEntry, Proposal
from storage.types import utcnow

REMIND_EVERY = timedelta(days=7)
# Measured values are stored as floats; anything beyond this is a typing slip, not a KPI.
VALUE_LIMIT = 1e15


class Outcome(StrEnum):
    """What an answer to the benefit check showed."""

    REACHED = "reached"
    MISSED = "missed"
    BASELINE = "baseline"  # the first measurement of a KPI that had no baseline
    REALISED = "realised"
    NOT_REALISED = "not_realised"


VERIFIES = frozenset({Outcome.REACHED, Outcome.REALISED})


@dataclass(frozen=True)
class Answer:
    """An answer recorded (or found recorded) for a benefit check."""

    proposal: Proposal
    check: BenefitCheck
    outcome: Outcome
    shortfall: float | None
    already: bool  # this check was answered before: nothing new was written


def has_measure(proposal: Proposal) -> bool:
    """True when the proposal's benefit is judged by a number: it has a KPI target."""
    return proposal.kpi_target is not None


def parse_value(text: str | None) -> float:
    """The measured value typed into the modal; InvalidInput says what is wrong with it."""
    raw = (text or "").strip().replace(",", "")
    if not raw:
        raise InvalidInput({"measured": "Enter the measured value."})
    try:
        value = float(raw)
    except ValueError as exc:
        raise InvalidInput({"measured": f"{raw[:40]!r} is not a number, e.g. 42 or 97.5."}) from exc
    if not math.isfinite(value) or abs(value) >= VALUE_LIMIT:
        raise InvalidInput({"measured": "Enter a finite number, e.g. 42 or 97.5."})
    return value


def judge(*, baseline: float | None, target: float, value: float) -> tuple[Outcome, float | None]:
    """The outcome of a measured value, and how far it fell short of the target when missed."""
    if baseline is None:
        return Outcome.BASELINE, None
    # A target equal to the baseline means "keep it there or better": read as upward.
    upward = target >= baseline
    reached = value >= target if upward else value <= target
    if reached:
        return Outcome.REACHED, None
    return Outcome.MISSED, abs(target - value)


def implemented_at(*, session: Session, proposal_id: int) -> datetime | None:
    """When the proposal last became implemented, from its audit history."""
    statement = (
        select(AuditEntry.at)
        .where(AuditEntry.proposal_id == proposal_id, AuditEntry.to_status == Status.IMPLEMENTED)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def _checks(*, session: Session, proposal_id: int, since: datetime) -> list[BenefitCheck]:
    statement = (
        select(BenefitCheck)
        .where(BenefitCheck.proposal_id == proposal_id, col(BenefitCheck.due_from) >= since)
        .order_by(col(BenefitCheck.due_from))
    )
    return list(session.exec(statement))


def due(*, session: Session, now: datetime, delay: timedelta) -> list[tuple[Proposal, datetime]]:
    """Implemented proposals whose owner should be asked now, with when their wait began."""
    implemented = session.exec(
        select(Proposal).where(Proposal.status == Status.IMPLEMENTED).order_by(col(Proposal.id))
    )
    found: list[tuple[Proposal, datetime]] = []
    for proposal in implemented:
        since = implemented_at(session=session, proposal_id=proposal.id or 0)
        if since is None:
            # Imported as implemented: its history starts with the import.
            since = proposal.updated_at
        checks = _checks(session=session, proposal_id=proposal.id or 0, since=since)
        if any(c.answered_at is None for c in checks):
            continue  # asked already; the reminder takes it from here
        start = max([since] + [c.answered_at for c in checks if c.answered_at is not None])
        if start + delay <= now:
            found.append((proposal, start))
    return found


def ask(*, session: Session, proposal: Proposal, due_from: datetime, now: datetime) -> bool:
    """Record that the owner is asked now; False when another replica asked first."""
    return repo.ask_benefit_once(
        session=session,
        proposal_id=proposal.id or 0,
        due_from=due_from,
        owner=owner_of(proposal),
        now=now,
    )


def to_remind(*, session: Session, now: datetime) -> list[tuple[Proposal, BenefitCheck]]:
    """Unanswered questions last asked a week or more ago, each claimed for this week so that
    several replicas remind once."""
    statement = (
        select(BenefitCheck, Proposal)
        .join(Proposal, col(Proposal.id) == BenefitCheck.proposal_id)
        .where(
            col(BenefitCheck.answered_at).is_(None),
            col(BenefitCheck.reminded_at) <= now - REMIND_EVERY,
            Proposal.status == Status.IMPLEMENTED,
        )
        .order_by(col(BenefitCheck.id))
    )
    claimed: list[tuple[Proposal, BenefitCheck]] = []
    for check, proposal in session.exec(statement).all():
        week = (now - check.asked_at) // REMIND_EVERY
        if not repo.claim_job_run(
            session=session, job="benefit_reminder", period=f"{check.id}:{week}"
        ):
            continue
        check.reminded_at = now
        session.add(check)
        claimed.append((proposal, check))
    return claimed


def latest_check(*, session: Session, proposal_id: int) -> BenefitCheck | None:
    """The proposal's most recent question (answered or not)."""
    statement = (
        select(BenefitCheck)
        .where(BenefitCheck.proposal_id == proposal_id)
        .order_by(col(BenefitCheck.due_from).desc(), col(BenefitCheck.id).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def question_for(*, session: Session, proposal_id: int, actor: str) -> Proposal:
    """The proposal whose measured result `actor` is about to enter (the button that opens the
    modal); refused when they are not its owner or nothing is asked."""
    proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
    if proposal is None:
        raise NotFound(f"There is no proposal #{proposal_id}.")
    check = latest_check(session=session, proposal_id=proposal_id)
    _may_answer(proposal, check, actor)
    if proposal.status != Status.IMPLEMENTED or check is None or check.answered_at is not None:
        raise InvalidInput(
            {
                "measured": f"#{proposal_id} {state_phrase(proposal.status)} and no measured "
                "result is asked for now."
            }
        )
    return proposal


def _may_answer(proposal: Proposal, check: BenefitCheck | None, actor: str) -> None:
    owners = {owner_of(proposal)} | ({check.owner} if check else set())
    if actor not in owners:
        raise PermissionDenied(
            f"Only the owner of #{proposal.id} can record its measured result; nothing was changed."
        )


def record(
    *,
    session: Session,
    proposal_id: int,
    actor: str,
    value: float | None = None,
    realised: bool | None = None,
    now: datetime | None = None,
) -> Answer:
    """Record the owner's answer to the open question and decide: verified, shortfall, or
    baseline taken. A repeated submission finds the question answered and gets the same answer."""
    now = now or utcnow()
    # Locked so that two submissions of one answer are applied one after the other.
    proposal = repo.get_proposal(session=session, proposal_id=proposal_id, for_update=True)
    if proposal is None:
        raise NotFound(f"There is no proposal #{proposal_id}.")
    check = latest_check(session=session, proposal_id=proposal_id)
    _may_answer(proposal, check, actor)
    if check is not None and check.answered_at is not None and check.answered_by == actor:
        return _answered(proposal, check)
    if check is None or check.answered_at is not None or proposal.status != Status.IMPLEMENTED:
        raise InvalidInput(
            {
                "measured": f"#{proposal_id} {state_phrase(proposal.status)} and no measured "
                "result is asked for now; nothing was recorded."
            }
        )
    outcome, shortfall = _decide(proposal, value=value, realised=realised)
    result = session.execute(
        update(BenefitCheck)
        .where(col(BenefitCheck.id) == check.id, col(BenefitCheck.answered_at).is_(None))
        .values(answered_at=now, answered_by=actor, value=value, outcome=outcome)
        .execution_options(synchronize_session=False)
    )
    session.refresh(check)
    if cast(CursorResult[Any], result).rowcount != 1:
        return _answered(proposal, check)
    before = proposal.status
    if value is not None:
        proposal.kpi_actual = value
        if outcome is Outcome.BASELINE:
            proposal.kpi_baseline = value
    if outcome in VERIFIES:
        proposal.status = Status.VERIFIED
    proposal.updated_at = now
    session.add(proposal)
    detail: dict[str, Any] = {"outcome": outcome.value, "check": check.id}
    if value is not None:
        detail |= {"value": value, "target": proposal.kpi_target}
    if shortfall is not None:
        detail["shortfall"] = shortfall
    repo.audit(
        session=session,
        proposal_id=proposal_id,
        actor=actor,
        action="benefit",
        from_status=before,
        to_status=proposal.status,
        detail=detail,
    )
    return Answer(proposal, check, outcome, shortfall, already=False)


def _decide(
    proposal: Proposal, *, value: float | None, realised: bool | None
) -> tuple[Outcome, float | None]:
    if has_measure(proposal):
        if value is None:
            raise InvalidInput({"measured": "Enter the measured value."})
        return judge(baseline=proposal.kpi_baseline, target=proposal.kpi_target or 0.0, value=value)
    if realised is None:
        raise InvalidInput({"realised": "Say whether the expected benefit was realised."})
    return (Outcome.REALISED if realised else Outcome.NOT_REALISED), None


def _answered(proposal: Proposal, check: BenefitCheck) -> Answer:
    outcome = Outcome(check.outcome or Outcome.NOT_REALISED)
    shortfall = None
    if outcome is Outcome.MISSED and check.value is not None and proposal.kpi_target is not None:
        shortfall = abs(proposal.kpi_target - check.value)
    return Answer(proposal, check, outcome, shortfall, already=True)
