"""Bolt middleware: every request is read into its typed payload before any listener sees it,
and every failure is answered in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt import BoltResponse
from slack_bolt.error import BoltUnhandledRequestError
from slack_sdk.errors import SlackClientError
from slack_sdk.webhook import WebhookClient
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from bot import blocks, payloads
from bot.deps import Deps
from bot.errors import BadPayload, CsiError

log = logging.getLogger(__name__)

# Keys of Bolt's per-request context.
PAYLOAD = "csi_payload"
VERIFIED = "csi_verified"

T = TypeVar("T")


def read_payloads() -> Callable[..., Any]:
    """Parse the body into its typed value (`payload(context, Kind)` hands it to a listener).

    A body that cannot be read raises BadPayload here, before Bolt's own listener matchers index
    it, so the error handler answers it cleanly instead of a matcher failing with a 500.
    """

    def middleware(body: Any, context: dict[str, Any], next: Callable[[], Any]) -> Any:
        # Global middleware runs after Bolt's request verification: reaching here means the
        # request was signed by Slack (or came over the authenticated Socket Mode connection).
        context[VERIFIED] = True
        context[PAYLOAD] = payloads.parse(body)
        return next()

    return middleware


def payload(context: Any, kind: type[T]) -> T:
    """The typed payload of this request, as the listener expects it."""
    value = context.get(PAYLOAD) if hasattr(context, "get") else None
    if not isinstance(value, kind):
        # A listener matched a body the parser read as another surface (e.g. a slash command
        # field inside an interactivity payload): refuse it rather than guess.
        raise BadPayload(payloads.UNREADABLE_REQUEST)
    return value


def is_verified(context: Any) -> bool:
    """True once Bolt's verification passed for this request."""
    return bool(context.get(VERIFIED)) if hasattr(context, "get") else False


# ---- the one place a failed request is answered -------------------------------------------------

DATABASE_TROUBLE = (OperationalError, InterfaceError, SQLAlchemyTimeoutError)
DATABASE_MESSAGE = (
    "The register did not answer in time, so nothing was changed. Please try again in a moment."
)
UNEXPECTED_MESSAGE = "Something went wrong on my side and this was not done. Please try again."


def answer_errors(deps: Deps) -> Callable[..., BoltResponse | None]:
    """Bolt's error handler: every failure becomes a clean answer on the surface it came from.

    A slash command gets an ephemeral message, a modal its error under a field, a button a
    message through its response_url, an event a quiet 200 (503 when the database failed, so
    that Slack retries it). A request that did not pass verification gets 401 and nothing is
    ever sent to a URL taken from its body.
    """

    def on_error(
        error: Exception, body: Any, context: Any, response: BoltResponse | None
    ) -> BoltResponse | None:
        kind = payloads.kind_of(body)
        if isinstance(error, BoltUnhandledRequestError):
            log.info("no listener for this %s request; acknowledged", kind)
            answer = BoltResponse(status=200, body="")
        elif not is_verified(context):
            log.warning("refused an unverified request: %s", _one_line(error))
            answer = BoltResponse(status=401, body="")
        else:
            answer = _answer(deps, kind, error, body, context)
        # Bolt passes no response once a listener has acknowledged (nothing left to answer).
        return answer if response is not None else None

    return on_error


def _describe(kind: str, error: Exception) -> str:
    """The message for the person; logs one line (a trace only for the unexpected)."""
    if isinstance(error, BadPayload):
        log.info("refused a %s request: %s", kind, payloads.reason(error))
        return str(error)
    if isinstance(error, CsiError):
        log.info("%s request refused: %s", kind, error)
        return str(error)
    if isinstance(error, DATABASE_TROUBLE):
        log.error("%s request not handled, the database failed: %s", kind, _one_line(error))
        return DATABASE_MESSAGE
    log.exception("%s request failed", kind, exc_info=error)
    return UNEXPECTED_MESSAGE


def _answer(deps: Deps, kind: str, error: Exception, body: Any, context: Any) -> BoltResponse:
    message = _describe(kind, error)
    if kind == "command":
        return BoltResponse(
            status=200, body={"response_type": "ephemeral", "text": blocks.error_text(message)}
        )
    if kind == "view_submission":
        block = payloads.first_input_block(body)
        if block is None:
            return BoltResponse(status=200, body="")
        return BoltResponse(
            status=200, body={"response_action": "errors", "errors": {block: message[:2000]}}
        )
    if kind == "block_actions":
        parsed = context.get(PAYLOAD) if hasattr(context, "get") else None
        url = (
            parsed.response_url
            if isinstance(parsed, payloads.BlockAction)
            else payloads.response_url_of(body)
        )
        if url:
            deps.later(_respond, url, blocks.error_text(message))
        return BoltResponse(status=200, body="")
    if kind == "event_callback" and isinstance(error, DATABASE_TROUBLE):
        # Not handled and not marked as handled: Slack retries the same event.
        return BoltResponse(status=503, body="")
    return BoltResponse(status=200, body="")


def _respond(url: str, text: str) -> None:
    try:
        WebhookClient(url, timeout=10).send(
            text=text, response_type="ephemeral", replace_original=False
        )
    except (OSError, SlackClientError) as exc:
        log.warning("could not answer on the response_url: %s", exc)


def _one_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    return " ".join(f"{type(original).__name__}: {original}".split())[:300]
