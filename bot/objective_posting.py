"""Posting how far the objectives got into the weekly digest's thread (after the digest itself
is posted), next to the stale work and the counteracting proposals."""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import objective_progress
from bot.blocks.objective_progress import digest_section
from bot.deps import Deps
from bot.notify import UNREACHABLE
from storage import repositories as repo
from storage.types import utcnow

log = logging.getLogger(__name__)


def post_objective_progress(
    *, deps: Deps, client: WebClient, channel: str, thread_ts: str, now: datetime | None = None
) -> int:
    """Reply in the digest's thread with each active objective's progress, the neglected ones
    first; returns how many objectives are neglected. Never raises: the digest is posted."""
    try:
        with deps.session() as session:
            found = objective_progress.progress(
                session=session,
                objectives=repo.list_objectives(session=session),
                now=now or utcnow(),
                timezone=deps.settings.timezone,
                with_verified=False,
            )
    except SQLAlchemyError as exc:
        log.warning("objective progress not posted, the database failed: %s", exc)
        return 0
    if not found:
        return 0
    text, blocks = digest_section(found)
    try:
        client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=text, blocks=blocks, unfurl_links=False
        )
    except SlackApiError as exc:
        log.warning("objective progress not posted: %s", exc.response.get("error"))
        return 0
    except UNREACHABLE as exc:
        log.warning("objective progress not posted: %s", exc)
        return 0
    return sum(1 for p in found if p.neglected)
