"""The Slack edge inside Bolt: every request is verified and read into its typed payload before
any of Bolt's own code indexes it, and every failure is answered in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.kwargs_injection.utils import build_required_kwargs
from slack_sdk.errors import SlackClientError
from slack_sdk.signature import SignatureVerifier
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

DATABASE_TROUBLE = (OperationalError, InterfaceError, SQLAlchemyTimeoutError)
DATABASE_MESSAGE = (
    "The register did not answer in time, so nothing was changed. Please try again in a moment."
)
UNEXPECTED_MESSAGE = "Something went wrong on my side and this was not done. Please try again."

T = TypeVar("T")


class GuardedApp(App):
    """Bolt's App, guarded: a request is verified, then read into its typed payload
    (`payload(context, Kind)`), before Bolt's middleware, matchers and argument injection index
    the raw body. A body they could not read is refused here in words; `dispatch` never raises.
    """

    def __init__(self, *, deps: Deps, signing_secret: str, verify: bool, **kwargs: Any) -> None:
        super().__init__(
            signing_secret=signing_secret, request_verification_enabled=verify, **kwargs
        )
        self._deps = deps
        self._verifier = SignatureVerifier(signing_secret) if verify else None

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        """Verify, read, then let Bolt route the request; a clean answer whatever happens."""
        if not self._verified(req):
            log.warning("refused a request whose signature does not verify")
            return BoltResponse(status=401, body={"error": "invalid request"})
        req.context[VERIFIED] = True
        kind = payloads.kind_of(req.body)
        try:
            req.context[PAYLOAD] = payloads.parse(req.body)
            _check_bolt_can_read(req)
        except BadPayload as error:
            return _answer(self._deps, kind, error, req.body, req.context)
        except Exception as error:
            # A shape the parser did not foresee: refused like any unreadable body.
            log.error("could not read a %s request: %s", kind, _one_line(error))
            refusal = BadPayload(payloads.UNREADABLE_REQUEST)
            return _answer(self._deps, kind, refusal, req.body, req.context)
        try:
            return super().dispatch(req)
        except Exception as error:
            # Bolt's own error path failed (its argument injection on an odd body): still one
            # clean answer and one log line.
            log.error("%s request failed inside Bolt: %s", kind, _one_line(error))
            refusal = BadPayload(payloads.UNREADABLE_REQUEST)
            return _answer(self._deps, kind, refusal, req.body, req.context)

    def _verified(self, req: BoltRequest) -> bool:
        if self._verifier is None or req.mode == "socket_mode":
            # Socket Mode traffic comes over the connection the app token opened.
            return True
        timestamp = req.headers.get("x-slack-request-timestamp", ["0"])[0]
        signature = req.headers.get("x-slack-signature", [""])[0]
        try:
            return self._verifier.is_valid(req.raw_body, timestamp, signature)
        except (ValueError, TypeError, OverflowError):
            return False


def _check_bolt_can_read(req: BoltRequest) -> None:
    """Refuse a body Bolt's own helpers would fail on (they index it without checking)."""
    if "event" in req.body and not isinstance(req.body["event"], dict):
        # Bolt's self-event filter reads `event` as an object in every request.
        raise BadPayload(payloads.UNREADABLE_REQUEST) from payloads.Why("event is not an object")
    try:
        build_required_kwargs(
            logger=log,
            required_arg_names=[],
            request=req,
            response=None,
            next_keys_required=False,
        )
    except Exception as error:
        raise BadPayload(payloads.UNREADABLE_REQUEST) from payloads.Why(
            f"Bolt cannot read it: {_one_line(error)}"
        )


def payload(context: Any, kind: type[T]) -> T:
    """The typed payload of this request, as the listener expects it."""
    value = context.get(PAYLOAD) if hasattr(context, "get") else None
    if not isinstance(value, kind):
        # A listener matched a body the parser read as another surface (e.g. a `command`
        # field inside an interactivity payload): refuse it rather than guess.
        raise BadPayload(payloads.UNREADABLE_REQUEST)
    return value


def is_verified(context: Any) -> bool:
    """True once this request's signature was verified (or it came over Socket Mode)."""
    return bool(context.get(VERIFIED)) if hasattr(context, "get") else False


# ---- the one place a failed request is answered -------------------------------------------------


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
            answer = BoltResponse(status=401, body={"error": "invalid request"})
        else:
            answer = _answer(deps, kind, error, body, context)
        # Bolt passes no response once a listener has acknowledged (nothing left to answer).
        return answer if response is not None else None

    return on_error


def _describe(kind: str, error: Exception) -> str:
    """The message for the person; logs one line (a trace only for the unexpected)."""
    if isinstance(error, BadPayload):
        log.info("refused an unreadable %s request: %s", kind, payloads.reason(error))
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
    """The answer to a failed request of this kind, on the surface it came from."""
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
        if url and is_verified(context):
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
