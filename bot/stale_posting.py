"""Posting the stale work into the digest's thread (after the digest itself is posted)."""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import stale
from bot.blocks.counteracting import MAX_PAIRS_SHOWN, counteracting_pairs
from bot.blocks.stale import stale_messages
from bot.counteracting import active_pairs
from bot.deps import Deps
from bot.notify import UNREACHABLE
from storage.types import utcnow

log = logging.getLogger(__name__)


def post_stale_work(
    *,
    deps: Deps,
    client: WebClient,
    channel: str,
    thread_ts: str,
    weeks: int = stale.DEFAULT_WEEKS,
    now: datetime | None = None,
) -> int:
    """Reply in the digest's thread with the open proposals quiet for `weeks` weeks, each with
    keep / park / withdraw; returns how many were listed. Never raises: the digest is posted."""
    with deps.session() as session:
        quiet, total = stale.stale_proposals(session=session, now=now or utcnow(), weeks=weeks)
    listed = 0
    for text, blocks in stale_messages(quiet, total=total, weeks=weeks):
        try:
            client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=text, blocks=blocks, unfurl_links=False
            )
        except SlackApiError as exc:
            log.warning("stale work not posted: %s", exc.response.get("error"))
            break
        except UNREACHABLE as exc:
            log.warning("stale work not posted: %s", exc)
            break
        listed += sum(1 for b in blocks if b.get("type") == "actions")
    return listed


def post_counteracting_pairs(*, deps: Deps, client: WebClient, channel: str, thread_ts: str) -> int:
    """Reply in the digest's thread with the active proposals that pull one KPI of one service
    in opposite directions, side by side; returns how many pairs. Never raises."""
    with deps.session() as session:
        pairs = active_pairs(session=session, limit=MAX_PAIRS_SHOWN)
    if not pairs:
        return 0
    text, blocks = counteracting_pairs(pairs)
    try:
        client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=text, blocks=blocks, unfurl_links=False
        )
    except SlackApiError as exc:
        log.warning("counteracting proposals not posted: %s", exc.response.get("error"))
        return 0
    except UNREACHABLE as exc:
        log.warning("counteracting proposals not posted: %s", exc)
        return 0
    return len(pairs)
