"""The steering group's objectives on a real database (SQLite and PostgreSQL): add, edit, retire,
and the search behind the select that searches as you type."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from bot import objectives, proposals
from bot.blocks.objectives import objective_select, retire_notices
from bot.drafts import ProposalDraft
from bot.errors import InvalidInput, NotFound
from bot.ids import ActionId
from storage import repositories as repo
from storage.db import session_scope
from tests.fakeslack.validation import check_message


def _add(engine: Engine, title: str, weight: float = 1.0) -> int:
    with session_scope(engine) as session:
        return objectives.add_objective(session=session, title=title, weight=weight).id or 0


def _propose(engine: Engine, objective_id: int, title: str, submitter: str) -> int:
    with session_scope(engine) as session:
        proposal, _ = proposals.capture(
            session=session,
            draft=ProposalDraft(title=title, objective_id=objective_id),
            submitter=submitter,
            require_objective=True,
        )
        return proposal.id or 0


def test_edit_changes_title_description_and_weight_and_says_when_nothing_changed(
    engine: Engine,
) -> None:
    first = _add(engine, "Fewer outages")
    _add(engine, "Cheaper licences")
    with session_scope(engine) as session:
        objective, changed = objectives.edit_objective(
            session=session, objective_id=first, title=" Fewer  major outages ", weight=3
        )
        assert changed and (objective.title, objective.weight) == ("Fewer major outages", 3)
        _, again = objectives.edit_objective(
            session=session, objective_id=first, title="Fewer major outages", weight=3
        )
        assert not again
        with pytest.raises(InvalidInput, match="already exists"):
            objectives.edit_objective(session=session, objective_id=first, title="cheaper LICENCES")
        with pytest.raises(InvalidInput, match="greater than 0"):
            objectives.edit_objective(session=session, objective_id=first, weight=float("nan"))
        with pytest.raises(NotFound):
            objectives.edit_objective(session=session, objective_id=999, weight=2)


def test_retiring_lists_the_open_proposals_once_and_takes_it_out_of_every_choice(
    engine: Engine,
) -> None:
    old = _add(engine, "Paper forms")
    other = _add(engine, "Digital services")
    mine = [_propose(engine, old, f"Scan the paper form number {n}", "U1") for n in range(2)]
    theirs = _propose(engine, old, "Shred the old paper forms", "U2")
    _propose(engine, other, "Publish forms online", "U3")
    with session_scope(engine) as session:
        retired = objectives.retire_objective(session=session, objective_id=old)
        assert retired.changed
        assert [p.id for p in retired.to_choose_again] == [*mine, theirs]
        again = objectives.retire_objective(session=session, objective_id=old)
        assert not again.changed and again.to_choose_again == []
        assert [o.id for o in repo.list_objectives(session=session)] == [other]
        assert [o.id for o in objectives.search(session=session, query="")] == [other]
        with pytest.raises(InvalidInput, match="retired"):
            objectives.edit_objective(session=session, objective_id=old, weight=2)
        # The submitter can choose again: the proposal serves the other objective.
        proposals.choose_objective(
            session=session, proposal_id=mine[0], objective_id=other, actor="U1"
        )
        choices = repo.list_objectives(session=session)
    notices = retire_notices(retired.objective, retired.to_choose_again[:2], choices)
    assert len(notices) == 1 and check_message({"blocks": notices[0][1]}) is None


def test_search_matches_part_of_a_title_or_a_number_and_takes_wildcards_literally(
    engine: Engine,
) -> None:
    for n in range(150):
        _add(engine, f"Goal {n:03d}")
    percent = _add(engine, "Raise first-call resolution to 80%")
    with session_scope(engine) as session:
        assert [o.title for o in objectives.search(session=session, query="goal 149")] == [
            "Goal 149"
        ]
        assert len(objectives.search(session=session, query="")) == objectives.OPTIONS_MAX
        assert [o.id for o in objectives.search(session=session, query="80%")] == [percent]
        assert objectives.search(session=session, query="%") == [
            o for o in objectives.search(session=session, query="%") if "%" in o.title
        ]
        assert [o.id for o in objectives.search(session=session, query=f"#{percent}")] == [percent]
        assert objectives.count_active(session=session) == 151
        everything = objectives.search(session=session, query="", limit=objectives.OPTIONS_MAX + 1)
    # 101 objectives do not fit a list: the select searches as you type, and keeps its choice.
    chosen = everything[-1]
    select = objective_select(everything, action_id=ActionId.INPUT, initial=chosen)
    assert select["type"] == "external_select" and "options" not in select
    assert select["initial_option"]["value"] == str(chosen.id)
    listed = objective_select(everything[:100], action_id=ActionId.INPUT, initial=chosen)
    assert listed["type"] == "static_select" and len(listed["options"]) == 100
