"""Direct messages to people: the one way the bot tells someone something privately."""

from __future__ import annotations

import http.client
import logging
from enum import StrEnum
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.people import is_slack_user

log = logging.getLogger(__name__)

# Slack could not be reached or answered something that is not the Web API: whether the call
# took effect is unknown. Callers that run after the ack log these and carry on.
UNREACHABLE = (OSError, http.client.HTTPException, SlackClientError)


class Delivery(StrEnum):
    """What became of one direct message."""

    SENT = "sent"
    REFUSED = "refused"  # not a Slack user, or Slack refused it: it did not arrive
    RATELIMITED = "ratelimited"  # it did not arrive; Slack takes it a little later
    UNKNOWN = "unknown"  # Slack failed (5xx) or did not answer: it may have arrived


def tell(
    client: WebClient, user_id: str | None, text: str, blocks: list[dict[str, Any]] | None = None
) -> bool:
    """DM a person; False (logged, not raised) when they cannot be reached.

    A failed notification must never undo or hide the change it reports.
    """
    return send(client, user_id, text, blocks) is Delivery.SENT


def send(
    client: WebClient, user_id: str | None, text: str, blocks: list[dict[str, Any]] | None = None
) -> Delivery:
    """DM a person and say what became of it (logged, never raised)."""
    if user_id is None or not is_slack_user(user_id):
        log.info("not telling %r: not a Slack user ID", user_id)
        return Delivery.REFUSED
    try:
        client.chat_postMessage(
            channel=user_id, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
        )
    except SlackApiError as exc:
        error = exc.response.get("error")
        log.warning("could not message %s: %s", user_id, error)
        if exc.response.status_code >= 500:
            return Delivery.UNKNOWN
        return Delivery.RATELIMITED if error == "ratelimited" else Delivery.REFUSED
    except UNREACHABLE as exc:
        log.warning("could not message %s: %s", user_id, exc)
        return Delivery.UNKNOWN
    return Delivery.SENT
