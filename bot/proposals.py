"""The register's use cases: objectives, capture, votes. Plain Python over storage, no Slack."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlmodel import Session, col

from bot import counteracting, scoring
from bot.drafts import ProposalDraft
from bot.errors import InvalidInput, NotFound, PermissionDenied
from bot.lifecycle import VOTABLE, Status, can_move, move_word, state_phrase
from bot.objectives import add_objective as add_objective  # moved; kept for its callers
from bot.people import is_slack_user
from bot.polls.standing import poll_shares
from bot.sla import services
from storage import repositories as repo
from storage.models import Objective, Proposal
from storage.types import utcnow


@dataclass(frozen=True)
class ProposalSummary:
    """A proposal with what is shown next to it: its objective and its votes."""

    proposal: Proposal
    objective: Objective | None
    votes: int
    # Active proposals that move the same KPI of the same service the other way (bot.counteracting);
    # read for one proposal (its card), not for lists.
    counteracts: tuple[int, ...] = ()
    # Its share of the voters of the steering group's last prioritisation poll (bot.polls).
    poll_share: float = 0.0

    @property
    def priority(self) -> float:
        """The proposal's priority score (see bot.scoring)."""
        weight = self.objective.weight if self.objective else 1.0
        return scoring.priority(
            value=self.proposal.value,
            effort_days=self.proposal.effort_days,
            votes=self.votes,
            weight=weight,
            poll_share=self.poll_share,
        )


def active_objective_ids(*, session: Session) -> set[int]:
    """IDs of the objectives a proposal may serve."""
    return repo.active_objective_ids(session=session)


def capture(
    *,
    session: Session,
    draft: ProposalDraft,
    submitter: str,
    source_key: str | None = None,
    require_objective: bool = False,
    objective_ids: set[int] | None = None,
) -> tuple[Proposal, bool]:
    """Store a new proposal; returns it and whether it is new.

    With an objective it is `open`; without (one-line capture) it waits in `needs_objective`.
    The same `source_key` (one Slack request) never stores two proposals, even when its copies
    arrive at once; with a `source_key` the capture must be the first write of the unit of work.
    `objective_ids`: the active objectives, when the caller has just read them.
    """
    if source_key:
        existing = repo.proposal_by_source(session=session, source_key=source_key)
        if existing is not None:
            return existing, False
    if objective_ids is None:
        objective_ids = active_objective_ids(session=session)
    draft.validate(active_objective_ids=objective_ids, require_objective=require_objective)
    status = Status.OPEN if draft.objective_id is not None else Status.NEEDS_OBJECTIVE
    proposal = Proposal(
        title=draft.title, submitter=submitter, status=status, source_key=source_key
    )
    _apply(proposal, draft, session=session)
    session.add(proposal)
    try:
        session.flush()
    except IntegrityError:
        if not source_key:
            raise
        # A copy of the same request stored it first (the unique key made this insert wait for
        # it, then fail): that proposal is the answer. Nothing else was written in this unit of
        # work, so rolling it back loses nothing; what the caller read stays readable.
        _roll_back_keeping_reads(session)
        stored = repo.proposal_by_source(session=session, source_key=source_key)
        if stored is None:
            raise
        return stored, False
    assert proposal.id is not None
    repo.audit(
        session=session,
        proposal_id=proposal.id,
        actor=submitter,
        action="created",
        to_status=status,
    )
    return proposal, True


def _roll_back_keeping_reads(session: Session) -> None:
    """Roll the unit of work back, then reload what it had read: a rollback expires every
    object, and the caller may use them after the session closes."""
    loaded = list(session.identity_map.values())
    session.rollback()
    for instance in loaded:
        if instance in session:
            try:
                session.refresh(instance)
            except InvalidRequestError:
                session.expunge(instance)


def update_details(
    *, session: Session, proposal_id: int, draft: ProposalDraft, actor: str
) -> Proposal:
    """Replace a proposal's register fields (the submitter adding details in the modal)."""
    return edit_details(session=session, proposal_id=proposal_id, draft=draft, actor=actor)[0]


def edit_details(
    *, session: Session, proposal_id: int, draft: ProposalDraft, actor: str
) -> tuple[Proposal, bool]:
    """Like `update_details`; also says whether this call changed anything (a copy of the same
    submission, arriving again, changes nothing and is recorded once)."""
    proposal = _editable(session=session, proposal_id=proposal_id, actor=actor)
    draft.validate(
        active_objective_ids=active_objective_ids(session=session), require_objective=True
    )
    before = _register_fields(proposal)
    _apply(proposal, draft, session=session)
    if _register_fields(proposal) == before:
        return proposal, False
    return _edited(session=session, proposal=proposal, actor=actor, action="edited"), True


def choose_objective(
    *, session: Session, proposal_id: int, objective_id: int, actor: str
) -> Proposal:
    """Give a `needs_objective` proposal its objective, which opens it (again: no change)."""
    proposal = _editable(session=session, proposal_id=proposal_id, actor=actor)
    if proposal.status == Status.OPEN and proposal.objective_id == objective_id:
        return proposal
    if objective_id not in active_objective_ids(session=session):
        raise InvalidInput({"objective": "That objective was retired; choose another."})
    proposal.objective_id = objective_id
    return _edited(
        session=session,
        proposal=proposal,
        actor=actor,
        action="objective_set",
        detail={"objective_id": objective_id},
    )


def _edited(
    *,
    session: Session,
    proposal: Proposal,
    actor: str,
    action: str,
    detail: dict[str, Any] | None = None,
) -> Proposal:
    """Record a change by the submitter; a proposal that now has its objective opens."""
    before = proposal.status
    if proposal.status == Status.NEEDS_OBJECTIVE and proposal.objective_id is not None:
        proposal.status = Status.OPEN
    proposal.updated_at = utcnow()
    session.add(proposal)
    repo.audit(
        session=session,
        proposal_id=proposal.id or 0,
        actor=actor,
        action=action,
        from_status=before,
        to_status=proposal.status,
        detail=detail,
    )
    return proposal


def attach_card(
    *,
    session: Session,
    proposal_id: int,
    channel_id: str,
    message_ts: str,
    permalink: str | None,
) -> None:
    """Remember where the proposal's card was posted."""
    proposal = _get(session=session, proposal_id=proposal_id)
    proposal.channel_id, proposal.message_ts, proposal.permalink = channel_id, message_ts, permalink
    session.add(proposal)


def vote(*, session: Session, proposal_id: int, user_id: str) -> bool:
    """Count one vote per person; True when this call added it."""
    proposal = _get(session=session, proposal_id=proposal_id)
    if proposal.status not in VOTABLE:
        return False
    added = repo.add_vote(session=session, proposal_id=proposal_id, user_id=user_id)
    if added:
        repo.audit(session=session, proposal_id=proposal_id, actor=user_id, action="voted")
    return added


def unvote(*, session: Session, proposal_id: int, user_id: str) -> bool:
    """Withdraw a vote; True when there was one."""
    removed = repo.remove_vote(session=session, proposal_id=proposal_id, user_id=user_id)
    if removed:
        repo.audit(session=session, proposal_id=proposal_id, actor=user_id, action="unvoted")
    return removed


def summarise(*, session: Session, proposals: list[Proposal]) -> list[ProposalSummary]:
    """Proposals with their objectives and vote counts, in the order given."""
    if not proposals:
        return []
    ids = [p.id for p in proposals if p.id is not None]
    counts = repo.vote_counts(session=session, proposal_ids=ids)
    objectives = repo.objectives_by_id(
        session=session, objective_ids=(p.objective_id for p in proposals if p.objective_id)
    )
    shares = poll_shares(session=session) if ids else {}
    return [
        ProposalSummary(
            proposal=p,
            objective=objectives.get(p.objective_id) if p.objective_id else None,
            votes=counts.get(p.id or 0, 0),
            poll_share=shares.get(p.id or 0, 0.0),
        )
        for p in proposals
    ]


def ranked(*, session: Session) -> list[ProposalSummary]:
    """Open and approved proposals, highest priority first (ties: oldest first)."""
    candidates = repo.list_proposals(session=session, statuses=[Status.OPEN, Status.APPROVED])
    summaries = summarise(session=session, proposals=candidates)
    return sorted(summaries, key=lambda s: (-s.priority, s.proposal.id or 0))


def summary(*, session: Session, proposal_id: int) -> ProposalSummary:
    """One proposal with its objective, votes and the proposals that counteract it."""
    found = repo.proposal_with_standing(session=session, proposal_id=proposal_id)
    if found is None:
        raise NotFound(f"Proposal #{proposal_id} does not exist.")
    proposal, objective, votes = found
    return ProposalSummary(
        proposal=proposal,
        objective=objective,
        votes=votes,
        counteracts=counteracting.partners(session=session, proposal_id=proposal_id),
        poll_share=poll_shares(session=session).get(proposal_id, 0.0),
    )


def transition(
    *, session: Session, proposal_id: int, to: Status, actor: str, reason: str | None = None
) -> Proposal:
    """Move a proposal to another status if the lifecycle allows it, and record it."""
    proposal = _get(session=session, proposal_id=proposal_id)
    if not can_move(proposal.status, to):
        now = state_phrase(proposal.status, merged_into=proposal.merged_into_id)
        raise InvalidInput({"status": f"#{proposal_id} {now}, so it cannot be {move_word(to)}."})
    before = proposal.status
    proposal.status = to
    proposal.updated_at = utcnow()
    session.add(proposal)
    repo.audit(
        session=session,
        proposal_id=proposal_id,
        actor=actor,
        action="status",
        from_status=before,
        to_status=to,
        detail={"reason": reason} if reason else None,
    )
    return proposal


def merge(*, session: Session, duplicate_id: int, into_id: int, actor: str) -> Proposal:
    """Fold a duplicate into another proposal: its votes (and its submitter's) move over, one per
    person, and it becomes `merged`. The caller has checked that `actor` is on the steering group.
    """
    if duplicate_id == into_id:
        raise InvalidInput({"merge": "A proposal cannot be merged into itself."})
    duplicate = _get(session=session, proposal_id=duplicate_id)
    target = _get(session=session, proposal_id=into_id)
    if duplicate.status == Status.MERGED:
        raise _already_merged(session=session, duplicate=duplicate)
    if not can_move(duplicate.status, Status.MERGED):
        raise InvalidInput(
            {"merge": f"#{duplicate_id} {state_phrase(duplicate.status)}, so it cannot be merged."}
        )
    if target.status == Status.MERGED:
        raise InvalidInput(
            {
                "merge": f"#{into_id} was itself merged into #{target.merged_into_id}; "
                "merge into that one."
            }
        )
    merged = _move_once(
        session=session,
        proposal=duplicate,
        to=Status.MERGED,
        actor=actor,
        reason=f"merged into #{into_id}",
        merged_into_id=into_id,
    )
    if not merged:  # another request merged (or moved) it since it was read
        if duplicate.status == Status.MERGED:
            raise _already_merged(session=session, duplicate=duplicate)
        raise InvalidInput(
            {"merge": f"#{duplicate_id} {state_phrase(duplicate.status)}, so it cannot be merged."}
        )
    # An imported submitter ("import", an email) is no person who can vote.
    voters = set(repo.voters(session=session, proposal_id=duplicate_id)) | {duplicate.submitter}
    moved = sum(
        repo.add_vote(session=session, proposal_id=into_id, user_id=user)
        for user in sorted(voters)
        if user != target.submitter and is_slack_user(user)
    )
    repo.link_related(session=session, proposal_id=duplicate_id, related_id=into_id)
    repo.audit(
        session=session,
        proposal_id=into_id,
        actor=actor,
        action="merged_in",
        detail={"from": duplicate_id, "votes_moved": moved},
    )
    return duplicate


class AlreadyMerged(InvalidInput):
    """The duplicate was merged before (a second click, or someone else was quicker)."""

    def __init__(
        self, *, proposal_id: int, into_id: int | None, by: str | None, at: datetime | None
    ) -> None:
        self.proposal_id, self.into_id, self.by, self.at = proposal_id, into_id, by, at
        super().__init__({"merge": f"#{proposal_id} is already merged into #{into_id}."})


def _already_merged(*, session: Session, duplicate: Proposal) -> AlreadyMerged:
    merged = [
        e
        for e in repo.history(session=session, proposal_id=duplicate.id or 0)
        if e.to_status == Status.MERGED
    ]
    return AlreadyMerged(
        proposal_id=duplicate.id or 0,
        into_id=duplicate.merged_into_id,
        by=merged[-1].actor if merged else None,
        at=merged[-1].at if merged else None,
    )


def discard(*, session: Session, proposal_id: int, actor: str) -> tuple[Proposal, bool]:
    """The submitter withdraws their own open or `needs_objective` proposal (the Discard button,
    `/improve withdraw`); returns it and whether this call withdrew it (False: it already was)."""
    proposal = _get(session=session, proposal_id=proposal_id)
    if proposal.submitter != actor:
        raise PermissionDenied(f"Only the person who proposed #{proposal_id} can withdraw it.")
    if proposal.status not in {Status.NEEDS_OBJECTIVE, Status.OPEN}:
        return _already_decided(proposal)
    withdrawn = _move_once(
        session=session,
        proposal=proposal,
        to=Status.WITHDRAWN,
        actor=actor,
        reason="withdrawn by its submitter",
    )
    return (proposal, True) if withdrawn else _already_decided(proposal)


def _move_once(
    *, session: Session, proposal: Proposal, to: Status, actor: str, reason: str, **values: Any
) -> bool:
    """Move a proposal on from the status just read, and record it; False (nothing written)
    when another request moved it first. Compare-and-set: of two clicks or two copies of one
    command at once, exactly one moves it, where a read followed by a write lets both through."""
    before = proposal.status
    result = session.execute(
        update(Proposal)
        .where(col(Proposal.id) == proposal.id, col(Proposal.status) == before)
        .values(status=to, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(proposal)
    if cast(CursorResult[Any], result).rowcount != 1:
        return False
    repo.audit(
        session=session,
        proposal_id=proposal.id or 0,
        actor=actor,
        action="status",
        from_status=before,
        to_status=to,
        detail={"reason": reason},
    )
    return True


def _already_decided(proposal: Proposal) -> tuple[Proposal, bool]:
    """A proposal that cannot be discarded now: withdrawn already (fine), or moved on."""
    if proposal.status == Status.WITHDRAWN:
        return proposal, False
    raise InvalidInput(
        {
            "status": f"#{proposal.id} {state_phrase(proposal.status)}, "
            "so it can no longer be withdrawn."
        }
    )


def get(*, session: Session, proposal_id: int) -> Proposal:
    """The proposal with this number; NotFound says so when there is none."""
    return _get(session=session, proposal_id=proposal_id)


def _get(*, session: Session, proposal_id: int) -> Proposal:
    proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
    if proposal is None:
        raise NotFound(f"Proposal #{proposal_id} does not exist.")
    return proposal


def _editable(*, session: Session, proposal_id: int, actor: str) -> Proposal:
    # Locked (PostgreSQL) so that copies of one edit arriving at once apply it one by one.
    proposal = repo.get_proposal(session=session, proposal_id=proposal_id, for_update=True)
    if proposal is None:
        raise NotFound(f"Proposal #{proposal_id} does not exist.")
    if proposal.submitter != actor:
        raise PermissionDenied(f"Only the person who proposed #{proposal_id} can change it.")
    if proposal.status not in {Status.NEEDS_OBJECTIVE, Status.OPEN}:
        now = state_phrase(proposal.status, merged_into=proposal.merged_into_id)
        raise InvalidInput({"status": f"#{proposal_id} {now}, so it can no longer be changed."})
    return proposal


def _register_fields(proposal: Proposal) -> tuple[Any, ...]:
    """What `_apply` sets, to tell an edit from a repeat of the same one."""
    return (
        proposal.title,
        proposal.description,
        proposal.outcome,
        proposal.objective_id,
        proposal.service,
        proposal.benefit,
        proposal.value,
        proposal.effort,
        proposal.effort_days,
        proposal.kpi,
        proposal.kpi_baseline,
        proposal.kpi_target,
    )


def _apply(proposal: Proposal, draft: ProposalDraft, *, session: Session) -> None:
    proposal.title = draft.title
    proposal.description = draft.description
    proposal.outcome = draft.outcome
    if draft.objective_id is not None:
        proposal.objective_id = draft.objective_id
    proposal.service = draft.service
    # The service is a row of its own that SLA targets share; a new name creates it.
    proposal.service_id = (
        services.ensure(session=session, name=draft.service).id if draft.service else None
    )
    proposal.benefit = draft.benefit
    proposal.value = draft.value
    proposal.effort = draft.effort
    proposal.effort_days = draft.effort_days
    proposal.kpi = draft.kpi
    proposal.kpi_baseline = draft.baseline
    proposal.kpi_target = draft.target
