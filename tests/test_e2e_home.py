"""End to end: the App Home tab, `/improve list` filters and objectives managed from Slack and the
CLI, through the running bot and the fake Slack, on both databases.

The module's tests share one bot and run in order; the last one fills the register with
thousands of proposals.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from bot.ids import ActionId, BlockId, CallbackId, ObjectiveBlockId
from storage import repositories as repo
from storage.db import session_scope
from tests.conftest import Stack
from tests.fakeslack import Call
from tests.test_home import VIEWER, seed

pytestmark = pytest.mark.e2e

STEERING = "USTEER"  # CSI_STEERING_MEMBERS of the stack
CONTRIBUTOR = "U0HOME"


def _objective_id(stack: Stack, title: str) -> int:
    with session_scope(stack.engine) as session:
        found = repo.objective_by_title(session=session, title=title)
        assert found is not None and found.id is not None
        return found.id


def _home(stack: Stack, user: str) -> dict[str, Any]:
    """Open the Home tab as `user`; the view the bot publishes for it."""
    before = len(stack.slack.calls("views.publish"))
    reply = stack.driver.app_home_opened(user)
    assert reply.status == 200
    deadline = time.monotonic() + 20
    while True:
        fresh = [
            c
            for c in stack.slack.calls("views.publish")[before:]
            if c.params.get("user_id") == user
        ]
        if fresh:
            assert not fresh[0].refused, fresh[0].response
            return dict(fresh[0].params["view"])
        assert time.monotonic() < deadline, "the Home tab was not published"
        time.sleep(0.05)


def _text(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False)


def _submit_form(stack: Stack, user: str, title: str, objective_id: int, **more: str) -> None:
    trigger = stack.driver.trigger_id()
    stack.driver.slash_command("", user_id=user, trigger_id=trigger)
    opened = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    values: dict[str, Any] = {
        BlockId.TITLE: {ActionId.TITLE: title},
        BlockId.OBJECTIVE: {
            ActionId.INPUT: {
                "type": "static_select",
                "selected_option": {"value": str(objective_id)},
            }
        },
    }
    for block, text in more.items():
        values[block] = {ActionId.INPUT: text}
    reply = stack.driver.view_submission(opened.response["view"], user_id=user, state_values=values)
    assert reply.status == 200, reply.body


def _click(stack: Stack, view: dict[str, Any], action: dict[str, Any], user: str) -> str:
    """Click on the Home tab; the trigger_id, to find the modal it opens."""
    trigger = stack.driver.trigger_id()
    reply = stack.driver.block_actions(
        [action], user_id=user, view={**view, "id": "VHOME01"}, trigger_id=trigger
    )
    assert reply.status == 200, reply.body
    return trigger


def _opened(stack: Stack, trigger: str) -> dict[str, Any]:
    call = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    assert not call.refused, call.response
    return dict(call.response["view"])


def _objective_form(title: str, weight: str, *, retire: bool = False) -> dict[str, Any]:
    values: dict[str, Any] = {
        ObjectiveBlockId.TITLE: {ActionId.INPUT: title},
        ObjectiveBlockId.WEIGHT: {ActionId.INPUT: weight},
    }
    if retire:
        values[ObjectiveBlockId.RETIRE] = {
            ActionId.INPUT: {"type": "radio_buttons", "selected_option": {"value": "retire"}}
        }
    return values


@pytest.fixture(scope="module")
def objective(stack: Stack) -> int:
    result = stack.cli("objective", "add", "Fewer outages", "--weight", "2")
    assert result.returncode == 0, result.stderr
    return _objective_id(stack, "Fewer outages")


def test_after_submitting_the_home_tab_shows_the_proposal_and_the_objectives(
    stack: Stack, objective: int
) -> None:
    _submit_form(stack, CONTRIBUTOR, "Automate TLS certificate renewal", objective)
    # The submitter's Home tab is refreshed after the form, and shows it when opened.
    refreshed = stack.slack.wait_for(
        "views.publish",
        lambda c: (
            c.params.get("user_id") == CONTRIBUTOR
            and "Automate TLS certificate renewal" in _text(c.params["view"])
        ),
    )
    assert not refreshed.refused
    view = _home(stack, CONTRIBUTOR)
    text = _text(view)
    assert "Automate TLS certificate renewal" in text and "Fewer outages" in text
    assert "1 proposal" in text  # the objective with how many proposals serve it
    assert "Propose an improvement" in text
    assert "Waiting for decision" not in text and "New objective" not in text
    steering = _text(_home(stack, STEERING))
    assert "Waiting for decision" in steering and "Automate TLS certificate renewal" in steering
    assert "New objective" in steering


def test_the_home_buttons_open_the_form_and_only_steering_members_manage_objectives(
    stack: Stack, objective: int
) -> None:
    view = _home(stack, CONTRIBUTOR)
    trigger = _click(stack, view, {"action_id": ActionId.PROPOSE_FROM_HOME}, CONTRIBUTOR)
    assert _opened(stack, trigger)["callback_id"] == CallbackId.PROPOSAL

    # A contributor's crafted click and crafted submission are refused on the server.
    trigger = _click(stack, view, {"action_id": ActionId.ADD_OBJECTIVE}, CONTRIBUTOR)
    refusal = _opened(stack, trigger)
    assert "Only the steering group" in _text(refusal)
    assert refusal.get("callback_id") != CallbackId.OBJECTIVE
    crafted = stack.driver.view_submission(
        {
            "callback_id": CallbackId.OBJECTIVE,
            "private_metadata": json.dumps({"objective_id": None}),
        },
        user_id=CONTRIBUTOR,
        state_values=_objective_form("Be nicer to each other", "3"),
    )
    assert "Only the steering group" in crafted.json()["errors"][ObjectiveBlockId.TITLE]
    crafted_edit = stack.driver.view_submission(
        {
            "callback_id": CallbackId.OBJECTIVE,
            "private_metadata": json.dumps({"objective_id": objective}),
        },
        user_id=CONTRIBUTOR,
        state_values=_objective_form("Fewer outages", "1", retire=True),
    )
    assert crafted_edit.json()["response_action"] == "errors"
    picked = stack.driver.block_suggestion(ActionId.MANAGE_OBJECTIVE, "", user_id=CONTRIBUTOR)
    assert picked.json() == {"options": []}
    listed = stack.cli("objective", "list").stdout
    assert "Be nicer" not in listed and "Fewer outages\tweight 2" in listed


def test_steering_adds_edits_and_retires_an_objective_from_the_home_tab(
    stack: Stack, objective: int
) -> None:
    view = _home(stack, STEERING)
    trigger = _click(stack, view, {"action_id": ActionId.ADD_OBJECTIVE}, STEERING)
    modal = _opened(stack, trigger)
    assert modal["callback_id"] == CallbackId.OBJECTIVE
    for _ in range(2):  # a copy of the same submission adds it once
        reply = stack.driver.view_submission(
            modal, user_id=STEERING, state_values=_objective_form("Happier service desk", "1.5")
        )
        assert reply.json()["response_action"] == "update", reply.body
    assert stack.cli("objective", "list").stdout.count("Happier service desk") == 1
    happier = _objective_id(stack, "Happier service desk")
    stack.slack.wait_for(
        "views.publish",
        lambda c: (
            c.params.get("user_id") == STEERING
            and "Happier service desk" in _text(c.params["view"])
        ),
    )

    # Edit: the select searches as you type, then opens the modal filled in.
    found = stack.driver.block_suggestion(ActionId.MANAGE_OBJECTIVE, "happier", user_id=STEERING)
    assert [o["value"] for o in found.json()["options"]] == [str(happier)]
    trigger = _click(
        stack,
        view,
        {
            "type": "external_select",
            "action_id": ActionId.MANAGE_OBJECTIVE,
            "selected_option": {"value": str(happier), "text": {"type": "plain_text", "text": "x"}},
        },
        STEERING,
    )
    modal = _opened(stack, trigger)
    assert "Happier service desk" in _text(modal)
    reply = stack.driver.view_submission(
        modal, user_id=STEERING, state_values=_objective_form("Happier service desk", "0")
    )
    assert "greater than 0" in reply.json()["errors"][ObjectiveBlockId.WEIGHT]
    reply = stack.driver.view_submission(
        modal, user_id=STEERING, state_values=_objective_form("A happier service desk", "4")
    )
    assert reply.json()["response_action"] == "update"
    assert "A happier service desk\tweight 4" in stack.cli("objective", "list").stdout

    # Retire: the submitter of an open proposal serving it is asked to choose again.
    _submit_form(stack, "U0RETIRE", "Publish the service desk queue times", happier)
    card = stack.slack.wait_for(
        "chat.postMessage", lambda c: "Publish the service desk queue times" in _text(c.params)
    )
    assert card
    reply = stack.driver.view_submission(
        modal,
        user_id=STEERING,
        state_values=_objective_form("A happier service desk", "4", retire=True),
    )
    said = _text(reply.json())
    assert "Retired the objective" in said and "1 open proposal served it" in said
    notice = stack.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("channel") == "U0RETIRE" and "retired" in _text(c.params),
    )
    assert not notice.refused
    assert "Publish the service desk queue times" in _text(notice.params)
    select = next(
        b for b in notice.params["blocks"] if b.get("block_id", "").startswith("objective:")
    )
    # Chosen again from the message: the proposal serves the other objective.
    stack.driver.block_actions(
        [
            {
                "type": "static_select",
                "action_id": ActionId.CHOOSE_OBJECTIVE,
                "block_id": select["block_id"],
                "selected_option": {
                    "value": str(objective),
                    "text": {"type": "plain_text", "text": "x"},
                },
            }
        ],
        user_id="U0RETIRE",
    )
    stack.slack.wait_for(
        "response_url",
        lambda c: "now serves" in _text(c.params) and "Fewer outages" in _text(c.params),
    )
    listed = stack.cli("objective", "list").stdout
    assert "happier" not in listed.lower()
    # A second retire (the same form again) messages nobody twice.
    before = len(stack.slack.calls("chat.postMessage"))
    reply = stack.driver.view_submission(
        modal,
        user_id=STEERING,
        state_values=_objective_form("A happier service desk", "4", retire=True),
    )
    assert reply.status == 200
    assert [
        c
        for c in stack.slack.calls("chat.postMessage")[before:]
        if c.params.get("channel") == "U0RETIRE"
    ] == []


def test_objective_edit_and_retire_from_the_command_line(stack: Stack, objective: int) -> None:
    added = stack.cli("objective", "add", "Cheaper licences")
    assert added.returncode == 0, added.stderr
    cheaper = _objective_id(stack, "Cheaper licences")
    edited = stack.cli(
        "objective", "edit", str(cheaper), "--weight", "3", "--title", "Cheaper software"
    )
    assert edited.returncode == 0, edited.stderr
    assert "Cheaper software\tweight 3" in stack.cli("objective", "list").stdout
    bad = stack.cli("objective", "edit", str(cheaper), "--weight", "0")
    assert bad.returncode != 0 and "greater than 0" in bad.stderr + bad.stdout
    missing = stack.cli("objective", "edit", "999999", "--weight", "2")
    assert missing.returncode == 1 and "does not exist" in missing.stdout
    retired = stack.cli("objective", "retire", str(cheaper), "--no-notify")
    assert retired.returncode == 0 and "Retired objective" in retired.stdout
    again = stack.cli("objective", "retire", str(cheaper))
    assert again.returncode == 0 and "already retired" in again.stdout
    assert "Cheaper software" not in stack.cli("objective", "list").stdout


def test_list_filters_answer_with_a_compact_list_and_permalinks(
    stack: Stack, objective: int
) -> None:
    mine = _answer(stack, "list mine", CONTRIBUTOR)
    assert "Your proposals, newest first" in mine
    assert re.search(r"<https://[^|>]+\|#\d+ Automate TLS certificate renewal>", mine)
    fewer = _answer(stack, "list fewer outages")
    assert "Automate TLS certificate renewal" in fewer and "Publish the service desk" in fewer
    assert "Proposals serving “Fewer outages”" in fewer
    opened = _answer(stack, "list open")
    assert "Open proposals, highest priority first" in opened
    assert "No proposal is approved right now." in _answer(stack, "list approved")
    unknown = _answer(stack, "list <!here>")
    assert "No active objective is called" in unknown and "<!here>" not in unknown


def _answer(stack: Stack, text: str, user: str = CONTRIBUTOR) -> str:
    """A command's answer, which only its sender sees: plain text (Slack's default for a
    command is ephemeral) or JSON that says so."""
    reply = stack.driver.slash_command(text, user_id=user)
    assert reply.status == 200, reply.body
    try:
        answer = reply.json()
    except ValueError:
        return reply.body
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    return str(answer["text"])


def test_a_proposal_waiting_for_its_objective_is_answered_on_the_home_tab(
    stack: Stack, objective: int
) -> None:
    stack.driver.slash_command("Shorten the laptop setup checklist", user_id="U0WAIT")
    view = _home(stack, "U0WAIT")
    assert "Waiting for your answer" in _text(view)
    select = next(b for b in view["blocks"] if b.get("block_id", "").startswith("objective:"))
    earlier = {id(c) for c in stack.slack.calls("views.publish")}
    option = {"value": str(objective), "text": {"type": "plain_text", "text": "Fewer outages"}}
    _click(
        stack,
        view,
        {
            "type": "static_select",
            "action_id": ActionId.CHOOSE_OBJECTIVE,
            "block_id": select["block_id"],
            "selected_option": option,
        },
        "U0WAIT",
    )
    stack.slack.wait_for(
        "chat.postMessage", lambda c: "Shorten the laptop setup checklist" in _text(c.params)
    )
    # The tab is published again without the question: the proposal is open now.
    refreshed = stack.slack.wait_for(
        "views.publish",
        lambda c: c.params.get("user_id") == "U0WAIT" and id(c) not in earlier,
    )
    assert "Waiting for your answer" not in _text(refreshed.params["view"])
    assert "Shorten the laptop setup checklist · Open" in _text(refreshed.params["view"])


def test_the_150th_objective_is_choosable_in_the_form_and_in_the_question(
    stack: Stack, objective: int
) -> None:
    with session_scope(stack.engine) as session:
        from bot import objectives

        for n in range(150):
            objectives.add_objective(session=session, title=f"Goal {n:03d} " + "g" * 80)
    last = _objective_id(stack, "Goal 149 " + "g" * 80)
    # The form: a select that searches as you type finds it.
    trigger = stack.driver.trigger_id()
    stack.driver.slash_command("", user_id="U0MANY", trigger_id=trigger)
    form = _opened(stack, trigger)
    element = next(b for b in form["blocks"] if b.get("block_id") == BlockId.OBJECTIVE)["element"]
    assert element["type"] == "external_select"
    found = stack.driver.block_suggestion(
        ActionId.INPUT, "goal 149", block_id=BlockId.OBJECTIVE, user_id="U0MANY", view=form
    ).json()["options"]
    assert [o["value"] for o in found] == [str(last)]
    assert found[0]["text"]["text"].endswith(f"(#{last})") and len(found[0]["text"]["text"]) <= 75
    everything = stack.driver.block_suggestion(
        ActionId.INPUT, "", block_id=BlockId.OBJECTIVE, user_id="U0MANY", view=form
    ).json()["options"]
    assert len(everything) == 100 and len({o["text"]["text"] for o in everything}) == 100
    values: dict[str, Any] = {
        BlockId.TITLE: {ActionId.TITLE: "Monitor the backup window"},
        BlockId.OBJECTIVE: {
            ActionId.INPUT: {"type": "external_select", "selected_option": {"value": str(last)}}
        },
    }
    reply = stack.driver.view_submission(form, user_id="U0MANY", state_values=values)
    assert reply.status == 200 and not reply.body.strip(), reply.body
    # The one-line question: the same.
    answer = stack.driver.slash_command(
        "Rotate the VPN certificates monthly", user_id="U0MANY"
    ).json()
    actions = next(b for b in answer["blocks"] if b.get("block_id", "").startswith("objective:"))
    assert actions["elements"][0]["type"] == "external_select"
    found = stack.driver.block_suggestion(
        ActionId.CHOOSE_OBJECTIVE, "149", block_id=actions["block_id"], user_id="U0MANY"
    ).json()["options"]
    assert str(last) in [o["value"] for o in found]
    stack.driver.block_actions(
        [
            {
                "type": "external_select",
                "action_id": ActionId.CHOOSE_OBJECTIVE,
                "block_id": actions["block_id"],
                "selected_option": {
                    "value": str(last),
                    "text": {"type": "plain_text", "text": "x"},
                },
            }
        ],
        user_id="U0MANY",
    )
    stack.slack.wait_for(
        "response_url", lambda c: "Rotate the VPN certificates monthly" in _text(c.params)
    )
    rows = json.loads(stack.cli("export", "--format", "json").stdout)
    served = {r["title"]: r["objective"] for r in rows if r["submitter"] == "U0MANY"}
    assert served == {
        "Monitor the backup window": "Goal 149 " + "g" * 80,
        "Rotate the VPN certificates monthly": "Goal 149 " + "g" * 80,
    }


def test_an_unreadable_options_request_gets_no_options_and_no_traceback(stack: Stack) -> None:
    for value in ({"x": 1}, 12, "q" * 1000):
        reply = stack.driver.interactive(
            {
                "type": "block_suggestion",
                "user": {"id": "U0ODD"},
                "action_id": ActionId.CHOOSE_OBJECTIVE,
                "block_id": "objective:1",
                "value": value,
            }
        )
        assert reply.status == 200 and "options" not in reply.body
    assert "Traceback" not in stack.bot.log()


def _published_cleanly(call: Call) -> None:
    assert not call.refused, call.response
    view = call.params["view"]
    assert len(view["blocks"]) <= 100
    for block in view["blocks"]:
        if block["type"] == "section":
            text = block["text"]["text"]
            assert text.count("<") == text.count(">"), text
            assert not re.search(
                r"&[a-z]*(?![a-z;])",
                text.replace("&amp;", "").replace("&lt;", "").replace("&gt;", ""),
            ), text


def test_with_5000_proposals_and_150_objectives_every_home_tab_is_accepted(
    stack: Stack, objective: int
) -> None:
    seed(stack.engine, proposals_count=5000, objectives_count=150)
    before = len(stack.slack.calls("views.publish"))
    for user in (VIEWER, STEERING, CONTRIBUTOR):
        _home(stack, user)
    published = stack.slack.calls("views.publish")[before:]
    assert len(published) == 3
    for call in published:
        _published_cleanly(call)
    viewer = _text(published[0].params["view"])
    assert "more proposals: `/improve list mine`" in viewer
    steering = _text(published[1].params["view"])
    assert "Waiting for decision" in steering and "more proposals: `/improve list open`" in steering
    # The lists read the first entries from the database and count the rest.
    listed = _answer(stack, "list")
    assert "highest priority first" in listed and "more proposals: `csi-bot export`" in listed
    assert listed.count("\n") == 16  # heading, 15 proposals, how many more
    mine = _answer(stack, "list mine", VIEWER)
    assert "more proposals, not shown here" in mine
