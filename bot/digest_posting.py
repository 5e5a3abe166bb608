"""Posting the SLA digest to Slack: the summary message, the chart and the details in its
thread. Used by the weekly job and by `csi-bot digest --post`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session, col, select

from bot.blocks import digest as digest_blocks
from bot.blocks.digest import ProposalRef, SlackMessage
from bot.notify import UNREACHABLE
from bot.sla import chart
from bot.sla.evaluation import Digest
from storage.models import Proposal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostedDigest:
    """Where the digest went: its message, how many thread replies, the chart's file ID."""

    channel: str
    ts: str
    replies: int
    chart_file_id: str | None


def proposal_refs(*, session: Session, digest: Digest) -> dict[int, ProposalRef]:
    """The proposals the digest names, by ID: title and card link."""
    ids = sorted({pid for result in digest.targets for pid in result.proposals})
    if not ids:
        return {}
    rows = session.exec(
        select(Proposal.id, Proposal.title, Proposal.permalink).where(col(Proposal.id).in_(ids))
    )
    return {
        pid: ProposalRef(id=pid, title=title, permalink=link)
        for pid, title, link in rows
        if pid is not None
    }


def chart_png(digest: Digest) -> bytes | None:
    """The attainment chart of the targets that have a value; None when none has."""
    bars = [
        chart.Bar(
            label=f"{r.service} · {r.aggregate} {r.metric}",
            attainment=chart.attainment(
                actual=r.actual,
                target=r.target,
                comparator=r.comparator,
                breached=r.breached is True,
            ),
            breached=r.breached is True,
        )
        for r in digest.targets
        if r.actual is not None
    ]
    return chart.render(bars, title=digest_blocks.chart_title(digest)) if bars else None


def post_digest(
    *,
    client: WebClient,
    channel: str,
    digest: Digest,
    proposals: dict[int, ProposalRef],
    metadata: dict[str, object] | None = None,
    on_posted: Callable[[str, str], None] | None = None,
) -> PostedDigest:
    """Post the digest to `channel`. Raises when the first message cannot be posted (nothing
    reached the channel); a failed chart or thread reply after it is logged, not raised, so
    the digest that did go out is not posted a second time.

    `metadata` goes with the first message (a scheduled run finds its digest by it after a
    crash); `on_posted(channel, ts)` is told of the first message before the thread is filled."""
    empty = digest_blocks.nothing_to_report(digest)
    first = empty or digest_blocks.summary_message(digest)
    sent = _post(client, channel, first, metadata=metadata)
    ts = str(sent["ts"])
    channel_id = str(sent.get("channel") or channel)
    if on_posted is not None:
        on_posted(channel_id, ts)
    if empty is not None:
        return PostedDigest(channel=channel_id, ts=ts, replies=0, chart_file_id=None)
    file_id = _upload_chart(client, channel_id, ts, digest)
    replies = _post_replies(
        client, channel_id, ts, digest_blocks.detail_messages(digest, proposals)
    )
    return PostedDigest(channel=channel_id, ts=ts, replies=replies, chart_file_id=file_id)


def update_digest(
    *,
    client: WebClient,
    channel: str,
    ts: str,
    digest: Digest,
    proposals: dict[int, ProposalRef],
    metadata: dict[str, object] | None = None,
    fill_thread: bool,
) -> PostedDigest:
    """Bring a digest message already in the channel up to date (a run taken over after a
    crash) instead of posting it again; with `fill_thread`, also post its chart and details
    (the thread was left empty). Raises when the message cannot be updated."""
    empty = digest_blocks.nothing_to_report(digest)
    first = empty or digest_blocks.summary_message(digest)
    client.chat_update(
        channel=channel, ts=ts, text=first.text, blocks=first.blocks, metadata=metadata
    )
    if empty is not None or not fill_thread:
        return PostedDigest(channel=channel, ts=ts, replies=0, chart_file_id=None)
    file_id = _upload_chart(client, channel, ts, digest)
    replies = _post_replies(client, channel, ts, digest_blocks.detail_messages(digest, proposals))
    return PostedDigest(channel=channel, ts=ts, replies=replies, chart_file_id=file_id)


def _post(
    client: WebClient,
    channel: str,
    message: SlackMessage,
    thread_ts: str | None = None,
    metadata: dict[str, object] | None = None,
) -> dict[str, object]:
    response = client.chat_postMessage(
        channel=channel,
        text=message.text,
        blocks=message.blocks,
        thread_ts=thread_ts,
        unfurl_links=False,
        unfurl_media=False,
        metadata=metadata,
    )
    return dict(response.data) if isinstance(response.data, dict) else {}


def _upload_chart(client: WebClient, channel: str, ts: str, digest: Digest) -> str | None:
    try:
        png = chart_png(digest)
    except Exception:
        # The message is out already: raising would post the whole digest again on a retry.
        log.exception("the SLA digest's chart could not be drawn")
        return None
    if png is None:
        return None
    end = digest.period_end.astimezone(ZoneInfo(digest.timezone)).date().isoformat()
    try:
        # files.getUploadURLExternal, the upload itself, then files.completeUploadExternal
        # shares it into the digest's thread by the channel's ID.
        response = client.files_upload_v2(
            channel=channel,
            thread_ts=ts,
            content=png,
            filename=f"sla-digest-{end}.png",
            title=digest_blocks.chart_title(digest),
            alt_txt=digest_blocks.chart_alt_text(digest),
        )
    except (SlackApiError, *UNREACHABLE) as exc:
        log.warning("the SLA digest's chart was not uploaded: %s", _why(exc))
        return None
    files = response.get("files") or []
    return str(files[0]["id"]) if files else None


def _post_replies(
    client: WebClient, channel: str, ts: str, messages: Iterable[SlackMessage]
) -> int:
    posted = 0
    for message in messages:
        try:
            _post(client, channel, message, thread_ts=ts)
        except (SlackApiError, *UNREACHABLE) as exc:
            log.warning("a reply of the SLA digest was not posted: %s", _why(exc))
            continue
        posted += 1
    return posted


def _why(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return str(exc)
