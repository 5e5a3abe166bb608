"""The steering group's decisions and the owner's next steps: guarded status changes.

Every change here is a compare-and-set held by the database (`UPDATE ... WHERE status =
expected`), so two members deciding at once, a double click or Slack's retry leave exactly one
change and one audit entry; the later attempts get `AlreadyDecided`, which names who decided and
when. Who may do what is checked here, on the server, whatever surface the request came from:

- approve / reject / defer, assign and reopen: the steering group only (the caller says whether
  the actor is a member: `is_steering`), and not on their own proposal unless
  `CSI_ALLOW_SELF_DECISION` is set (`allow_self_decision`);
- start work (`in_progress`) and mark implemented: the owner (set by `assign`; by default the
  submitter);
- withdraw: the submitter.

Plain Python over storage; no Slack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col

from bot.errors import CsiError, InvalidInput, NotFound, PermissionDenied
from bot.lifecycle import DECISIONS, Status, can_move, move_word, state_phrase
from storage import repositories as repo
from storage.models import AuditEntry, Proposal
from storage.types import utcnow

# Audit actions written here (`/improve history` shows them).
DECISION = "decision"
STATUS = "status"
ASSIGN = "assign"

# Decisions that must say why (the card's modal and the thread reply ask for it).
NEEDS_REASON = frozenset({Status.REJECTED, Status.DEFERRED})
REASON_MAX = 500

# Moves the owner makes, and the statuses they are made from.
OWNER_MOVES = frozenset({Status.IN_PROGRESS, Status.IMPLEMENTED})
# Statuses the steering group may reopen.
REOPENABLE = frozenset({Status.DEFERRED, Status.REJECTED})

SELF_DECISION_RULE = (
    "A steering member does not decide their own proposal: another member decides it, the "
    "common governance rule. An administrator can allow it with CSI_ALLOW_SELF_DECISION=true."
)


@dataclass(frozen=True)
class Change:
    """One change this call made: a decision, a move or a new owner."""

    proposal: Proposal
    action: str  # DECISION, STATUS or ASSIGN
    actor: str
    at: datetime
    before: str  # the status before
    after: str  # the status after (the same as `before` for ASSIGN)
    reason: str | None = None
    owner: str | None = None  # ASSIGN: the new owner
    previous_owner: str | None = None  # ASSIGN: the owner before (None: the submitter)


class AlreadyDecided(CsiError):
    """The proposal was moved on by someone else first (or by this same request's earlier copy)."""

    def __init__(self, *, proposal_id: int, status: str, by: str | None, at: datetime | None):
        self.proposal_id = proposal_id
        self.status = status
        self.by = by
        self.at = at
        who = f" by {by}" if by else ""
        when = f" on {at:%Y-%m-%d at %H:%M} UTC" if at else ""
        super().__init__(f"#{proposal_id} {state_phrase(status)}{who}{when}, so nothing changed.")


class SelfDecision(PermissionDenied):
    """A steering member tried to decide (or assign, or reopen) their own proposal."""

    def __init__(self, proposal_id: int) -> None:
        self.proposal_id = proposal_id
        super().__init__(
            f"You proposed #{proposal_id}, so you cannot decide it. {SELF_DECISION_RULE}"
        )


class NotOwner(PermissionDenied):
    """Someone other than the owner tried to start or finish the work."""

    def __init__(self, proposal_id: int, owner: str, to: Status) -> None:
        self.proposal_id = proposal_id
        self.owner = owner
        self.to = to
        doing = "in progress" if to == Status.IN_PROGRESS else "implemented"
        super().__init__(
            f"Only the owner of #{proposal_id} ({owner}) can mark it {doing}; nothing was changed."
        )


class NotSteering(PermissionDenied):
    """Someone outside the steering group tried a steering action."""

    def __init__(self, proposal_id: int, what: str) -> None:
        self.proposal_id = proposal_id
        super().__init__(
            f"Sorry, only the steering group can {what} #{proposal_id}; nothing was changed. "
            "You are welcome to join the discussion in the card's thread."
        )


def owner_of(proposal: Proposal) -> str:
    """Who moves the proposal through its work: the assigned owner, or else the submitter."""
    return proposal.owner or proposal.submitter


def decide(
    *,
    session: Session,
    proposal_id: int,
    decision: Status,
    actor: str,
    is_steering: bool,
    reason: str | None = None,
    allow_self_decision: bool = False,
) -> Change:
    """Approve, reject or defer an open proposal (reject and defer need a reason); the first
    decision stands and a later one raises `AlreadyDecided`."""
    if decision not in DECISIONS:
        raise InvalidInput({"decision": f"{decision} is not a decision."})
    words = {Status.APPROVED: "approve", Status.REJECTED: "reject", Status.DEFERRED: "defer"}
    proposal = _locked(session, proposal_id)
    _steering_only(proposal, actor, is_steering, allow_self_decision, words[decision])
    reason = (reason or "").strip() or None
    if decision in NEEDS_REASON and not reason:
        raise InvalidInput(
            {"reason": f"Say why #{proposal_id} is {move_word(decision)}: a reason is needed."}
        )
    if reason and len(reason) > REASON_MAX:
        raise InvalidInput({"reason": f"Keep the reason under {REASON_MAX} characters."})
    _expect(session, proposal, {Status.OPEN}, decision)
    return _move(session, proposal, decision, actor, DECISION, reason)


def check_decision(
    *,
    session: Session,
    proposal_id: int,
    decision: Status,
    actor: str,
    is_steering: bool,
    allow_self_decision: bool = False,
) -> Proposal:
    """Raise what `decide` would refuse, without changing anything (before the reason modal
    opens); returns the proposal."""
    words = {Status.APPROVED: "approve", Status.REJECTED: "reject", Status.DEFERRED: "defer"}
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound(f"There is no proposal #{proposal_id}.")
    _steering_only(proposal, actor, is_steering, allow_self_decision, words[decision])
    _expect(session, proposal, {Status.OPEN}, decision)
    return proposal


def move(
    *,
    session: Session,
    proposal_id: int,
    to: Status,
    actor: str,
    is_steering: bool,
    reason: str | None = None,
    allow_self_decision: bool = False,
) -> Change:
    """The next step after a decision: the owner starts work (`in_progress`) and marks it
    `implemented`; the steering group reopens a deferred or rejected one (`open`); the submitter
    withdraws. Other statuses are reached by `decide`, merges and the benefit check."""
    proposal = _locked(session, proposal_id)
    if to in OWNER_MOVES:
        if actor != owner_of(proposal):
            raise NotOwner(proposal_id, owner_of(proposal), to)
        expected = {Status.APPROVED} if to == Status.IN_PROGRESS else {Status.IN_PROGRESS}
    elif to == Status.OPEN:
        _steering_only(proposal, actor, is_steering, allow_self_decision, "reopen")
        expected = set(REOPENABLE)
    elif to == Status.WITHDRAWN:
        if actor != proposal.submitter:
            raise PermissionDenied(f"Only the person who proposed #{proposal_id} can withdraw it.")
        expected = {s for s in Status if can_move(s, Status.WITHDRAWN)}
    elif to in DECISIONS:
        return decide(
            session=session,
            proposal_id=proposal_id,
            decision=to,
            actor=actor,
            is_steering=is_steering,
            reason=reason,
            allow_self_decision=allow_self_decision,
        )
    else:
        raise InvalidInput({"status": f"#{proposal_id} cannot be {move_word(to)} by hand."})
    _expect(session, proposal, expected, to)
    return _move(session, proposal, to, actor, STATUS, reason)


def assign(
    *,
    session: Session,
    proposal_id: int,
    owner: str,
    actor: str,
    is_steering: bool,
    allow_self_decision: bool = False,
) -> Change:
    """The steering group names the owner who moves a proposal through its work."""
    proposal = _locked(session, proposal_id)
    _steering_only(proposal, actor, is_steering, allow_self_decision, "assign")
    if proposal.status in {Status.MERGED, Status.WITHDRAWN, Status.VERIFIED}:
        raise InvalidInput(
            {"owner": f"#{proposal_id} {state_phrase(proposal.status)}, so it needs no owner."}
        )
    before = proposal.owner
    if owner_of(proposal) == owner:
        raise InvalidInput({"owner": f"#{proposal_id} already has that owner, so nothing changed."})
    # Guarded on the owner read, so two assignments at once leave one audit entry each only when
    # both changed something.
    result = session.execute(
        update(Proposal)
        .where(col(Proposal.id) == proposal_id, _same_owner(before))
        .values(owner=owner, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(proposal)
    if cast(CursorResult[Any], result).rowcount != 1:
        raise InvalidInput({"owner": f"#{proposal_id} was just given another owner; try again."})
    entry = repo.audit(
        session=session,
        proposal_id=proposal_id,
        actor=actor,
        action=ASSIGN,
        from_status=proposal.status,
        to_status=proposal.status,
        detail={"owner": owner, "previous": before},
    )
    session.flush()
    return Change(
        proposal=proposal,
        action=ASSIGN,
        actor=actor,
        at=entry.at,
        before=proposal.status,
        after=proposal.status,
        owner=owner,
        previous_owner=before,
    )


def apply(
    *,
    session: Session,
    proposal_id: int,
    to: Status,
    actor: str,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> Change:
    """A change the bot itself makes (e.g. `verified` after the benefit check), guarded like the
    others but with no permission rule; raises `AlreadyDecided` when it was made already."""
    proposal = _locked(session, proposal_id)
    _expect(session, proposal, {s for s in Status if can_move(s, to)}, to)
    return _move(session, proposal, to, actor, STATUS, reason, detail)


def last_decision(*, session: Session, proposal_id: int) -> AuditEntry | None:
    """The entry of the decision that put the proposal where it is (approved, rejected or
    deferred), or None; the card shows who decided and when."""
    return repo.last_entry(session=session, proposal_id=proposal_id, action=DECISION)


# ---- the guard ----------------------------------------------------------------------------------


def _locked(session: Session, proposal_id: int) -> Proposal:
    # Locked first (a no-op update, on SQLite too), so the permission check and the guarded
    # update below see the same row, and a concurrent decision waits for this one.
    proposal = repo.get_proposal(session=session, proposal_id=proposal_id, for_update=True)
    if proposal is None:
        raise NotFound(f"There is no proposal #{proposal_id}.")
    return proposal


def _steering_only(
    proposal: Proposal, actor: str, is_steering: bool, allow_self: bool, what: str
) -> None:
    if not is_steering:
        raise NotSteering(proposal.id or 0, what)
    if proposal.submitter == actor and not allow_self:
        raise SelfDecision(proposal.id or 0)


def _expect(session: Session, proposal: Proposal, expected: set[Status], to: Status) -> None:
    """Refuse a move from a status it cannot be made from; name who moved it there."""
    if proposal.status in expected and can_move(proposal.status, to):
        return
    raise _moved_on(session, proposal, to)


def _moved_on(session: Session, proposal: Proposal, to: Status) -> CsiError:
    proposal_id = proposal.id or 0
    entries = repo.history(session=session, proposal_id=proposal_id)
    last = next((e for e in reversed(entries) if e.to_status == proposal.status), None)
    # "Already decided" only answers a decision (or the very move) that came too late; any
    # other impossible move is told what the proposal is now.
    decided = proposal.status in DECISIONS and to in DECISIONS
    if last is not None and (proposal.status == to or decided):
        return AlreadyDecided(
            proposal_id=proposal_id, status=proposal.status, by=last.actor, at=last.at
        )
    now = state_phrase(proposal.status, merged_into=proposal.merged_into_id)
    return InvalidInput({"status": f"#{proposal_id} {now}, so it cannot be {move_word(to)}."})


def _move(
    session: Session,
    proposal: Proposal,
    to: Status,
    actor: str,
    action: str,
    reason: str | None,
    detail: dict[str, Any] | None = None,
) -> Change:
    before = proposal.status
    result = session.execute(
        update(Proposal)
        .where(col(Proposal.id) == proposal.id, col(Proposal.status) == before)
        .values(status=to, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(proposal)
    if cast(CursorResult[Any], result).rowcount != 1:
        raise _moved_on(session, proposal, to)
    entry = repo.audit(
        session=session,
        proposal_id=proposal.id or 0,
        actor=actor,
        action=action,
        from_status=before,
        to_status=to,
        detail={**(detail or {}), **({"reason": reason} if reason else {})},
    )
    session.flush()
    return Change(
        proposal=proposal,
        action=action,
        actor=actor,
        at=entry.at,
        before=before,
        after=to,
        reason=reason,
    )


def _same_owner(owner: str | None) -> Any:
    return col(Proposal.owner).is_(None) if owner is None else col(Proposal.owner) == owner
