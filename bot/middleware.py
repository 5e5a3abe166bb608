"""Bolt middleware: event de-duplication."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltResponse

from bot.deps import Deps
from storage import repositories as repo

log = logging.getLogger(__name__)


def deduplicate_events(deps: Deps) -> Callable[..., Any]:
    """Answer 200 and do nothing for an Events API delivery whose event_id was handled before.

    Slack retries an event it thinks failed; counting a reaction twice would be a wrong vote.
    """

    def middleware(body: dict[str, Any], next: Callable[[], Any]) -> Any:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            with deps.session() as session:
                if not repo.first_delivery(session=session, event_id=str(event_id)):
                    log.info("ignoring repeated delivery of event %s", event_id)
                    return BoltResponse(status=200, body="")
        return next()

    return middleware
