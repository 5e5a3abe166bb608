"""End to end: crafted payloads and repeated requests get a clean answer, never a 500, on both
databases.

Signed requests can still carry anything (a replayed old form, a hand-made request, a shape
Slack changes): each value is read in one place and refused in words the person understands.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select

from bot.ids import ActionId, BlockId, CallbackId
from storage import repositories as repo
from storage.db import session_scope
from storage.models import PendingDraft
from tests.conftest import Stack
from tests.fakeslack import Call

pytestmark = pytest.mark.e2e

UNREADABLE = "could not be read"


@pytest.fixture(scope="module")
def objective_id(stack: Stack) -> int:
    assert stack.cli("objective", "add", "Fewer incidents").returncode == 0
    with session_scope(stack.engine) as session:
        objective = repo.objective_by_title(session=session, title="Fewer incidents")
        assert objective is not None and objective.id is not None
        return objective.id


@pytest.fixture(autouse=True)
def _no_traceback(stack: Stack) -> Any:
    """Whatever a test sends, the bot's log never shows a traceback."""
    yield
    assert "Traceback" not in stack.bot.log(), stack.bot.log()[-3000:]


def _form(title: str, objective_id: int | str | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        BlockId.TITLE: {ActionId.TITLE: {"type": "plain_text_input", "value": title}}
    }
    if objective_id is not None:
        values[BlockId.OBJECTIVE] = {
            ActionId.INPUT: {
                "type": "static_select",
                "selected_option": {"value": str(objective_id)},
            }
        }
    return values


def _open_modal(stack: Stack, user: str) -> dict[str, Any]:
    trigger = stack.driver.trigger_id()
    assert stack.driver.slash_command("", user_id=user, trigger_id=trigger).status == 200
    call = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    return dict(call.response["view"])


def _titled(stack: Stack, title: str) -> list[int]:
    with session_scope(stack.engine) as session:
        return [p.id or 0 for p in repo.list_proposals(session=session) if p.title == title]


def _wait_for_permalink(stack: Stack, title: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        with session_scope(stack.engine) as session:
            found = [p for p in repo.list_proposals(session=session) if p.title == title]
        if found and found[0].permalink:
            return
        assert time.monotonic() < deadline, f"{title!r} got no card"
        time.sleep(0.05)


def _said(stack: Stack, *words: str) -> Call:
    return stack.slack.wait_for(
        "response_url", lambda c: all(w in json.dumps(c.params) for w in words)
    )


def _block_action(stack: Stack, action: Any, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U4CRAFT", "team_id": "T0001"},
        "team": {"id": "T0001"},
        "api_app_id": "A0001",
        "trigger_id": stack.driver.trigger_id(),
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": "C0001"},
        "channel": {"id": "C0001"},
        "response_url": stack.driver.response_url(),
        "actions": [action] if isinstance(action, dict) else action,
    }
    payload.update(fields)
    return payload


def _view_submission(view: Any, user: Any = "U4CRAFT") -> dict[str, Any]:
    return {
        "type": "view_submission",
        "user": {"id": user, "team_id": "T0001"},
        "team": {"id": "T0001"},
        "api_app_id": "A0001",
        "view": view,
    }


def _modal(callback_id: str, **fields: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": "V4CRAFTED",
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": "",
        "hash": "1.x",
        "blocks": [{"type": "input", "block_id": BlockId.TITLE, "element": {}}],
        "state": {"values": _form("A crafted proposal", None)},
    }
    view.update(fields)
    return view


# ---- item 3: every crafted value is refused cleanly ----------------------------------------------


@pytest.mark.parametrize(
    ("case", "view"),
    [
        ("metadata not JSON", _modal(CallbackId.PROPOSAL, private_metadata="{oops")),
        ("metadata a list", _modal(CallbackId.PROPOSAL, private_metadata="[1]")),
        (
            "20-digit proposal",
            _modal(CallbackId.PROPOSAL, private_metadata=json.dumps({"proposal_id": "9" * 20})),
        ),
        (
            "superscript proposal",
            _modal(CallbackId.PROPOSAL, private_metadata=json.dumps({"proposal_id": "²"})),
        ),
        ("state null", _modal(CallbackId.PROPOSAL, state=None)),
        (
            "value not a string",
            _modal(
                CallbackId.PROPOSAL,
                state={"values": {BlockId.TITLE: {ActionId.TITLE: {"type": "x", "value": 7}}}},
            ),
        ),
        ("choice metadata a list", _modal(CallbackId.SIMILAR_CHOICE, private_metadata="[]")),
    ],
)
def test_a_crafted_form_gets_an_error_in_the_modal(stack: Stack, case: str, view: Any) -> None:
    reply = stack.driver.interactive(_view_submission(view))
    assert reply.status == 200, (case, reply.status, reply.body)
    answer = reply.json()
    assert answer["response_action"] == "errors"
    assert UNREADABLE in answer["errors"][BlockId.TITLE]


@pytest.mark.parametrize(
    ("case", "choice"),
    [("superscript", "vote:²"), ("20 digits", "vote:" + "9" * 20), ("unknown", "maybe")],
)
def test_a_crafted_similar_choice_is_refused_under_the_choice(
    stack: Stack, case: str, choice: str
) -> None:
    view = _modal(
        CallbackId.SIMILAR_CHOICE,
        private_metadata=json.dumps({"pending": "k" * 20}),
        state={
            "values": {
                BlockId.CHOICE: {
                    ActionId.INPUT: {"type": "radio_buttons", "selected_option": {"value": choice}}
                }
            }
        },
    )
    reply = stack.driver.interactive(_view_submission(view))
    assert reply.status == 200, (case, reply.body)
    assert reply.json()["response_action"] == "errors"
    assert BlockId.CHOICE in reply.json()["errors"]


def test_a_form_from_an_unreadable_user_is_refused_in_the_modal(stack: Stack) -> None:
    reply = stack.driver.interactive(_view_submission(_modal(CallbackId.PROPOSAL), user=5))
    assert reply.status == 200 and reply.json()["response_action"] == "errors"


@pytest.mark.parametrize(
    ("case", "action", "words"),
    [
        (
            "superscript vote",
            {"action_id": f"{ActionId.VOTE_INSTEAD}:1", "value": "²:1"},
            "is not a proposal number",
        ),
        (
            "20-digit vote",
            {"action_id": f"{ActionId.VOTE_INSTEAD}:1", "value": "1:" + "9" * 20},
            "is not a proposal number",
        ),
        (
            "superscript objective question",
            {
                "action_id": ActionId.CHOOSE_OBJECTIVE,
                "block_id": "objective:²",
                "selected_option": {"value": "1"},
            },
            "is not a proposal number",
        ),
        (
            "objective not a string",
            {
                "action_id": ActionId.CHOOSE_OBJECTIVE,
                "block_id": "objective:1",
                "selected_option": {"value": 1},
            },
            UNREADABLE,
        ),
        (
            "details of a huge number",
            {"action_id": ActionId.ADD_DETAILS, "value": "9" * 20},
            "is not",
        ),
        ("action id not a string", {"action_id": 5}, UNREADABLE),
    ],
)
def test_a_crafted_button_gets_an_ephemeral_refusal(
    stack: Stack, case: str, action: dict[str, Any], words: str
) -> None:
    payload = _block_action(stack, {"type": "button", "block_id": "b0", **action})
    reply = stack.driver.interactive(payload)
    assert reply.status == 200, (case, reply.status, reply.body)
    told = _said(stack, payload["response_url"].split("/hooks")[-1], words)
    assert told.params.get("response_type") == "ephemeral"


def test_actions_as_an_object_are_refused_on_the_response_url(stack: Stack) -> None:
    payload = _block_action(stack, None, actions={"action_id": ActionId.DISCARD, "value": "1"})
    reply = stack.driver.interactive(payload)
    assert reply.status == 200, reply.body
    _said(stack, payload["response_url"].split("/hooks")[-1], UNREADABLE)


def _quiet(stack: Stack, event: Any) -> None:
    before = len(stack.slack.calls())
    reply = stack.driver.event_body(
        {
            "type": "event_callback",
            "event_id": "Ev" + secrets.token_hex(6).upper(),
            "team_id": "T0001",
            "api_app_id": "A0001",
            "event": event,
        }
    )
    assert reply.status == 200, reply.body
    assert [c.method for c in stack.slack.calls()[before:]] == []


def test_crafted_events_get_a_quiet_200_and_one_log_line(stack: Stack) -> None:
    lines = stack.bot.log().count("refused an unreadable event_callback request")
    _quiet(stack, {"type": "app_home_opened", "tab": "home", "channel": "D1"})
    _quiet(stack, {"type": "reaction_added", "user": "U1", "reaction": "+1", "item": "C1/1.0"})
    _quiet(stack, {"type": "reaction_removed", "user": ["U1"], "reaction": "+1", "item": {}})
    _quiet(stack, {"type": "message", "user": "U1", "text": 5, "channel": "C1", "ts": "1.0"})
    assert stack.bot.log().count("refused an unreadable event_callback request") == lines + 4


def test_a_slash_command_with_a_superscript_proposal_number_is_refused(stack: Stack) -> None:
    reply = stack.driver.slash_command("merge #1 into #²", user_id="USTEER")
    assert reply.status == 200
    assert "digits" in reply.body and "Merged" not in reply.body


def test_a_slash_command_without_a_user_is_refused_in_words(stack: Stack) -> None:
    body = stack.driver.slash_command_body("a title").replace(b"user_id=", b"user_ident=")
    reply = stack.driver.post(body)
    assert reply.status == 200
    assert UNREADABLE in reply.json()["text"]


# ---- item 8: the same request several times at once --------------------------------------------


def test_eight_copies_of_one_form_store_one_proposal_and_answer_alike(
    stack: Stack, objective_id: int
) -> None:
    title = "Decommission the unused FTP gateway"
    view = _open_modal(stack, "U4COPIES")
    body = stack.driver.body_of(
        lambda d: d.view_submission(
            view, user_id="U4COPIES", state_values=_form(title, objective_id)
        )
    )
    replies = stack.driver.at_once(body, 8)
    assert [r.status for r in replies] == [200] * 8, [r.body for r in replies]
    assert len({r.body for r in replies}) == 1
    assert len(_titled(stack, title)) == 1
    stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "U4COPIES")


def test_eight_copies_of_a_held_form_hold_it_once_and_answer_alike(
    stack: Stack, objective_id: int
) -> None:
    first = _open_modal(stack, "U4ORIGINAL")
    stack.driver.view_submission(
        first,
        user_id="U4ORIGINAL",
        state_values=_form("Central log retention policy", objective_id),
    )
    _wait_for_permalink(stack, "Central log retention policy")  # the copies see one register
    view = _open_modal(stack, "U4HELD")
    body = stack.driver.body_of(
        lambda d: d.view_submission(
            view,
            user_id="U4HELD",
            state_values=_form("Central log retention policies", objective_id),
        )
    )
    replies = stack.driver.at_once(body, 8)
    assert [r.status for r in replies] == [200] * 8, [r.body for r in replies]
    assert len({r.body for r in replies}) == 1
    choice = replies[0].json()
    assert choice["response_action"] == "update"
    with session_scope(stack.engine) as session:
        held = [d for d in session.exec(select(PendingDraft)) if d.user_id == "U4HELD"]
    assert len(held) == 1

    # Eight copies of "submit anyway" store it once and all close the form.
    chosen = choice["view"]
    option = next(o for o in chosen["blocks"][-1]["element"]["options"] if o["value"] == "new")
    body = stack.driver.body_of(
        lambda d: d.view_submission(
            dict(chosen, id=view["id"]),
            user_id="U4HELD",
            state_values={
                BlockId.CHOICE: {
                    ActionId.INPUT: {"type": "radio_buttons", "selected_option": option}
                }
            },
        )
    )
    replies = stack.driver.at_once(body, 8)
    assert [r.status for r in replies] == [200] * 8, [r.body for r in replies]
    assert {r.body for r in replies} == {json.dumps({"response_action": "clear"})}
    assert len(_titled(stack, "Central log retention policies")) == 1


def test_eight_copies_of_a_slash_command_store_one_proposal(
    stack: Stack, objective_id: int
) -> None:
    title = "Publish the on-call rota in the intranet"
    body = stack.driver.slash_command_body(title, user_id="U4SLASH")
    replies = stack.driver.at_once(body, 8)
    assert [r.status for r in replies] == [200] * 8, [r.body for r in replies]
    assert len({r.body for r in replies}) == 1, {r.body for r in replies}
    assert len(_titled(stack, title)) == 1


def test_eight_copies_of_a_button_press_vote_once(stack: Stack, objective_id: int) -> None:
    view = _open_modal(stack, "U4TARGET")
    stack.driver.view_submission(
        view,
        user_id="U4TARGET",
        state_values=_form("Spare disks for the storage array", objective_id),
    )
    (target,) = _titled(stack, "Spare disks for the storage array")
    stack.driver.slash_command("Keep replacement hard drives in stock", user_id="U4PRESS")
    (mine,) = _titled(stack, "Keep replacement hard drives in stock")
    action = {
        "type": "button",
        "action_id": f"{ActionId.VOTE_INSTEAD}:{target}",
        "block_id": f"vote_instead:{mine}",
        "value": f"{target}:{mine}",
    }
    body = stack.driver.body_of(lambda d: d.block_actions([action], user_id="U4PRESS"))
    replies = stack.driver.at_once(body, 8)
    assert [r.status for r in replies] == [200] * 8, [r.body for r in replies]
    with session_scope(stack.engine) as session:
        assert repo.voters(session=session, proposal_id=target) == ["U4PRESS"]
        withdrawn = repo.get_proposal(session=session, proposal_id=mine)
        assert withdrawn is not None and withdrawn.status == "withdrawn"
        entries = [e for e in repo.history(session=session, proposal_id=mine) if e.to_status]
    assert [e.to_status for e in entries].count("withdrawn") >= 1


# ---- a failure before the ack is answered, not a 500 ---------------------------------------------


@contextmanager
def _inserts_fail(stack: Stack, table: str) -> Iterator[None]:
    """Every insert into `table` fails as a lock timeout would, until the block ends."""
    postgres = stack.engine.dialect.name == "postgresql"
    with stack.engine.begin() as connection:
        if postgres:
            connection.execute(
                text(
                    "CREATE OR REPLACE FUNCTION csi_test_refuse() RETURNS trigger "
                    "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'locked' "
                    "USING ERRCODE = 'lock_not_available'; END $$"
                )
            )
            connection.execute(
                text(
                    f"CREATE TRIGGER csi_test_refuse BEFORE INSERT ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION csi_test_refuse()"
                )
            )
        else:
            connection.execute(
                text(
                    f"CREATE TRIGGER csi_test_refuse BEFORE INSERT ON {table} "
                    "BEGIN SELECT * FROM csi_test_no_such_table; END"
                )
            )
    try:
        yield
    finally:
        with stack.engine.begin() as connection:
            connection.execute(
                text(f"DROP TRIGGER csi_test_refuse{' ON ' + table if postgres else ''}")
            )


def test_a_database_failure_before_the_ack_is_told_and_stores_nothing(
    stack: Stack, objective_id: int
) -> None:
    title = "Document the firewall change procedure"
    view = _open_modal(stack, "U4FAULT")
    with _inserts_fail(stack, "proposals"):
        reply = stack.driver.view_submission(
            view, user_id="U4FAULT", state_values=_form(title, objective_id)
        )
        assert reply.status == 200, reply.body
        answer = reply.json()
        assert answer["response_action"] == "errors"
        assert "nothing was changed" in answer["errors"][BlockId.TITLE]
        line = stack.driver.slash_command("Document the VPN change procedure", user_id="U4FAULT")
        assert line.status == 200 and "nothing was changed" in line.body
    assert _titled(stack, title) == []
    assert _titled(stack, "Document the VPN change procedure") == []
    # Once the database answers again, the same form is stored.
    assert (
        stack.driver.view_submission(
            view, user_id="U4FAULT", state_values=_form(title, objective_id)
        ).status
        == 200
    )
    assert len(_titled(stack, title)) == 1


def test_eight_copies_of_an_edit_are_recorded_once(stack: Stack, objective_id: int) -> None:
    title = "Rename the shared printers after their rooms"
    assert stack.driver.slash_command(title, user_id="U4EDIT").status == 200
    (proposal_id,) = _titled(stack, title)
    view = _modal(
        CallbackId.PROPOSAL,
        id="V4EDITFORM",
        private_metadata=json.dumps({"proposal_id": proposal_id}),
        state={"values": _form(title, objective_id)},
    )
    body = stack.driver.body_of(lambda d: d.interactive(_view_submission(view, user="U4EDIT")))
    replies = stack.driver.at_once(body, 8)
    assert [r.status for r in replies] == [200] * 8, [r.body for r in replies]
    assert len({r.body for r in replies}) == 1
    stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "U4EDIT")
    time.sleep(0.5)
    with session_scope(stack.engine) as session:
        edits = [
            e
            for e in repo.history(session=session, proposal_id=proposal_id)
            if e.action == "edited"
        ]
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
    assert proposal is not None and proposal.status == "open"
    told = [c for c in stack.slack.calls("chat.postMessage") if c.params.get("channel") == "U4EDIT"]
    # Copies apply the edit one by one (row lock, one writer): the later ones change nothing.
    assert len(edits) == 1 and len(told) == 1, (len(edits), len(told))
