"""The scheduled jobs, as importable functions. Each claims its period first, so that several
replicas of the bot run it once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from bot import blocks, notify
from bot.deps import Deps
from storage import repositories as repo
from storage.types import utcnow

log = logging.getLogger(__name__)

REMIND_AFTER = timedelta(hours=24)
# Slack retries an event for at most a few hours; a week of IDs is ample.
KEEP_EVENT_IDS = timedelta(days=7)
KEEP_PENDING_DRAFTS = timedelta(days=1)


def day_key(now: datetime, timezone: str) -> str:
    """The calendar day of `now` in the configured time zone: the period of a daily job."""
    return now.astimezone(ZoneInfo(timezone)).date().isoformat()


def remind_missing_objectives(*, deps: Deps, client: WebClient, now: datetime | None = None) -> int:
    """Once a day, ask each submitter again for the objective of a one-line proposal.

    Returns how many reminders were sent (0 when another replica had the day already).
    """
    now = now or utcnow()
    with deps.session() as session:
        if not repo.claim_job_run(
            session=session, job="objective_reminders", period=day_key(now, deps.settings.timezone)
        ):
            return 0
        waiting = repo.proposals_waiting_for_objective(
            session=session, created_before=now - REMIND_AFTER
        )
        objectives = repo.list_objectives(session=session)
    sent = 0
    for proposal in waiting:
        text, message = blocks.objective_question(proposal, objectives, reminder=True)
        sent += notify.tell(client, proposal.submitter, text, message)
    return sent


def housekeeping(*, deps: Deps, now: datetime | None = None) -> int:
    """Forget event IDs past Slack's retry window and forms abandoned at the similar-choice step.

    Safe to run on every replica at once: deleting what is already gone deletes nothing.
    """
    now = now or utcnow()
    with deps.session() as session:
        events = repo.forget_events(session=session, before=now - KEEP_EVENT_IDS)
        drafts = repo.forget_pending_drafts(session=session, before=now - KEEP_PENDING_DRAFTS)
    return events + drafts
