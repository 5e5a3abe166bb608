"""The prioritisation poll on a schedule: opened on CSI_POLL_CRON, closed CSI_POLL_DAYS later,
each once per period however many replicas run."""

from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.triggers.cron import CronTrigger
from slack_sdk import WebClient
from sqlmodel import col, delete

from bot import poll_posting as service
from bot.deps import Deps
from bot.settings import Settings, SettingsError
from scheduler.jobs import day_key
from storage import poll_tables as tables
from storage import repositories as repo
from storage.models import JobRun
from storage.types import utcnow

log = logging.getLogger(__name__)

OPEN_JOB = "poll_open"
CLOSE_JOB = "poll_close"
# How often the schedule looks for a poll past its closing time.
CLOSE_CHECK_MINUTES = 10


def poll_trigger(settings: Settings) -> CronTrigger:
    """CSI_POLL_CRON as a trigger in CSI_TIMEZONE; a SettingsError that says how to write it
    when it is not a 5-field cron expression."""
    try:
        return CronTrigger.from_crontab(settings.poll_cron, timezone=settings.timezone)
    except ValueError as exc:
        raise SettingsError(
            f"CSI_POLL_CRON={settings.poll_cron!r} is not a cron expression ({exc}). Give five "
            "fields, minute hour day-of-month month day-of-week, e.g. '0 10 1 * *' (the 1st of "
            "each month at 10:00 in CSI_TIMEZONE)."
        ) from exc


def close_trigger(settings: Settings) -> CronTrigger:
    """When the schedule looks for a poll to close."""
    return CronTrigger(minute=f"*/{CLOSE_CHECK_MINUTES}", timezone=settings.timezone)


def open_scheduled_poll(
    *, deps: Deps, client: WebClient, now: datetime | None = None
) -> service.OpenOutcome | None:
    """Open a poll, once per day of CSI_POLL_CRON firing (in CSI_TIMEZONE) across replicas;
    None when another run had the day already. A poll that Slack refused gives the day back,
    so a later firing may try again."""
    now = now or utcnow()
    period = day_key(now, deps.settings.timezone)
    with deps.session() as session:
        if not repo.claim_job_run(session=session, job=OPEN_JOB, period=period):
            log.info("the prioritisation poll of %s was opened already", period)
            return None
    try:
        outcome = service.open_poll(deps=deps, client=client, opened_by="schedule", now=now)
    except Exception:
        _release(deps, OPEN_JOB, period)
        raise
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


def _release(deps: Deps, job: str, period: str) -> None:
    with deps.session() as session:
        session.exec(delete(JobRun).where(col(JobRun.job) == job, col(JobRun.period) == period))
