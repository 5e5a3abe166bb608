"""End to end: the steering group decides from the card's buttons and thread, once, and everyone
is told; everyone else is refused politely and changes nothing. On both databases, with two
steering members (USTEER, USTEER2)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.ids import ActionId, BlockId, CallbackId, DecisionBlockId
from storage import repositories as repo
from storage.db import make_engine, session_scope
from tests.botproc import PROPOSALS_CHANNEL, SIGNING_SECRET, BotProcess, bot_env, free_port
from tests.conftest import BACKENDS, Stack, _empty_database
from tests.fakeslack import Call, FakeSlack, SlackDriver
from tests.fakeslack.driver import Reply

pytestmark = pytest.mark.e2e

SUBMITTER = "U0SUB"
OUTSIDER = "U0OUT"


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """`csi-bot serve` against the fake Slack with two steering members."""
    workdir = tmp_path_factory.mktemp("bot")
    with _empty_database(request, workdir) as url, FakeSlack() as slack:
        env = bot_env(
            api_url=slack.api_url,
            database_url=url,
            port=free_port(),
            CSI_STEERING_MEMBERS="USTEER,USTEER2",
        )
        with BotProcess(env, workdir) as bot:
            engine = make_engine(url)
            driver = SlackDriver(
                base_url=bot.url,
                signing_secret=SIGNING_SECRET,
                response_url_base=slack.response_url_base,
            )
            try:
                yield Stack(
                    slack=slack, driver=driver, bot=bot, env=env, workdir=workdir, engine=engine
                )
            finally:
                engine.dispose()


@pytest.fixture(scope="module")
def objective_id(stack: Stack) -> int:
    assert stack.cli("objective", "add", "Fewer outages").returncode == 0
    with session_scope(stack.engine) as session:
        objective = repo.objective_by_title(session=session, title="Fewer outages")
        assert objective is not None and objective.id is not None
        return objective.id


# ---- helpers -----------------------------------------------------------------------------------


def _proposal(
    stack: Stack, objective_id: int, title: str, user: str = SUBMITTER
) -> tuple[int, str]:
    """Submit the form and wait for the card: (proposal id, card ts)."""
    trigger = stack.driver.trigger_id()
    assert stack.driver.slash_command("", user_id=user, trigger_id=trigger).status == 200
    opened = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    form: dict[str, Any] = {
        BlockId.TITLE: {ActionId.TITLE: {"type": "plain_text_input", "value": title}},
        BlockId.OBJECTIVE: {
            ActionId.INPUT: {
                "type": "static_select",
                "selected_option": {"value": str(objective_id)},
            }
        },
    }
    reply = stack.driver.view_submission(
        dict(opened.response["view"]), user_id=user, state_values=form
    )
    assert reply.status == 200 and not reply.body.strip(), reply.body
    card = stack.slack.wait_for(
        "chat.postMessage",
        lambda c: (
            c.params.get("channel") == PROPOSALS_CHANNEL
            and title in json.dumps(c.params.get("blocks"))
        ),
    )
    ts = str(card.response["ts"])
    with session_scope(stack.engine) as session:
        found = [p for p in repo.list_proposals(session=session) if p.title == title]
        assert len(found) == 1
        proposal_id = found[0].id or 0
    deadline = time.monotonic() + 10
    while _row(stack, proposal_id)["message_ts"] != ts:
        assert time.monotonic() < deadline, "the card's ts was never stored"
        time.sleep(0.05)
    return proposal_id, ts


def _row(stack: Stack, proposal_id: int) -> dict[str, Any]:
    with session_scope(stack.engine) as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        assert proposal is not None
        return {
            "status": proposal.status,
            "owner": proposal.owner,
            "message_ts": proposal.message_ts,
        }


def _decisions(stack: Stack, proposal_id: int) -> list[tuple[str, str | None, str | None]]:
    with session_scope(stack.engine) as session:
        return [
            (e.actor, e.to_status, (e.detail or {}).get("reason"))
            for e in repo.history(session=session, proposal_id=proposal_id)
            if e.action == "decision"
        ]


def _vote(stack: Stack, user: str, ts: str) -> None:
    assert stack.driver.reaction_added(user, "+1", PROPOSALS_CHANNEL, ts).status == 200


def _reply(stack: Stack, user: str, text: str, ts: str) -> Reply:
    return stack.driver.message(user, text, PROPOSALS_CHANNEL, thread_ts=ts)


def _raw_reply(stack: Stack, user: str, text: str, ts: str, **fields: Any) -> Reply:
    """A thread reply with extra event fields (bot_id, subtype) as Slack sends them."""
    now = f"{time.time():.6f}"
    event = {"type": "message", "user": user, "text": text, "ts": now, "thread_ts": ts}
    event.update(channel=PROPOSALS_CHANNEL, event_ts=now, channel_type="channel", **fields)
    return stack.driver.event(event)


def _told(stack: Stack, text: str, timeout: float = 10.0) -> Call:
    """The first private answer (ephemeral or on a response_url) that contains `text`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for call in stack.slack.calls():
            if call.method in {"chat.postEphemeral", "response_url"} and text in str(
                call.params.get("text")
            ):
                return call
        time.sleep(0.05)
    raise AssertionError(f"nobody was told {text!r}")


def _click(stack: Stack, user: str, action: str, proposal_id: int, ts: str) -> Reply:
    return stack.driver.block_actions(
        [
            {
                "type": "button",
                "action_id": action,
                "block_id": f"next_step:{proposal_id}",
                "value": str(proposal_id),
            }
        ],
        user_id=user,
        channel_id=PROPOSALS_CHANNEL,
        message={"type": "message", "ts": ts, "text": ""},
    )


def _ephemeral_to(stack: Stack, user: str, text: str) -> Call:
    return stack.slack.wait_for(
        "chat.postEphemeral",
        lambda c: c.params.get("user") == user and text in str(c.params.get("text")),
    )


def _answer(stack: Stack, text: str, after: float) -> Call:
    return stack.slack.wait_for(
        "response_url", lambda c: c.at >= after and text in str(c.params.get("text"))
    )


def _dms(stack: Stack, user: str, proposal_id: int) -> list[Call]:
    """Direct messages to `user` about a decision on #proposal_id."""
    return [
        c
        for c in stack.slack.calls("chat.postMessage")
        if c.params.get("channel") == user
        and f"#{proposal_id} " in str(c.params.get("text"))
        and " by <@" in str(c.params.get("text"))
    ]


def _wait_for_dm(stack: Stack, user: str, text: str) -> Call:
    return stack.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("channel") == user and text in str(c.params.get("text")),
    )


def _approvals(stack: Stack, proposal_id: int, ts: str) -> list[bytes]:
    """A member's `approve` reply, another member's Approve click and `Approve!` reply."""
    driver = stack.driver
    click = [{"type": "button", "action_id": ActionId.APPROVE, "value": str(proposal_id)}]
    return [
        driver.body_of(lambda d: d.message("USTEER", "approve", PROPOSALS_CHANNEL, thread_ts=ts)),
        driver.body_of(
            lambda d: d.block_actions(
                click,
                user_id="USTEER2",
                channel_id=PROPOSALS_CHANNEL,
                message={"type": "message", "ts": ts, "text": ""},
            )
        ),
        driver.body_of(lambda d: d.message("USTEER2", "Approve!", PROPOSALS_CHANNEL, thread_ts=ts)),
    ]


def _card_update(stack: Stack, ts: str, text: str) -> Call:
    return stack.slack.wait_for(
        "chat.update",
        lambda c: c.params.get("ts") == ts and text in json.dumps(c.params.get("blocks")),
    )


def _thread_reply(stack: Stack, ts: str, text: str) -> Call:
    return stack.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == ts and text in str(c.params.get("text")),
    )


def _at_once(stack: Stack, bodies: list[bytes]) -> list[Reply]:
    """Send different signed requests at the same moment."""
    start = threading.Barrier(len(bodies))

    def send(body: bytes) -> Reply:
        headers = stack.driver.signed(body)
        start.wait()
        return stack.driver.raw(body, headers)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, bodies))


# ---- the tests ---------------------------------------------------------------------------------


def test_outsiders_reply_click_and_crafted_payload_change_nothing(
    stack: Stack, objective_id: int
) -> None:
    proposal_id, ts = _proposal(stack, objective_id, "Monitor certificate expiry dates")
    other_id, _ = _proposal(stack, objective_id, "Retire the legacy fax gateway")

    assert _reply(stack, OUTSIDER, "approve", ts).status == 200
    refusal = _ephemeral_to(stack, OUTSIDER, "only the steering group")
    assert refusal.params["channel"] == PROPOSALS_CHANNEL and refusal.params["thread_ts"] == ts

    before = time.time()
    assert _click(stack, OUTSIDER, ActionId.APPROVE, proposal_id, ts).status == 200
    assert (
        "only the steering group can approve" in _answer(stack, "steering", before).params["text"]
    )

    # A button on this card whose value names another proposal: judged for that one, refused.
    before = time.time()
    assert _click(stack, OUTSIDER, ActionId.APPROVE, other_id, ts).status == 200
    assert f"#{other_id}" in _answer(stack, "steering group", before).params["text"]
    # A Reject click opens no form for an outsider.
    before = time.time()
    assert _click(stack, OUTSIDER, ActionId.REJECT, proposal_id, ts).status == 200
    _answer(stack, "only the steering group can reject", before)

    for pid in (proposal_id, other_id):
        assert _row(stack, pid)["status"] == "open"
        assert _decisions(stack, pid) == []
    assert not [
        c for c in stack.slack.calls("views.open") if "reject_reason" in json.dumps(c.params)
    ]


def test_a_members_reply_approves_and_everyone_is_told_once(
    stack: Stack, objective_id: int
) -> None:
    proposal_id, ts = _proposal(stack, objective_id, "Automate the database backups")
    for voter in ("U0VOTE1", "U0VOTE2"):
        _vote(stack, voter, ts)

    assert _reply(stack, "USTEER", "Approve.", ts).status == 200

    assert _row(stack, proposal_id)["status"] == "approved"
    assert [d[:2] for d in _decisions(stack, proposal_id)] == [("USTEER", "approved")]
    card = _card_update(stack, ts, "Approved by <@USTEER>")
    shown = json.dumps(card.params["blocks"])
    assert ActionId.START_WORK in shown and ActionId.APPROVE not in shown
    assert "Start work" in _thread_reply(stack, ts, "Approved").params["text"]
    for user in (SUBMITTER, "U0VOTE1", "U0VOTE2"):
        _wait_for_dm(stack, user, "approved")
    time.sleep(0.5)  # room for a second message, if one were coming
    assert [len(_dms(stack, u, proposal_id)) for u in (SUBMITTER, "U0VOTE1", "U0VOTE2")] == [
        1,
        1,
        1,
    ]
    assert "Your proposal" in _dms(stack, SUBMITTER, proposal_id)[0].params["text"]
    assert _dms(stack, "USTEER", proposal_id) == []
    assert not stack.slack.refused()


def test_reject_reply_stores_its_reason_and_the_card_offers_reopen(
    stack: Stack, objective_id: int
) -> None:
    proposal_id, ts = _proposal(stack, objective_id, "Replace the office printers")
    assert _reply(stack, "USTEER2", "reject Too costly for this year's budget", ts).status == 200
    assert _decisions(stack, proposal_id) == [
        ("USTEER2", "rejected", "Too costly for this year's budget")
    ]
    card = _card_update(stack, ts, "Too costly for this year")
    assert ActionId.REOPEN in json.dumps(card.params["blocks"])
    stack.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("channel") == SUBMITTER and "Too costly" in str(c.params["text"]),
    )
    # Without a reason, a rejection is refused with a request for one.
    other_id, other_ts = _proposal(stack, objective_id, "Introduce on-call handover notes")
    assert _reply(stack, "USTEER2", "reject", other_ts).status == 200
    _ephemeral_to(stack, "USTEER2", "a reason is needed")
    assert _row(stack, other_id)["status"] == "open"


def test_a_member_cannot_decide_their_own_proposal(stack: Stack, objective_id: int) -> None:
    proposal_id, ts = _proposal(
        stack, objective_id, "Shorten the change advisory meetings", user="USTEER"
    )
    assert _reply(stack, "USTEER", "approve", ts).status == 200
    refusal = _ephemeral_to(stack, "USTEER", "you cannot decide it")
    assert "governance rule" in refusal.params["text"]
    assert "CSI_ALLOW_SELF_DECISION" in refusal.params["text"]
    before = time.time()
    assert _click(stack, "USTEER", ActionId.APPROVE, proposal_id, ts).status == 200
    _answer(stack, "CSI_ALLOW_SELF_DECISION", before)
    assert _row(stack, proposal_id)["status"] == "open" and _decisions(stack, proposal_id) == []
    # Another member may.
    assert _click(stack, "USTEER2", ActionId.APPROVE, proposal_id, ts).status == 200
    assert _row(stack, proposal_id)["status"] == "approved"


def test_two_members_deciding_at_once_leave_one_decision(stack: Stack, objective_id: int) -> None:
    for n, title in enumerate(["Document the VPN onboarding", "Consolidate the log shippers"]):
        proposal_id, ts = _proposal(stack, objective_id, title)
        bodies = _approvals(stack, proposal_id, ts)
        if n:  # the second round: a double click and the same event delivered twice
            bodies += [bodies[1], bodies[0]]
        replies = _at_once(stack, bodies)
        assert [r.status for r in replies] == [200] * len(bodies)
        decided = _decisions(stack, proposal_id)
        assert len(decided) == 1 and decided[0][1] == "approved", decided
        winner = decided[0][0]
        # The later ones are told who decided (a thread reply privately, a click on its URL).
        told = _told(stack, f"#{proposal_id} was already approved by <@{winner}> on ")
        assert " UTC" in told.params["text"]
        time.sleep(0.5)
        thread = [
            c
            for c in stack.slack.calls("chat.postMessage")
            if c.params.get("thread_ts") == ts and "Approved" in str(c.params.get("text"))
        ]
        assert len(thread) == 1
        assert len(_dms(stack, SUBMITTER, proposal_id)) == 1


def test_bots_edits_and_discussion_are_left_alone(stack: Stack, objective_id: int) -> None:
    proposal_id, ts = _proposal(stack, objective_id, "Publish a service catalogue page")
    ephemerals = len(stack.slack.calls("chat.postEphemeral"))
    _raw_reply(stack, "USTEER", "approve", ts, bot_id="B0OTHER")  # another app
    _raw_reply(stack, "USTEER", "approve", ts, subtype="bot_message", bot_id="B0OTHER")
    # The bot's own reply in the thread, as Slack echoes it back.
    _raw_reply(stack, "U0BOT", "Approve", ts, bot_id="B0CSIBOT", app_id="A0CSI")
    stack.driver.event(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": PROPOSALS_CHANNEL,
            "hidden": True,
            "ts": f"{time.time():.6f}",
            "message": {
                "type": "message",
                "user": "USTEER",
                "text": "approve",
                "ts": ts,
                "thread_ts": ts,
            },
            "previous_message": {"type": "message", "user": "USTEER", "text": "hm", "ts": ts},
        }
    )
    _reply(stack, "USTEER", "I would approve this once the costs are known", ts)
    _reply(stack, OUTSIDER, "reject? I am not sure", ts)
    stack.driver.message("USTEER", "approve", PROPOSALS_CHANNEL)  # in the channel, not a thread
    time.sleep(0.5)
    assert _row(stack, proposal_id)["status"] == "open" and _decisions(stack, proposal_id) == []
    assert len(stack.slack.calls("chat.postEphemeral")) == ephemerals


def test_reject_button_asks_for_a_reason_then_decides(stack: Stack, objective_id: int) -> None:
    proposal_id, ts = _proposal(stack, objective_id, "Migrate the team wiki to markdown")
    assert _click(stack, "USTEER", ActionId.DEFER, proposal_id, ts).status == 200
    opened = stack.slack.wait_for(
        "views.open", lambda c: c.params["view"].get("callback_id") == CallbackId.DEFER_REASON
    )
    view = dict(opened.response["view"])
    reason: dict[str, Any] = {
        DecisionBlockId.REASON: {
            ActionId.INPUT: {"type": "plain_text_input", "value": "After the Q3 freeze"}
        }
    }
    reply = stack.driver.view_submission(view, user_id="USTEER", state_values=reason)
    assert reply.status == 200 and not reply.body.strip(), reply.body
    assert _decisions(stack, proposal_id) == [("USTEER", "deferred", "After the Q3 freeze")]
    _thread_reply(stack, ts, "Deferred")
    # Submitted again (a second copy of the form): the first decision stands, said in the modal.
    again = stack.driver.view_submission(view, user_id="USTEER", state_values=reason)
    assert "already deferred" in again.body
    assert len(_decisions(stack, proposal_id)) == 1
    # The steering group reopens it; an outsider cannot.
    before = time.time()
    _click(stack, OUTSIDER, ActionId.REOPEN, proposal_id, ts)
    _answer(stack, "only the steering group can reopen", before)
    _click(stack, "USTEER2", ActionId.REOPEN, proposal_id, ts)
    assert _row(stack, proposal_id)["status"] == "open"


def test_the_owner_starts_and_finishes_the_work(stack: Stack, objective_id: int) -> None:
    proposal_id, ts = _proposal(stack, objective_id, "Add runbooks for the payment service")
    _reply(stack, "USTEER", "approve", ts)
    _reply(stack, "USTEER", "assign <@U0OWNER>", ts)
    assert _row(stack, proposal_id) == {"status": "approved", "owner": "U0OWNER", "message_ts": ts}
    stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "U0OWNER")
    before = time.time()
    _click(stack, SUBMITTER, ActionId.START_WORK, proposal_id, ts)
    _answer(stack, "Only the owner", before)
    _click(stack, "U0OWNER", ActionId.START_WORK, proposal_id, ts)
    _card_update(stack, ts, ActionId.MARK_IMPLEMENTED)
    _click(stack, "U0OWNER", ActionId.MARK_IMPLEMENTED, proposal_id, ts)
    assert _row(stack, proposal_id)["status"] == "implemented"
    _thread_reply(stack, ts, "Marked implemented")
