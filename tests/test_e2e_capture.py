"""End to end: the real `csi-bot serve` process, driven like Slack drives it, on both databases."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import pytest

from bot import proposals
from bot.ids import ActionId, BlockId, CallbackId
from storage.db import session_scope
from tests.botproc import PROPOSALS_CHANNEL
from tests.conftest import Stack
from tests.fakeslack import Call

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def objective_id(stack: Stack) -> int:
    result = stack.cli("objective", "add", "Reduce unplanned downtime", "--weight", "2")
    assert result.returncode == 0, result.stderr
    with session_scope(stack.engine) as session:
        objective = proposals.repo.objective_by_title(
            session=session, title="Reduce unplanned downtime"
        )
        assert objective is not None and objective.id is not None
        return objective.id


def _export(stack: Stack) -> list[dict[str, Any]]:
    result = stack.cli("export", "--format", "json")
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def _titles(stack: Stack) -> set[str]:
    return {row["title"] for row in _export(stack)}


def _form(title: str, objective: str | None, **more: str) -> dict[str, Any]:
    values: dict[str, Any] = {BlockId.TITLE: {ActionId.TITLE: title}}
    if objective is not None:
        values[BlockId.OBJECTIVE] = {
            ActionId.INPUT: {"type": "static_select", "selected_option": {"value": objective}}
        }
    for block, text in more.items():
        values[block] = {ActionId.INPUT: text}
    return values


def _open_modal(stack: Stack, user: str) -> dict[str, Any]:
    trigger = stack.driver.trigger_id()
    reply = stack.driver.slash_command("", user_id=user, trigger_id=trigger)
    assert reply.status == 200, reply.body
    call = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    view = call.response["view"]
    assert view["callback_id"] == CallbackId.PROPOSAL
    return dict(view)


def _text(reply: Any) -> str:
    """What Slack shows for a command's response: a plain-text body or the JSON's text."""
    try:
        return str(reply.json().get("text", ""))
    except ValueError:
        return str(reply.body)


def _card_for(title_fragment: str) -> Any:
    return lambda c: (
        c.params.get("channel") == PROPOSALS_CHANNEL
        and title_fragment in json.dumps(c.params.get("blocks"))
    )


def test_health_check_answers_when_the_database_does(stack: Stack) -> None:
    reply = stack.driver.get("/healthz")
    assert reply.status == 200
    assert reply.json() | {"scheduler": "?"} == {"status": "ok", "database": "ok", "scheduler": "?"}
    assert reply.json()["scheduler"] in {"leader", "standby"}


def test_modal_submission_posts_a_card_and_the_export_shows_it(
    stack: Stack, objective_id: int
) -> None:
    view = _open_modal(stack, "U0MODAL")
    reply = stack.driver.view_submission(
        view,
        user_id="U0MODAL",
        state_values=_form(
            "Automate TLS certificate renewal",
            str(objective_id),
            description="Certificates expire unnoticed",
            outcome="No expiry outages",
            service="Web portal",
            effort="M",
        ),
    )
    assert reply.status == 200 and not reply.body.strip(), reply.body
    card = stack.slack.wait_for("chat.postMessage", _card_for("Automate TLS certificate"))
    assert "Reduce unplanned downtime" in json.dumps(card.params["blocks"])
    stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "U0MODAL")
    row = next(r for r in _export(stack) if r["title"] == "Automate TLS certificate renewal")
    assert row["status"] == "open" and row["objective"] == "Reduce unplanned downtime"
    assert row["service"] == "Web portal" and row["submitter"] == "U0MODAL"
    assert row["effort"] == "M" and row["priority"] > 0


def test_submitting_the_same_modal_twice_stores_one_proposal(
    stack: Stack, objective_id: int
) -> None:
    view = _open_modal(stack, "U0TWICE")
    form = _form("Retire the legacy fax gateway", str(objective_id))
    for _ in range(2):
        assert (
            stack.driver.view_submission(view, user_id="U0TWICE", state_values=form).status == 200
        )
    stack.slack.wait_for("chat.postMessage", _card_for("legacy fax gateway"))
    time.sleep(0.5)
    titles = [r["title"] for r in _export(stack)]
    assert titles.count("Retire the legacy fax gateway") == 1
    cards = stack.slack.calls("chat.postMessage")
    assert len([c for c in cards if _card_for("legacy fax gateway")(c)]) == 1


@pytest.mark.parametrize(
    ("title", "objective", "field", "words"),
    [
        ("x" * 400, "OBJ", BlockId.TITLE, "400 characters"),
        ("   ", "OBJ", BlockId.TITLE, "title"),
        ("Unknown objective proposal", "999999", BlockId.OBJECTIVE, "does not exist"),
        ("No objective proposal", None, BlockId.OBJECTIVE, "Choose the objective"),
    ],
)
def test_invalid_modal_input_is_answered_in_the_modal(
    stack: Stack, objective_id: int, title: str, objective: str | None, field: str, words: str
) -> None:
    view = _open_modal(stack, "U0BAD")
    chosen = str(objective_id) if objective == "OBJ" else objective
    reply = stack.driver.view_submission(view, user_id="U0BAD", state_values=_form(title, chosen))
    assert reply.status == 200
    answer = reply.json()
    assert answer["response_action"] == "errors"
    assert words in answer["errors"][field]
    assert title.strip() not in _titles(stack) or not title.strip()
    assert all(r["submitter"] != "U0BAD" for r in _export(stack))


def test_one_line_capture_asks_for_the_objective_then_opens(
    stack: Stack, objective_id: int
) -> None:
    reply = stack.driver.slash_command("Self-service password reset", user_id="U0LINE")
    assert reply.status == 200
    answer = reply.json()
    assert answer["response_type"] == "ephemeral"
    actions = next(b for b in answer["blocks"] if b["type"] == "actions")
    select = actions["elements"][0]
    assert select["action_id"] == ActionId.CHOOSE_OBJECTIVE
    assert any(o["value"] == str(objective_id) for o in select["options"])
    row = next(r for r in _export(stack) if r["title"] == "Self-service password reset")
    assert row["status"] == "needs_objective"

    reply = stack.driver.block_actions(
        [
            {
                "type": "static_select",
                "action_id": ActionId.CHOOSE_OBJECTIVE,
                "block_id": actions["block_id"],
                "selected_option": {
                    "value": str(objective_id),
                    "text": {"type": "plain_text", "text": "x"},
                },
            }
        ],
        user_id="U0LINE",
    )
    assert reply.status == 200
    stack.slack.wait_for("chat.postMessage", _card_for("Self-service password reset"))
    replaced = stack.slack.wait_for(
        "response_url", lambda c: "Self-service password reset" in json.dumps(c.params)
    )
    assert replaced.params.get("replace_original") in (True, "true")
    row = next(r for r in _export(stack) if r["title"] == "Self-service password reset")
    assert row["status"] == "open" and row["objective"] == "Reduce unplanned downtime"


def test_someone_else_cannot_choose_the_objective(stack: Stack, objective_id: int) -> None:
    answer = stack.driver.slash_command("Shorter change freeze", user_id="U0OWNER").json()
    actions = next(b for b in answer["blocks"] if b["type"] == "actions")
    stack.driver.block_actions(
        [
            {
                "type": "static_select",
                "action_id": ActionId.CHOOSE_OBJECTIVE,
                "block_id": actions["block_id"],
                "selected_option": {"value": str(objective_id)},
            }
        ],
        user_id="U0OTHER",
    )
    refusal = stack.slack.wait_for(
        "response_url", lambda c: "Only the person" in json.dumps(c.params)
    )
    assert refusal.params.get("response_type") == "ephemeral"
    row = next(r for r in _export(stack) if r["title"] == "Shorter change freeze")
    assert row["status"] == "needs_objective"


def test_one_line_capture_refuses_an_overlong_title(stack: Stack, objective_id: int) -> None:
    # With an objective to serve (without any, a one-line title is refused for that first).
    reply = stack.driver.slash_command("y" * 400, user_id="U0LONG")
    assert reply.status == 200
    assert "400 characters" in _text(reply)
    assert "Nothing was saved" in _text(reply)
    assert all(r["submitter"] != "U0LONG" for r in _export(stack))


def _mrkdwn_texts(node: Any) -> list[str]:
    """Every mrkdwn string in a Block Kit structure: the only text Slack reads as markup."""
    if isinstance(node, list):
        return [text for item in node for text in _mrkdwn_texts(item)]
    if not isinstance(node, dict):
        return []
    found = [str(node["text"])] if node.get("type") == "mrkdwn" and "text" in node else []
    return found + [text for value in node.values() for text in _mrkdwn_texts(value)]


def test_title_with_a_broadcast_never_pings(stack: Stack, objective_id: int) -> None:
    view = _open_modal(stack, "U0PING")
    stack.driver.view_submission(
        view, user_id="U0PING", state_values=_form("<!channel> hi & <@U999>", str(objective_id))
    )
    card = stack.slack.wait_for("chat.postMessage", _card_for("<!channel> hi & <@U999>"))
    blocks = card.params["blocks"]
    # The title is a plain-text header: Slack shows it as typed and never reads it as a ping.
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["type"] == "plain_text"
    assert "<!channel>" not in card.params["text"] and "<@U999>" not in card.params["text"]
    markup = " ".join(_mrkdwn_texts(blocks))
    assert "<!channel>" not in markup and "<@U999>" not in markup


@pytest.mark.parametrize("forgery", ["unsigned", "wrong secret", "ten minutes old"])
def test_forged_requests_get_401_and_change_nothing(stack: Stack, forgery: str) -> None:
    before = len(_export(stack))
    calls_before = len(stack.slack.calls())
    body = stack.driver.slash_command_body("Forged proposal via " + forgery, user_id="U0EVIL")
    if forgery == "unsigned":
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    elif forgery == "wrong secret":
        headers = stack.driver.signed(body, secret="not-the-secret")
    else:
        headers = stack.driver.signed(body, timestamp=int(time.time()) - 600)
    reply = stack.driver.raw(body, headers)
    assert reply.status == 401
    assert len(_export(stack)) == before
    assert not [c for c in stack.slack.calls()[calls_before:] if c.method != "auth.test"]


def test_unknown_path_is_404_and_get_on_events_is_refused(stack: Stack) -> None:
    assert stack.driver.get("/nothing").status == 404
    assert stack.driver.get("/slack/events").status == 405


def test_help_and_objectives_answer_the_user(stack: Stack, objective_id: int) -> None:
    help_text = _text(stack.driver.slash_command("help"))
    # Slack shows `&lt;title&gt;` as `<title>`; unescaped, it would be read as a link.
    assert "/improve &lt;title&gt;" in help_text
    listing = _text(stack.driver.slash_command("objectives"))
    assert "Reduce unplanned downtime" in listing


def test_only_steering_members_add_objectives(stack: Stack) -> None:
    refused = _text(stack.driver.slash_command("objective add Be nicer", user_id="U0NOBODY"))
    assert "Only the steering group" in refused
    added = _text(stack.driver.slash_command("objective add Faster onboarding", user_id="USTEER"))
    assert "Faster onboarding" in added
    assert "Be nicer" not in stack.cli("objective", "list").stdout


def _card(stack: Stack, fragment: str) -> Call:
    return stack.slack.wait_for("chat.postMessage", _card_for(fragment))


def _wait_until_card_stored(stack: Stack, ts: str) -> None:
    """A reaction counts once the bot has stored where it posted the card; wait for that."""
    deadline = time.monotonic() + 10
    while True:
        with session_scope(stack.engine) as session:
            found = proposals.repo.proposal_by_card(
                session=session, channel_id=PROPOSALS_CHANNEL, message_ts=ts
            )
        if found is not None:
            return
        assert time.monotonic() < deadline, "the card's ts was never stored"
        time.sleep(0.05)


def test_retried_reaction_counts_once(stack: Stack, objective_id: int) -> None:
    view = _open_modal(stack, "U0VOTE")
    stack.driver.view_submission(
        view,
        user_id="U0VOTE",
        state_values=_form("Monitor disk space on file servers", str(objective_id)),
    )
    card = _card(stack, "Monitor disk space")
    ts = card.response["ts"]
    _wait_until_card_stored(stack, ts)
    stack.driver.reaction_added("U0FAN", "+1", PROPOSALS_CHANNEL, ts, event_id="EvVOTE1")
    stack.driver.reaction_added(
        "U0FAN", "+1", PROPOSALS_CHANNEL, ts, event_id="EvVOTE1", retry_num=1
    )
    stack.driver.reaction_added("U0FAN", "+1", PROPOSALS_CHANNEL, ts)  # a second add, new event
    stack.driver.reaction_added("U0OTHERFAN", "tada", PROPOSALS_CHANNEL, ts)  # not the vote emoji
    stack.slack.wait_for("chat.update", lambda c: c.params.get("ts") == ts)
    time.sleep(0.5)
    row = next(r for r in _export(stack) if r["title"] == "Monitor disk space on file servers")
    assert row["votes"] == 1
    stack.driver.reaction_removed("U0FAN", "+1", PROPOSALS_CHANNEL, ts)
    stack.slack.wait_for(
        "chat.update",
        lambda c: c.params.get("ts") == ts and "0 votes" in json.dumps(c.params.get("blocks")),
    )
    row = next(r for r in _export(stack) if r["title"] == "Monitor disk space on file servers")
    assert row["votes"] == 0


def test_slash_command_body_is_form_encoded_like_slack(stack: Stack) -> None:
    body = urllib.parse.parse_qs(stack.driver.slash_command_body("x").decode())
    assert body["command"] == ["/improve"]


def test_rate_limited_slack_is_retried_and_the_card_still_arrives(
    stack: Stack, objective_id: int
) -> None:
    matches = _card_for("Consolidate monitoring")
    stack.slack.fail_next(
        "chat.postMessage", error="ratelimited", status=429, retry_after=1, when=matches
    )
    view = _open_modal(stack, "U0RATE")
    stack.driver.view_submission(
        view,
        user_id="U0RATE",
        state_values=_form("Consolidate monitoring dashboards", str(objective_id)),
    )
    stack.slack.wait_for("chat.postMessage", lambda c: matches(c) and c.status == 200)
    attempts = [c.status for c in stack.slack.calls("chat.postMessage") if matches(c)]
    assert attempts == [429, 200]


def test_add_details_completes_a_one_line_proposal(stack: Stack, objective_id: int) -> None:
    answer = stack.driver.slash_command("Document the backup restore", user_id="U0DETAIL").json()
    actions = next(b for b in answer["blocks"] if b["type"] == "actions")
    button = actions["elements"][1]
    assert button["action_id"] == ActionId.ADD_DETAILS
    trigger = stack.driver.trigger_id()
    stack.driver.block_actions(
        [
            {
                "type": "button",
                "action_id": ActionId.ADD_DETAILS,
                "block_id": actions["block_id"],
                "value": button["value"],
            }
        ],
        user_id="U0DETAIL",
        trigger_id=trigger,
    )
    opened = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    view = opened.response["view"]
    assert "Document the backup restore" in json.dumps(view["blocks"])
    reply = stack.driver.view_submission(
        view,
        user_id="U0DETAIL",
        state_values=_form(
            "Document the backup restore", str(objective_id), service="Backup", effort="3d"
        ),
    )
    assert reply.status == 200 and not reply.body.strip()
    stack.slack.wait_for("chat.postMessage", _card_for("Document the backup restore"))
    rows = [r for r in _export(stack) if r["title"] == "Document the backup restore"]
    assert len(rows) == 1
    assert (rows[0]["status"], rows[0]["service"], rows[0]["effort"]) == ("open", "Backup", "3d")


def test_list_ranks_the_open_proposals(stack: Stack, objective_id: int) -> None:
    view = _open_modal(stack, "U0LIST")
    stack.driver.view_submission(
        view,
        user_id="U0LIST",
        state_values=_form("Publish the on-call rota in the portal", str(objective_id), effort="S"),
    )
    stack.slack.wait_for("chat.postMessage", _card_for("on-call rota"))
    stack.driver.slash_command("Tidy the CMDB naming", user_id="U0LIST")
    listing = _text(stack.driver.slash_command("list", user_id="U0LIST"))
    assert "highest priority first" in listing
    assert "Publish the on-call rota in the portal" in listing
    assert "Tidy the CMDB naming" not in listing  # still needs an objective
