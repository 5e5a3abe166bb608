"""Looking in Slack for what an interrupted run already posted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient

# Another replica's clock may be a little behind: look this much further back in the channel.
CLOCK_SKEW = timedelta(minutes=2)
# Pages of channel history read when looking for a message (200 messages a page).
HISTORY_PAGES = 10


def find_by_metadata(
    client: WebClient,
    *,
    channel: str,
    event_type: str,
    payload: dict[str, Any],
    since: datetime,
) -> tuple[str, str] | None:
    """(channel, ts) of the bot's top-level message in `channel` since `since` whose message
    metadata is `event_type` with `payload` among its fields; None when there is none. Raises
    when Slack cannot be asked, so that the caller does not post blindly."""
    cursor: str | None = None
    for _ in range(HISTORY_PAGES):
        response = client.conversations_history(
            channel=channel,
            oldest=f"{since.timestamp():.6f}",
            include_all_metadata=True,
            limit=200,
            cursor=cursor,
        )
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            found = metadata.get("event_payload") or {}
            if metadata.get("event_type") == event_type and all(
                found.get(key) == value for key, value in payload.items()
            ):
                return channel, str(message["ts"])
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not response.get("has_more") or not cursor:
            return None
    return None


def has_replies(client: WebClient, channel: str, ts: str) -> bool:
    """True when the message has a thread (or Slack cannot say: then nothing is added to it)."""
    try:
        response = client.conversations_replies(channel=channel, ts=ts, limit=2)
    except Exception:
        return True
    return len(response.get("messages") or []) > 1
