"""Stale work: open proposals quiet for weeks, listed in the digest's thread with keep / park /
withdraw for the steering group. On both databases, and through the running bot."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from bot import counteracting, proposals, stale
from bot.deps import Deps
from bot.drafts import ProposalDraft
from bot.ids import ActionId
from bot.lifecycle import Status
from bot.settings import Settings
from bot.stale_posting import post_stale_work
from bot.steering import SteeringGroup
from scheduler.digest import post_sla_digest
from storage import repositories as repo
from storage.db import session_scope
from storage.models import AuditEntry, Proposal
from storage.types import utcnow
from tests.botproc import BOT_TOKEN
from tests.conftest import Stack

STEERING = "USTEER"


def _quiet(engine: Engine, title: str, *, weeks_ago: int, submitter: str = "U1") -> int:
    """An open proposal whose every trace is `weeks_ago` weeks old."""
    with session_scope(engine) as session:
        objective = repo.objective_by_title(session=session, title="Fewer outages")
        if objective is None:
            objective = proposals.add_objective(session=session, title="Fewer outages")
        proposal, _ = proposals.capture(
            session=session,
            draft=ProposalDraft(title=title, objective_id=objective.id),
            submitter=submitter,
            require_objective=True,
        )
        then = utcnow() - timedelta(weeks=weeks_ago)
        session.execute(
            update(Proposal).where(col(Proposal.id) == proposal.id).values(updated_at=then)
        )
        session.execute(
            update(AuditEntry).where(col(AuditEntry.proposal_id) == proposal.id).values(at=then)
        )
        return proposal.id or 0


def test_quiet_open_proposals_are_listed_oldest_first_and_activity_takes_them_off(
    engine: Engine,
) -> None:
    older = _quiet(engine, "Archive the old wiki pages", weeks_ago=10)
    old = _quiet(engine, "Retire the fax gateway", weeks_ago=7)
    _quiet(engine, "Rotate the shared passwords", weeks_ago=2)  # not quiet long enough
    voted = _quiet(engine, "Label the network cables", weeks_ago=9)
    with session_scope(engine) as session:
        repo.add_vote(session=session, proposal_id=voted, user_id="U9")  # a vote is activity
    with session_scope(engine) as session:
        found, total = stale.stale_proposals(session=session, now=utcnow(), weeks=6)
        assert [s.proposal.id for s in found] == [older, old] and total == 2
        stale.keep(session=session, proposal_id=older, actor=STEERING, now=utcnow())
        stale.keep(session=session, proposal_id=older, actor=STEERING, now=utcnow())
        kept = [e for e in repo.history(session=session, proposal_id=older) if e.action == "kept"]
        assert len(kept) == 1  # a double click is recorded once
    with session_scope(engine) as session:
        found, _ = stale.stale_proposals(session=session, now=utcnow(), weeks=6)
        assert [s.proposal.id for s in found] == [old]
        stale.park(
            session=session, proposal_id=old, actor=STEERING, weeks=6, allow_self_decision=False
        )
        assert proposals.get(session=session, proposal_id=old).status == Status.DEFERRED
        _, changed = stale.withdraw(session=session, proposal_id=voted, actor=STEERING, weeks=6)
        assert changed
        _, again = stale.withdraw(session=session, proposal_id=voted, actor=STEERING, weeks=6)
        assert not again
    with session_scope(engine) as session:
        assert stale.stale_proposals(session=session, now=utcnow(), weeks=6) == ([], 0)


@pytest.mark.e2e
def test_stale_work_in_the_digest_thread_is_parked_by_the_steering_group_only(
    stack: Stack,
) -> None:
    quiet = _quiet(stack.engine, "Replace the lobby sign-in tablets", weeks_ago=8)
    client = WebClient(token=BOT_TOKEN, base_url=stack.slack.api_url)
    digest = client.chat_postMessage(channel="C0DIGEST", text="SLA digest")
    deps: Any = SimpleNamespace(session=lambda: session_scope(stack.engine))
    listed = post_stale_work(
        deps=deps, client=client, channel="C0DIGEST", thread_ts=str(digest["ts"]), weeks=6
    )
    assert listed == 1
    reply = stack.slack.wait_for(
        "chat.postMessage",
        lambda c: (
            c.params.get("thread_ts") == digest["ts"] and "Stale work" in json.dumps(c.params)
        ),
    )
    assert not reply.refused
    buttons = next(b for b in reply.params["blocks"] if b["type"] == "actions")
    park = next(e for e in buttons["elements"] if e["action_id"] == ActionId.STALE_PARK)
    click = {
        "action_id": park["action_id"],
        "value": park["value"],
        "block_id": buttons["block_id"],
    }

    stack.driver.block_actions([click], user_id="U0NOSTEER", channel_id="C0DIGEST")
    stack.slack.wait_for(
        "response_url", lambda c: "Only the steering group" in json.dumps(c.params)
    )
    with session_scope(stack.engine) as session:
        assert proposals.get(session=session, proposal_id=quiet).status == Status.OPEN

    stack.driver.block_actions([click], user_id=STEERING, channel_id="C0DIGEST")
    stack.slack.wait_for("response_url", lambda c: "parked (deferred)" in json.dumps(c.params))
    with session_scope(stack.engine) as session:
        assert proposals.get(session=session, proposal_id=quiet).status == Status.DEFERRED


def _kpi_proposal(engine: Engine, title: str, baseline: str, target: str) -> int:
    with session_scope(engine) as session:
        objective = repo.objective_by_title(session=session, title="Fewer outages")
        assert objective is not None
        proposal, _ = proposals.capture(
            session=session,
            draft=ProposalDraft(
                title=title,
                objective_id=objective.id,
                service="Email",
                kpi="Mailbox quota (GB)",
                kpi_baseline=baseline,
                kpi_target=target,
            ),
            submitter="U1",
            require_objective=True,
        )
        counteracting.record(session=session, proposal_id=proposal.id or 0)
        return proposal.id or 0


def test_the_weekly_digest_thread_lists_stale_work_and_counteracting_pairs(stack: Stack) -> None:
    _quiet(stack.engine, "Retire the fax gateway", weeks_ago=9)
    raise_quota = _kpi_proposal(stack.engine, "Raise mailbox quotas for sales", "50", "100")
    cut_quota = _kpi_proposal(stack.engine, "Cut mailbox quotas to save storage", "50", "20")
    settings = Settings.from_mapping({**stack.env, "CSI_DIGEST_CHANNEL": "C0WEEKLY"})
    client = WebClient(token=BOT_TOKEN, base_url=stack.slack.api_url)
    deps = Deps(settings=settings, engine=stack.engine, steering=SteeringGroup(settings, client))
    posted = post_sla_digest(deps=deps, client=client, now=utcnow() + timedelta(days=3))
    assert posted is not None
    replies = [
        c
        for c in stack.slack.calls("chat.postMessage")
        if c.params.get("thread_ts") == posted.ts and not c.refused
    ]
    shown = json.dumps([c.params.get("blocks") for c in replies])
    assert "Stale work" in shown and "Retire the fax gateway" in shown
    pairs = [c for c in replies if "Counteracting proposals" in json.dumps(c.params)]
    assert len(pairs) == 1
    sides = [b for b in pairs[0].params["blocks"] if b.get("fields")]
    assert any(
        f"#{raise_quota} " in s["fields"][0]["text"] + s["fields"][1]["text"]
        and f"#{cut_quota} " in s["fields"][0]["text"] + s["fields"][1]["text"]
        for s in sides
    )
