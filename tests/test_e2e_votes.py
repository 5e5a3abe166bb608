"""End to end: votes count once, survive a failed write, follow merges and are told truthfully,
on both databases."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text

from bot.ids import ActionId, BlockId, CallbackId
from storage import repositories as repo
from storage.db import session_scope
from tests.botproc import PROPOSALS_CHANNEL
from tests.conftest import Stack
from tests.fakeslack import Call

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def objective_id(stack: Stack) -> int:
    assert stack.cli("objective", "add", "Keep the lights on").returncode == 0
    with session_scope(stack.engine) as session:
        objective = repo.objective_by_title(session=session, title="Keep the lights on")
        assert objective is not None and objective.id is not None
        return objective.id


def _form(title: str, objective_id: int) -> dict[str, Any]:
    return {
        BlockId.TITLE: {ActionId.TITLE: {"type": "plain_text_input", "value": title}},
        BlockId.OBJECTIVE: {
            ActionId.INPUT: {
                "type": "static_select",
                "selected_option": {"value": str(objective_id)},
            }
        },
    }


def _open_modal(stack: Stack, user: str) -> dict[str, Any]:
    trigger = stack.driver.trigger_id()
    assert stack.driver.slash_command("", user_id=user, trigger_id=trigger).status == 200
    call = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    return dict(call.response["view"])


def _proposal_with_card(stack: Stack, objective_id: int, title: str, user: str) -> tuple[int, str]:
    """Submit the form (nothing similar in the register) and wait for its card: (id, card ts)."""
    view = _open_modal(stack, user)
    reply = stack.driver.view_submission(
        view, user_id=user, state_values=_form(title, objective_id)
    )
    assert reply.status == 200 and not reply.body.strip(), reply.body
    card = stack.slack.wait_for(
        "chat.postMessage",
        lambda c: (
            c.params.get("channel") == PROPOSALS_CHANNEL
            and title in json.dumps(c.params.get("blocks"))
        ),
    )
    proposal_id, ts = _id_of(stack, title), str(card.response["ts"])
    deadline = time.monotonic() + 10
    while _card_ts(stack, proposal_id) != ts:  # the bot stores where it posted the card
        assert time.monotonic() < deadline, "the card's ts was never stored"
        time.sleep(0.05)
    return proposal_id, ts


def _card_ts(stack: Stack, proposal_id: int) -> str | None:
    with session_scope(stack.engine) as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        return proposal.message_ts if proposal else None


def _id_of(stack: Stack, title: str) -> int:
    with session_scope(stack.engine) as session:
        found = [p for p in repo.list_proposals(session=session) if p.title == title]
        assert len(found) == 1, [p.title for p in found]
        return found[0].id or 0


def _one_line(stack: Stack, title: str, user: str) -> int:
    reply = stack.driver.slash_command(title, user_id=user)
    assert reply.status == 200, reply.body
    return _id_of(stack, title)


def _votes(stack: Stack, proposal_id: int) -> set[str]:
    with session_scope(stack.engine) as session:
        return set(repo.voters(session=session, proposal_id=proposal_id))


def _status(stack: Stack, proposal_id: int) -> str:
    with session_scope(stack.engine) as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        assert proposal is not None
        return proposal.status


def _press_vote_instead(stack: Stack, user: str, target: int, mine: int) -> None:
    """Press the "Vote for #target instead" button rendered under the one-line proposal #mine."""
    reply = stack.driver.block_actions(
        [
            {
                "type": "button",
                "action_id": f"{ActionId.VOTE_INSTEAD}:{target}",
                "block_id": f"vote_instead:{mine}",
                "value": f"{target}:{mine}",
            }
        ],
        user_id=user,
    )
    assert reply.status == 200, reply.body


def _answer(stack: Stack, *words: str) -> Call:
    """The message the bot posted to a response_url containing every one of `words`."""
    return stack.slack.wait_for(
        "response_url", lambda c: all(w in json.dumps(c.params) for w in words)
    )


@contextmanager
def _votes_cannot_be_written(stack: Stack) -> Iterator[None]:
    """Every insert into the votes table fails (as a lock timeout would) until the block ends."""
    postgres = stack.engine.dialect.name == "postgresql"
    with stack.engine.begin() as connection:
        if postgres:
            connection.execute(
                text(
                    "CREATE OR REPLACE FUNCTION csi_test_refuse_vote() RETURNS trigger "
                    "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'votes are locked' "
                    "USING ERRCODE = 'lock_not_available'; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER csi_test_refuse_vote BEFORE INSERT ON votes "
                    "FOR EACH ROW EXECUTE FUNCTION csi_test_refuse_vote()"
                )
            )
        else:
            # A trigger that reads a missing table: every insert fails with an OperationalError.
            connection.execute(
                text(
                    "CREATE TRIGGER csi_test_refuse_vote BEFORE INSERT ON votes "
                    "BEGIN SELECT * FROM csi_test_no_such_table; END"
                )
            )
    try:
        yield
    finally:
        with stack.engine.begin() as connection:
            on = " ON votes" if postgres else ""
            connection.execute(text(f"DROP TRIGGER csi_test_refuse_vote{on}"))


def test_a_vote_whose_write_failed_is_applied_by_slacks_retry(
    stack: Stack, objective_id: int
) -> None:
    proposal_id, ts = _proposal_with_card(
        stack, objective_id, "Rotate the offsite backup tapes weekly", "U3TAPES"
    )
    with _votes_cannot_be_written(stack):
        failed = stack.driver.reaction_added("U3FAN", "+1", PROPOSALS_CHANNEL, ts, event_id="EvL1")
        # Not a 200: Slack retries an event it was not told was handled.
        assert failed.status == 503
    assert _votes(stack, proposal_id) == set()
    retried = stack.driver.reaction_added(
        "U3FAN", "+1", PROPOSALS_CHANNEL, ts, event_id="EvL1", retry_num=1
    )
    assert retried.status == 200
    assert _votes(stack, proposal_id) == {"U3FAN"}
    again = stack.driver.reaction_added(
        "U3FAN", "+1", PROPOSALS_CHANNEL, ts, event_id="EvL1", retry_num=2
    )
    assert again.status == 200 and _votes(stack, proposal_id) == {"U3FAN"}
    assert "Traceback" not in stack.bot.log()


def test_a_skin_tone_or_an_alias_is_the_same_vote(stack: Stack, objective_id: int) -> None:
    proposal_id, ts = _proposal_with_card(
        stack, objective_id, "Label every patch cable in the server room", "U3CABLES"
    )
    assert (
        stack.driver.reaction_added("U3TONE", "+1::skin-tone-2", PROPOSALS_CHANNEL, ts).status
        == 200
    )
    assert _votes(stack, proposal_id) == {"U3TONE"}
    stack.driver.reaction_added("U3TONE", "thumbsup::skin-tone-5", PROPOSALS_CHANNEL, ts)
    assert _votes(stack, proposal_id) == {"U3TONE"}
    stack.driver.reaction_removed("U3TONE", "+1", PROPOSALS_CHANNEL, ts)
    assert _votes(stack, proposal_id) == set()
    stack.driver.reaction_added("U3ALIAS", "thumbsup", PROPOSALS_CHANNEL, ts)
    assert _votes(stack, proposal_id) == {"U3ALIAS"}
    stack.driver.reaction_added("U3ALIAS", "-1", PROPOSALS_CHANNEL, ts)
    assert _votes(stack, proposal_id) == {"U3ALIAS"}


def test_the_bots_own_reaction_and_an_unreadable_one_are_no_votes(
    stack: Stack, objective_id: int
) -> None:
    proposal_id, ts = _proposal_with_card(
        stack, objective_id, "Colour-code the escalation rota by team", "U3ROTA"
    )
    assert stack.driver.reaction_added("U3ROTA", "+1", PROPOSALS_CHANNEL, ts).status == 200
    # Reaction events skip Bolt's listeners; what Bolt did for them still holds: the bot's own
    # reaction is ignored, and a reaction event that cannot be read is acknowledged quietly.
    assert stack.driver.reaction_added("UBOT", "+1", PROPOSALS_CHANNEL, ts).status == 200
    odd = {"type": "reaction_added", "user": "U3ODD", "reaction": "+1", "item": "C1/1.0"}
    assert stack.driver.event(odd).status == 200
    assert _votes(stack, proposal_id) == {"U3ROTA"}
    assert "Traceback" not in stack.bot.log()


def test_pressing_vote_instead_twice_says_the_vote_is_already_recorded(
    stack: Stack, objective_id: int
) -> None:
    target, _ = _proposal_with_card(
        stack, objective_id, "Replace the failing air conditioning unit", "U3COOL"
    )
    mine = _one_line(stack, "Fix the hot machine room climate control", "U3TWICE")
    _press_vote_instead(stack, "U3TWICE", target, mine)
    _answer(stack, "Your vote went to", f"#{target}", f"#{mine}", "was withdrawn in its favour")
    _press_vote_instead(stack, "U3TWICE", target, mine)
    second = _answer(stack, "Your vote for", f"#{target}", "is already recorded")
    assert "withdrawn in its favour" in second.params["text"]
    assert "decided" not in json.dumps(second.params)
    assert _votes(stack, target) == {"U3TWICE"}
    assert _status(stack, mine) == "withdrawn"


def test_a_stale_vote_instead_follows_the_merge(stack: Stack, objective_id: int) -> None:
    old, _ = _proposal_with_card(
        stack, objective_id, "Nightly restore test of the mail archive", "U3OLD"
    )
    new, _ = _proposal_with_card(
        stack, objective_id, "Quarterly recovery drill for messaging", "U3NEW"
    )
    mine = _one_line(stack, "Check that mail backups can really be restored", "U3STALE")
    merged = stack.driver.slash_command(f"merge #{old} into #{new}", user_id="USTEER")
    assert merged.status == 200 and _status(stack, old) == "merged"
    _press_vote_instead(stack, "U3STALE", old, mine)
    told = _answer(stack, "Your vote went to", f"#{new}")
    assert f"#{old} was merged into it" in told.params["text"]
    assert "U3STALE" in _votes(stack, new)
    assert _votes(stack, old) == set()
    assert _status(stack, mine) == "withdrawn"


def test_a_stale_vote_instead_for_a_proposal_that_takes_no_votes_withdraws_nothing(
    stack: Stack, objective_id: int
) -> None:
    old, _ = _proposal_with_card(stack, objective_id, "Tidy the shared drive folders", "U3DRIVE")
    new, _ = _proposal_with_card(stack, objective_id, "Archive unused team file shares", "U3SHARE")
    mine = _one_line(stack, "Clean up the department file server", "U3LATE")
    assert stack.driver.slash_command(f"merge #{old} into #{new}", user_id="USTEER").status == 200
    assert stack.driver.slash_command(f"withdraw #{new}", user_id="U3SHARE").status == 200
    assert _status(stack, new) == "withdrawn"
    _press_vote_instead(stack, "U3LATE", old, mine)
    refused = _answer(stack, f"#{old} was merged into #{new}", "no longer takes votes")
    assert "Your vote went" not in json.dumps(refused.params)
    assert _status(stack, mine) == "needs_objective"
    assert "U3LATE" not in _votes(stack, new) | _votes(stack, old)


def _held_choice(stack: Stack, objective_id: int, title: str, user: str) -> dict[str, Any]:
    """Submit a form like a stored proposal: the bot holds it and asks (the choice view)."""
    view = _open_modal(stack, user)
    answer = stack.driver.view_submission(
        view, user_id=user, state_values=_form(title, objective_id)
    ).json()
    assert answer["response_action"] == "update", answer
    choice = dict(answer["view"])
    assert choice["callback_id"] == CallbackId.SIMILAR_CHOICE
    return choice


def _choose(stack: Stack, choice: dict[str, Any], user: str, value: str) -> Any:
    option = next(o for o in choice["blocks"][-1]["element"]["options"] if o["value"] == value)
    return stack.driver.view_submission(
        choice,
        user_id=user,
        state_values={
            BlockId.CHOICE: {ActionId.INPUT: {"type": "radio_buttons", "selected_option": option}}
        },
    )


def test_the_similar_choice_form_follows_a_merge_and_refuses_a_closed_target(
    stack: Stack, objective_id: int
) -> None:
    first, _ = _proposal_with_card(
        stack, objective_id, "Automate printer toner reordering for every floor", "U3TONER"
    )
    second, _ = _proposal_with_card(
        stack, objective_id, "Managed print service contract", "U3PRINT"
    )
    choice = _held_choice(
        stack, objective_id, "Automate printer toner reordering on every floor", "U3FORM"
    )
    assert (
        stack.driver.slash_command(f"merge #{first} into #{second}", user_id="USTEER").status == 200
    )
    reply = _choose(stack, choice, "U3FORM", f"vote:{first}")
    assert reply.json() == {"response_action": "clear"}
    told = stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "U3FORM")
    assert (
        f"#{second}" in told.params["text"]
        and f"#{first} was merged into it" in told.params["text"]
    )
    assert "U3FORM" in _votes(stack, second)

    # The same, when the proposal it went to no longer takes votes: the form stays held.
    third, _ = _proposal_with_card(
        stack, objective_id, "Self-service laptop loan lockers in reception", "U3LOCK"
    )
    fourth, _ = _proposal_with_card(
        stack, objective_id, "Spare notebook pool for visitors", "U3POOL"
    )
    choice = _held_choice(
        stack, objective_id, "Self-service laptop loan lockers at reception", "U3FORM2"
    )
    stack.driver.slash_command(f"merge #{third} into #{fourth}", user_id="USTEER")
    stack.driver.slash_command(f"withdraw #{fourth}", user_id="U3POOL")
    refused = _choose(stack, choice, "U3FORM2", f"vote:{third}").json()
    assert refused["response_action"] == "errors"
    assert "no longer takes votes" in refused["errors"][BlockId.CHOICE]
    assert "U3FORM2" not in _votes(stack, fourth)
    stored = _choose(stack, choice, "U3FORM2", "new")
    assert stored.json() == {"response_action": "clear"}
    _id_of(stack, "Self-service laptop loan lockers at reception")
