"""Property-based, end to end: whatever arrives at the bot's Slack endpoint, it answers without a
5xx and without a traceback, and never sends anything to a URL from an unverified body.

Signed requests carry arbitrary slash text and arbitrary JSON shapes grafted onto real Slack
payloads; unsigned ones carry arbitrary bytes. About 10 s per database; CSI_FUZZ_EXAMPLES sets
the examples per shape (120 by default).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.ids import ActionId, BlockId, CallbackId
from tests.conftest import Stack

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("CSI_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values that look almost like what goes there: the ones a parser gets wrong.
TRICKY = st.sampled_from(
    [
        "²",
        "#²",
        "٣",
        "9" * 20,
        "2147483648",
        "-1",
        "0",
        "1e3",
        " 1",
        "1:2",
        "vote:²",
        "vote:",
        "objective:²",
        "",
        "null",
        "[]",
        "{}",
        "\x00",
        "U1",
        "V1",
        "1.000001",
    ]
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | TRICKY,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=120)


@pytest.fixture(scope="module")
def attacker() -> Iterator[list[str]]:
    """A loopback server standing for a URL an attacker controls; it records every hit."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    hits.append(f"http://127.0.0.1:{server.server_address[1]}/hook")  # [0] is the URL itself
    try:
        yield hits
    finally:
        server.shutdown()


def _view(callback_id: str, metadata: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "V0FUZZ",
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata,
        "hash": "1.x",
        "blocks": [{"type": "input", "block_id": BlockId.TITLE, "element": {}}],
        "state": {"values": values},
    }


def _interactive_templates(stack: Stack) -> list[dict[str, Any]]:
    form = _view(
        CallbackId.PROPOSAL,
        '{"proposal_id": 1}',
        {
            BlockId.TITLE: {ActionId.TITLE: {"type": "plain_text_input", "value": "Fuzzed title"}},
            BlockId.OBJECTIVE: {
                ActionId.INPUT: {"type": "static_select", "selected_option": {"value": "1"}}
            },
            BlockId.VALUE: {
                ActionId.INPUT: {"type": "static_select", "selected_option": {"value": "3"}}
            },
        },
    )
    choice = _view(
        CallbackId.SIMILAR_CHOICE,
        '{"pending": "abc"}',
        {
            BlockId.CHOICE: {
                ActionId.INPUT: {"type": "radio_buttons", "selected_option": {"value": "vote:1"}}
            }
        },
    )
    user = {"id": "U0FUZZ", "team_id": "T0001"}
    base = {"user": user, "team": {"id": "T0001"}, "api_app_id": "A0001", "token": "t"}
    clicks = [
        {"action_id": f"{ActionId.VOTE_INSTEAD}:1", "block_id": "vote_instead:2", "value": "1:2"},
        {
            "action_id": ActionId.CHOOSE_OBJECTIVE,
            "block_id": "objective:2",
            "selected_option": {"value": "1"},
        },
        {"action_id": ActionId.ADD_DETAILS, "block_id": "objective:2", "value": "2"},
        {"action_id": ActionId.DISCARD, "block_id": "objective:2", "value": "2"},
        {"action_id": ActionId.OPEN_PROPOSAL, "block_id": "b0", "value": "1"},
    ]
    templates: list[dict[str, Any]] = [
        {
            **base,
            "type": "block_actions",
            "trigger_id": "1.2.fuzz",
            "response_url": stack.driver.response_url(),
            "channel": {"id": "C0001"},
            "container": {"type": "message", "message_ts": "1.000001", "channel_id": "C0001"},
            "actions": [{"type": "button", "action_ts": "1.2", **click}],
        }
        for click in clicks
    ]
    templates.append(
        {
            **base,
            "type": "block_actions",
            "trigger_id": "1.2.fuzz",
            "view": form,
            "container": {"type": "view", "view_id": "V0FUZZ"},
            "actions": [
                {
                    "type": "plain_text_input",
                    "action_id": ActionId.TITLE,
                    "block_id": BlockId.TITLE,
                    "value": "Fuzzed title",
                }
            ],
        }
    )
    templates += [
        {**base, "type": "view_submission", "view": form, "response_urls": []},
        {**base, "type": "view_submission", "view": choice, "response_urls": []},
        {**base, "type": "view_closed", "view": choice, "is_cleared": False},
        {**base, "type": "block_suggestion", "action_id": "x", "block_id": "b", "value": "a"},
    ]
    return templates


def _event_templates() -> list[dict[str, Any]]:
    item = {"type": "message", "channel": "C0PROPOSALS", "ts": "1.000001"}
    events = [
        {
            "type": "reaction_added",
            "user": "U0FUZZ",
            "reaction": "+1",
            "item": item,
            "item_user": "U1",
            "event_ts": "1.2",
        },
        {
            "type": "reaction_removed",
            "user": "U0FUZZ",
            "reaction": "+1::skin-tone-2",
            "item": item,
            "event_ts": "1.2",
        },
        {
            "type": "app_home_opened",
            "user": "U0FUZZ",
            "channel": "D1",
            "tab": "home",
            "event_ts": "1.2",
        },
        {
            "type": "message",
            "user": "U0FUZZ",
            "text": "hi",
            "channel": "C1",
            "ts": "1.2",
            "thread_ts": "1.1",
            "event_ts": "1.2",
        },
    ]
    return [
        {
            "type": "event_callback",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "event": event,
            "event_id": "Ev0FUZZ",
            "event_time": 1,
            "token": "t",
            "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
        }
        for event in events
    ]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value (dict keys and list positions), the value itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


def _graft(value: Any, path: tuple[Any, ...], new: Any, *, delete: bool) -> Any:
    """A copy of `value` with the place at `path` replaced by `new` (or removed)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if delete and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _graft(value[head], rest, new, delete=delete)
        return copy
    copy_list = list(value)
    copy_list[head] = _graft(value[head], rest, new, delete=delete)
    return copy_list


def _mutated(data: st.DataObject, template: dict[str, Any]) -> Any:
    value: Any = template
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="mutations")):
        places = _paths(value)
        path = data.draw(st.sampled_from(places[1:] or places), label="where")
        new = data.draw(JSON_VALUES, label="what")
        value = _graft(value, path, new, delete=data.draw(st.booleans(), label="delete"))
    return value


def _no_trace_or_5xx(stack: Stack, reply: Any, sent: Any) -> None:
    assert reply.status < 500, (reply.status, reply.body, sent)


def test_arbitrary_slash_text_never_gets_a_5xx(stack: Stack) -> None:
    assert stack.cli("objective", "add", "Fuzzing objective").returncode == 0

    @FUZZ
    @given(text=TEXT)
    def send(text: str) -> None:
        _no_trace_or_5xx(stack, stack.driver.slash_command(text, user_id="U0FUZZ"), text)

    send()
    assert "Traceback" not in stack.bot.log(), stack.bot.log()[-3000:]


def test_arbitrary_interactivity_shapes_never_get_a_5xx(stack: Stack) -> None:
    templates = _interactive_templates(stack)

    @FUZZ
    @given(data=st.data())
    def send(data: st.DataObject) -> None:
        sent = _mutated(data, data.draw(st.sampled_from(templates), label="template"))
        _no_trace_or_5xx(stack, stack.driver.interactive(sent), sent)

    send()
    assert "Traceback" not in stack.bot.log(), stack.bot.log()[-3000:]


def test_arbitrary_event_shapes_never_get_a_5xx(stack: Stack) -> None:
    templates = _event_templates()

    @FUZZ
    @given(data=st.data())
    def send(data: st.DataObject) -> None:
        sent = _mutated(data, data.draw(st.sampled_from(templates), label="template"))
        if isinstance(sent, dict):
            # A fresh event each time, or every example after the first is a "retry".
            sent = {**sent, "event_id": f"Ev{time.monotonic_ns()}"}
        _no_trace_or_5xx(stack, stack.driver.event_body(sent), sent)

    send()
    assert "Traceback" not in stack.bot.log(), stack.bot.log()[-3000:]


def test_arbitrary_unsigned_bytes_get_401_and_reach_no_url(
    stack: Stack, attacker: list[str]
) -> None:
    url = attacker[0]
    headers = st.sampled_from(
        [
            {},
            {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"},
            {"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": "v0=00"},
            {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"},
            {"X-Slack-Request-Timestamp": "9" * 30, "X-Slack-Signature": ""},
        ]
    )
    content_types = st.sampled_from(
        ["application/x-www-form-urlencoded", "application/json", "text/plain", ""]
    )

    @FUZZ
    @given(prefix=st.binary(max_size=300), header=headers, content_type=content_types)
    def send(prefix: bytes, header: dict[str, str], content_type: str) -> None:
        body = prefix + b"&command=/improve&text=help&user_id=U1&response_url=" + url.encode()
        sent = {**header, **({"Content-Type": content_type} if content_type else {})}
        reply = stack.driver.raw(body, sent)
        assert reply.status == 401, (reply.status, reply.body, body)

    send()
    time.sleep(0.5)  # anything sent after the ack would have arrived by now
    assert attacker[1:] == []
    assert "Traceback" not in stack.bot.log(), stack.bot.log()[-3000:]
