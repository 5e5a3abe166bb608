"""End to end: the owner moves an approved proposal through in progress → implemented with
`/improve status`, `/improve history` and `/improve show` tell every change, and the benefit
check ("did we get there?"), driven by a test clock, asks, records, decides and reports; on both
databases, through the running bot and the fake Slack."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient

from bot import decisions
from bot.deps import Deps
from bot.ids import ActionId, BenefitBlockId, BlockId, CallbackId
from bot.lifecycle import Status
from bot.settings import Settings
from bot.steering import SteeringGroup
from scheduler.benefit_checks import ask_for_benefit
from storage import repositories as repo
from storage.db import session_scope
from storage.types import utcnow
from tests.botproc import BOT_TOKEN, PROPOSALS_CHANNEL
from tests.conftest import Stack
from tests.fakeslack import Call
from tests.fakeslack.validation import check_ack

pytestmark = pytest.mark.e2e

STEERING = "USTEER"  # CSI_STEERING_MEMBERS of the stack


@pytest.fixture(scope="module")
def objective_id(stack: Stack) -> int:
    assert stack.cli("objective", "add", "Faster recovery").returncode == 0
    with session_scope(stack.engine) as session:
        objective = repo.objective_by_title(session=session, title="Faster recovery")
        assert objective is not None and objective.id is not None
        return objective.id


def _text_input(value: str) -> dict[str, Any]:
    return {ActionId.INPUT: {"type": "plain_text_input", "value": value}}


def _proposal(
    stack: Stack,
    objective_id: int,
    title: str,
    user: str,
    kpi: tuple[str, str | None, str] | None = None,
) -> tuple[int, str]:
    """Submit the form and wait for the card: (number, card ts)."""
    trigger = stack.driver.trigger_id()
    assert stack.driver.slash_command("", user_id=user, trigger_id=trigger).status == 200
    opened = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    state: dict[str, Any] = {
        BlockId.TITLE: {ActionId.TITLE: {"type": "plain_text_input", "value": title}},
        BlockId.OBJECTIVE: {
            ActionId.INPUT: {
                "type": "static_select",
                "selected_option": {"value": str(objective_id)},
            }
        },
    }
    if kpi:
        name, baseline, target = kpi
        state[BlockId.KPI] = _text_input(name)
        if baseline is not None:
            state[BlockId.KPI_BASELINE] = _text_input(baseline)
        state[BlockId.KPI_TARGET] = _text_input(target)
    reply = stack.driver.view_submission(
        dict(opened.response["view"]), user_id=user, state_values=state
    )
    assert reply.status == 200 and not reply.body.strip(), reply.body
    card = stack.slack.wait_for(
        "chat.postMessage",
        lambda c: (
            c.params.get("channel") == PROPOSALS_CHANNEL
            and title in json.dumps(c.params.get("blocks"))
        ),
    )
    with session_scope(stack.engine) as session:
        found = [p for p in repo.list_proposals(session=session) if p.title == title]
    proposal_id = found[0].id or 0
    ts = str(card.response["ts"])
    deadline = time.monotonic() + 10
    while _proposal_row(stack, proposal_id).message_ts != ts:
        assert time.monotonic() < deadline, "the card's ts was never stored"
        time.sleep(0.05)
    return proposal_id, ts


def _approve(stack: Stack, proposal_id: int) -> None:
    # The steering decision itself is tested with the card's thread; here it is the starting point.
    with session_scope(stack.engine) as session:
        decisions.decide(
            session=session,
            proposal_id=proposal_id,
            decision=Status.APPROVED,
            actor=STEERING,
            is_steering=True,
        )


def _proposal_row(stack: Stack, proposal_id: int) -> Any:
    with session_scope(stack.engine) as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        assert proposal is not None
        session.expunge(proposal)
        return proposal


def _status(stack: Stack, proposal_id: int) -> str:
    return str(_proposal_row(stack, proposal_id).status)


def _say(stack: Stack, text: str, user: str) -> dict[str, Any]:
    reply = stack.driver.slash_command(text, user_id=user)
    assert reply.status == 200, reply.body
    # A text-only answer comes back as plain text, one with blocks as JSON.
    body = dict(reply.json()) if reply.body.lstrip().startswith("{") else {"text": reply.body}
    assert check_ack(body) is None, check_ack(body)
    return body


def _everything(body: dict[str, Any]) -> str:
    return body.get("text", "") + json.dumps(body.get("blocks", []), ensure_ascii=False)


def _moves(stack: Stack, proposal_id: int) -> list[tuple[str | None, str | None, str]]:
    with session_scope(stack.engine) as session:
        return [
            (e.from_status, e.to_status, e.actor)
            for e in repo.history(session=session, proposal_id=proposal_id)
            if e.from_status != e.to_status
        ]


def _in_thread(stack: Stack, ts: str, words: str) -> Call:
    return stack.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == ts and words in str(c.params.get("text")),
    )


def test_the_owner_moves_it_through_and_everyone_else_is_refused(
    stack: Stack, objective_id: int
) -> None:
    number, ts = _proposal(
        stack, objective_id, "Automate failover of the billing database", "U8OWN"
    )
    _approve(stack, number)

    refused = _everything(_say(stack, f"status #{number} in_progress", "U8OTHER"))
    assert "Only the owner" in refused and "<@U8OWN>" in refused
    assert "Nothing was changed" in refused or "nothing was changed" in refused
    assert _status(stack, number) == Status.APPROVED

    impossible = _everything(_say(stack, f"status #{number} implemented", "U8OWN"))
    assert "cannot be marked implemented" in impossible
    assert "from here it can move to `in_progress`" in impossible
    assert _status(stack, number) == Status.APPROVED

    unknown = _everything(_say(stack, f"status #{number} finished", "U8OWN"))
    assert "is not a status" in unknown and "`in_progress`" in unknown

    started = _everything(_say(stack, f"status #{number} in progress", "U8OWN"))
    assert "is now *In progress*" in started
    done = _everything(_say(stack, f"status #{number} implemented", "U8OWN"))
    assert "is now *Implemented*" in done and "measured result" in done
    assert _status(stack, number) == Status.IMPLEMENTED
    assert _moves(stack, number)[-2:] == [
        (Status.APPROVED, Status.IN_PROGRESS, "U8OWN"),
        (Status.IN_PROGRESS, Status.IMPLEMENTED, "U8OWN"),
    ]
    # The card's thread hears of it, after the ack.
    _in_thread(stack, ts, "<@U8OWN>")


def test_after_assign_the_assignee_moves_it_and_the_submitter_cannot(
    stack: Stack, objective_id: int
) -> None:
    number, _ = _proposal(stack, objective_id, "Rotate on-call handover notes weekly", "U8SUB")
    _approve(stack, number)
    with session_scope(stack.engine) as session:
        decisions.assign(
            session=session, proposal_id=number, owner="U8NEW", actor=STEERING, is_steering=True
        )
    refused = _everything(_say(stack, f"status #{number} in_progress", "U8SUB"))
    assert "Only the owner" in refused and "<@U8NEW>" in refused
    assert _status(stack, number) == Status.APPROVED
    _say(stack, f"status #{number} in_progress", "U8NEW")
    assert _status(stack, number) == Status.IN_PROGRESS


def test_history_and_show_tell_every_change_with_who_and_when(
    stack: Stack, objective_id: int
) -> None:
    number, _ = _proposal(stack, objective_id, "Publish the change calendar to the portal", "U8HIS")
    _approve(stack, number)
    _say(stack, f"status #{number} in_progress", "U8HIS")

    history = _everything(_say(stack, f"history #{number}", "U8READER"))
    assert "proposed it" in history
    assert "<@USTEER> approved it" in history
    assert "<@U8HIS> moved it from Approved to In progress" in history
    # Times are Slack dates, shown in each reader's own time zone.
    assert history.count("<!date^") == 3 and "3 changes in all" in history

    shown = _everything(_say(stack, f"show {number}", "U8READER"))
    assert "Publish the change calendar to the portal" in shown
    assert "Owner: <@U8HIS>" in shown and "*History*" in shown
    assert "moved it from Approved to In progress" in shown

    missing = _everything(_say(stack, "history #999999", "U8READER"))
    assert "999999" in missing and "Traceback" not in missing


def test_a_long_history_is_cut_by_whole_entries_within_slacks_limits(
    stack: Stack, objective_id: int
) -> None:
    number, _ = _proposal(stack, objective_id, "Retire the legacy fax gateway", "U8LONG")
    with session_scope(stack.engine) as session:
        repo.add_audit_entries(
            session=session,
            entries=[
                {
                    "proposal_id": number,
                    "actor": f"U8V{i:05d}",
                    "action": "voted" if i % 2 else "unvoted",
                    "at": utcnow(),
                    "detail": {},
                }
                for i in range(600)
            ],
        )
    for word in ("history", "show"):
        body = _say(stack, f"{word} #{number}", "U8READER")  # `_say` checks Slack's limits
        text = _everything(body)
        assert "more, earlier" in text
        assert len(body["blocks"]) <= 50
    history = _say(stack, f"history #{number}", "U8READER")
    # The latest entry is there, whole.
    assert "<@U8V00599> voted for it" in _everything(history)


# ---- the benefit check -------------------------------------------------------------------------


def _deps(stack: Stack) -> Deps:
    settings = Settings.from_mapping(
        {"CSI_PROPOSALS_CHANNEL": PROPOSALS_CHANNEL, "CSI_BENEFIT_CHECK_DAYS": "30"}
    )
    client = WebClient(token=BOT_TOKEN, base_url=stack.slack.api_url)
    return Deps(settings=settings, engine=stack.engine, steering=SteeringGroup(settings, client))


def _client(stack: Stack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=stack.slack.api_url)


def _implemented(
    stack: Stack, objective_id: int, title: str, owner: str, kpi: Any
) -> tuple[int, str]:
    number, ts = _proposal(stack, objective_id, title, owner, kpi=kpi)
    _approve(stack, number)
    _say(stack, f"status #{number} in_progress", owner)
    _say(stack, f"status #{number} implemented", owner)
    return number, ts


def _questions(stack: Stack, owner: str) -> list[Call]:
    return [
        c
        for c in stack.slack.calls("chat.postMessage")
        if c.params.get("channel") == owner and ActionId.RECORD_BENEFIT in json.dumps(c.params)
    ]


def _run(stack: Stack, now: Any, owner: str) -> int:
    """Run the benefit check at `now` as one replica; how many questions `owner` got from it."""
    before = len(_questions(stack, owner))
    ask_for_benefit(deps=_deps(stack), client=_client(stack), now=now)
    asked = _questions(stack, owner)[before:]
    assert not any(c.refused for c in asked), [c.response for c in asked]  # valid Block Kit
    return len(asked)


def _open_modal(stack: Stack, number: int, owner: str) -> dict[str, Any]:
    trigger = stack.driver.trigger_id()
    reply = stack.driver.block_actions(
        [{"type": "button", "action_id": ActionId.RECORD_BENEFIT, "value": str(number)}],
        user_id=owner,
        channel_id=owner,
        trigger_id=trigger,
    )
    assert reply.status == 200
    opened = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    view = dict(opened.response["view"])
    assert view["callback_id"] == CallbackId.BENEFIT
    return view


def _submit(stack: Stack, view: dict[str, Any], owner: str, value: str) -> dict[str, Any]:
    reply = stack.driver.view_submission(
        view, user_id=owner, state_values={BenefitBlockId.MEASURED: _text_input(value)}
    )
    assert reply.status == 200, reply.body
    body = dict(reply.json()) if reply.body.strip() else {}
    assert check_ack(body) is None
    return body


def test_benefit_check_asks_once_records_and_verifies_when_the_target_is_reached(
    stack: Stack, objective_id: int
) -> None:
    owner = "U8KPI"
    number, ts = _implemented(
        stack, objective_id, "Cut mean time to restore mail", owner, ("MTTR (h)", "6", "2")
    )
    start = utcnow()
    # Not yet due a day before the 30 days are over.
    assert _run(stack, start + timedelta(days=29), owner) == 0
    due = start + timedelta(days=30, minutes=1)
    # Two replicas at the same moment ask once.
    assert [_run(stack, due, owner) for _ in range(2)] == [1, 0]
    assert "Did we get there?" in str(_questions(stack, owner)[0].params["text"])

    # Someone else's click opens nothing.
    stranger = stack.driver.block_actions(
        [{"type": "button", "action_id": ActionId.RECORD_BENEFIT, "value": str(number)}],
        user_id="U8STRANGER",
    )
    assert stranger.status == 200
    refusal = stack.slack.wait_for(
        "response_url", lambda c: "Only the owner" in json.dumps(c.params)
    )
    assert refusal is not None

    view = _open_modal(stack, number, owner)
    for bad in ("fast", "inf", "nan", "1e400", ""):
        answer = _submit(stack, view, owner, bad)
        assert answer.get("response_action") == "errors", (bad, answer)
        assert BenefitBlockId.MEASURED in answer["errors"]
    assert _status(stack, number) == Status.IMPLEMENTED

    answer = _submit(stack, view, owner, "1.5")
    assert answer["response_action"] == "update"
    assert "target reached" in json.dumps(answer["view"])
    assert _status(stack, number) == Status.VERIFIED
    assert _proposal_row(stack, number).kpi_actual == 1.5
    report = _in_thread(stack, ts, "Benefit check")
    assert "target reached" in report.params["text"] and "verified" in report.params["text"]
    # The same submission again records nothing new and reports nothing new.
    again = _submit(stack, view, owner, "1.5")
    assert again["response_action"] == "update"
    time.sleep(0.5)
    reports = [
        c
        for c in stack.slack.calls("chat.postMessage")
        if c.params.get("thread_ts") == ts and "Benefit check" in str(c.params.get("text"))
    ]
    assert len(reports) == 1
    history = _everything(_say(stack, f"history #{number}", owner))
    assert "measured 1.5 against a target of 2: target reached" in history


def test_a_missed_target_records_the_shortfall_and_unanswered_questions_are_reminded_weekly(
    stack: Stack, objective_id: int
) -> None:
    owner = "U8MISS"
    number, ts = _implemented(
        stack, objective_id, "Raise first-call resolution at the desk", owner, ("FCR %", "60", "80")
    )
    due = utcnow() + timedelta(days=30, minutes=1)
    assert _run(stack, due, owner) == 1
    # Unanswered: reminded once a week, once per week across replicas.
    assert _run(stack, due + timedelta(days=3), owner) == 0
    week = due + timedelta(days=7, minutes=1)
    assert [_run(stack, week, owner) for _ in range(2)] == [1, 0]
    assert _run(stack, week + timedelta(days=2), owner) == 0
    assert _run(stack, week + timedelta(days=7), owner) == 1
    asks = _questions(stack, owner)
    assert len(asks) == 3 and "A reminder" in str(asks[1].params["text"])

    view = _open_modal(stack, number, owner)
    answer = _submit(stack, view, owner, "72")
    assert answer["response_action"] == "update"
    assert "8 short of the target" in json.dumps(answer["view"])
    assert _status(stack, number) == Status.IMPLEMENTED
    report = _in_thread(stack, ts, "Benefit check")
    assert "8 short of the target" in report.params["text"]
    assert "stays implemented" in report.params["text"]
    # A week after the last reminder the answered question is not reminded; being past another
    # delay since the answer, a new question is asked, once.
    assert _run(stack, week + timedelta(days=14), owner) == 1
    assert "A reminder" not in str(_questions(stack, owner)[-1].params["text"])
    assert _run(stack, week + timedelta(days=14), owner) == 0


def test_without_a_kpi_target_the_owner_confirms_the_benefit_with_yes_or_not_yet(
    stack: Stack, objective_id: int
) -> None:
    owner = "U8YES"
    number, ts = _implemented(
        stack, objective_id, "Tidy the service catalogue entries", owner, None
    )
    assert _run(stack, utcnow() + timedelta(days=30, minutes=1), owner) == 1
    assert "Was the expected benefit realised?" in str(_questions(stack, owner)[-1].params["text"])
    view = _open_modal(stack, number, owner)

    def choose(value: str | None) -> dict[str, Any]:
        chosen = {"selected_option": {"value": value}} if value else {"selected_option": None}
        reply = stack.driver.view_submission(
            view,
            user_id=owner,
            state_values={
                BenefitBlockId.REALISED: {ActionId.INPUT: {"type": "radio_buttons", **chosen}}
            },
        )
        assert reply.status == 200, reply.body
        return dict(reply.json())

    assert BenefitBlockId.REALISED in choose(None)["errors"]
    assert choose("yes")["response_action"] == "update"
    assert _status(stack, number) == Status.VERIFIED
    report = _in_thread(stack, ts, "Benefit check")
    assert "realised, so it is verified" in report.params["text"]
