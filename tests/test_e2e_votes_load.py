"""End to end: emoji votes count exactly, the card follows in a few redraws even in a burst and
under Slack's rate limit, and a reaction on a proposal that takes no votes is explained once,
on both databases."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from storage import repositories as repo
from storage.db import session_scope
from tests.botproc import PROPOSALS_CHANNEL
from tests.conftest import Stack
from tests.fakeslack import Call
from tests.test_e2e_votes import _proposal_with_card, _votes

pytestmark = pytest.mark.e2e

# Longer than the coalescer's interval between two redraws of one card: no redraw is pending.
QUIET = 2.5


@pytest.fixture(scope="module")
def objective_id(stack: Stack) -> int:
    assert stack.cli("objective", "add", "Fewer interruptions").returncode == 0
    with session_scope(stack.engine) as session:
        objective = repo.objective_by_title(session=session, title="Fewer interruptions")
        assert objective is not None and objective.id is not None
        return objective.id


def _updates(stack: Stack, ts: str, since: float = 0.0) -> list[Call]:
    return [
        c
        for c in stack.slack.calls("chat.update")
        if c.params.get("ts") == ts and c.at >= since and c.response.get("ok")
    ]


def _shown(call: Call) -> str:
    return json.dumps(call.params.get("blocks"))


def _settled_card(stack: Stack, ts: str, votes: str, since: float = 0.0) -> list[Call]:
    """Wait until the card's last update shows `votes` and no other update follows for a
    while; the updates since `since`."""
    deadline = time.monotonic() + 30
    while True:
        updates = _updates(stack, ts, since)
        quiet = updates and time.time() - updates[-1].at > QUIET
        if quiet and f":+1: {votes}" in _shown(updates[-1]):
            return updates
        assert time.monotonic() < deadline, [_shown(u)[:300] for u in updates[-3:]]
        time.sleep(0.2)


def test_three_people_one_twice_one_retried_one_other_emoji_count_two_then_one(
    stack: Stack, objective_id: int
) -> None:
    proposal_id, ts = _proposal_with_card(
        stack, objective_id, "Quiet hours for the service desk phone line", "U4QUIET"
    )
    react = stack.driver.reaction_added
    assert react("U4ANA", "+1", PROPOSALS_CHANNEL, ts).status == 200
    assert react("U4ANA", "+1", PROPOSALS_CHANNEL, ts).status == 200  # the same person again
    assert react("U4BEN", "+1", PROPOSALS_CHANNEL, ts, event_id="EvLOAD1").status == 200
    retried = react("U4BEN", "+1", PROPOSALS_CHANNEL, ts, event_id="EvLOAD1", retry_num=1)
    assert retried.status == 200
    assert react("U4CAT", "heart", PROPOSALS_CHANNEL, ts).status == 200  # not the vote emoji
    assert _votes(stack, proposal_id) == {"U4ANA", "U4BEN"}
    _settled_card(stack, ts, "2 votes")

    assert stack.driver.reaction_removed("U4ANA", "+1", PROPOSALS_CHANNEL, ts).status == 200
    assert _votes(stack, proposal_id) == {"U4BEN"}
    _settled_card(stack, ts, "1 vote")


def test_a_burst_of_fifty_votes_redraws_the_card_a_few_times_and_ends_exact(
    stack: Stack, objective_id: int
) -> None:
    proposal_id, ts = _proposal_with_card(
        stack, objective_id, "Self-service password reset for contractors", "U4BURST"
    )
    # The submitter is told once the card's delivery is over (the delivery itself redraws a
    # card that changed while it was being posted): from then on only votes redraw it.
    stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "U4BURST")
    # Slack's rate limit on the first redraw: the bot waits as told and still ends exact.
    stack.slack.fail_next("chat.update", retry_after=1, when=lambda c: c.params.get("ts") == ts)
    started = time.time()
    voters = [f"U5{n:06d}" for n in range(50)]

    def vote(user: str) -> int:
        # Like Slack: an event not answered 200 (the database busy on a loaded machine) is
        # delivered again, with the same event ID, and counts once.
        event_id = f"EvBURST{user}"
        reply = stack.driver.reaction_added(user, "+1", PROPOSALS_CHANNEL, ts, event_id=event_id)
        for attempt in (1, 2, 3):
            if reply.status == 200:
                break
            reply = stack.driver.reaction_added(
                user, "+1", PROPOSALS_CHANNEL, ts, event_id=event_id, retry_num=attempt
            )
        return reply.status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(vote, voters))
    assert statuses == [200] * 50
    assert _votes(stack, proposal_id) == set(voters)

    updates = _settled_card(stack, ts, "50 votes", since=started)
    assert len(updates) <= 10, f"{len(updates)} chat.update calls for 50 votes"
    limited = [
        c
        for c in stack.slack.calls("chat.update")
        if c.params.get("ts") == ts and c.at >= started and c.status == 429
    ]
    assert len(limited) == 1, "the rate limit was never hit"
    assert updates[0].at - limited[0].at >= 0.9  # Retry-After: 1 was respected


def _ephemerals(stack: Stack, user: str) -> list[Call]:
    return [c for c in stack.slack.calls("chat.postEphemeral") if c.params.get("user") == user]


def test_a_reaction_on_a_withdrawn_proposal_is_not_counted_and_explained_once(
    stack: Stack, objective_id: int
) -> None:
    proposal_id, ts = _proposal_with_card(
        stack, objective_id, "Shared calendar for planned maintenance", "U4MAINT"
    )
    withdrawn = stack.driver.slash_command(f"withdraw #{proposal_id}", user_id="U4MAINT")
    assert withdrawn.status == 200
    react: Any = stack.driver.reaction_added
    assert react("U4LATE", "+1", PROPOSALS_CHANNEL, ts).status == 200
    told = stack.slack.wait_for("chat.postEphemeral", lambda c: c.params.get("user") == "U4LATE")
    assert told.params["channel"] == PROPOSALS_CHANNEL
    assert "was not counted" in told.params["text"]
    assert f"#{proposal_id} was withdrawn and no longer takes votes" in told.params["text"]
    assert _votes(stack, proposal_id) == set()

    # The same person again (after taking the emoji off), and someone else.
    stack.driver.reaction_removed("U4LATE", "+1", PROPOSALS_CHANNEL, ts)
    assert react("U4LATE", "+1", PROPOSALS_CHANNEL, ts).status == 200
    assert react("U4OTHER", "thumbsup", PROPOSALS_CHANNEL, ts).status == 200
    stack.slack.wait_for("chat.postEphemeral", lambda c: c.params.get("user") == "U4OTHER")
    time.sleep(1.0)  # a second message would go out after the ack, like the first
    assert len(_ephemerals(stack, "U4LATE")) == 1
    assert _votes(stack, proposal_id) == set()
    assert "Traceback" not in stack.bot.log()
