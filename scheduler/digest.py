"""The weekly SLA digest job: on CSI_DIGEST_CRON, evaluate every target and post the digest to
CSI_DIGEST_CHANNEL, once per period however many replicas run."""

from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.triggers.cron import CronTrigger
from slack_sdk import WebClient
from sqlmodel import col, delete

from bot import digest_posting as posting
from bot import stale_posting
from bot.deps import Deps
from bot.settings import Settings, SettingsError
from bot.sla.evaluation import evaluate
from scheduler.jobs import day_key
from storage import repositories as repo
from storage.models import JobRun
from storage.types import utcnow

log = logging.getLogger(__name__)

JOB = "sla_digest"


def digest_trigger(settings: Settings) -> CronTrigger:
    """CSI_DIGEST_CRON as a trigger in CSI_TIMEZONE; a SettingsError that says how to write it
    when it is not a 5-field cron expression."""
    try:
        return CronTrigger.from_crontab(settings.digest_cron, timezone=settings.timezone)
    except ValueError as exc:
        raise SettingsError(
            f"CSI_DIGEST_CRON={settings.digest_cron!r} is not a cron expression ({exc}). Give "
            "five fields, minute hour day-of-month month day-of-week, e.g. '0 9 * * MON' "
            "(Mondays at 09:00 in CSI_TIMEZONE)."
        ) from exc


def post_sla_digest(
    *, deps: Deps, client: WebClient, now: datetime | None = None
) -> posting.PostedDigest | None:
    """Post the digest of the 7 days before today (in CSI_TIMEZONE) to the digest channel.

    The period is claimed first: a second run for the same period, on this replica or another,
    posts nothing and returns None. When even the first message fails, the claim is given back
    so that a later run (or `csi-bot digest --post`) can post it.
    """
    channel = deps.settings.digest_channel
    if not channel:
        log.info("no CSI_DIGEST_CHANNEL (or CSI_PROPOSALS_CHANNEL): the SLA digest is not posted")
        return None
    now = now or utcnow()
    timezone = deps.settings.timezone
    period = day_key(now, timezone)
    with deps.session() as session:
        if not repo.claim_job_run(session=session, job=JOB, period=period):
            log.info("the SLA digest for %s was posted already", period)
            return None
        digest = evaluate(session=session, as_of=now, timezone=timezone)
        proposals = posting.proposal_refs(session=session, digest=digest)
    try:
        posted = posting.post_digest(
            client=client, channel=channel, digest=digest, proposals=proposals
        )
    except Exception:
        _release(deps, period)
        raise
    log.info(
        "SLA digest for %s posted to %s: %d targets, %d thread replies, chart %s",
        period,
        posted.channel,
        len(digest.targets),
        posted.replies,
        posted.chart_file_id or "none",
    )
    # The steering group's other weekly reading goes in the same thread: work gone quiet, and
    # proposals that would undo each other.
    stale_posting.post_stale_work(
        deps=deps,
        client=client,
        channel=posted.channel,
        thread_ts=posted.ts,
        weeks=deps.settings.stale_weeks,
        now=now,
    )
    stale_posting.post_counteracting_pairs(
        deps=deps, client=client, channel=posted.channel, thread_ts=posted.ts
    )
    return posted


def _release(deps: Deps, period: str) -> None:
    with deps.session() as session:
        session.exec(delete(JobRun).where(col(JobRun.job) == JOB, col(JobRun.period) == period))
