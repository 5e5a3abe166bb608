"""Slack calls a handler makes after its ack. They run on `deps.later`, so Bolt's request
threads never wait on Slack's rate limits; a failure is one log line, never a second answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.deps import Deps
from bot.notify import UNREACHABLE

log = logging.getLogger(__name__)


def call_later(deps: Deps, what: str, call: Callable[..., Any], /, **kwargs: Any) -> None:
    """Run one Web API call after the ack; `what` names it in the log if Slack refuses."""
    deps.later(_logged, what, call, kwargs)


def respond_later(deps: Deps, response_url: str | None, text: str, **kwargs: Any) -> None:
    """Answer through an interaction's response_url after the ack (ephemeral by default)."""
    if not response_url:
        log.info("no response_url to answer on: %s", text[:80])
        return
    deps.later(respond_now, response_url, text, **kwargs)


def respond_now(response_url: str, text: str, **kwargs: Any) -> None:
    """Post to a response_url; on a thread that may wait (already after the ack)."""
    kwargs.setdefault("response_type", "ephemeral")
    kwargs.setdefault("replace_original", False)
    try:
        sent = WebhookClient(response_url, timeout=10).send(text=text, **kwargs)
    except UNREACHABLE as exc:
        log.warning("could not answer on the response_url: %s", exc)
        return
    if sent.status_code != 200:
        log.warning("the response_url refused the answer: HTTP %s %s", sent.status_code, sent.body)


def _logged(what: str, call: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    try:
        call(**kwargs)
    except SlackApiError as exc:
        log.warning("%s: Slack answered %s", what, exc.response.get("error"))
    except UNREACHABLE as exc:
        log.warning("%s: Slack could not be reached (%s)", what, exc)
