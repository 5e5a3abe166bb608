"""The weekly list of proposals still without an objective after a week, for the steering group
(in CSI_STEERING_CHANNEL), so that they do not rot. Claimed per ISO week: several replicas and
several tries in the week post it once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks import decisions as decision_blocks
from bot.deps import Deps
from bot.notify import UNREACHABLE
from scheduler import runs
from scheduler.leader import Leadership, OneProcess
from scheduler.slack_messages import CLOCK_SKEW, find_by_metadata
from storage import repositories as repo
from storage.types import utcnow

log = logging.getLogger(__name__)

JOB = "objective_digest"
# The list carries this message metadata: a run taken over after a crash finds it by it.
EVENT_TYPE = "csi_objective_digest"
# A proposal waiting this long for its objective is listed.
WAITING_FOR = timedelta(days=7)


def week_key(now: datetime, timezone: str) -> str:
    """The ISO week of `now` in the configured time zone ("2026-W19"): the job's period."""
    year, week, _ = now.astimezone(ZoneInfo(timezone)).isocalendar()
    return f"{year}-W{week:02d}"


def trigger(timezone: str) -> CronTrigger:
    """Mondays, tried every working hour: the week's claim makes only the first try post, so a
    replica that was down at nine still posts later that day."""
    return CronTrigger(day_of_week="mon", hour="9-17", minute=25, timezone=timezone)


def post_objective_digest(
    *,
    deps: Deps,
    client: WebClient,
    now: datetime | None = None,
    leadership: Leadership | None = None,
) -> int:
    """List the proposals waiting for an objective for over a week in the steering channel;
    returns how many were listed (0: none, or this week's list was posted already). A list
    Slack did not take leaves the week due: the next hour's try posts it."""
    now = now or utcnow()
    channel = deps.settings.steering_channel
    if not channel:
        return 0
    claim = runs.claim(
        deps=deps,
        leadership=leadership or OneProcess(),
        job=JOB,
        period=week_key(now, deps.settings.timezone),
        due_at=now,
    )
    if claim is None:
        return 0
    with deps.session() as session:
        waiting = repo.proposals_waiting_for_objective(
            session=session, created_before=now - WAITING_FOR
        )
    if not waiting:
        runs.finish(claim, outcome="nothing_to_list")
        return 0
    payload = {"job": JOB, "period": claim.period}
    try:
        if claim.ts is None and claim.taken_over:
            # A run that died between Slack's answer and keeping the ts: its list has this
            # week's metadata in the channel.
            found = find_by_metadata(
                client,
                channel=channel,
                event_type=EVENT_TYPE,
                payload=payload,
                since=claim.due_at - CLOCK_SKEW,
            )
            if found is not None:
                claim.record_message(*found)
        if claim.ts is not None:
            # Posted before a crash: the week's list is out.
            runs.finish(claim, outcome="posted_before")
            return 0
        text, message = decision_blocks.objective_digest(waiting, now=now)
        sent = client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=message,
            unfurl_links=False,
            metadata={"event_type": EVENT_TYPE, "event_payload": payload},
        )
        claim.record_message(str(sent.get("channel") or channel), str(sent["ts"]))
    except SlackApiError as exc:
        runs.give_back(claim, error=f"slack: {exc.response.get('error')}")
        return 0
    except UNREACHABLE as exc:
        runs.give_back(claim, error=f"slack unreachable: {exc}")
        return 0
    runs.finish(claim, outcome="posted")
    return len(waiting)
