"""End to end: `/improve top` ranks the open and approved proposals, `/improve why` explains one
score term by term, and the card, the ranking and the export show the same number, on both
databases."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest

from bot.ids import ActionId, BlockId
from storage import repositories as repo
from storage.db import session_scope
from tests.botproc import PROPOSALS_CHANNEL
from tests.conftest import Stack
from tests.test_e2e_votes import _id_of, _open_modal

pytestmark = pytest.mark.e2e


def _objective(stack: Stack, title: str, weight: str) -> int:
    assert stack.cli("objective", "add", title, "--weight", weight).returncode == 0
    with session_scope(stack.engine) as session:
        objective = repo.objective_by_title(session=session, title=title)
        assert objective is not None and objective.id is not None
        return objective.id


@pytest.fixture(scope="module")
def objectives(stack: Stack) -> tuple[int, int]:
    return _objective(stack, "Safer data", "2"), _objective(stack, "Nicer offices", "0.5")


def _propose(stack: Stack, title: str, objective_id: int, value: str, effort: str) -> int:
    """Submit the full form and wait for the card: the proposal's ID."""
    user = "U6" + format(abs(hash(title)) % 10**8, "08d")
    view = _open_modal(stack, user)
    values: dict[str, Any] = {
        BlockId.TITLE: {ActionId.TITLE: {"type": "plain_text_input", "value": title}},
        BlockId.OBJECTIVE: {
            ActionId.INPUT: {
                "type": "static_select",
                "selected_option": {"value": str(objective_id)},
            }
        },
        BlockId.VALUE: {
            ActionId.INPUT: {"type": "static_select", "selected_option": {"value": value}}
        },
        BlockId.EFFORT: {ActionId.INPUT: {"type": "plain_text_input", "value": effort}},
    }
    reply = stack.driver.view_submission(view, user_id=user, state_values=values)
    assert reply.status == 200 and not reply.body.strip(), reply.body
    proposal_id = _id_of(stack, title)
    deadline = time.monotonic() + 10
    while not _permalink(stack, proposal_id):
        assert time.monotonic() < deadline, "the card was never posted"
        time.sleep(0.05)
    return proposal_id


def _permalink(stack: Stack, proposal_id: int) -> str | None:
    with session_scope(stack.engine) as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        assert proposal is not None
        return proposal.permalink if proposal.message_ts else None


def _ts(stack: Stack, proposal_id: int) -> str:
    with session_scope(stack.engine) as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        assert proposal is not None and proposal.message_ts
        return proposal.message_ts


def _say(stack: Stack, text: str) -> str:
    reply = stack.driver.slash_command(text, user_id="U6ASKER")
    assert reply.status == 200, reply.body
    try:
        return str(reply.json()["text"])
    except ValueError:  # an answer of text alone comes as the body itself
        return str(reply.body)


def _card_text(stack: Stack, ts: str, expected: str) -> str:
    """The card's latest content once it contains `expected`."""
    deadline = time.monotonic() + 15
    while True:
        message = stack.slack.messages.get((PROPOSALS_CHANNEL, ts), {})
        shown = json.dumps(message.get("blocks"), ensure_ascii=False)
        if expected in shown:
            return shown
        assert time.monotonic() < deadline, shown[-400:]
        time.sleep(0.1)


def test_top_ranks_by_the_documented_score_and_why_explains_it(
    stack: Stack, objectives: tuple[int, int]
) -> None:
    data, offices = objectives
    backups = _propose(stack, "Encrypt the offsite backup copies", data, "5", "S")
    chairs = _propose(stack, "Standing desks for the open-plan office", offices, "4", "2d")
    paging = _propose(stack, "Escalation rota for database alerts", data, "3", "XL")
    # Votes lift the rota; a vote with another emoji does not.
    ts = _ts(stack, paging)
    for user in ("U6V1", "U6V2", "U6V3"):
        stack.driver.reaction_added(user, "+1", PROPOSALS_CHANNEL, ts)
    stack.driver.reaction_added("U6V4", "heart", PROPOSALS_CHANNEL, ts)
    # The formula, worked out by hand: weight x value x (1 + ln(1 + votes)) / sqrt(days).
    expected = {
        backups: round(2 * 5 * 1 / math.sqrt(2), 3),  # 7.071
        chairs: round(0.5 * 4 * 1 / math.sqrt(2), 3),  # 1.414
        paging: round(2 * 3 * (1 + math.log(4)) / math.sqrt(40), 3),  # 2.264
    }

    top = _say(stack, "top")
    lines = [line for line in top.splitlines() if line[:1].isdigit()]
    order = [next(pid for pid in expected if f"#{pid} " in line) for line in lines]
    assert order == [backups, paging, chairs]
    for pid, line in zip(order, lines, strict=True):
        assert f"*{expected[pid]:g}*" in line
        assert f"<{_permalink(stack, pid)}|#{pid} " in line  # linked to its card
    assert ":+1: 3 votes" in lines[1]
    only_one = _say(stack, "top 1")
    assert f"#{backups} " in only_one and f"#{paging} " not in only_one

    why = _say(stack, f"why #{paging}")
    assert f"Priority of <{_permalink(stack, paging)}|#{paging} " in why
    assert "objective weight: 2 (objective: Safer data)" in why
    assert "value: 3" in why and "3 votes" in why and "40 person-days" in why
    assert f"= {expected[paging]:g}" in why
    assert "Formula: `priority = objective weight x value x (1 + ln(1 + votes))" in why
    assert "It ranks 2 of the 3 open or approved proposals." in why

    # The same number on the card and in the export.
    _card_text(stack, ts, f":+1: 3 votes · priority {expected[paging]:g}")
    exported = stack.cli("export", "--format", "json")
    assert exported.returncode == 0, exported.stderr
    rows = {row["id"]: row for row in json.loads(exported.stdout)}
    assert {pid: rows[pid]["priority"] for pid in expected} == expected


def test_why_of_an_unknown_or_closed_proposal_says_so(
    stack: Stack, objectives: tuple[int, int]
) -> None:
    assert "#99999 does not exist" in _say(stack, "why #99999")
    data, _ = objectives
    gone = _propose(stack, "Retire the fax gateway completely", data, "2", "M")
    submitter = "U6" + format(abs(hash("Retire the fax gateway completely")) % 10**8, "08d")
    assert stack.driver.slash_command(f"withdraw #{gone}", user_id=submitter).status == 200
    why = _say(stack, f"why {gone}")
    assert f"It is not ranked: #{gone} was withdrawn" in why
    assert f"#{gone} " not in _say(stack, "top 25")
    assert "`/improve top` takes one number" in _say(stack, "top 3 4")
