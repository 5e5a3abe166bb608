"""Counteracting proposals: two pieces of active work on the same service that move the same KPI
in opposite directions. Plain Python over storage, no Slack.

A proposal states the direction it moves its KPI by its baseline and target: a target above the
baseline moves it up, below moves it down. Two proposals in the same direction are not flagged
here (they may be duplicates: the similar-proposal check's job).

A flag is an entry in each proposal's history (action `counteracts`, naming the other), so both
cards can say so and the pair is flagged once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.lifecycle import ACTIVE
from storage import repositories as repo
from storage.models import AuditEntry, Proposal

ACTION = "counteracts"
ACTOR = "csi-bot"
# A proposal that is still work to coordinate; a deferred one may come back.
WORKING = tuple(sorted({*ACTIVE, "deferred"}))
CANDIDATES_MAX = 20


class Direction(StrEnum):
    """Where a proposal moves its KPI."""

    UP = "up"
    DOWN = "down"


def direction(proposal: Proposal) -> Direction | None:
    """Up when the target is above the baseline, down when below; None when either is unknown
    or they are equal (no movement stated)."""
    if not proposal.kpi or proposal.kpi_baseline is None or proposal.kpi_target is None:
        return None
    if proposal.kpi_target > proposal.kpi_baseline:
        return Direction.UP
    if proposal.kpi_target < proposal.kpi_baseline:
        return Direction.DOWN
    return None


def _key(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


@dataclass(frozen=True)
class Counteraction:
    """A proposal just stored and an earlier one that moves the same KPI the other way."""

    proposal: Proposal
    other: Proposal


def record(*, session: Session, proposal_id: int) -> list[Counteraction]:
    """Flag the active proposals that counteract this one (same service and KPI, opposite
    direction) in both histories; returns the pairs flagged by this call (none the second time).
    """
    proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
    if proposal is None or proposal.status not in WORKING or not proposal.service:
        return []
    moves = direction(proposal)
    if moves is None:
        return []
    delta = (proposal.kpi_target or 0) - (proposal.kpi_baseline or 0)
    statement = (
        select(Proposal)
        .where(
            col(Proposal.id) != proposal_id,
            col(Proposal.status).in_(WORKING),
            func.lower(func.trim(Proposal.service)) == _key(proposal.service),
            func.lower(func.trim(Proposal.kpi)) == _key(proposal.kpi),
            col(Proposal.kpi_baseline).is_not(None),
            col(Proposal.kpi_target).is_not(None),
            # The other way: its movement has the opposite sign.
            (col(Proposal.kpi_target) - col(Proposal.kpi_baseline)) * delta < 0,
        )
        .order_by(col(Proposal.id))
        .limit(CANDIDATES_MAX)
    )
    known = set(_flagged(session=session, proposal_id=proposal_id))
    found: list[Counteraction] = []
    for other in session.exec(statement):
        if other.id is None or other.id in known:
            continue
        # The candidate's KPI text may differ in spacing only: compare as people read it.
        if _key(other.kpi) != _key(proposal.kpi) or direction(other) in (None, moves):
            continue
        for one, two in ((proposal, other), (other, proposal)):
            repo.audit(
                session=session,
                proposal_id=one.id or 0,
                actor=ACTOR,
                action=ACTION,
                detail={"proposal_id": two.id, "kpi": two.kpi, "direction": direction(two)},
            )
        found.append(Counteraction(proposal=proposal, other=other))
    return found


def _flagged(*, session: Session, proposal_id: int) -> list[int]:
    """The proposals this one was flagged against, oldest flag first."""
    statement = (
        select(AuditEntry)
        .where(AuditEntry.proposal_id == proposal_id, AuditEntry.action == ACTION)
        .order_by(col(AuditEntry.id))
    )
    ids = []
    for entry in session.exec(statement):
        other = entry.detail.get("proposal_id") if isinstance(entry.detail, dict) else None
        if isinstance(other, int) and other not in ids:
            ids.append(other)
    return ids


def partners(*, session: Session, proposal_id: int) -> tuple[int, ...]:
    """The still active proposals flagged as counteracting this one (shown on its card)."""
    flagged = _flagged(session=session, proposal_id=proposal_id)
    if not flagged:
        return ()
    active = session.exec(
        select(Proposal.id).where(col(Proposal.id).in_(flagged), col(Proposal.status).in_(WORKING))
    )
    alive = {pid for pid in active if pid is not None}
    return tuple(pid for pid in flagged if pid in alive)


def active_pairs(*, session: Session, limit: int = 20) -> list[tuple[Proposal, Proposal]]:
    """Flagged pairs whose proposals are both still active, newest flag first (for the steering
    digest, which shows them side by side)."""
    statement = (
        select(AuditEntry, Proposal)
        .join(Proposal, col(Proposal.id) == col(AuditEntry.proposal_id))
        .where(AuditEntry.action == ACTION, col(Proposal.status).in_(WORKING))
        .order_by(col(AuditEntry.id).desc())
        .limit(limit * 4)
    )
    pairs: list[tuple[Proposal, Proposal]] = []
    seen: set[tuple[int, int]] = set()
    for entry, proposal in session.exec(statement):
        other_id = entry.detail.get("proposal_id") if isinstance(entry.detail, dict) else None
        if not isinstance(other_id, int) or proposal.id is None:
            continue
        key = (min(proposal.id, other_id), max(proposal.id, other_id))
        other = repo.get_proposal(session=session, proposal_id=other_id)
        if key in seen or other is None or other.status not in WORKING:
            continue
        seen.add(key)
        first, second = sorted((proposal, other), key=lambda p: p.id or 0)
        pairs.append((first, second))
        if len(pairs) == limit:
            break
    return pairs
