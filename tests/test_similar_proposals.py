"""The register's similarity index follows the database: inserts, edits, merges, other replicas."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from bot import proposals, similar_proposals
from bot.drafts import ProposalDraft
from bot.errors import InvalidInput
from bot.lifecycle import Status
from bot.similar_proposals import SimilarProposals
from storage import repositories as repo
from storage.db import session_scope


@pytest.fixture
def objective_id(engine: Engine) -> int:
    with session_scope(engine) as session:
        return proposals.add_objective(session=session, title="Stable services").id or 0


def _capture(engine: Engine, title: str, objective_id: int, user: str = "U1", **more: str) -> int:
    with session_scope(engine) as session:
        proposal, _ = proposals.capture(
            session=session,
            submitter=user,
            draft=ProposalDraft(title=title, objective_id=objective_id, **more),
        )  # type: ignore[arg-type]
        return proposal.id or 0


def _ids(index: SimilarProposals, engine: Engine, title: str) -> list[int]:
    with session_scope(engine) as session:
        index.refresh(session=session)  # what the bot's refresher does in the background
        return [m.proposal.id or 0 for m in index.similar(session=session, title=title)]


def test_new_and_edited_proposals_are_found_without_a_rebuild(
    engine: Engine, objective_id: int
) -> None:
    index = SimilarProposals()
    first = _capture(engine, "Automate TLS certificate renewal", objective_id)
    assert _ids(index, engine, "automatic TLS certificate renewal") == [first]
    # Another replica (another index) stores a second one: this index sees it on its next query.
    second = _capture(engine, "Monitor disk space on file servers", objective_id)
    assert _ids(index, engine, "disk space monitoring for file servers") == [second]
    with session_scope(engine) as session:
        proposals.update_details(
            session=session,
            proposal_id=second,
            actor="U1",
            draft=ProposalDraft(title="Archive old mailboxes", objective_id=objective_id),
        )
    assert _ids(index, engine, "disk space monitoring for file servers") == []
    assert _ids(index, engine, "archive the old mailboxes") == [second]


def test_merged_proposals_are_no_longer_offered(engine: Engine, objective_id: int) -> None:
    index = SimilarProposals()
    keep = _capture(engine, "Self-service password reset", objective_id, user="U1")
    dupe = _capture(engine, "Self-service password resets", objective_id, user="U2")
    assert sorted(_ids(index, engine, "password reset self-service")) == sorted([keep, dupe])
    with session_scope(engine) as session:
        proposals.merge(session=session, duplicate_id=dupe, into_id=keep, actor="USTEER")
    assert _ids(index, engine, "password reset self-service") == [keep]


def test_merge_moves_votes_one_per_person(engine: Engine, objective_id: int) -> None:
    keep = _capture(engine, "Patch servers monthly", objective_id, user="U1")
    dupe = _capture(engine, "Monthly server patching", objective_id, user="U2")
    with session_scope(engine) as session:
        for user in ("U3", "U4"):
            proposals.vote(session=session, proposal_id=dupe, user_id=user)
        proposals.vote(session=session, proposal_id=keep, user_id="U3")
        proposals.merge(session=session, duplicate_id=dupe, into_id=keep, actor="USTEER")
    with session_scope(engine) as session:
        assert sorted(repo.voters(session=session, proposal_id=keep)) == ["U2", "U3", "U4"]
        merged = repo.get_proposal(session=session, proposal_id=dupe)
        assert merged is not None
        assert (merged.status, merged.merged_into_id) == (Status.MERGED, keep)
        assert [h.action for h in repo.history(session=session, proposal_id=dupe)][-1] == "status"


def test_merging_into_itself_or_a_merged_one_is_refused(engine: Engine, objective_id: int) -> None:
    a = _capture(engine, "A", objective_id)
    b = _capture(engine, "B", objective_id)
    c = _capture(engine, "C", objective_id)
    with session_scope(engine) as session:
        proposals.merge(session=session, duplicate_id=b, into_id=a, actor="USTEER")
    for duplicate, into in ((a, a), (c, b)):
        with pytest.raises(InvalidInput), session_scope(engine) as session:
            proposals.merge(session=session, duplicate_id=duplicate, into_id=into, actor="USTEER")


def test_related_means_same_service_and_objective(engine: Engine, objective_id: int) -> None:
    vpn = _capture(engine, "Replace VPN concentrator", objective_id, service="VPN")
    _capture(engine, "Faster laptops", objective_id, service="Hardware")
    with session_scope(engine) as session:
        found = similar_proposals.related(session=session, service="vpn", objective_id=objective_id)
        assert [s.proposal.id for s in found] == [vpn]
        assert similar_proposals.related(session=session, service="vpn", objective_id=None) == []


def test_a_refresh_with_nothing_new_reindexes_nothing(engine: Engine, objective_id: int) -> None:
    index = SimilarProposals()
    _capture(engine, "Automate TLS certificate renewal", objective_id)
    with session_scope(engine) as session:
        assert index.refresh(session=session) == 1
        assert index.refresh(session=session) == 0


def test_proposals_indexed_as_they_were_written_are_not_read_again(
    engine: Engine, objective_id: int
) -> None:
    index = SimilarProposals()
    with session_scope(engine) as session:
        index.refresh(session=session)
    with session_scope(engine) as session:
        index.track(session)  # this replica's own write, indexed as it commits
        proposal, _ = proposals.capture(
            session=session,
            submitter="U1",
            draft=ProposalDraft(
                title="Automate TLS certificate renewal", objective_id=objective_id
            ),
        )  # type: ignore[arg-type]
    with session_scope(engine) as session:
        assert [m.proposal.id for m in index.similar(session=session, title="TLS renewal")] == [
            proposal.id
        ]
        assert index.refresh(session=session) == 0
    _capture(engine, "Monitor disk space on file servers", objective_id)  # another replica's
    with session_scope(engine) as session:
        assert index.refresh(session=session) == 1


def test_a_held_form_is_decided_once_and_only_by_its_author(
    engine: Engine, objective_id: int
) -> None:
    from bot import held_forms

    index = SimilarProposals()
    existing = _capture(engine, "Automate TLS certificate renewal", objective_id)
    with session_scope(engine) as session:
        index.refresh(session=session)
        held = held_forms.submit(
            session=session,
            similar=index,
            submitter="U2",
            source_key="view:V9",
            draft=ProposalDraft(
                title="TLS certificate renewal automation", objective_id=objective_id
            ),
        )
    assert isinstance(held, held_forms.Held)
    assert [m.proposal.id for m in held.matches] == [existing]
    with session_scope(engine) as session:
        assert (
            held_forms.decide(
                session=session, similar=index, key=held.key, user_id="U3", vote_for=None
            )
            is None
        )
    with session_scope(engine) as session:
        stored = held_forms.decide(
            session=session, similar=index, key=held.key, user_id="U2", vote_for=None
        )
        assert isinstance(stored, held_forms.Stored) and stored.created
        assert repo.related_ids(session=session, proposal_id=stored.proposal.id or 0) == [existing]
    with session_scope(engine) as session:
        assert (
            held_forms.decide(
                session=session, similar=index, key=held.key, user_id="U2", vote_for=existing
            )
            is None
        )
