"""A fake Slack Web API served over loopback HTTP, for end-to-end tests.

The bot under test talks to it through its ordinary `slack_sdk.WebClient` by pointing
`base_url` (our `SLACK_API_URL`) at `FakeSlack.api_url`. Every call is recorded so
tests can assert on what the bot sent; answers mimic the real Web API's shapes.

Every message and view it receives (chat.*, views.*, posts to a response_url) is checked the
way Slack checks it (see `validation.py`): a payload Slack would refuse is refused with Slack's
error (`invalid_blocks`, `invalid_arguments`, `msg_too_long`, `no_text`) and recorded as refused,
so a test fails where production would.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .validation import Refusal, check_call, check_message
from .webapi import Json, SlackWorkspace

UPLOAD_METHOD = "files.upload_bytes"  # not a Slack method: the upload URL's own POSTs
RESPONSE_URL_METHOD = "response_url"  # not a Slack method: POSTs to a fake response_url

# Form values slack_sdk serialises with json.dumps; decoded so tests can assert on objects.
JSON_FIELDS = frozenset(
    {"blocks", "attachments", "view", "files", "metadata", "unfurls", "user_auth_blocks"}
)

Responder = Json | Callable[["Call"], Json]
REFUSALS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_arguments",
        "msg_too_long",
        "no_text",
        "invalid_payload",
    }
)


@dataclass(frozen=True)
class Call:
    """One recorded request: the API method, its decoded params and headers, when it came."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int = 200
    response: Json = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        """True when the fake answered as Slack does to a payload it refuses."""
        return self.response.get("error") in REFUSALS


@dataclass
class _Failure:
    error: str
    status: int
    retry_after: int | None
    when: Callable[[Call], bool] | None


def _decode_params(content_type: str, body: bytes) -> dict[str, Any]:
    """Decode a request body the way Slack does: JSON, urlencoded form or multipart."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json":
        return dict(json.loads(body or b"{}"))
    if ctype == "multipart/form-data":
        # Only the legacy files.upload sends multipart; keep file parts as bytes.
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        out: dict[str, Any] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True)
            data = data if isinstance(data, bytes) else b""
            out[str(name)] = data if part.get_filename() else data.decode()
        return _decode_json_fields(out)
    flat = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    return _decode_json_fields(flat)


def _decode_json_fields(params: dict[str, Any]) -> dict[str, Any]:
    for key in JSON_FIELDS & params.keys():
        value = params[key]
        if isinstance(value, str) and value[:1] in "[{":
            # Malformed JSON is left as sent: a test may want to see it.
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return params


class FakeSlack(SlackWorkspace):
    """A recording fake of the Slack Web API on 127.0.0.1 (port chosen by the OS).

    Seed workspace data with add_user / set_usergroup / add_message / add_reaction;
    steer answers with set_response / fail_next; assert with calls / wait_for.
    """

    def __init__(
        self, token: str = "xoxb-test-token", *, strict_token: bool = False, validate: bool = True
    ) -> None:
        """`strict_token=True` accepts only `token`; otherwise any `xoxb-` token passes.

        `validate=False` accepts any message or view (only to test the fake itself).
        """
        super().__init__()
        self.token = token
        self.strict_token = strict_token
        self.validate = validate
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._overrides: dict[str, Responder] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeSlack:
        """Bind a free loopback port and serve in a daemon thread."""
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        # A short poll interval makes stop() (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="fakeslack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The server root, e.g. "http://127.0.0.1:PORT"."""
        if self._httpd is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def api_url(self) -> str:
        """The Web API base, with trailing slash, for `WebClient(base_url=...)`."""
        return f"{self.base_url}/api/"

    @property
    def response_url_base(self) -> str:
        """A prefix for fake `response_url`s; POSTs there are recorded as "response_url"."""
        return f"{self.base_url}/hooks/"

    # ---- configuration ---------------------------------------------------------------
    def set_response(self, method: str, response: Responder | None) -> None:
        """Answer `method` with a fixed payload or `callable(call) -> payload`; None resets."""
        with self._lock:
            if response is None:
                self._overrides.pop(method, None)
            else:
                self._overrides[method] = response

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        status: int = 429,
        retry_after: int | None = 1,
        *,
        when: Callable[[Call], bool] | None = None,
    ) -> None:
        """Make the next call of `method` fail once (default: HTTP 429 + Retry-After).

        `when` narrows it to the next call matching that predicate, so an unrelated
        call of the same method (another thread of the bot) cannot use it up.
        """
        with self._lock:
            self._failures.setdefault(method, deque()).append(
                _Failure(error, status, retry_after, when)
            )

    # ---- queries ---------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls, oldest first, optionally only those of `method`."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def refused(self, method: str | None = None) -> list[Call]:
        """Calls answered with the error Slack gives a payload it refuses (invalid_blocks...)."""
        return [c for c in self.calls(method) if c.refused]

    def wait_for(
        self, method: str, predicate: Callable[[Call], bool] | None = None, timeout: float = 10.0
    ) -> Call:
        """Block until a call of `method` matching `predicate` is recorded, and return it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for call in self._calls:
                    if call.method == method and (predicate is None or predicate(call)):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method for c in self._calls]
                    raise AssertionError(
                        f"no matching {method!r} call within {timeout}s; recorded: {seen}"
                    )
                self._changed.wait(left)

    def clear(self) -> None:
        """Forget recorded calls (configuration and seeded data stay)."""
        with self._lock:
            self._calls.clear()

    # ---- request handling (called from server threads) --------------------------------
    def _record(self, call: Call) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    def _authorized(self, headers: dict[str, str], params: dict[str, Any]) -> str | None:
        """None if the token is good, else the Slack error code."""
        auth = headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else str(params.get("token") or "")
        if not token:
            return "not_authed"
        ok = token == self.token if self.strict_token else token.startswith("xoxb-")
        return None if ok else "invalid_auth"

    def _handle_api(
        self, method: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, Json, dict[str, str]]:
        """Answer one Web API call: (HTTP status, body, extra headers)."""
        call = Call(method, params, headers, time.time())
        status, extra, failure, override = 200, {}, None, None
        refusal: Refusal | None = None
        error = self._authorized(headers, params)
        if not error:  # a rejected call must not use up a scheduled failure
            with self._lock:
                queue = self._failures.get(method) or deque()
                failure = next((f for f in queue if f.when is None or f.when(call)), None)
                if failure is not None:
                    queue.remove(failure)
                override = self._overrides.get(method)
            # Slack looks at the content before anything else answers: an override stands
            # for Slack's state (a channel, a user), never for accepting what Slack refuses.
            refusal = check_call(method, params) if self.validate and not failure else None
        if error:
            body: Json = {"ok": False, "error": error}
        elif failure:
            status, body = failure.status, {"ok": False, "error": failure.error}
            if failure.retry_after is not None:
                extra["Retry-After"] = str(failure.retry_after)
        elif refusal:
            body = refusal.body()
        elif override is not None:
            body = override(call) if callable(override) else dict(override)
        else:
            body = self.answer(method, params)
        self._record(Call(method, params, headers, call.at, status, body))
        return status, body, extra

    def _handle_upload(self, file_id: str, body: bytes, headers: dict[str, str]) -> int:
        with self._lock:
            rec = self.files.get(file_id)
            if rec is not None:
                rec["data"] = body
        status = 200 if rec is not None else 404
        self._record(
            Call(
                UPLOAD_METHOD,
                {"file_id": file_id, "length": len(body)},
                headers,
                time.time(),
                status,
            )
        )
        return status


class _Handler(BaseHTTPRequestHandler):
    """Routes /api/<method>, /upload/<file_id> and /hooks/<anything> to the FakeSlack."""

    fake: FakeSlack  # set on the per-server subclass

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _reply(self, status: int, body: bytes, ctype: str, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _serve(self, body: bytes) -> None:
        url = urlsplit(self.path)
        headers = {k: v for k, v in self.headers.items()}
        if url.path.startswith("/upload/"):
            status = self.fake._handle_upload(url.path[len("/upload/") :], body, headers)
            text = f"OK - {len(body)}" if status == 200 else "Not Found"
            return self._reply(status, text.encode(), "text/plain", {})
        if url.path.startswith("/hooks/"):
            return self._response_url(url.path, body, headers)
        if not url.path.startswith("/api/"):
            return self._reply(404, b"Not Found", "text/plain", {})
        try:
            params = _decode_params(self.headers.get("Content-Type", ""), body)
        except ValueError:
            params = {"_raw": body.decode(errors="replace")}
        for key, values in parse_qs(url.query, keep_blank_values=True).items():
            params.setdefault(key, values[-1])
        params = _decode_json_fields(params)
        status, payload, extra = self.fake._handle_api(url.path[len("/api/") :], params, headers)
        self._reply(status, json.dumps(payload).encode(), "application/json; charset=utf-8", extra)

    def _response_url(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        """A post to a response_url: checked like a message; Slack answers 400 when refused."""
        try:
            params = _decode_params(self.headers.get("Content-Type", ""), body)
        except ValueError:
            params = {"_raw": body.decode(errors="replace")}
        refusal: Refusal | None = None
        if "_raw" in params:
            refusal = Refusal("invalid_payload", ("the body is not JSON",))
        elif self.fake.validate and not params.get("delete_original"):
            refusal = check_message(params)
        params["path"] = path
        if refusal is None:
            self.fake._record(Call(RESPONSE_URL_METHOD, params, headers, time.time()))
            return self._reply(200, b"ok", "text/plain", {})
        answer = refusal.body()
        self.fake._record(Call(RESPONSE_URL_METHOD, params, headers, time.time(), 400, answer))
        return self._reply(400, json.dumps(answer).encode(), "application/json", {})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(self.rfile.read(length))

    def do_GET(self) -> None:
        self._serve(b"")
