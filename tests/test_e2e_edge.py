"""End to end: the HTTP edge of the running bot refuses what it cannot trust, on both databases.

Unverified requests get 401 and nothing is ever sent to a URL from their body; malformed ones
get 400 with one log line; oversized ones 413; /metrics counts what was answered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.botproc import send_oversized
from tests.conftest import Stack
from tests.fakeslack import sign

pytestmark = pytest.mark.e2e

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass
class Listener:
    """A loopback HTTP server that records every request made to it."""

    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def attacker() -> Iterator[Listener]:
    """Where a forged body's response_url points: it must never be called."""
    recorded: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            recorded.append(self.path)
            self.send_response(200)
            self.end_headers()

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Listener(url=f"http://127.0.0.1:{server.server_address[1]}/hook", hits=recorded)
    finally:
        server.shutdown()
        server.server_close()


def _command_body(response_url: str, text: str = "help") -> bytes:
    return urlencode(
        {
            "command": "/improve",
            "text": text,
            "user_id": "U0001",
            "channel_id": "C0001",
            "team_id": "T0001",
            "trigger_id": "1.2.3",
            "response_url": response_url,
        }
    ).encode()


def _refusals(log: str) -> int:
    return log.count("refused a request to /slack/events")


def _forged_headers(body: bytes) -> dict[str, dict[str, str]]:
    now = int(time.time())
    good = sign("test-signing-secret", now, body)
    underscored = f"{str(now)[:5]}_{str(now)[5:]}"  # int() reads it as `now`
    return {
        "timestamp abc": {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": good},
        "timestamp 1e9": {"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": good},
        "timestamp with spaces": {
            "X-Slack-Request-Timestamp": f" {now} ",
            "X-Slack-Signature": sign("test-signing-secret", f" {now} ", body),
        },
        "timestamp with a sign": {
            "X-Slack-Request-Timestamp": f"+{now}",
            "X-Slack-Signature": sign("test-signing-secret", f"+{now}", body),
        },
        "timestamp with an underscore": {
            "X-Slack-Request-Timestamp": underscored,
            "X-Slack-Signature": sign("test-signing-secret", underscored, body),
        },
        "stale timestamp": {
            "X-Slack-Request-Timestamp": str(now - 600),
            "X-Slack-Signature": sign("test-signing-secret", now - 600, body),
        },
        "no timestamp": {"X-Slack-Signature": good},
        "no signature": {"X-Slack-Request-Timestamp": str(now)},
        "wrong secret": {
            "X-Slack-Request-Timestamp": str(now),
            "X-Slack-Signature": sign("not-the-secret", now, body),
        },
        "signature not ASCII": {
            "X-Slack-Request-Timestamp": str(now),
            "X-Slack-Signature": "v0=é" + "0" * 63,
        },
    }


def test_unverified_requests_get_401_and_their_response_url_is_never_called(
    stack: Stack, attacker: Listener
) -> None:
    body = _command_body(attacker.url)
    before = stack.bot.log()
    for name, headers in _forged_headers(body).items():
        reply = stack.driver.raw(body, {"Content-Type": FORM, **headers})
        assert reply.status == 401, f"{name}: {reply.status} {reply.body}"
    # The same body, correctly signed, does reach Bolt: the listener would hear a reply to it
    # if anything answered to response_url, so give background work time to run.
    time.sleep(1.0)
    assert attacker.hits == []
    log = stack.bot.log()[len(before) :]
    assert "Traceback" not in log
    assert _refusals(log) == len(_forged_headers(body))


def test_a_signed_request_with_an_extreme_timestamp_is_refused_not_crashed(stack: Stack) -> None:
    body = _command_body("https://hooks.slack.com/x")
    for timestamp in ("9" * 12, "9" * 40, "0"):
        headers = {
            "Content-Type": FORM,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign("test-signing-secret", timestamp, body),
        }
        assert stack.driver.raw(body, headers).status == 401


MALFORMED: dict[str, tuple[bytes, str]] = {
    "payload=%7B": (b"payload=%7B", FORM),
    "payload that is a list": (b"payload=" + quote("[1, 2]").encode(), FORM),
    "payload that is a string": (b"payload=" + quote('"hi"').encode(), FORM),
    "payload that is null": (b"payload=null", FORM),
    "not UTF-8": (b"payload=\xff\xfe\xfd", FORM),
    "not UTF-8 JSON": (b'{"type": "\xff"}', JSON),
    "JSON array": (b"[1, 2, 3]", JSON),
    "JSON string": (b'"event_callback"', JSON),
    "form labelled JSON": (b"command=%2Fimprove&text=help", JSON),
    "broken JSON object": (b'{"type": "event_callback", ', FORM),
    "empty body": (b"", FORM),
    "object of the wrong shape": (b'{"type": "event_callback", "enterprise": 7}', JSON),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_bodies_get_401_unsigned_and_400_signed_with_one_log_line(
    stack: Stack, name: str
) -> None:
    body, content_type = MALFORMED[name]
    before = stack.bot.log()
    unsigned = stack.driver.raw(body, {"Content-Type": content_type})
    signed = stack.driver.raw(body, {**stack.driver.signed(body), "Content-Type": content_type})
    assert unsigned.status == 401, unsigned.body
    assert signed.status == 400, signed.body
    log = stack.bot.log()[len(before) :]
    assert "Traceback" not in log
    assert _refusals(log) == 2, log
    assert len([line for line in log.splitlines() if line.strip()]) == 2, log


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_an_oversized_body_gets_413_not_500(stack: Stack, signed: bool, chunked: bool) -> None:
    headers = {"Content-Type": FORM}
    if signed:
        # Signed over a body it will not send in full: the size is refused before the signature.
        headers = stack.driver.signed(b"payload=")
    before = stack.bot.log()
    status_line = send_oversized(stack.bot.url, "/slack/events", headers, chunked=chunked)
    assert status_line.startswith("HTTP/1.1 413"), status_line
    assert "Traceback" not in stack.bot.log()[len(before) :]
    assert stack.driver.slash_command("help").status == 200


def test_a_verified_request_still_reaches_the_bot(stack: Stack) -> None:
    reply = stack.driver.slash_command("help")
    assert reply.status == 200
    assert "/improve" in reply.body


def test_metrics_count_requests_by_path_and_status(stack: Stack) -> None:
    def count(text: str, path: str, status: str) -> int:
        key = f'csi_bot_http_requests_total{{path="{path}",status="{status}"}} '
        for line in text.splitlines():
            if line.startswith(key):
                return int(float(line[len(key) :]))
        return 0

    before = stack.driver.get("/metrics").body
    assert stack.driver.raw(b"x=1", {"Content-Type": FORM}).status == 401
    assert stack.driver.slash_command("help").status == 200
    assert stack.driver.get("/no/such/page").status == 404
    reply = stack.driver.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "csi_bot_up 1" in reply.body
    assert "# TYPE csi_bot_http_requests_total counter" in reply.body
    after = reply.body
    assert count(after, "/slack/events", "401") == count(before, "/slack/events", "401") + 1
    assert count(after, "/slack/events", "200") == count(before, "/slack/events", "200") + 1
    assert count(after, "other", "404") == count(before, "other", "404") + 1
    # The path of an unknown page never becomes a label of its own.
    assert "/no/such/page" not in after


_HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda url, text: _command_body(url, text),
            st.just("http://127.0.0.1:9/hook"),
            st.text(max_size=40),
        ),
    ),
    content_type=st.sampled_from([FORM, JSON, "text/plain", "", "application/JSON; x"]),
    timestamp=st.one_of(_HEADER_TEXT, st.integers(-(10**12), 10**12).map(str)),
    signature=st.one_of(_HEADER_TEXT, st.just("v0=" + "0" * 64)),
)
def test_arbitrary_unsigned_requests_are_refused_and_reach_nothing(
    stack: Stack,
    attacker: Listener,
    body: bytes,
    content_type: str,
    timestamp: str,
    signature: str,
) -> None:
    body = body.replace(b"http://127.0.0.1:9/hook", attacker.url.encode())
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp}
    headers["X-Slack-Signature"] = signature
    assert stack.driver.raw(body, headers).status == 401
    assert attacker.hits == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=300), content_type=st.sampled_from([FORM, JSON, "text/plain"]))
def test_arbitrary_signed_bytes_never_get_a_5xx_or_a_traceback(
    stack: Stack, body: bytes, content_type: str
) -> None:
    before = len(stack.bot.log())
    reply = stack.driver.raw(body, {**stack.driver.signed(body), "Content-Type": content_type})
    assert reply.status < 500, reply.body
    assert "Traceback" not in stack.bot.log()[before:]
