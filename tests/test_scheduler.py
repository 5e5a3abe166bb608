"""Scheduled jobs: objective reminders, run once per day even with several replicas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot import proposals
from bot.deps import Deps
from bot.drafts import ProposalDraft
from bot.settings import Settings
from bot.steering import SteeringGroup
from scheduler import jobs
from scheduler.runner import build_scheduler
from storage.db import session_scope
from storage.models import PendingDraft, ProcessedEvent
from tests.fakeslack import FakeSlack


def _deps(engine: Engine, timezone: str = "UTC") -> Deps:
    settings = Settings.from_mapping({"CSI_PROPOSALS_CHANNEL": "C1", "CSI_TIMEZONE": timezone})
    steering = SteeringGroup(settings, WebClient(token="xoxb-test-token"))
    return Deps(settings=settings, engine=engine, steering=steering)


def _waiting_proposal(engine: Engine, *, created_at: datetime, user: str) -> int:
    with session_scope(engine) as session:
        proposals.add_objective(session=session, title=f"Objective for {user}")
        proposal, _ = proposals.capture(
            session=session, draft=ProposalDraft(title="Fix DNS"), submitter=user
        )
        proposal.created_at = created_at
        session.add(proposal)
        return proposal.id or 0


def test_reminder_goes_to_the_submitter_once_a_day_across_replicas(engine: Engine) -> None:
    now = datetime(2026, 5, 4, 9, 5, tzinfo=UTC)
    _waiting_proposal(engine, created_at=now - timedelta(days=2), user="U0SLOW")
    # Proposed later that morning: not a day old yet, even at the next day's run.
    _waiting_proposal(engine, created_at=now + timedelta(hours=2), user="U0FRESH")
    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test-token", base_url=slack.api_url)
        first = jobs.remind_missing_objectives(deps=_deps(engine), client=client, now=now)
        # A second replica firing the same day sends nothing.
        second = jobs.remind_missing_objectives(
            deps=_deps(engine), client=client, now=now + timedelta(hours=3)
        )
        next_day = jobs.remind_missing_objectives(
            deps=_deps(engine), client=client, now=now + timedelta(days=1)
        )
        sent = slack.calls("chat.postMessage")
    assert (first, second, next_day) == (1, 0, 1)
    assert {c.params["channel"] for c in sent} == {"U0SLOW"}
    assert "Reminder" in json.dumps(sent[0].params["blocks"])
    assert "choose_objective" in json.dumps(sent[0].params["blocks"])


def test_answered_proposals_are_not_reminded(engine: Engine) -> None:
    proposal_id = _waiting_proposal(
        engine, created_at=datetime.now(UTC) - timedelta(days=3), user="U0DONE"
    )
    with session_scope(engine) as session:
        objective = proposals.repo.list_objectives(session=session)[0]
        proposals.choose_objective(
            session=session, proposal_id=proposal_id, objective_id=objective.id or 0, actor="U0DONE"
        )
    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test-token", base_url=slack.api_url)
        assert jobs.remind_missing_objectives(deps=_deps(engine), client=client) == 0
        assert slack.calls("chat.postMessage") == []


def test_the_day_follows_the_configured_time_zone() -> None:
    late_evening_utc = datetime(2026, 5, 4, 23, 30, tzinfo=UTC)
    assert jobs.day_key(late_evening_utc, "UTC") == "2026-05-04"
    assert jobs.day_key(late_evening_utc, "Europe/Berlin") == "2026-05-05"


def test_scheduler_has_the_reminder_job_in_the_configured_zone(sqlite_engine: Engine) -> None:
    scheduler = build_scheduler(
        deps=_deps(sqlite_engine, "Europe/Berlin"), client=WebClient(token="xoxb-x")
    )
    job = scheduler.get_job("objective_reminders")
    assert job is not None
    assert str(job.trigger.timezone) == "Europe/Berlin"


def test_housekeeping_forgets_old_event_ids_and_abandoned_drafts(engine: Engine) -> None:
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        proposals.repo.mark_event(session=session, event_id="EvOLD")
        proposals.repo.mark_event(session=session, event_id="EvNEW")
        proposals.repo.save_pending_draft(session=session, key="old", user_id="U1", draft={})
        proposals.repo.save_pending_draft(session=session, key="new", user_id="U1", draft={})
    with session_scope(engine) as session:
        for row in session.exec(select(ProcessedEvent)):
            if row.event_id == "EvOLD":
                row.received_at = now - timedelta(days=10)
                session.add(row)
        old = session.get(PendingDraft, "old")
        assert old is not None
        old.created_at = now - timedelta(days=2)
        session.add(old)
    assert jobs.housekeeping(deps=_deps(engine), now=now) == 2
    with session_scope(engine) as session:
        assert [e.event_id for e in session.exec(select(ProcessedEvent))] == ["EvNEW"]
        assert [d.key for d in session.exec(select(PendingDraft))] == ["new"]
        # Within its retention window a retried event is still recognised.
        assert not proposals.repo.mark_event(session=session, event_id="EvNEW")


def test_the_card_outbox_runs_at_start_and_every_minute(sqlite_engine: Engine) -> None:
    scheduler = build_scheduler(deps=_deps(sqlite_engine), client=WebClient(token="xoxb-x"))
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job("card_outbox")
        assert job is not None
        assert job.trigger.interval == timedelta(minutes=1)
        # Due at once: cards lost when the bot stopped go out as soon as it is back.
        assert job.next_run_time <= datetime.now(UTC) + timedelta(seconds=1)
    finally:
        scheduler.shutdown(wait=False)


def test_the_card_outbox_posts_only_captured_proposals_missing_a_card(engine: Engine) -> None:
    proposal_id = _waiting_proposal(
        engine, created_at=datetime.now(UTC) - timedelta(hours=1), user="U0CARD"
    )
    with session_scope(engine) as session:
        objective = proposals.repo.list_objectives(session=session)[0]
        proposal = proposals.choose_objective(
            session=session, proposal_id=proposal_id, objective_id=objective.id or 0, actor="U0CARD"
        )
        # Stored by a one-line capture, which always carries its Slack request's key.
        proposal.source_key = "command:T0CARD"
        session.add(proposal)
    later = datetime.now(UTC) + timedelta(minutes=5)
    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test-token", base_url=slack.api_url)
        assert jobs.post_missing_cards(deps=_deps(engine), client=client, now=later, pace=0) == 1
        assert jobs.post_missing_cards(deps=_deps(engine), client=client, now=later, pace=0) == 0
        posted = slack.calls("chat.postMessage")
    assert [c.params["channel"] for c in posted] == ["C1"]
    assert posted[0].params["metadata"]["event_payload"] == {"proposal_id": proposal_id}
