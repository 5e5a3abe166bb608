"""Votes: emoji reactions on a card, and votes given from buttons and forms ("vote for #N
instead"), which follow a merge to where the proposal went. Votes go only where they still
count. Plain Python over storage, no Slack."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from bot import proposals
from bot.errors import InvalidInput, PermissionDenied
from bot.lifecycle import VOTABLE, Status, state_phrase
from bot.proposals import ProposalSummary
from storage import repositories as repo
from storage.models import Proposal

# The history entry that remembers a person was told their reaction did not count.
REACTION_REFUSED = "reaction_refused"

# Merges chain (#3 into #5, later #5 into #9); a longer chain than this is a data error.
MAX_MERGE_HOPS = 50


@dataclass(frozen=True)
class VoteGiven:
    """A person's vote, where it counts: the proposal asked for, or where that one was merged."""

    summary: ProposalSummary
    asked_for: int
    added: bool  # False: this person's vote was already there

    @property
    def followed_merge(self) -> bool:
        """True when the vote went to the proposal that the one asked for was merged into."""
        return self.summary.proposal.id != self.asked_for


@dataclass(frozen=True)
class VotedInstead:
    """The submitter's own proposal is withdrawn in favour of the one their vote went to."""

    vote: VoteGiven
    withdrawn: Proposal
    already: bool  # the same choice was made before: nothing changed now


@dataclass(frozen=True)
class ReactionOutcome:
    """What one vote reaction on a card did."""

    proposal_id: int | None  # None: not a card
    changed: bool = False  # the count changed: the card needs redrawing
    # The proposal takes no votes and the person has not been told so before: tell them.
    refused: Proposal | None = None


def refuse_once(*, session: Session, proposal_id: int, user_id: str) -> ReactionOutcome:
    """A vote emoji on a proposal that takes no votes: not counted; `refused` is set the first
    time for this person and proposal (remembered in its history), so they are told once."""
    # The row lock makes two reactions of one person at once tell them once (PostgreSQL; SQLite
    # writes one at a time anyway).
    proposal = repo.get_proposal(session=session, proposal_id=proposal_id, for_update=True)
    if proposal is None:
        return ReactionOutcome(proposal_id=None)
    if repo.has_audit(
        session=session, proposal_id=proposal_id, actor=user_id, action=REACTION_REFUSED
    ):
        return ReactionOutcome(proposal_id=proposal_id)
    repo.audit(
        session=session,
        proposal_id=proposal_id,
        actor=user_id,
        action=REACTION_REFUSED,
        detail={"status": proposal.status},
    )
    return ReactionOutcome(proposal_id=proposal_id, refused=proposal)


def refusal_reason(proposal: Proposal) -> str:
    """Why a vote for this proposal does not count ("#4 was rejected and no longer …")."""
    state = state_phrase(proposal.status, merged_into=proposal.merged_into_id)
    return f"#{proposal.id} {state} and no longer takes votes"


def vote_target(*, session: Session, proposal_id: int) -> Proposal:
    """The proposal a vote for #`proposal_id` counts for: itself, or the end of its merges."""
    proposal = proposals.get(session=session, proposal_id=proposal_id)
    seen = {proposal_id}
    while proposal.status == Status.MERGED and proposal.merged_into_id is not None:
        if proposal.merged_into_id in seen or len(seen) > MAX_MERGE_HOPS:
            break
        seen.add(proposal.merged_into_id)
        proposal = proposals.get(session=session, proposal_id=proposal.merged_into_id)
    return proposal


def votable_target(*, session: Session, proposal_id: int) -> Proposal:
    """Like `vote_target`, but refused with the reason when that proposal takes no votes."""
    target = vote_target(session=session, proposal_id=proposal_id)
    if target.status not in VOTABLE:
        state = state_phrase(target.status, merged_into=target.merged_into_id)
        if target.id == proposal_id:
            reason = f"#{proposal_id} {state}"
        else:
            reason = f"#{proposal_id} was merged into #{target.id}, which {state}"
        raise InvalidInput({"vote": f"{reason} and no longer takes votes."})
    return target


def vote_for(*, session: Session, proposal_id: int, user_id: str) -> VoteGiven:
    """Count the person's vote for #`proposal_id` (or where it was merged), once."""
    target = votable_target(session=session, proposal_id=proposal_id)
    target_id = target.id or 0
    added = proposals.vote(session=session, proposal_id=target_id, user_id=user_id)
    return VoteGiven(
        summary=proposals.summary(session=session, proposal_id=target_id),
        asked_for=proposal_id,
        added=added,
    )


def vote_instead(
    *, session: Session, proposal_id: int, in_favour_of: int, actor: str
) -> VotedInstead:
    """The submitter of #`proposal_id` gives their vote to #`in_favour_of` instead: theirs is
    withdrawn and their vote counted there. When the vote cannot be given, nothing is withdrawn.
    """
    if proposal_id == in_favour_of:
        raise InvalidInput({"vote": f"#{proposal_id} cannot be withdrawn in favour of itself."})
    # Locked (PostgreSQL) so that two presses at once withdraw it once.
    mine = repo.get_proposal(session=session, proposal_id=proposal_id, for_update=True)
    if mine is None:
        mine = proposals.get(session=session, proposal_id=proposal_id)  # says it does not exist
    if mine.submitter != actor:
        raise PermissionDenied(f"Only the person who proposed #{proposal_id} can withdraw it.")
    target = votable_target(session=session, proposal_id=in_favour_of)
    if target.id == proposal_id:
        raise InvalidInput({"vote": f"#{in_favour_of} was merged into #{proposal_id} itself."})
    if mine.status == Status.WITHDRAWN:
        # Pressed again: the vote is (or is now again) recorded; there is nothing to withdraw.
        given = vote_for(session=session, proposal_id=in_favour_of, user_id=actor)
        return VotedInstead(vote=given, withdrawn=mine, already=not given.added)
    if mine.status not in {Status.NEEDS_OBJECTIVE, Status.OPEN}:
        state = state_phrase(mine.status, merged_into=mine.merged_into_id)
        raise InvalidInput(
            {"vote": f"#{proposal_id} {state}, so it can no longer be withdrawn in its favour."}
        )
    proposals.transition(
        session=session,
        proposal_id=proposal_id,
        to=Status.WITHDRAWN,
        actor=actor,
        reason=f"voted for #{target.id} instead",
    )
    given = vote_for(session=session, proposal_id=in_favour_of, user_id=actor)
    return VotedInstead(vote=given, withdrawn=mine, already=False)
