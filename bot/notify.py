"""Direct messages to people: the one way the bot tells someone something privately."""

from __future__ import annotations

import http.client
import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.people import is_slack_user

log = logging.getLogger(__name__)

# Slack could not be reached or answered something that is not the Web API: whether the call
# took effect is unknown. Callers that run after the ack log these and carry on.
UNREACHABLE = (OSError, http.client.HTTPException, SlackClientError)


def tell(
    client: WebClient, user_id: str | None, text: str, blocks: list[dict[str, Any]] | None = None
) -> bool:
    """DM a person; False (logged, not raised) when they cannot be reached.

    A failed notification must never undo or hide the change it reports.
    """
    if user_id is None or not is_slack_user(user_id):
        log.info("not telling %r: not a Slack user ID", user_id)
        return False
    try:
        client.chat_postMessage(
            channel=user_id, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
        )
    except SlackApiError as exc:
        log.warning("could not message %s: %s", user_id, exc.response.get("error"))
        return False
    except UNREACHABLE as exc:
        log.warning("could not message %s: %s", user_id, exc)
        return False
    return True
