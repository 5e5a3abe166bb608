"""Coalesced card redraws against the fake Slack and a real database: few `chat.update` calls
for many votes, Slack's Retry-After waited out, and the card exact even when another replica's
older redraw lands last."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot import card_updates, cards
from bot.card_updates import CardUpdates
from bot.deps import LATER_WORKERS, Deps
from bot.settings import Settings
from bot.slack_budget import Budget
from bot.steering import SteeringGroup
from storage import repositories as repo
from storage.db import session_scope
from storage.models import Objective, Proposal
from tests.fakeslack import Call, FakeSlack

CHANNEL = "C0CARDS"
INTERVAL = 0.2


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def _deps(engine: Engine) -> Deps:
    settings = Settings.from_mapping({"CSI_PROPOSALS_CHANNEL": CHANNEL})
    return Deps(
        settings=settings,
        engine=engine,
        steering=SteeringGroup(settings, WebClient(token="xoxb-test-token")),
    )


def _client(slack: FakeSlack) -> WebClient:
    # No retry handler: the coalescer itself must wait out Slack's Retry-After.
    return WebClient(token="xoxb-test-token", base_url=slack.api_url, timeout=5)


def _proposal_with_card(engine: Engine, slack: FakeSlack) -> tuple[int, str]:
    posted = _client(slack).chat_postMessage(channel=CHANNEL, text="card")
    ts = str(posted["ts"])
    with session_scope(engine) as session:
        session.add(Objective(id=1, title="Fewer outages"))
        proposal = Proposal(
            title="Alert on full disks",
            submitter="U0SUBMIT",
            status="open",
            objective_id=1,
            channel_id=CHANNEL,
            message_ts=ts,
        )
        session.add(proposal)
        session.flush()
        return proposal.id or 0, ts


def _vote(engine: Engine, proposal_id: int, user: str) -> None:
    with session_scope(engine) as session:
        assert repo.add_vote_once(session=session, proposal_id=proposal_id, user_id=user)


def _updates(slack: FakeSlack) -> list[Call]:
    return [c for c in slack.calls("chat.update") if c.response.get("ok")]


def _shown(slack: FakeSlack, ts: str) -> str:
    return json.dumps(slack.messages[(CHANNEL, ts)].get("blocks"))


def _wait_idle(*updates: CardUpdates, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while any(u.busy() for u in updates):
        assert time.monotonic() < deadline, "redraws never finished"
        time.sleep(0.05)


def _card_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The proposals whose card is read from now on, one entry a read."""
    reads: list[int] = []
    read = cards.card_content

    def counted(**kwargs: Any) -> Any:
        reads.append(kwargs["proposal_id"])
        return read(**kwargs)

    monkeypatch.setattr(cards, "card_content", counted)
    return reads


def test_fifty_votes_redraw_the_card_a_few_times_and_it_ends_exact(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    deps = _deps(sqlite_engine)
    proposal_id, ts = _proposal_with_card(sqlite_engine, slack)
    updates = CardUpdates(deps, _client(slack), min_interval=INTERVAL)
    try:
        for n in range(50):
            _vote(sqlite_engine, proposal_id, f"U{n:08d}")
            updates.request(proposal_id)
            time.sleep(0.01)
        _wait_idle(updates)
    finally:
        deps.shutdown()
    calls = _updates(slack)
    assert 1 < len(calls) <= 10
    assert ":+1: 50 votes" in _shown(slack, ts)


def test_a_redraw_followed_by_a_vote_is_not_read_twice(
    sqlite_engine: Engine, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check that the card is still exact waits for the interval: a vote within it has the
    # card drawn (and so read) anyway. Each redraw reads the card once, plus one last check.
    deps = _deps(sqlite_engine)
    proposal_id, ts = _proposal_with_card(sqlite_engine, slack)
    reads = _card_reads(monkeypatch)
    updates = CardUpdates(deps, _client(slack), min_interval=1.0)
    try:
        _vote(sqlite_engine, proposal_id, "U0ANA")
        updates.request(proposal_id)
        deadline = time.monotonic() + 5
        while not _updates(slack):
            assert time.monotonic() < deadline, "the card was never drawn"
            time.sleep(0.01)
        _vote(sqlite_engine, proposal_id, "U0BEN")
        updates.request(proposal_id)
        _wait_idle(updates)
    finally:
        deps.shutdown()
    calls = _updates(slack)
    assert len(calls) == 2 and ":+1: 2 votes" in _shown(slack, ts)
    assert calls[1].at - calls[0].at >= 1.0
    assert reads == [proposal_id] * 3


def test_retry_after_is_waited_out_before_the_card_is_drawn_again(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    deps = _deps(sqlite_engine)
    proposal_id, ts = _proposal_with_card(sqlite_engine, slack)
    slack.fail_next("chat.update", retry_after=1)
    updates = CardUpdates(deps, _client(slack), min_interval=INTERVAL)
    try:
        _vote(sqlite_engine, proposal_id, "U0ANA")
        updates.request(proposal_id)
        _wait_idle(updates)
    finally:
        deps.shutdown()
    limited, drawn = slack.calls("chat.update")[0], _updates(slack)
    assert limited.status == 429 and len(drawn) == 1
    assert drawn[0].at - limited.at >= 1.0
    assert ":+1: 1 vote" in _shown(slack, ts)


def test_an_older_redraw_of_another_replica_landing_last_is_corrected(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    proposal_id, ts = _proposal_with_card(sqlite_engine, slack)
    first = threading.Event()

    def slow_first_update(call: Call) -> dict[str, Any]:
        # Replica A's redraw (1 vote) reaches Slack late, after replica B's (2 votes).
        if not first.is_set():
            first.set()
            time.sleep(0.6)
        return slack.answer("chat.update", call.params)

    slack.set_response("chat.update", slow_first_update)
    deps_a, deps_b = _deps(sqlite_engine), _deps(sqlite_engine)
    replica_a = CardUpdates(deps_a, _client(slack), min_interval=INTERVAL)
    replica_b = CardUpdates(deps_b, _client(slack), min_interval=INTERVAL)
    try:
        _vote(sqlite_engine, proposal_id, "U0ANA")
        replica_a.request(proposal_id)
        assert first.wait(5)
        _vote(sqlite_engine, proposal_id, "U0BEN")
        replica_b.request(proposal_id)
        _wait_idle(replica_a, replica_b)
    finally:
        deps_a.shutdown()
        deps_b.shutdown()
    shown = [json.dumps(c.params.get("blocks")) for c in _updates(slack)]
    assert any(":+1: 1 vote" in s for s in shown)  # the stale redraw did land
    assert ":+1: 2 votes" in _shown(slack, ts)


def test_one_coalescer_per_bot(sqlite_engine: Engine, slack: FakeSlack) -> None:
    deps = _deps(sqlite_engine)
    client = _client(slack)
    assert card_updates.for_deps(deps, client) is card_updates.for_deps(deps, client)
    assert card_updates.for_deps(_deps(sqlite_engine), client) is not card_updates.for_deps(
        deps, client
    )


def _cards(engine: Engine, slack: FakeSlack, count: int) -> list[tuple[int, str]]:
    with session_scope(engine) as session:
        session.add(Objective(id=1, title="Fewer outages"))
    made = []
    for n in range(count):
        ts = str(_client(slack).chat_postMessage(channel=CHANNEL, text="card")["ts"])
        with session_scope(engine) as session:
            proposal = Proposal(
                title=f"Alert on full disks number {n}",
                submitter="U0SUBMIT",
                status="open",
                objective_id=1,
                channel_id=CHANNEL,
                message_ts=ts,
            )
            session.add(proposal)
            session.flush()
            made.append((proposal.id or 0, ts))
    return made


def test_a_storm_on_many_cards_stays_within_slacks_budget_and_every_card_ends_exact(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    deps = _deps(sqlite_engine)
    cards = _cards(sqlite_engine, slack, 12)
    budget = Budget(per_s=5, burst=3)
    updates = CardUpdates(deps, _client(slack), min_interval=INTERVAL, budget=budget)
    try:
        for proposal_id, _ts in cards:
            _vote(sqlite_engine, proposal_id, "U0ANA")
        for proposal_id, _ts in cards:
            updates.request(proposal_id)
        _wait_idle(updates)
    finally:
        deps.shutdown()
    times = sorted(c.at for c in slack.calls("chat.update"))
    assert len(times) == 12
    # Without the budget all twelve would go at once; with it, the burst and then five a
    # second (one call of slack for timers that fire late together on a busy machine).
    first_half_second = [t for t in times if t - times[0] <= 0.5]
    assert len(first_half_second) <= 3 + 5 * 0.5 + 1
    assert times[-1] - times[0] >= (12 - 3) / 5 - 0.1
    for _proposal_id, ts in cards:
        assert ":+1: 1 vote" in _shown(slack, ts)


def test_slacks_retry_after_holds_every_card_not_only_the_one_refused(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    deps = _deps(sqlite_engine)
    (first, first_ts), (second, second_ts) = _cards(sqlite_engine, slack, 2)
    slack.fail_next("chat.update", retry_after=1)
    updates = CardUpdates(deps, _client(slack), min_interval=INTERVAL)
    try:
        _vote(sqlite_engine, first, "U0ANA")
        updates.request(first)
        deadline = time.monotonic() + 5
        while not slack.calls("chat.update"):
            assert time.monotonic() < deadline, "the first redraw never went out"
            time.sleep(0.01)
        time.sleep(0.1)  # the refusal is read and the pause taken
        _vote(sqlite_engine, second, "U0BEN")
        updates.request(second)
        _wait_idle(updates)
    finally:
        deps.shutdown()
    limited = slack.calls("chat.update")[0]
    assert limited.status == 429
    drawn = {c.params["ts"]: c.at for c in _updates(slack)}
    assert drawn[second_ts] - limited.at >= 1.0
    assert ":+1: 1 vote" in _shown(slack, first_ts) and ":+1: 1 vote" in _shown(slack, second_ts)


def _bots_threads() -> int:
    """Threads alive in this process, leaving out the fake Slack's, which serve one
    connection each and come and go with the redraws' calls."""
    return sum(1 for t in threading.enumerate() if not t.name.endswith("(process_request_thread)"))


def test_cards_waiting_for_slacks_budget_share_one_thread_not_one_each(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    deps = _deps(sqlite_engine)
    cards = _cards(sqlite_engine, slack, 40)
    updates = CardUpdates(
        deps, _client(slack), min_interval=INTERVAL, budget=Budget(per_s=40, burst=2)
    )
    before = _bots_threads()
    most = before
    try:
        for proposal_id, _ts in cards:
            _vote(sqlite_engine, proposal_id, "U0ANA")
            updates.request(proposal_id)
        deadline = time.monotonic() + 20
        while updates.busy():
            assert time.monotonic() < deadline, "redraws never finished"
            most = max(most, _bots_threads())
            time.sleep(0.005)
    finally:
        deps.shutdown()
    # 38 cards waited for their slot: the workers and one thread for all the waits.
    assert most - before <= LATER_WORKERS + 1
    assert len(_updates(slack)) == 40
    for _proposal_id, ts in cards:
        assert ":+1: 1 vote" in _shown(slack, ts)
