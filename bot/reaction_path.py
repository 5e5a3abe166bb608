"""The short way for emoji reactions: a verified reaction event is handled without Bolt.

Reactions are most of the bot's traffic and each one is acked only after its vote is stored.
Bolt would read the body again, run its middleware and try every listener of the app in turn
before reaching the one that stores it; here the edge reads the typed event itself (as
`bot/payloads.py` reads it for Bolt), drops the bot's own reactions as Bolt does, and calls the
same handler. Whatever is not a well-formed reaction event, and every event until the bot knows
its own user ID, takes the long way through Bolt, which answers it exactly as before. Failures
are answered by the app's one error handler (503 when the database failed: Slack retries).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from slack_bolt import BoltResponse
from slack_sdk import WebClient

from bot import payloads
from bot import poll_posting as polls
from bot.deps import Deps
from bot.middleware import VERIFIED, answer_errors
from bot.payloads import ReactionEvent

REACTION_EVENTS = frozenset({"reaction_added", "reaction_removed"})
# Every reaction event's body holds this; most other requests are set aside on it unparsed.
_MARK = b'"reaction_'


class ReactionPath:
    """Answers verified reaction events itself (see the module's docstring)."""

    def __init__(
        self, *, deps: Deps, client: WebClient, handle: Callable[[ReactionEvent], None]
    ) -> None:
        self._deps = deps
        self._client = client
        self._handle = handle
        self._on_error = answer_errors(deps)
        self._bot_user: str | None = None
        self._asking: Future[str] | None = None
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Ask Slack who the bot is, off the request threads (its reactions are no votes)."""
        with self._lock:
            if self._bot_user is not None or self._asking is not None:
                return
            self._asking = self._deps.later(polls.bot_user_id, self._client)
        self._asking.add_done_callback(self._learned)

    def _learned(self, asked: Future[str]) -> None:
        with self._lock:
            self._asking = None
            if not asked.cancelled() and asked.exception() is None:
                self._bot_user = asked.result()

    def answer(self, body: bytes) -> BoltResponse | None:
        """The answer to this verified request when it is a reaction event, handled here;
        None when it is for Bolt."""
        if _MARK not in body:
            return None
        bot_user = self._bot_user
        if bot_user is None:
            self.prepare()
            return None
        parsed = _reaction_body(body)
        if parsed is None:
            return None
        try:
            reaction = payloads.parse(parsed)
        except Exception:
            return None  # Bolt's way refuses it in words, as for any unreadable body
        if not isinstance(reaction, ReactionEvent):
            return None
        if reaction.user_id == bot_user:
            return _ack()
        try:
            self._handle(reaction)
        except Exception as error:
            context: dict[str, Any] = {VERIFIED: True}
            return self._on_error(error, parsed, context, _ack()) or _ack()
        return _ack()


def _ack() -> BoltResponse:
    return BoltResponse(status=200, body="")


def _reaction_body(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object when it is an event callback of a reaction, else None."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("type") != "event_callback":
        return None
    event = parsed.get("event")
    if not isinstance(event, dict) or event.get("type") not in REACTION_EVENTS:
        return None
    return parsed
