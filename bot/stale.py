"""Stale work: open proposals nobody has touched for some weeks, for the steering group to keep,
park (defer) or withdraw. Plain Python over storage, no Slack."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot import decisions, proposals
from bot.errors import InvalidInput
from bot.lifecycle import Status, state_phrase
from storage import repositories as repo
from storage.models import AuditEntry, Proposal, Vote

DEFAULT_WEEKS = 6
LISTED_MAX = 45  # three messages of 15 in the digest's thread
KEPT = "kept"  # the steering group looked at it and keeps it open: counts as activity


@dataclass(frozen=True)
class StaleProposal:
    """An open proposal and when anything last happened to it."""

    proposal: Proposal
    last_activity: datetime


def stale_proposals(
    *, session: Session, now: datetime, weeks: int = DEFAULT_WEEKS, limit: int = LISTED_MAX
) -> tuple[list[StaleProposal], int]:
    """Open proposals with no activity (no edit, history entry or vote) for `weeks` weeks, the
    least recently changed first (at most `limit`), and how many there are in all."""
    cutoff = now - timedelta(weeks=weeks)
    audited = select(AuditEntry.id).where(
        col(AuditEntry.proposal_id) == col(Proposal.id), col(AuditEntry.at) >= cutoff
    )
    voted = select(Vote.id).where(
        col(Vote.proposal_id) == col(Proposal.id), col(Vote.created_at) >= cutoff
    )
    where = [
        col(Proposal.status) == Status.OPEN,
        col(Proposal.updated_at) < cutoff,
        ~audited.exists(),
        ~voted.exists(),
    ]
    total = session.exec(select(func.count()).select_from(Proposal).where(*where)).one()
    rows = list(
        session.exec(
            select(Proposal)
            .where(*where)
            .order_by(col(Proposal.updated_at), col(Proposal.id))
            .limit(limit)
        )
    )
    ids = [p.id for p in rows if p.id is not None]
    last: dict[int, datetime] = {}
    if ids:
        for pid, at in session.exec(
            select(AuditEntry.proposal_id, func.max(AuditEntry.at))
            .where(col(AuditEntry.proposal_id).in_(ids))
            .group_by(col(AuditEntry.proposal_id))
        ):
            last[pid] = at
    return [
        StaleProposal(p, max(p.updated_at, last.get(p.id or 0, p.updated_at))) for p in rows
    ], int(total)


def keep(*, session: Session, proposal_id: int, actor: str, now: datetime) -> Proposal:
    """The steering group keeps a quiet proposal open; it is not listed again for a while.
    Repeated within the hour (a double click, a retry), it is recorded once."""
    proposal = proposals.get(session=session, proposal_id=proposal_id)
    if proposal.status != Status.OPEN:
        raise InvalidInput(
            {"status": f"#{proposal_id} {state_phrase(proposal.status)}; nothing was changed."}
        )
    recent = session.exec(
        select(AuditEntry.id).where(
            AuditEntry.proposal_id == proposal_id,
            AuditEntry.action == KEPT,
            col(AuditEntry.at) > now - timedelta(hours=1),
        )
    ).first()
    if recent is None:
        repo.audit(session=session, proposal_id=proposal_id, actor=actor, action=KEPT)
    return proposal


def park(
    *, session: Session, proposal_id: int, actor: str, weeks: int, allow_self_decision: bool
) -> decisions.Change:
    """Defer a quiet proposal (a steering decision, with the quiet weeks as its reason)."""
    return decisions.decide(
        session=session,
        proposal_id=proposal_id,
        decision=Status.DEFERRED,
        actor=actor,
        is_steering=True,
        reason=f"parked: no activity for {weeks} weeks",
        allow_self_decision=allow_self_decision,
    )


def withdraw(
    *, session: Session, proposal_id: int, actor: str, weeks: int
) -> tuple[Proposal, bool]:
    """Withdraw a quiet open proposal for the steering group; False when it already was."""
    proposal = proposals.get(session=session, proposal_id=proposal_id)
    if proposal.status == Status.WITHDRAWN:
        return proposal, False
    moved = proposals.transition(
        session=session,
        proposal_id=proposal_id,
        to=Status.WITHDRAWN,
        actor=actor,
        reason=f"withdrawn by the steering group: no activity for {weeks} weeks",
    )
    return moved, True
