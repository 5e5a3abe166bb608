"""The card outbox on both databases: every proposal that should have a card gets exactly one."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot import cards
from bot.deps import Deps
from bot.lifecycle import Status
from bot.outbox import EVENT_TYPE, Outbox, Outcome, card_queued
from bot.settings import Settings
from bot.steering import SteeringGroup
from scheduler import jobs
from storage import repositories as repo
from storage.db import session_scope
from storage.models import Objective, Proposal
from storage.types import utcnow
from tests.fakeslack import Call, FakeSlack
from tests.fakeslack.webapi import BOT_ID, BOT_USER_ID

CHANNEL = "C0CARDS"
LATER = timedelta(minutes=5)  # a "now" after the outbox's settling time


def _deps(engine: Engine) -> Deps:
    settings = Settings.from_mapping({"CSI_PROPOSALS_CHANNEL": CHANNEL})
    return Deps(
        settings=settings,
        engine=engine,
        steering=SteeringGroup(settings, WebClient(token="xoxb-test-token")),
    )


def _client(slack: FakeSlack) -> WebClient:
    # As in production: rate limits are waited out and retried by the client.
    return WebClient(
        token="xoxb-test-token",
        base_url=slack.api_url,
        timeout=5,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)],
    )


def _stored(engine: Engine, title: str, *, status: str = "open", captured: bool = True) -> int:
    """A proposal committed without a card, as a bot killed right after the commit leaves it."""
    with session_scope(engine) as session:
        objective = session.get(Objective, 1) or Objective(id=1, title="Fewer outages")
        session.add(objective)
        proposal = Proposal(
            title=title,
            submitter="U0SUBMIT",
            status=status,
            objective_id=1,
            source_key=f"view:{title}" if captured else None,
        )
        session.add(proposal)
        session.flush()
        return proposal.id or 0


def _proposal(engine: Engine, proposal_id: int) -> Proposal:
    with session_scope(engine) as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        assert proposal is not None
        return proposal


def _cards_of(slack: FakeSlack, proposal_id: int) -> list[Call]:
    return [
        c
        for c in slack.calls("chat.postMessage")
        if c.response.get("ok")
        and c.params.get("metadata", {}).get("event_payload", {}).get("proposal_id") == proposal_id
    ]


def test_a_proposal_left_without_a_card_gets_exactly_one(engine: Engine) -> None:
    proposal_id = _stored(engine, "Rotate the backup tapes")
    with FakeSlack() as slack:
        deps, client = _deps(engine), _client(slack)
        assert jobs.post_missing_cards(deps=deps, client=client, now=utcnow() + LATER, pace=0) == 1
        assert jobs.post_missing_cards(deps=deps, client=client, now=utcnow() + LATER, pace=0) == 0
        posted = _cards_of(slack, proposal_id)
    assert len(posted) == 1
    card = posted[0]
    assert card.params["channel"] == CHANNEL
    assert card.params["metadata"]["event_type"] == EVENT_TYPE
    assert "Rotate the backup tapes" in card.params["text"]
    stored = _proposal(engine, proposal_id)
    assert (stored.channel_id, stored.message_ts) == (CHANNEL, card.response["ts"])
    assert stored.permalink and stored.card_claim is None


def test_the_outbox_leaves_recent_imported_and_waiting_proposals_alone(engine: Engine) -> None:
    fresh = _stored(engine, "Just submitted, its own request posts the card")
    imported = _stored(engine, "Imported from the old spreadsheet", captured=False)
    waiting = _stored(engine, "Still needs an objective", status="needs_objective")
    withdrawn = _stored(engine, "Withdrawn before its card", status="withdrawn")
    with FakeSlack() as slack:
        posted = jobs.post_missing_cards(deps=_deps(engine), client=_client(slack), pace=0)
        assert posted == 0 and slack.calls("chat.postMessage") == []
        # Later the fresh one is due; the others still are not.
        later = utcnow() + LATER
        assert jobs.post_missing_cards(deps=_deps(engine), client=_client(slack), now=later) == 1
        assert len(_cards_of(slack, fresh)) == 1
    for proposal_id in (imported, waiting, withdrawn):
        assert _proposal(engine, proposal_id).message_ts is None


def test_two_outbox_runs_at_once_post_each_card_once(engine: Engine) -> None:
    ids = [_stored(engine, f"Concurrent proposal {n}") for n in range(6)]
    with FakeSlack() as slack:

        def slow_post(call: Call) -> dict[str, Any]:
            time.sleep(0.1)  # both runs are inside the post of the same card at once
            return slack.answer("chat.postMessage", call.params)

        slack.set_response("chat.postMessage", slow_post)
        start = threading.Barrier(2)
        results: list[int] = []

        def run() -> None:
            start.wait()
            results.append(
                jobs.post_missing_cards(
                    deps=_deps(engine), client=_client(slack), now=utcnow() + LATER, pace=0
                )
            )

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sum(results) == len(ids)
        for proposal_id in ids:
            assert len(_cards_of(slack, proposal_id)) == 1, proposal_id
            assert _proposal(engine, proposal_id).message_ts is not None


def _expire_claim(engine: Engine, proposal_id: int, *, ago: timedelta) -> None:
    """What a process killed between its post and its commit leaves behind."""
    with session_scope(engine) as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        assert proposal is not None
        proposal.card_claim = "deadbeef"
        proposal.card_claimed_until = utcnow() - ago
        session.add(proposal)


def test_an_expired_claim_whose_card_was_posted_is_adopted_not_reposted(engine: Engine) -> None:
    proposal_id = _stored(engine, "Card posted by a process that died")
    other = _stored(engine, "Another card in the channel")
    _expire_claim(engine, proposal_id, ago=timedelta(seconds=5))
    with FakeSlack() as slack:
        ts = f"{time.time() - 60:.6f}"
        for pid, when in ((proposal_id, ts), (other, f"{time.time() - 30:.6f}")):
            slack.add_message(
                CHANNEL,
                when,
                text=f"Improvement proposal #{pid}",
                user=BOT_USER_ID,
                bot_id=BOT_ID,
                metadata={"event_type": EVENT_TYPE, "event_payload": {"proposal_id": pid}},
            )
        outbox = Outbox(engine=_deps(engine).engine, client=_client(slack), channel=CHANNEL)
        assert outbox.deliver(proposal_id) is Outcome.ADOPTED
        assert slack.calls("chat.postMessage") == []
        history = slack.calls("conversations.history")
    assert history and history[0].params["include_all_metadata"] in ("1", "true", True)
    stored = _proposal(engine, proposal_id)
    assert stored.message_ts == ts and stored.card_claim is None and stored.permalink


def test_an_expired_claim_without_a_card_is_posted_once(engine: Engine) -> None:
    proposal_id = _stored(engine, "Killed before its post reached Slack")
    _expire_claim(engine, proposal_id, ago=timedelta(seconds=5))
    with FakeSlack() as slack:
        outbox = Outbox(engine=engine, client=_client(slack), channel=CHANNEL)
        assert outbox.deliver(proposal_id) is Outcome.POSTED
        assert outbox.deliver(proposal_id) is Outcome.HAS_CARD
        assert len(_cards_of(slack, proposal_id)) == 1


def test_a_live_claim_is_not_taken_over(engine: Engine) -> None:
    proposal_id = _stored(engine, "Being posted by another replica")
    _expire_claim(engine, proposal_id, ago=-timedelta(minutes=1))
    with FakeSlack() as slack:
        outbox = Outbox(engine=engine, client=_client(slack), channel=CHANNEL)
        assert outbox.deliver(proposal_id) is Outcome.BUSY
        assert slack.calls() == []


def test_a_refused_card_is_retried_later_not_at_once(engine: Engine) -> None:
    proposal_id = _stored(engine, "Channel the bot was not invited to")
    with FakeSlack() as slack:
        slack.fail_next("chat.postMessage", error="not_in_channel", status=200, retry_after=None)
        deps, client = _deps(engine), _client(slack)
        assert cards.post_card(deps=deps, client=client, proposal_id=proposal_id) is False
        later = utcnow() + LATER
        assert jobs.post_missing_cards(deps=deps, client=client, now=later, pace=0) == 0
        # Once the retry time has come (the bot was invited meanwhile), the outbox posts it.
        with session_scope(engine) as session:
            proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
            assert proposal is not None and proposal.card_claim is None
            assert proposal.card_claimed_until is not None
            proposal.card_claimed_until = utcnow() - timedelta(seconds=1)
            session.add(proposal)
        assert jobs.post_missing_cards(deps=deps, client=client, now=later, pace=0) == 1
        assert len(_cards_of(slack, proposal_id)) == 1


def test_only_a_card_that_waits_its_turn_counts_as_queued(engine: Engine) -> None:
    # What the submitter's confirmation says of a card not yet posted rests on this: waiting
    # behind others (or for the outbox) is no trouble; a refusal or an unanswered post is.
    waiting = _stored(engine, "Waiting behind a storm of cards")
    refused = _stored(engine, "Refused: the bot is not in the channel")
    unanswered = _stored(engine, "Posted while Slack did not answer")
    no_objective = _stored(engine, "Still without its objective", status=Status.NEEDS_OBJECTIVE)
    posted = _stored(engine, "Posted at once")
    with FakeSlack() as slack:
        deps, client, api_url = _deps(engine), _client(slack), slack.api_url
        slack.fail_next("chat.postMessage", error="not_in_channel", status=200, retry_after=None)
        assert cards.post_card(deps=deps, client=client, proposal_id=refused) is False
        assert cards.post_card(deps=deps, client=client, proposal_id=posted) is True
    away = WebClient(token="xoxb-test-token", base_url=api_url, timeout=2)
    assert cards.post_card(deps=deps, client=away, proposal_id=unanswered) is False
    queued = {
        proposal_id: card_queued(_proposal(engine, proposal_id))
        for proposal_id in (waiting, refused, unanswered, no_objective, posted)
    }
    assert queued == {
        waiting: True,
        refused: False,
        unanswered: False,
        no_objective: False,
        posted: False,
    }


def test_post_card_tells_the_truth_and_never_raises_when_slack_is_away(engine: Engine) -> None:
    proposal_id = _stored(engine, "Posted while Slack was down")
    with FakeSlack() as slack:
        api_url = slack.api_url
    # The fake is stopped: nothing listens at its address any more.
    client = WebClient(token="xoxb-test-token", base_url=api_url, timeout=2)
    deps = _deps(engine)
    assert cards.post_card(deps=deps, client=client, proposal_id=proposal_id) is False
    cards.refresh_card(deps=deps, client=client, proposal_id=proposal_id)
    with FakeSlack() as slack:
        # The unanswered post may have arrived: once its claim expires, the channel is checked.
        _expire_claim(engine, proposal_id, ago=timedelta(seconds=1))
        assert cards.post_card(deps=deps, client=_client(slack), proposal_id=proposal_id) is True
        assert slack.calls("conversations.history")
        assert len(_cards_of(slack, proposal_id)) == 1


def test_a_rate_limited_card_holds_no_database_lock_while_it_waits(engine: Engine) -> None:
    proposal_id = _stored(engine, "Posted into a rate limit")
    with FakeSlack() as slack:
        slack.fail_next("chat.postMessage", retry_after=2)
        deps, client = _deps(engine), _client(slack)
        result: list[bool] = []
        worker = threading.Thread(
            target=lambda: result.append(
                cards.post_card(deps=deps, client=client, proposal_id=proposal_id)
            )
        )
        worker.start()
        slack.wait_for("chat.postMessage", lambda c: c.status == 429)
        # While the client waits out Retry-After, another writer gets the proposal's row at once.
        started = time.monotonic()
        with engine.connect() as connection:
            connection.execute(
                text("UPDATE proposals SET updated_at = updated_at WHERE id = :id"),
                {"id": proposal_id},
            )
            connection.commit()
        assert time.monotonic() - started < 0.5
        worker.join(timeout=15)
        assert result == [True]
        assert len(_cards_of(slack, proposal_id)) == 1


def test_a_run_gives_up_when_slack_keeps_failing_and_leaves_the_rest(engine: Engine) -> None:
    ids = [_stored(engine, f"Posted into an outage {n}") for n in range(5)]
    with FakeSlack() as slack:
        api_url = slack.api_url
    client = WebClient(token="xoxb-test-token", base_url=api_url, timeout=2)
    tally = Outbox(engine=engine, client=client, channel=CHANNEL).post_missing(pace=0)
    assert tally[Outcome.FAILED] == 3 and tally.remaining == 2 and tally.gave_up
    assert all(_proposal(engine, pid).message_ts is None for pid in ids)


def test_a_slack_server_error_leaves_the_claim_so_the_channel_is_checked(engine: Engine) -> None:
    proposal_id = _stored(engine, "Posted while Slack had an outage")
    with FakeSlack() as slack:
        slack.fail_next("chat.postMessage", error="internal_error", status=500, retry_after=None)
        outbox = Outbox(engine=engine, client=_client(slack), channel=CHANNEL)
        assert outbox.deliver(proposal_id) is Outcome.FAILED
        # Slack may have posted it anyway: nobody posts again before the claim expires...
        assert outbox.deliver(proposal_id) is Outcome.BUSY
        _expire_claim(engine, proposal_id, ago=timedelta(seconds=1))
        # ...and then the channel is searched before a post.
        assert outbox.deliver(proposal_id) is Outcome.POSTED
        assert slack.calls("conversations.history")
        assert len(_cards_of(slack, proposal_id)) == 1
