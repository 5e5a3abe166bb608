"""The scheduled jobs, as importable functions. Each claims its period first, so that several
replicas of the bot run it once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from bot import blocks, cards, notify
from bot.deps import Deps
from bot.outbox import CARD_STATUSES, Outcome
from storage import repositories as repo
from storage.types import utcnow

log = logging.getLogger(__name__)

REMIND_AFTER = timedelta(hours=24)
# Slack retries an event for at most a few hours; a week of IDs is ample.
KEEP_EVENT_IDS = timedelta(days=7)
KEEP_PENDING_DRAFTS = timedelta(days=1)
# A proposal changed this recently may have its card on the way from its own request.
CARD_SETTLE = timedelta(seconds=30)
# Cards per outbox run; at one a second that fits in the minute between runs.
CARDS_PER_RUN = 50


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


def post_missing_cards(
    *, deps: Deps, client: WebClient, now: datetime | None = None, pace: float = 1.0
) -> int:
    """The card outbox: post the card of every proposal captured in Slack that should have one
    and has none (its post failed, or the bot stopped before it). Returns how many were posted.

    Imported proposals are left to `csi-bot cards post`. Replicas may run this at the same time:
    each card is claimed before it is posted, so it is posted once.
    """
    if not deps.settings.proposals_channel:
        return 0
    now = now or utcnow()
    tally = cards.outbox(deps, client).post_missing(
        statuses=CARD_STATUSES,
        captured_only=True,
        unchanged_since=now - CARD_SETTLE,
        pace=pace,
        limit=CARDS_PER_RUN,
    )
    posted = tally[Outcome.POSTED] + tally[Outcome.ADOPTED]
    if posted or tally[Outcome.FAILED]:
        log.info(
            "card outbox: %d posted, %d found in the channel, %d failed",
            tally[Outcome.POSTED],
            tally[Outcome.ADOPTED],
            tally[Outcome.FAILED],
        )
    return posted
