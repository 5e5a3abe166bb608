"""The HTTP face of the bot: Slack's requests, the health check and metrics, served by waitress.

Every Slack request is verified here, on the raw bytes, before Bolt parses or sees it: an
unverified body never reaches a handler or the error handler (which could answer to a
`response_url` taken from it), and a malformed one is refused with one log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from sqlalchemy.engine import Engine

from bot import ingest, metrics
from storage.db import ping

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Wsgi = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

SLACK_PATH = "/slack/events"
MAX_BODY_BYTES = 1_048_576  # Slack's own payloads stay far below; the server refuses more.
MAX_CLOCK_SKEW_S = 300  # Slack's documented replay window
HEALTH_DEADLINE_S = 2.0


class _Refused(Exception):
    """A request answered with `status` and one log line, never a traceback."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _reply(start_response: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _clip(value: str, limit: int = 40) -> str:
    # Header values go into the log as repr: an attacker's newlines stay on one line.
    return repr(value[:limit] + ("…" if len(value) > limit else ""))


def verify_signature(
    *, secret: str, body: bytes, timestamp: str | None, signature: str | None, now: float
) -> str | None:
    """None when Slack signed `body` at `timestamp` within the replay window, else why not.

    Works on the raw bytes and never raises, whatever the headers hold.
    """
    if not secret:
        return "no signing secret is configured"
    if not timestamp or not signature:
        return "the signature headers are missing"
    # int() would accept " 12", "1_2" and "١٢"; Slack sends plain ASCII digits.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return f"the timestamp {_clip(timestamp)} is not a number of seconds"
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_S:
        return f"the timestamp {timestamp} is more than 5 minutes away from now"
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "the signature does not match"
    return None


def check_slack_body(body: bytes, content_type: str | None) -> str:
    """The body as text, when Bolt can read it into a JSON object; raises _Refused (400) else.

    Mirrors how Bolt reads a body (JSON when labelled so or starting with `{`, otherwise a
    form whose `payload` field is JSON), so nothing it parses later can fail.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Refused("400 Bad Request", "the body is not UTF-8") from exc
    if not text:
        raise _Refused("400 Bad Request", "the body is empty")
    if content_type == "application/json" or text.startswith("{"):
        _json_object(text, "the JSON body")
    elif "payload" in text:
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        if payload is not None:
            _json_object(payload, "the payload field")
    return text


def _json_object(text: str, what: str) -> None:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _Refused("400 Bad Request", f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise _Refused("400 Bad Request", f"{what} is a JSON {type(value).__name__}, not an object")


def _read_body(environ: dict[str, Any]) -> bytes:
    raw_length = environ.get("CONTENT_LENGTH") or ""
    declared = int(raw_length) if raw_length.isdigit() else None
    if declared is not None and declared > MAX_BODY_BYTES:
        raise _Refused("413 Content Too Large", f"the body has {declared} bytes")
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    body: bytes = stream.read(MAX_BODY_BYTES + 1 if declared is None else declared)
    if len(body) > MAX_BODY_BYTES:
        raise _Refused("413 Content Too Large", "the body is over 1 MiB")
    return body


class HealthCheck:
    """Asks the database on a worker thread and answers within HEALTH_DEADLINE_S either way.

    A database that stops answering ties up one worker, not the request threads: later checks
    wait on the same pending question instead of piling up new ones.
    """

    def __init__(self, engine: Engine, deadline_s: float = HEALTH_DEADLINE_S) -> None:
        self._engine = engine
        self._deadline_s = deadline_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="csi-health")
        self._lock = threading.Lock()
        self._pending: Future[bool] | None = None

    def healthy(self) -> bool:
        """True when the database answered within the deadline."""
        with self._lock:
            if self._pending is None or self._pending.done():
                self._pending = self._pool.submit(ping, self._engine)
            pending = self._pending
        try:
            return pending.result(timeout=self._deadline_s)
        except FutureTimeout:
            return False


# Unknown paths share one label, so that a scan of the server cannot grow the series.
METRIC_PATHS = frozenset({SLACK_PATH, "/healthz", "/metrics", ingest.PATH})


def _count_request(path: str, status: str) -> None:
    label = path if path in METRIC_PATHS else "other"
    metrics.HTTP_REQUESTS.labels(path=label, status=status.split(" ", 1)[0]).inc()


def _count_slack(surface: str, status: int, started: float | None) -> None:
    metrics.SLACK_REQUESTS.labels(surface=surface, outcome=metrics.outcome_of(status)).inc()
    if started is not None:
        metrics.ACK_LATENCY.labels(surface=surface).observe(time.perf_counter() - started)


def make_wsgi(
    app: App,
    engine: Engine,
    *,
    signing_secret: str,
    ingest_token: str | None = None,
    reactions: Callable[[bytes], BoltResponse | None] | None = None,
    scheduler_state: Callable[[], str] | None = None,
) -> Wsgi:
    """A WSGI application: POST /slack/events (verified) to Bolt, GET /healthz, GET /metrics,
    POST /api/measurements when `ingest_token` is set, 404 for the rest. `reactions` may answer
    a verified Slack request before Bolt (bot/reaction_path.py); None passes it on.
    `scheduler_state` says whether this replica leads the scheduler (shown by /healthz)."""
    health = HealthCheck(engine)

    def slack(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        try:
            body = _read_body(environ)
            problem = verify_signature(
                secret=signing_secret,
                body=body,
                timestamp=environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"),
                signature=environ.get("HTTP_X_SLACK_SIGNATURE"),
                now=time.time(),
            )
            if problem:
                raise _Refused("401 Unauthorized", f"unverified: {problem}")
            answered = reactions(body) if reactions is not None else None
            if answered is not None:
                _count_slack("event", answered.status, started)
                return _bolt_reply(start_response, answered)
            content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0] or None
            text = check_slack_body(body, content_type)
            request = _bolt_request(text, environ)
        except _Refused as refused:
            log.warning(
                "refused a request to %s (%s): %s",
                SLACK_PATH,
                refused.status.split(" ", 1)[0],
                refused,
            )
            error = "invalid request" if refused.status.startswith("401") else str(refused)
            unverified = refused.status.startswith("401")
            _count_slack("unverified" if unverified else "malformed", 400, None)
            return _reply(start_response, refused.status, {"error": error})
        response = app.dispatch(request)
        _count_slack(metrics.surface_of(request.body), response.status, started)
        return _bolt_reply(start_response, response)

    def measurements(
        environ: dict[str, Any], start_response: StartResponse, token: str
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") != "POST":
            return _reply(
                start_response, "405 Method Not Allowed", {"error": "POST measurements here."}
            )
        if not ingest.authorized(environ.get("HTTP_AUTHORIZATION"), token):
            log.warning("refused measurements (401): no or a wrong bearer token")
            return _reply(
                start_response,
                "401 Unauthorized",
                {"error": "Send Authorization: Bearer <CSI_INGEST_TOKEN>."},
            )
        try:
            body = _read_body(environ)
        except _Refused as refused:
            log.warning("refused measurements (%s): %s", refused.status.split(" ", 1)[0], refused)
            return _reply(
                start_response,
                refused.status,
                {"error": f"The body is over {MAX_BODY_BYTES} bytes; send smaller batches."},
            )
        answer = ingest.receive(engine=engine, body=body)
        return _reply(start_response, answer.status, answer.body)

    def route(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == SLACK_PATH:
            if method != "POST":
                return _reply(
                    start_response,
                    "405 Method Not Allowed",
                    {"error": "Slack requests are POSTed here."},
                )
            return slack(environ, start_response)
        if path == ingest.PATH and ingest_token:
            return measurements(environ, start_response, ingest_token)
        if path == "/healthz":
            scheduler = {"scheduler": scheduler_state()} if scheduler_state else {}
            if health.healthy():
                return _reply(
                    start_response, "200 OK", {"status": "ok", "database": "ok", **scheduler}
                )
            return _reply(
                start_response,
                "503 Service Unavailable",
                {
                    "status": "error",
                    "error": "the database does not answer",
                    "database": "error",
                    **scheduler,
                },
            )
        if path == "/metrics":
            text = metrics.render()
            start_response(
                "200 OK",
                [("Content-Type", metrics.CONTENT_TYPE), ("Content-Length", str(len(text)))],
            )
            return [text]
        return _reply(start_response, "404 Not Found", {"error": "nothing here"})

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")

        def counting_start_response(status: str, headers: Any, *exc_info: Any) -> Any:
            _count_request(path, status)
            return start_response(status, headers, *exc_info)

        return route(environ, counting_start_response)

    return application


def _bolt_request(text: str, environ: dict[str, Any]) -> BoltRequest:
    headers: dict[str, str | Sequence[str]] = {}
    for key, value in environ.items():
        if key in {"CONTENT_LENGTH", "CONTENT_TYPE"}:
            headers[key.lower().replace("_", "-")] = value
        elif key.startswith("HTTP_"):
            headers[key[5:].lower().replace("_", "-")] = value
    try:
        return BoltRequest(body=text, query=environ.get("QUERY_STRING", ""), headers=headers)
    except Exception as exc:
        # A verified body that is an object but shaped unlike any Slack request (e.g. an
        # `enterprise` that is a number) fails in Bolt's context extraction.
        raise _Refused(
            "400 Bad Request", f"the body is not shaped like a Slack request ({exc!r:.80})"
        ) from exc


def _bolt_reply(start_response: StartResponse, response: BoltResponse) -> Iterable[bytes]:
    http = WsgiHttpResponse(status=response.status, headers=response.headers, body=response.body)
    start_response(http.status, http.get_headers())
    return http.get_body()
