"""The prioritisation poll on a schedule: opened on CSI_POLL_CRON, closed CSI_POLL_DAYS later,
each once per period however many replicas run."""

from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.triggers.cron import CronTrigger
from slack_sdk import WebClient

from bot import poll_posting as service
from bot.deps import Deps
from bot.settings import Settings
from scheduler import runs, schedules
from scheduler.leader import Leadership, OneProcess
from storage import poll_tables as tables
from storage import repositories as repo
from storage.types import utcnow

log = logging.getLogger(__name__)

OPEN_JOB = "poll_open"
CLOSE_JOB = "poll_close"
# How often the schedule looks for a poll past its closing time.
CLOSE_CHECK_MINUTES = 10


poll_trigger = schedules.poll_trigger
_OUTCOMES = {
    service.Opened: "posted",
    service.AlreadyOpen: "already_open",
    service.NoCandidates: "no_candidates",
}


def close_trigger(settings: Settings) -> CronTrigger:
    """When the schedule looks for a poll to close."""
    return CronTrigger(minute=f"*/{CLOSE_CHECK_MINUTES}", timezone=settings.timezone)


def open_scheduled_poll(
    *,
    deps: Deps,
    client: WebClient,
    now: datetime | None = None,
    leadership: Leadership | None = None,
) -> service.OpenOutcome | None:
    """Open the poll of the latest firing of CSI_POLL_CRON at or before `now`, once across
    replicas; None when another run had that firing already."""
    now = now or utcnow()
    slot = schedules.latest_slot(poll_trigger(deps.settings), now)
    if slot is None:
        return None
    return complete_poll_open(
        deps=deps,
        client=client,
        period=schedules.period_key(slot),
        due_at=slot,
        leadership=leadership or OneProcess(),
        now=now,
    )


def complete_poll_open(
    *,
    deps: Deps,
    client: WebClient,
    period: str,
    due_at: datetime,
    leadership: Leadership,
    now: datetime | None = None,
) -> service.OpenOutcome | None:
    """Open the poll of one firing. A poll that Slack refused leaves the firing due, so the
    next tick tries again; a poll opened before a crash is found open, not opened twice."""
    claim = runs.claim(deps=deps, leadership=leadership, job=OPEN_JOB, period=period, due_at=due_at)
    if claim is None:
        return None
    try:
        outcome = service.open_poll(
            deps=deps, client=client, opened_by="schedule", now=now or utcnow()
        )
    except Exception as exc:
        runs.give_back(claim, error=repr(exc))
        raise
    runs.finish(claim, outcome=_OUTCOMES.get(type(outcome), "done"))
    if isinstance(outcome, service.Opened):
        log.info(
            "prioritisation poll %d opened in %s with %d candidates",
            outcome.poll_id,
            outcome.channel_id,
            len(outcome.candidates),
        )
    elif isinstance(outcome, service.AlreadyOpen):
        log.info("no new prioritisation poll: poll %d is still open", outcome.poll_id)
    else:
        log.info("no prioritisation poll: no open or approved proposal to put to the vote")
    return outcome


def close_due_poll(
    *, deps: Deps, client: WebClient, now: datetime | None = None
) -> service.CloseOutcome | None:
    """Close the open poll once CSI_POLL_DAYS have passed and post its result; None when no poll
    is due or another replica has this check's period (a poll and a ten-minute slot)."""
    now = now or utcnow()
    with deps.session() as session:
        poll = tables.open_poll(session=session)
        if poll is None or poll.id is None or now < poll.closes_at:
            return None
        slot = now.replace(
            minute=now.minute - now.minute % CLOSE_CHECK_MINUTES, second=0, microsecond=0
        )
        period = f"{poll.id}@{slot:%Y-%m-%dT%H:%M}"
        if not repo.claim_job_run(session=session, job=CLOSE_JOB, period=period):
            return None
    outcome = service.close_poll(deps=deps, client=client, now=now, due_only=True)
    if isinstance(outcome, service.Closed):
        log.info("prioritisation poll %d closed: %d voters", outcome.poll_id, outcome.result.voters)
    return outcome
