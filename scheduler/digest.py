"""The weekly SLA digest job: on CSI_DIGEST_CRON, evaluate every target and post the digest to
CSI_DIGEST_CHANNEL, exactly once per firing however many replicas run and whatever fails.

Each firing is a period (scheduler/schedules.py). The run claims it, posts the summary with
message metadata naming the period, keeps the summary's ts, fills the thread, and marks the
period done. A run taken over after a crash updates the summary it finds (by the stored ts, or
by the metadata in the channel) instead of posting a second one.
"""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import digest_posting as posting
from bot import objective_posting, stale_posting
from bot.deps import Deps
from bot.notify import UNREACHABLE
from bot.sla.evaluation import evaluate
from scheduler import runs, schedules
from scheduler.leader import Leadership, OneProcess
from scheduler.slack_messages import CLOCK_SKEW, find_by_metadata, has_replies
from storage.types import utcnow

log = logging.getLogger(__name__)

JOB = "sla_digest"
EVENT_TYPE = "csi_sla_digest"

digest_trigger = schedules.digest_trigger


def post_sla_digest(
    *,
    deps: Deps,
    client: WebClient,
    now: datetime | None = None,
    leadership: Leadership | None = None,
) -> posting.PostedDigest | None:
    """Post the digest of the latest firing of CSI_DIGEST_CRON at or before `now`.

    None when that firing's digest was posted already (by this replica or another) or another
    live run holds it. Raises when Slack fails; the firing then stays due and the next tick
    tries it again."""
    now = now or utcnow()
    slot = schedules.latest_slot(digest_trigger(deps.settings), now)
    if slot is None:
        return None
    return complete_digest(
        deps=deps,
        client=client,
        period=schedules.period_key(slot),
        due_at=slot,
        leadership=leadership or OneProcess(),
        as_of=now,
    )


def complete_digest(
    *,
    deps: Deps,
    client: WebClient,
    period: str,
    due_at: datetime,
    leadership: Leadership,
    as_of: datetime | None = None,
) -> posting.PostedDigest | None:
    """Post (or, after a crash, complete) the digest of one period: the 7 days before `as_of`
    (by default the firing's own time, so that a late or retried run reports the same week)."""
    channel = deps.settings.digest_channel
    if not channel:
        log.info("no CSI_DIGEST_CHANNEL (or CSI_PROPOSALS_CHANNEL): the SLA digest is not posted")
        return None
    claim = runs.claim(deps=deps, leadership=leadership, job=JOB, period=period, due_at=due_at)
    if claim is None:
        return None
    try:
        posted, outcome = _post_or_update(deps, client, channel, claim, as_of or due_at)
    except Exception as exc:
        runs.give_back(claim, error=_why(exc))
        raise
    runs.finish(
        claim,
        outcome=outcome,
        note=f"{outcome} {posted.channel}/{posted.ts}: {posted.replies} replies",
    )
    return posted


def _post_or_update(
    deps: Deps, client: WebClient, channel: str, claim: runs.Claim, as_of: datetime
) -> tuple[posting.PostedDigest, str]:
    timezone = deps.settings.timezone
    with deps.session() as session:
        digest = evaluate(session=session, as_of=as_of, timezone=timezone)
        proposals = posting.proposal_refs(session=session, digest=digest)
    metadata: dict[str, object] = {
        "event_type": EVENT_TYPE,
        "event_payload": {"job": JOB, "period": claim.period},
    }
    found = _already_posted(client, channel, claim)
    if found is None:
        posted = posting.post_digest(
            client=client,
            channel=channel,
            digest=digest,
            proposals=proposals,
            metadata=metadata,
            on_posted=claim.record_message,
        )
        _fill_thread(deps, client, posted, now=as_of)
        return posted, "posted"
    found_channel, found_ts = found
    if claim.ts is None:
        claim.record_message(found_channel, found_ts)
    # The thread is filled only when the interrupted run left it empty: a reply is never doubled.
    empty_thread = not has_replies(client, found_channel, found_ts)
    posted = posting.update_digest(
        client=client,
        channel=found_channel,
        ts=found_ts,
        digest=digest,
        proposals=proposals,
        metadata=metadata,
        fill_thread=empty_thread,
    )
    if empty_thread:
        _fill_thread(deps, client, posted, now=as_of)
    return posted, "updated"


def _already_posted(client: WebClient, channel: str, claim: runs.Claim) -> tuple[str, str] | None:
    """The message an earlier attempt posted: its stored ts, or else the channel's message with
    this period's metadata. Raises when Slack cannot be asked (the run stays due)."""
    if claim.channel and claim.ts:
        return claim.channel, claim.ts
    if not claim.taken_over:
        return None
    return find_by_metadata(
        client,
        channel=channel,
        event_type=EVENT_TYPE,
        payload={"job": JOB, "period": claim.period},
        since=claim.due_at - CLOCK_SKEW,
    )


def _fill_thread(
    deps: Deps, client: WebClient, posted: posting.PostedDigest, *, now: datetime
) -> None:
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
    objective_posting.post_objective_progress(
        deps=deps, client=client, channel=posted.channel, thread_ts=posted.ts, now=now
    )


def _why(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"slack: {exc.response.get('error')}"
    if isinstance(exc, UNREACHABLE):
        return f"slack unreachable: {exc}"
    return repr(exc)
