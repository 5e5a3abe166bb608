"""The submitter's "your proposal is in the register": told once, also when the database or
Slack failed when it was first due, or the bot was killed right after the ack.

The first tests drive bot/confirmations.py against a real database and the fake Slack over
HTTP; the last ones go through the running bot (`csi-bot serve`), where the card outbox's run,
once a minute, tells what the work after the ack could not.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy.engine import Engine

from bot import confirmations
from bot.deps import Deps
from bot.notify import Delivery
from bot.settings import Settings
from bot.steering import SteeringGroup
from storage import submitter_notices as notices
from storage.db import session_scope
from storage.models import Objective, Proposal
from storage.types import utcnow
from tests.conftest import Stack, _drop_postgres_database, _fresh_postgres_database
from tests.fakeslack import Call, FakeSlack
from tests.test_e2e_faults import Submission, _open_forms, _submit
from tests.test_reliability_faults import CuttableProxy, _objective, _own_stack

CHANNEL = "C0PROPOSALS"
TOLD = "is in the register"
# The outbox runs once a minute and leaves a confirmation to the work after the ack for
# confirmations.SETTLE first. The bots of these tests run it every 5 s and let it settle 5 s
# (CSI_CRON_SECONDS); a little more for a busy machine.
OUTBOX_WAIT_S = 5 + confirmations.SETTLE_WITH_SECONDS.total_seconds() + 30


def _deps(engine: Engine) -> Deps:
    settings = Settings.from_mapping({"CSI_PROPOSALS_CHANNEL": CHANNEL})
    return Deps(
        settings=settings,
        engine=engine,
        steering=SteeringGroup(settings, WebClient(token="xoxb-test-token")),
    )


def _client(slack: FakeSlack) -> WebClient:
    # As in production: rate limits and 5xx answers are retried by the client first.
    return WebClient(
        token="xoxb-test-token",
        base_url=slack.api_url,
        timeout=5,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=3),
        ],
    )


def _owed(engine: Engine, user: str = "U0AUTHOR") -> str:
    """A proposal stored from the form with its confirmation owed: the confirmation's key."""
    with session_scope(engine) as session:
        objective = session.get(Objective, 1) or Objective(id=1, title="Fewer outages")
        session.add(objective)
        proposal = Proposal(
            title="Rotate the pager weekly",
            submitter=user,
            status="open",
            objective_id=1,
            source_key=f"view:V{time.monotonic_ns()}",
        )
        session.add(proposal)
        session.flush()
        key = f"new:{proposal.id}"
        confirmations.owe(session=session, key=key, proposal_id=proposal.id or 0, user_id=user)
    return key


def _told(slack: FakeSlack, user: str) -> list[Call]:
    """The confirmations Slack took for `user`."""
    return [
        call
        for call in slack.calls("chat.postMessage")
        if call.params.get("channel") == user
        and call.response.get("ok")
        and TOLD in str(call.params.get("text"))
    ]


def _state(engine: Engine, key: str) -> str:
    with session_scope(engine) as session:
        notice = notices.by_key(session=session, key=key)
        assert notice is not None
        return notice.state


def _to(user: str) -> Callable[[Call], bool]:
    return lambda call: call.params.get("channel") == user


def test_copies_of_the_work_after_the_ack_tell_once(engine: Engine) -> None:
    key = _owed(engine)
    with FakeSlack() as slack:
        deps, client = _deps(engine), _client(slack)
        threads = [
            threading.Thread(
                target=confirmations.tell, kwargs={"deps": deps, "client": client, "key": key}
            )
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # And the outbox's run afterwards, as on another replica.
        assert (
            confirmations.tell_owed(deps=deps, client=client, now=utcnow() + timedelta(hours=1))
            == 0
        )
        assert len(_told(slack, "U0AUTHOR")) == 1
    assert _state(engine, key) == notices.SENT


def test_a_rate_limited_confirmation_is_told_by_the_outbox_later(engine: Engine) -> None:
    key = _owed(engine)
    with FakeSlack() as slack:
        deps, client = _deps(engine), _client(slack)
        for _ in range(4):  # the first try and the client's three retries
            slack.fail_next("chat.postMessage", retry_after=0, when=_to("U0AUTHOR"))
        assert confirmations.tell(deps=deps, client=client, key=key) is Delivery.RATELIMITED
        assert _told(slack, "U0AUTHOR") == []
        # Not before Slack's wait is over; then once.
        assert confirmations.tell_owed(deps=deps, client=client) == 0
        later = utcnow() + confirmations.RETRY_RATELIMITED_AFTER + timedelta(seconds=1)
        assert confirmations.tell_owed(deps=deps, client=client, now=later) == 1
        assert confirmations.tell_owed(deps=deps, client=client, now=later) == 0
        assert len(_told(slack, "U0AUTHOR")) == 1
    assert _state(engine, key) == notices.SENT


def test_a_confirmation_slack_may_have_delivered_is_not_sent_again(engine: Engine) -> None:
    key = _owed(engine)
    with FakeSlack() as slack:
        deps, client = _deps(engine), _client(slack)
        for _ in range(4):
            slack.fail_next("chat.postMessage", "internal_error", 500, None, when=_to("U0AUTHOR"))
        assert confirmations.tell(deps=deps, client=client, key=key) is Delivery.UNKNOWN
        later = utcnow() + timedelta(hours=1)
        assert confirmations.tell_owed(deps=deps, client=client, now=later) == 0
        assert len([c for c in slack.calls("chat.postMessage") if _to("U0AUTHOR")(c)]) == 4
    assert _state(engine, key) == notices.DROPPED


def test_the_outbox_leaves_a_fresh_confirmation_to_the_work_after_the_ack(engine: Engine) -> None:
    key = _owed(engine)
    with FakeSlack() as slack:
        deps, client = _deps(engine), _client(slack)
        assert confirmations.tell_owed(deps=deps, client=client) == 0
        assert _state(engine, key) == notices.OWED
        assert confirmations.tell(deps=deps, client=client, key=key) is Delivery.SENT


# ---- through the running bot ----------------------------------------------------------------
@contextlib.contextmanager
def _database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A fresh database the bot uses, and how to make it fail and come back: PostgreSQL behind
    a proxy that is cut; SQLite locked by another process's write."""
    if backend == "sqlite":
        path = tmp_path / "csi.db"
        holder: dict[str, sqlite3.Connection] = {}

        def lock() -> None:
            holder["c"] = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            holder["c"].execute("BEGIN EXCLUSIVE")

        def unlock() -> None:
            holder.pop("c").rollback()

        yield f"sqlite:///{path}", lock, unlock
        return
    admin = request.getfixturevalue("postgres_server")
    name, url = _fresh_postgres_database(admin)
    proxy = CuttableProxy(("127.0.0.1", 5432))
    try:
        yield url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"), proxy.cut, proxy.restore
    finally:
        proxy.close()
        _drop_postgres_database(admin, name)


def _wait_told(stack: Stack, user: str, timeout: float) -> float:
    started = time.monotonic()
    while not _told(stack.slack, user):
        assert time.monotonic() - started < timeout, "the author was never told"
        time.sleep(0.5)
    return time.monotonic() - started


def _stored_once(stack: Stack, form: Submission) -> None:
    assert form.reply is not None and form.reply.status == 200 and form.refused is None
    with session_scope(stack.engine) as session:
        from sqlmodel import col, select

        found = session.exec(select(Proposal).where(col(Proposal.submitter) == form.user)).all()
    assert [p.title for p in found] == [form.title]


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.e2e
@pytest.mark.reliability
@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", BACKENDS)
def test_author_is_told_once_when_the_database_fails_after_the_ack(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with _database(backend, tmp_path, request) as (url, fail, recover), FakeSlack() as slack:
        stack = _own_stack(url, tmp_path, slack, CSI_CRON_SECONDS="true")
        with stack.bot:
            objective_id = _objective(stack)
            [form] = _open_forms(stack, "CF", ["Rotate the pager weekly"])
            failed = threading.Event()

            def permalink(call: Call) -> Any:
                # The card is posted and recorded; the database goes away before the author
                # is told.
                if not failed.is_set():
                    failed.set()
                    fail()
                return slack.answer(call.method, call.params)

            slack.set_response("chat.getPermalink", permalink)
            _submit(stack, form, objective_id)
            assert failed.wait(10), "the card was not posted"
            time.sleep(6.0)  # the work after the ack gives up on the database meanwhile
            assert _told(slack, form.user) == []
            recover()
            slack.set_response("chat.getPermalink", None)
            _stored_once(stack, form)
            waited = _wait_told(stack, form.user, OUTBOX_WAIT_S)
            [told] = _told(slack, form.user)
            assert "its card is posted" in told.params["text"]  # the card was in the channel
            time.sleep(2.0)
            assert len(_told(slack, form.user)) == 1
            print(f"told {waited:.0f} s after the database came back")
        stack.engine.dispose()


@pytest.mark.e2e
@pytest.mark.reliability
@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", BACKENDS)
def test_author_is_told_once_after_the_bot_is_killed_right_after_the_ack(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with _database(backend, tmp_path, request) as (url, _fail, _recover), FakeSlack() as slack:
        stack = _own_stack(url, tmp_path, slack, CSI_CRON_SECONDS="true")
        stack.bot.start()
        try:
            objective_id = _objective(stack)
            [form] = _open_forms(stack, "KA", ["Publish the on-call handbook"])
            posting = threading.Event()

            def slow_card(call: Call) -> Any:
                # The card's post is under way when the bot is killed.
                if call.params.get("metadata") and not posting.is_set():
                    posting.set()
                    time.sleep(3.0)
                return slack.answer(call.method, call.params)

            slack.set_response("chat.postMessage", slow_card)
            _submit(stack, form, objective_id)
            assert posting.wait(10), "the card's post did not start"
            stack.bot.kill()
            slack.set_response("chat.postMessage", None)
            _stored_once(stack, form)
            assert _told(slack, form.user) == []
            # Started again a little later, as a supervisor with a back-off does: the outbox's
            # first run, as the bot starts, tells the author.
            time.sleep(confirmations.SETTLE_WITH_SECONDS.total_seconds())
            stack.bot.start()
            _wait_told(stack, form.user, 30.0)
            time.sleep(2.0)
            assert len(_told(slack, form.user)) == 1
        finally:
            stack.bot.stop()
            stack.engine.dispose()


def test_settled_confirmations_are_forgotten_after_a_month_and_owed_ones_kept(
    engine: Engine,
) -> None:
    sent, dropped, owed = _owed(engine, "U0SENT"), _owed(engine, "U0DROP"), _owed(engine, "U0OWED")
    with FakeSlack() as slack:
        deps, client = _deps(engine), _client(slack)
        assert confirmations.tell(deps=deps, client=client, key=sent) is Delivery.SENT
        for _ in range(4):
            slack.fail_next("chat.postMessage", "internal_error", 500, None, when=_to("U0DROP"))
        assert confirmations.tell(deps=deps, client=client, key=dropped) is Delivery.UNKNOWN
        for _ in range(4):  # the owed one stays owed: Slack keeps rate-limiting it
            slack.fail_next("chat.postMessage", retry_after=0, when=_to("U0OWED"))
        assert confirmations.tell(deps=deps, client=client, key=owed) is Delivery.RATELIMITED
        # Settled just now: not forgotten before their month is over.
        with session_scope(engine) as session:
            week_ago = utcnow() - timedelta(days=7)
            assert notices.forget(session=session, due_before=week_ago, limit=10) == 0
        for _ in range(4):  # the outbox's run a month later tries the owed one again, in vain
            slack.fail_next("chat.postMessage", retry_after=0, when=_to("U0OWED"))
        later = utcnow() + confirmations.KEEP + timedelta(days=1)
        confirmations.tell_owed(deps=deps, client=client, now=later)
    with session_scope(engine) as session:
        assert notices.by_key(session=session, key=sent) is None
        assert notices.by_key(session=session, key=dropped) is None
    assert _state(engine, owed) == notices.OWED
