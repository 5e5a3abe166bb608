"""Faults during a burst of form submissions: Slack answering 429, the database locked for 4 s.

Whatever happens, every person's answer matches what is stored: a closed form means the
proposal is stored (once) and its submitter is told where its card is; a refused form means
nothing was stored, and submitting again stores it once.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from bot.ids import ActionId, BlockId, CallbackId
from storage import repositories as repo
from storage.db import session_scope
from storage.models import Proposal
from tests.botproc import PROPOSALS_CHANNEL
from tests.conftest import Stack
from tests.fakeslack import Call
from tests.fakeslack.driver import Reply

pytestmark = pytest.mark.e2e

OBJECTIVE = "Keep services available"
SLACK_ACK_WINDOW = 3.0
LOCKED_FOR = 4.0

# Twelve people, twelve unrelated proposals (nothing similar enough to hold a form back).
RATE_LIMITED = [
    "Automate nightly backup verification",
    "Publish the printer driver catalogue",
    "Rotate firewall admin passwords quarterly",
    "Archive dormant mailing lists",
    "Label every patch panel cable",
    "Translate the onboarding wiki into Spanish",
    "Replace fax machines with e-signatures",
    "Track laptop warranty expiry dates",
    "Offer evening office hours for helpdesk",
    "Measure Wi-Fi coverage in the warehouse",
    "Retire unused VPN certificates",
    "Schedule quarterly disaster recovery drills",
]
DATABASE_LOCKED = [
    "Consolidate duplicate monitoring dashboards",
    "Shorten the badge reprint turnaround",
    "Document escalation contacts for payroll",
    "Refresh conference room displays",
    "Limit guest network bandwidth overnight",
    "Automate stale account deprovisioning",
    "Preload common fonts on kiosks",
    "Add barcode scanning to asset intake",
    "Clarify software request approval steps",
    "Standardise mobile phone plans",
    "Move ticket attachments to cheaper storage",
    "Send outage notices by text message",
]


@pytest.fixture(scope="module")
def objective_id(stack: Stack) -> int:
    result = stack.cli("objective", "add", OBJECTIVE)
    assert result.returncode == 0, result.stderr
    with session_scope(stack.engine) as session:
        objective = repo.objective_by_title(session=session, title=OBJECTIVE)
        assert objective is not None and objective.id is not None
        return objective.id


@dataclass
class Submission:
    """One person's open form and what the bot answered when they submitted it."""

    user: str
    title: str
    view: dict[str, Any]
    reply: Reply | None = None
    seconds: float = 0.0

    @property
    def refused(self) -> str | None:
        """The error shown in the form, or None when the form closed (the proposal is saved)."""
        assert self.reply is not None
        if not self.reply.body.strip():
            return None
        answer = self.reply.json()
        if answer.get("response_action") == "errors":
            return " ".join(answer["errors"].values())
        assert answer.get("response_action") in ("clear", None), answer
        return None


def _open_forms(stack: Stack, prefix: str, titles: list[str]) -> list[Submission]:
    forms = []
    for n, title in enumerate(titles):
        user = f"U0{prefix}{n:02d}"
        trigger = stack.driver.trigger_id()
        reply = stack.driver.slash_command("", user_id=user, trigger_id=trigger)
        assert reply.status == 200, reply.body
        call = stack.slack.wait_for("views.open", lambda c, t=trigger: c.params["trigger_id"] == t)
        view = call.response["view"]
        assert view["callback_id"] == CallbackId.PROPOSAL
        forms.append(Submission(user=user, title=title, view=dict(view)))
    return forms


def _submit(stack: Stack, form: Submission, objective_id: int) -> None:
    values = {
        BlockId.TITLE: {ActionId.TITLE: form.title},
        BlockId.OBJECTIVE: {
            ActionId.INPUT: {
                "type": "static_select",
                "selected_option": {"value": str(objective_id)},
            }
        },
    }
    started = time.monotonic()
    form.reply = stack.driver.view_submission(form.view, user_id=form.user, state_values=values)
    form.seconds = time.monotonic() - started


def _burst(
    stack: Stack, forms: list[Submission], objective_id: int, *, spread: float = 0.0
) -> Reply:
    """Submit every form at once (or `spread` seconds apart) and ask for help meanwhile."""
    threads = []
    for n, form in enumerate(forms):
        thread = threading.Thread(target=_submit, args=(stack, form, objective_id))
        threads.append(thread)
        thread.start()
        time.sleep(spread if n < len(forms) - 1 else 0)
    started = time.monotonic()
    help_reply = stack.driver.slash_command("help", user_id="U0HELP")
    help_seconds = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=30)
    assert help_reply.status == 200 and "/improve" in help_reply.body, help_reply.body
    assert help_seconds < SLACK_ACK_WINDOW
    for form in forms:
        assert form.reply is not None, form.user
        # Never Bolt's 404 "unhandled request" (no ack within 3 s) nor a 5xx.
        assert form.reply.status == 200, (form.user, form.reply.status, form.reply.body)
        assert form.seconds < SLACK_ACK_WINDOW, (form.user, form.seconds)
    return help_reply


def _stored_by(stack: Stack, user: str) -> list[Proposal]:
    with session_scope(stack.engine) as session:
        return repo.list_proposals(session=session, submitter=user)


def _dms(stack: Stack, user: str) -> list[Call]:
    return [
        c
        for c in stack.slack.calls("chat.postMessage")
        if c.params.get("channel") == user and c.response.get("ok")
    ]


def _cards(stack: Stack, proposal_id: int) -> list[Call]:
    return [
        c
        for c in stack.slack.calls("chat.postMessage")
        if c.params.get("channel") == PROPOSALS_CHANNEL
        and c.response.get("ok")
        and (c.params.get("metadata") or {}).get("event_payload", {}).get("proposal_id")
        == proposal_id
    ]


def _eventually(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _says_card_posted(told: str) -> bool:
    """Whether the submitter's message says the card is in the channel."""
    return "<#" in told and not re.search(r"could not (be )?post", told)


def _each_answer_matches_the_register(stack: Stack, forms: list[Submission]) -> None:
    """Each person: one proposal stored, one card, one message that says what is true."""
    _eventually(lambda: all(_dms(stack, form.user) for form in forms))
    time.sleep(1.0)  # a duplicate message or card would arrive meanwhile
    for form in forms:
        stored = _stored_by(stack, form.user)
        assert [p.title for p in stored] == [form.title], form.user
        proposal = stored[0]
        dms = _dms(stack, form.user)
        assert len(dms) == 1, (form.user, [d.params.get("text") for d in dms])
        told = str(dms[0].params.get("text"))
        assert f"#{proposal.id}" in told and form.title in told, told
        cards = _cards(stack, proposal.id or 0)
        assert len(cards) <= 1, form.user
        if _says_card_posted(told):
            # "Posted" is said only of a card that is in the channel and recorded.
            assert len(cards) == 1, (form.user, told)
            assert proposal.message_ts == cards[0].response["ts"]
        else:
            assert proposal.message_ts is None or len(cards) == 1


def test_slack_rate_limits_during_a_burst_of_submissions(stack: Stack, objective_id: int) -> None:
    forms = _open_forms(stack, "RL", RATE_LIMITED)
    # Every card and every message is refused once with 429 and Retry-After: 1, as Slack does
    # when a burst exceeds about one message a second.
    for form in forms:
        stack.slack.fail_next(
            "chat.postMessage",
            retry_after=1,
            when=lambda c, t=form.title: (
                c.params.get("channel") == PROPOSALS_CHANNEL and t in str(c.params.get("text"))
            ),
        )
        stack.slack.fail_next(
            "chat.postMessage", retry_after=1, when=lambda c, u=form.user: c.params["channel"] == u
        )
    _burst(stack, forms, objective_id)
    assert [form.refused for form in forms] == [None] * len(forms)
    _each_answer_matches_the_register(stack, forms)
    for form in forms:
        (proposal,) = _stored_by(stack, form.user)
        assert len(_cards(stack, proposal.id or 0)) == 1
        assert _says_card_posted(str(_dms(stack, form.user)[0].params.get("text")))
    limited = [c for c in stack.slack.calls("chat.postMessage") if c.status == 429]
    assert len(limited) == 2 * len(forms)


@contextmanager
def _database_locked(stack: Stack, seconds: float) -> Iterator[threading.Event]:
    """Hold the proposals table's write lock (PostgreSQL: every lock) for `seconds`."""
    locked, done = threading.Event(), threading.Event()

    def hold() -> None:
        if stack.engine.dialect.name == "sqlite":
            path = stack.engine.url.database or ""
            connection = sqlite3.connect(path, isolation_level=None, timeout=10)
            connection.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(seconds)
            connection.execute("ROLLBACK")
            connection.close()
        else:
            with stack.engine.connect() as connection:
                connection.exec_driver_sql("LOCK TABLE proposals IN ACCESS EXCLUSIVE MODE")
                locked.set()
                time.sleep(seconds)
                connection.rollback()
        done.set()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        yield done
    finally:
        holder.join(timeout=seconds + 10)


def test_a_locked_database_during_a_burst_of_submissions(stack: Stack, objective_id: int) -> None:
    forms = _open_forms(stack, "DB", DATABASE_LOCKED)
    with _database_locked(stack, LOCKED_FOR) as released:
        # Spread over the lock: the first ones wait longer than Slack would, the last ones
        # get in once the lock is gone.
        _burst(stack, forms, objective_id, spread=0.3)
        assert released.wait(LOCKED_FOR + 5)
    refused = [form for form in forms if form.refused]
    accepted = [form for form in forms if not form.refused]
    assert refused, "the lock refused nobody: the test did not test the lock"
    for form in refused:
        assert "nothing was changed" in (form.refused or ""), form.refused
        assert _stored_by(stack, form.user) == [], (form.user, form.refused)
    for form in accepted:
        assert [p.title for p in _stored_by(stack, form.user)] == [form.title], form.user
    # Those told "nothing was changed" press Submit again, now that the database answers.
    for form in refused:
        _submit(stack, form, objective_id)
        assert form.reply is not None and form.reply.status == 200
        assert form.refused is None, form.refused
    _each_answer_matches_the_register(stack, forms)
