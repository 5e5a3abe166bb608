"""What the Home tab and `/improve list` show, read from a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot import blocks, home, proposals
from bot.lifecycle import Status
from storage import repositories as repo
from storage.db import session_scope
from storage.models import Objective
from storage.types import utcnow
from tests.fakeslack.validation import check_view

VIEWER = "UVIEWER"
# Every character that must be escaped, and a title at the 150-character limit.
NASTY = "R&D <lab> *bold* _it_ ~s~ `c` " + "x" * 120
LINK = "https://example.slack.com/archives/C0PROPOSALS/p" + "1" * 300


def seed(
    engine: Engine,
    *,
    proposals_count: int,
    objectives_count: int,
    viewer_share: int = 3,
    statuses: tuple[str, ...] = (Status.OPEN, Status.APPROVED, Status.NEEDS_OBJECTIVE),
) -> list[int]:
    """Objectives and proposals inserted in bulk; every `viewer_share`-th is the viewer's.
    Returns the objective IDs."""
    now = utcnow()
    with session_scope(engine) as session:
        ids = []
        for n in range(objectives_count):
            title = f"Objective {n:03d} " + "o" * 90  # all share their first 75 characters
            ids.append(
                proposals.add_objective(session=session, title=title[:150], weight=1 + n % 5).id
                or 0
            )
        rows: list[dict[str, Any]] = []
        for n in range(proposals_count):
            status = statuses[n % len(statuses)]
            rows.append(
                {
                    "title": f"{n} {NASTY}"[:150],
                    "description": "",
                    "outcome": "",
                    "submitter": VIEWER if n % viewer_share == 0 else f"U{n:06d}",
                    "status": status,
                    "objective_id": None
                    if status == Status.NEEDS_OBJECTIVE
                    else ids[n % min(7, len(ids))],
                    "value": 1 + n % 5,
                    "effort_days": float(1 + n % 9),
                    "permalink": LINK,
                    "message_ts": f"{n}.000100",
                    "channel_id": "C0PROPOSALS",
                    "source_key": f"seed:{n}",
                    "created_at": now - timedelta(minutes=proposals_count - n),
                    "updated_at": now,
                }
            )
        for start in range(0, len(rows), 1000):
            repo.add_proposals(session=session, rows=rows[start : start + 1000], key_prefix="seed:")
    return ids


def _sections(view: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]


def _no_cut_link(text: str) -> None:
    # Whole links and whole entities only: every `<` is closed, no entity is cut, nothing
    # was shortened with an ellipsis by the section limit.
    assert text.count("<") == text.count(">"), text
    assert not re.search(r"&[a-z]*$", text) and not re.search(r"&[a-z]*[^a-z;]", text), text
    assert len(text) <= 3000


def _view(engine: Engine, *, steering: bool) -> tuple[home.HomeContent, dict[str, Any]]:
    with session_scope(engine) as session:
        content = home.home_content(session=session, viewer=VIEWER, steering=steering)
        choices = repo.list_objectives(session=session)
    return content, blocks.home_view(content, objectives=choices, vote_emoji="+1")


def test_thousands_of_proposals_give_a_home_tab_slack_accepts(engine: Engine) -> None:
    seed(engine, proposals_count=5000, objectives_count=150)
    for steering in (False, True):
        content, view = _view(engine, steering=steering)
        assert check_view(view) is None
        assert len(view["blocks"]) <= 100
        for text in _sections(view):
            _no_cut_link(text)
    assert content.mine.total == 1667 and len(content.mine.items) == home.MINE_MAX
    # Newest first: the last proposal stored is the first shown.
    shown = [s.proposal.id or 0 for s in content.mine.items]
    assert shown == sorted(shown, reverse=True)
    text = "\n".join(_sections(view))
    assert f"…and {1667 - home.MINE_MAX} more proposals: `/improve list mine`" in text
    assert "…and 135 more objectives" in text  # 150 objectives, 15 shown
    waiting = content.waiting_for_decision
    assert waiting is not None and waiting.total == 1667
    oldest_first = [s.proposal.id or 0 for s in waiting.items]
    assert oldest_first == sorted(oldest_first)


def test_top_priorities_are_the_register_ranking(engine: Engine) -> None:
    seed(engine, proposals_count=60, objectives_count=8)
    with session_scope(engine) as session:
        for n, proposal_id in enumerate(range(3, 60, 6)):
            for voter in range(n):
                repo.add_vote(session=session, proposal_id=proposal_id, user_id=f"UV{voter}")
    with session_scope(engine) as session:
        expected = [s.proposal.id for s in proposals.ranked(session=session)[: home.TOP_MAX]]
        content = home.home_content(session=session, viewer=VIEWER, steering=False)
    assert [s.proposal.id for s in content.top] == expected


def test_top_priorities_carry_the_last_polls_share_like_the_register(engine: Engine) -> None:
    from storage import poll_tables

    seed(engine, proposals_count=40, objectives_count=4)
    with session_scope(engine) as session:
        ranked = [s.proposal.id or 0 for s in proposals.ranked(session=session)]
        # Both voters of a poll chose the two proposals just below the Home tab's top list.
        low = ranked[home.TOP_MAX : home.TOP_MAX + 2]
        poll = poll_tables.add_poll(
            session=session,
            channel_id="C0STEER",
            opened_by="USTEER",
            opened_at=utcnow(),
            closes_at=utcnow(),
            candidates=[(n, pid, f"#{pid}") for n, pid in enumerate(low, start=1)],
        )
        assert poll is not None and poll.id is not None
        poll_tables.store_result(
            session=session,
            poll_id=poll.id,
            closed_at=utcnow(),
            voters=2,
            result_ts=None,
            places=[(low[1], 2, 2, 1), (low[0], 1, 2, 1)],
        )
    with session_scope(engine) as session:
        expected = [s.proposal.id for s in proposals.ranked(session=session)[: home.TOP_MAX]]
        content = home.home_content(session=session, viewer=VIEWER, steering=False)
    assert set(low) <= set(expected)
    assert [s.proposal.id for s in content.top] == expected


def test_objectives_show_how_many_proposals_serve_each_and_which_have_none(
    engine: Engine,
) -> None:
    ids = seed(engine, proposals_count=14, objectives_count=9)
    content, view = _view(engine, steering=False)
    loads = {load.objective.id: load.proposals for load in content.objectives.items}
    # Proposal n serves objective n % 7 unless it needs an objective (n % 3 == 2).
    assert loads[ids[0]] == sum(1 for n in range(14) if n % 7 == 0 and n % 3 != 2)
    assert {o.id for o in content.unserved.items} == {ids[7], ids[8]}
    assert "no proposals yet" in "\n".join(_sections(view))
    assert "*Objectives no proposal serves yet* (2)" in "\n".join(_sections(view))


def test_only_the_steering_group_sees_what_waits_for_a_decision(engine: Engine) -> None:
    seed(engine, proposals_count=9, objectives_count=2)
    _, contributor = _view(engine, steering=False)
    _, steering = _view(engine, steering=True)
    assert "Waiting for decision" not in str(contributor)
    assert "Waiting for decision" in str(steering)
    assert "New objective" in str(steering) and "New objective" not in str(contributor)


def test_recent_decisions_come_from_the_history(engine: Engine) -> None:
    seed(engine, proposals_count=6, objectives_count=2)
    with session_scope(engine) as session:
        proposals.transition(session=session, proposal_id=1, to=Status.REJECTED, actor="USTEER")
    content, view = _view(engine, steering=False)
    assert [(d.proposal.id, d.status, d.actor) for d in content.decisions][:1] == [
        (1, "rejected", "USTEER")
    ]
    assert "Rejected by <@USTEER>" in "\n".join(_sections(view))


def test_proposals_waiting_for_the_viewers_objective_offer_the_choice(engine: Engine) -> None:
    # The viewer's are the even ones; every third (n % 3 == 2) needs an objective: 2, 8, … 26.
    seed(engine, proposals_count=30, objectives_count=150, viewer_share=2)
    content, view = _view(engine, steering=False)
    assert content.needs_objective.total == 5
    selects = [
        b
        for b in view["blocks"]
        if b["type"] == "actions" and b["block_id"].startswith("objective:")
    ]
    assert len(selects) == len(content.needs_objective.items)
    # 150 active objectives do not fit a list: the select searches as you type.
    assert selects[0]["elements"][0]["type"] == "external_select"


@pytest.mark.parametrize(
    ("word", "heading", "total"),
    [
        ("mine", "Your proposals, newest first", 10),
        ("open", "Open proposals, highest priority first", 10),
        ("APPROVED", "Approved proposals, highest priority first", 10),
    ],
)
def test_list_filters(engine: Engine, word: str, heading: str, total: int) -> None:
    seed(engine, proposals_count=30, objectives_count=3)
    with session_scope(engine) as session:
        found = home.listing(session=session, word=word.casefold(), viewer=VIEWER, limit=4)
    assert found.heading == heading
    assert found.proposals.total == total and len(found.proposals.items) == 4
    text = blocks.register_listing(found, vote_emoji="+1")
    assert f"…and {total - 4} more proposals" in text
    _no_cut_link(text)


def test_list_by_objective_title_or_its_start(engine: Engine) -> None:
    with session_scope(engine) as session:
        fewer = proposals.add_objective(session=session, title="Fewer outages")
        proposals.add_objective(session=session, title="Faster onboarding")
        proposals.add_objective(session=session, title="Fewer tickets")
    with session_scope(engine) as session:
        assert home.objective_named(session=session, name="fewer OUTAGES").id == fewer.id
        assert home.objective_named(session=session, name="Fewer o").id == fewer.id
        with pytest.raises(home.UnknownObjective) as ambiguous:
            home.objective_named(session=session, name="Fewer")
        assert {o.title for o in ambiguous.value.candidates} == {"Fewer outages", "Fewer tickets"}
        with pytest.raises(home.UnknownObjective):
            home.objective_named(session=session, name="Happier users")


def test_home_names_a_cut_objective_title_with_its_number() -> None:
    from bot.blocks.objectives import objective_label

    first = Objective(id=7, title="Reduce " + "a" * 80 + " one")
    second = Objective(id=8, title="Reduce " + "a" * 80 + " two")
    labels = {objective_label(first), objective_label(second)}
    assert len(labels) == 2 and all(len(label) <= 75 for label in labels)
    assert objective_label(first).endswith("(#7)")
    assert objective_label(Objective(id=9, title="Short")) == "Short"


def test_an_unknown_objective_in_a_list_is_named_inertly() -> None:
    answer = blocks.unknown_objective("<!here> & co", [])
    assert "<!" not in answer and "&lt;!here&gt; &amp; co" in answer
    assert "`/improve objectives`" in answer


def test_home_tabs_published_together_share_the_registers_figures_not_each_persons_lists(
    engine: Engine,
) -> None:
    seed(engine, proposals_count=30, objectives_count=4)
    with session_scope(engine) as session:
        figures = home.register_figures(session=session)
        alone = home.home_content(session=session, viewer=VIEWER, steering=True)
        together = home.home_content(session=session, viewer=VIEWER, steering=True, figures=figures)
        other = home.home_content(session=session, viewer="UOTHER", steering=False, figures=figures)
    # Read once for both, the figures are what each would have read alone.
    assert [s.proposal.id for s in together.top] == [s.proposal.id for s in alone.top]
    assert together.objectives == alone.objectives
    assert together.waiting_for_decision is not None
    assert together.waiting_for_decision.total == alone.waiting_for_decision.total  # type: ignore[union-attr]
    # Each person's own lists are still their own, and only the steering group sees the queue.
    assert together.mine.total == 10 and other.mine.total == 0
    assert other.waiting_for_decision is None
    assert other.top == together.top
