"""Votes given instead of a proposal: they follow merges, go only where votes count, and every
refusal says what is true now. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import proposals, votes
from bot.drafts import ProposalDraft
from bot.errors import InvalidInput, PermissionDenied
from bot.lifecycle import Status
from storage import repositories as repo
from storage.db import session_scope


def _objective(session: Session) -> int:
    objective = proposals.add_objective(session=session, title="Keep it running")
    return objective.id or 0


def _proposal(session: Session, title: str, submitter: str, objective: int | None) -> int:
    proposal, _ = proposals.capture(
        session=session,
        draft=ProposalDraft(title=title, objective_id=objective),
        submitter=submitter,
    )
    return proposal.id or 0


def test_a_vote_follows_a_chain_of_merges(engine: Engine) -> None:
    with session_scope(engine) as session:
        objective = _objective(session)
        first, second, third = (
            _proposal(session, f"Proposal number {n}", "U1", objective) for n in (1, 2, 3)
        )
        proposals.merge(session=session, duplicate_id=first, into_id=second, actor="USTEER")
        proposals.merge(session=session, duplicate_id=second, into_id=third, actor="USTEER")
    with session_scope(engine) as session:
        given = votes.vote_for(session=session, proposal_id=first, user_id="U9")
        assert given.summary.proposal.id == third and given.followed_merge and given.added
        assert votes.vote_for(session=session, proposal_id=first, user_id="U9").added is False
        assert repo.voters(session=session, proposal_id=third) == ["U9"]


def test_vote_instead_twice_changes_nothing_the_second_time(engine: Engine) -> None:
    with session_scope(engine) as session:
        objective = _objective(session)
        target = _proposal(session, "The existing proposal", "U1", objective)
        mine = _proposal(session, "My one-line proposal", "U2", None)
    with session_scope(engine) as session:
        first = votes.vote_instead(
            session=session, proposal_id=mine, in_favour_of=target, actor="U2"
        )
        assert not first.already and first.withdrawn.status == Status.WITHDRAWN
    with session_scope(engine) as session:
        again = votes.vote_instead(
            session=session, proposal_id=mine, in_favour_of=target, actor="U2"
        )
        assert again.already and again.vote.summary.votes == 1
        assert len([e for e in repo.history(session=session, proposal_id=mine) if e.to_status]) == 2


def test_nothing_is_withdrawn_when_the_vote_cannot_be_given(engine: Engine) -> None:
    with session_scope(engine) as session:
        objective = _objective(session)
        target = _proposal(session, "Closed proposal", "U1", objective)
        mine = _proposal(session, "Still mine", "U2", None)
        proposals.discard(session=session, proposal_id=target, actor="U1")
    closed = f"#{target} was withdrawn and no longer takes votes"
    with pytest.raises(InvalidInput, match=closed), session_scope(engine) as session:
        votes.vote_instead(session=session, proposal_id=mine, in_favour_of=target, actor="U2")
    not_yours = f"Only the person who proposed #{mine}"
    with pytest.raises(PermissionDenied, match=not_yours), session_scope(engine) as session:
        votes.vote_instead(session=session, proposal_id=mine, in_favour_of=target, actor="U3")
    with session_scope(engine) as session:
        assert proposals.get(session=session, proposal_id=mine).status == Status.NEEDS_OBJECTIVE


def test_refusals_name_the_present_state(engine: Engine) -> None:
    with session_scope(engine) as session:
        objective = _objective(session)
        gone = _proposal(session, "Withdrawn one", "U1", objective)
        proposals.discard(session=session, proposal_id=gone, actor="U1")
    with pytest.raises(InvalidInput) as changed, session_scope(engine) as session:
        proposals.update_details(
            session=session,
            proposal_id=gone,
            draft=ProposalDraft(title="New title", objective_id=objective),
            actor="U1",
        )
    assert str(changed.value) == f"#{gone} was withdrawn, so it can no longer be changed."
    with pytest.raises(InvalidInput) as moved, session_scope(engine) as session:
        proposals.transition(session=session, proposal_id=gone, to=Status.APPROVED, actor="USTEER")
    assert str(moved.value) == f"#{gone} was withdrawn, so it cannot be approved."
