"""The fake Slack and the driver are faithful: the real slack_sdk and slack_bolt accept them.

No project code is involved: these tests pin the test harness itself, so an end-to-end
failure can be trusted to be the bot's, not the fake's.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.fakeslack import FakeSlack, SlackDriver

TOKEN = "xoxb-test-token"
SECRET = "s3cr3t-signing"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def client_for(slack: FakeSlack, **kw: Any) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.api_url, **kw)


# ---- the fake Web API, driven by the real WebClient ------------------------------------


def test_post_message_is_recorded_with_decoded_blocks(slack: FakeSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    client = client_for(slack)
    first = client.chat_postMessage(channel="C1", text="hi", blocks=blocks)
    second = client.chat_postMessage(channel="C1", text="again", thread_ts=first["ts"])

    assert first["ok"] and first["channel"] == "C1"
    assert first["message"]["blocks"] == blocks
    assert float(second["ts"]) > float(first["ts"])
    call = slack.calls("chat.postMessage")[0]
    assert call.params["blocks"] == blocks  # sent as a JSON string, recorded as objects
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    replies = client.conversations_replies(channel="C1", ts=first["ts"])
    assert [m["text"] for m in replies["messages"]] == ["hi", "again"]


def test_json_body_and_unknown_method_and_auth(slack: FakeSlack) -> None:
    client = client_for(slack)
    client.api_call("chat.postMessage", json={"channel": "C2", "text": "as json"})
    assert slack.calls("chat.postMessage")[0].params == {"channel": "C2", "text": "as json"}

    with pytest.raises(SlackApiError) as unknown:
        client.api_call("no.such.method")
    assert unknown.value.response["error"] == "unknown_method"
    with pytest.raises(SlackApiError) as anon:
        WebClient(base_url=slack.api_url).auth_test()
    assert anon.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as bad:
        WebClient(token="xoxp-user", base_url=slack.api_url).auth_test()
    assert bad.value.response["error"] == "invalid_auth"
    assert [c.method for c in slack.calls()][-3:] == ["no.such.method", "auth.test", "auth.test"]
    assert client.auth_test()["user_id"] == "UBOT"


def test_rate_limited_call_is_retried_by_the_sdk_handler(slack: FakeSlack) -> None:
    # Retry-After: 0 keeps the test fast; the handler still sleeps up to 1 s of jitter.
    slack.fail_next("chat.postMessage", retry_after=0)
    client = client_for(slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])

    assert client.chat_postMessage(channel="C1", text="eventually")["ok"]
    first, second = slack.calls("chat.postMessage")
    assert (first.status, first.response["error"]) == (429, "ratelimited")
    assert second.status == 200

    slack.fail_next("chat.postMessage", retry_after=0)
    with pytest.raises(SlackApiError) as err:  # without the handler the 429 surfaces
        client_for(slack).chat_postMessage(channel="C1", text="once")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "0"

    slack.clear()
    slack.fail_next("chat.postMessage", retry_after=0, when=lambda c: c.params["channel"] == "C2")
    plain = client_for(slack)
    assert plain.chat_postMessage(channel="C1", text="unrelated")["ok"]  # not matched
    with pytest.raises(SlackApiError):
        plain.chat_postMessage(channel="C2", text="targeted")
    assert [c.status for c in slack.calls("chat.postMessage")] == [200, 429]


def test_files_upload_v2_flow(slack: FakeSlack) -> None:
    result = client_for(slack).files_upload_v2(
        channel="C9", content="a,b\n1,2\n", filename="export.csv", title="Register export"
    )
    assert result["ok"] and result["file"]["title"] == "Register export"
    (uploaded,) = slack.uploaded_files()
    assert (uploaded["title"], uploaded["channel"], uploaded["length"]) == (
        "Register export",
        "C9",
        8,
    )
    assert uploaded["data"] == b"a,b\n1,2\n"
    methods = [c.method for c in slack.calls()]
    assert methods == [
        "files.getUploadURLExternal",
        "files.upload_bytes",
        "files.completeUploadExternal",
    ]


def test_views_users_and_overrides(slack: FakeSlack) -> None:
    client = client_for(slack)
    view = {
        "type": "modal",
        "callback_id": "cb",
        "title": {"type": "plain_text", "text": "T"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
    }
    opened = client.views_open(trigger_id="1.2.abc", view=view)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "cb" and opened["hash"]
    assert slack.calls("views.open")[0].params["view"] == view
    updated = client.views_update(view_id=opened["id"], view=view)["view"]
    assert updated["id"] == opened["id"]
    with pytest.raises(SlackApiError):
        client.views_open(trigger_id="", view=view)  # Slack refuses a missing trigger_id

    slack.set_usergroup("S1", ["U1", "U2"])
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
    assert client.users_info(user="U7")["user"]["tz"] == "UTC"
    assert client.conversations_open(users="U7")["channel"]["id"].startswith("D")
    link = client.chat_getPermalink(channel="C1", message_ts="1700000000.000100")
    assert link["permalink"] == "https://example.slack.com/archives/C1/p1700000000000100"
    slack.add_message("C1", "1.000001", text="idea")
    slack.add_reaction("C1", "1.000001", "+1", "U1")
    got = client.reactions_get(channel="C1", timestamp="1.000001")["message"]
    assert got["reactions"] == [{"name": "+1", "users": ["U1"], "count": 1}]

    slack.set_response("users.info", lambda call: {"ok": False, "error": call.params["user"]})
    with pytest.raises(SlackApiError) as err:
        client.users_info(user="U404")
    assert err.value.response["error"] == "U404"
    slack.set_response("users.info", None)
    assert client.users_info(user="U404")["ok"]


def test_wait_for_times_out_naming_what_was_seen(slack: FakeSlack) -> None:
    client_for(slack).auth_test()
    threading.Timer(0.05, lambda: client_for(slack).chat_postMessage(channel="C", text="x")).start()
    assert slack.wait_for("chat.postMessage", timeout=5).params["text"] == "x"
    with pytest.raises(AssertionError, match=r"auth\.test"):
        slack.wait_for("views.open", timeout=0.1)
    slack.clear()
    assert slack.calls() == []


# ---- the driver against a real Bolt app -------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def bolt(slack: FakeSlack) -> Iterator[tuple[SlackDriver, queue.Queue[Any]]]:
    """A minimal Bolt app served over loopback HTTP, and a queue of what it received."""
    seen: queue.Queue[Any] = queue.Queue()
    app = App(signing_secret=SECRET, client=WebClient(token=TOKEN, base_url=slack.api_url))

    @app.command("/improve")
    def improve(ack: Any, body: dict[str, Any], client: WebClient, respond: Any) -> None:
        ack()
        if body["text"] == "respond":
            respond("noted")
        else:
            client.views_open(
                trigger_id=body["trigger_id"],
                view={
                    "type": "modal",
                    "callback_id": "propose",
                    "title": {"type": "plain_text", "text": "Propose"},
                    "submit": {"type": "plain_text", "text": "Submit"},
                    "blocks": [
                        {
                            "type": "input",
                            "block_id": "title",
                            "label": {"type": "plain_text", "text": "Title"},
                            "element": {"type": "plain_text_input", "action_id": "value"},
                        }
                    ],
                },
            )

    @app.view("propose")
    def submitted(ack: Any, view: dict[str, Any]) -> None:
        ack()
        seen.put(("view", view))

    @app.action("vote")
    def vote(ack: Any, body: dict[str, Any]) -> None:
        ack()
        seen.put(("action", body))

    @app.event("reaction_added")
    def reaction(event: dict[str, Any], request: Any) -> None:
        seen.put(("event", event, request.headers.get("x-slack-retry-num")))

    @app.event("message")
    def message(event: dict[str, Any]) -> None:
        seen.put(("message", event))

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        client.views_publish(
            user_id=event["user"],
            view={
                "type": "home",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Home"}}],
            },
        )

    @app.options("owner")
    def owners(ack: Any, payload: dict[str, Any]) -> None:
        text = {"type": "plain_text", "text": payload["value"].title()}
        ack(options=[{"text": text, "value": payload["value"]}])

    server: WSGIServer = make_server(
        "127.0.0.1", 0, SlackRequestHandler(app), handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        port = server.server_address[1]
        yield (
            SlackDriver(
                f"http://127.0.0.1:{port}", SECRET, response_url_base=slack.response_url_base
            ),
            seen,
        )
    finally:
        server.shutdown()
        server.server_close()


def test_bolt_accepts_signed_slash_command_and_opens_modal(
    slack: FakeSlack, bolt: tuple[SlackDriver, queue.Queue[Any]]
) -> None:
    driver, _ = bolt
    reply = driver.slash_command(trigger_id="123.456.abc")
    assert reply.status == 200
    call = slack.wait_for("views.open")
    assert call.params["trigger_id"] == "123.456.abc"
    assert call.params["view"]["callback_id"] == "propose"

    assert driver.slash_command("respond").status == 200
    assert slack.wait_for("response_url").params["text"] == "noted"


def test_bolt_rejects_forged_requests(bolt: tuple[SlackDriver, queue.Queue[Any]]) -> None:
    driver, _ = bolt
    body = driver.slash_command_body("hello")
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    assert driver.raw(body, unsigned).status == 401
    assert driver.raw(body, driver.signed(body, secret="wrong")).status == 401
    stale = int(time.time()) - 600
    assert driver.raw(body, driver.signed(body, timestamp=stale)).status == 401
    assert driver.with_options(signing_secret="wrong").slash_command().status == 401
    assert driver.raw(body, driver.signed(body)).status == 200


def test_bolt_parses_interactivity_and_events(
    slack: FakeSlack, bolt: tuple[SlackDriver, queue.Queue[Any]]
) -> None:
    driver, seen = bolt
    driver.slash_command()
    opened = slack.wait_for("views.open").response["view"]

    reply = driver.view_submission(opened, state_values={"title": {"value": "Faster CI"}})
    assert reply.status == 200
    kind, view = seen.get(timeout=5)
    assert kind == "view" and view["id"] == opened["id"]
    assert view["state"]["values"]["title"]["value"]["value"] == "Faster CI"

    msg = {"type": "message", "ts": "1700000000.000100", "text": "card"}
    assert (
        driver.block_actions(
            [{"action_id": "vote", "value": "P1"}], user_id="U5", channel_id="C1", message=msg
        ).status
        == 200
    )
    kind, body = seen.get(timeout=5)
    assert body["user"]["id"] == "U5" and body["container"]["message_ts"] == msg["ts"]
    assert body["actions"][0]["value"] == "P1"

    assert driver.reaction_added("U5", "+1", "C1", msg["ts"], event_id="Ev1").status == 200
    assert (
        driver.reaction_added(
            "U5", "+1", "C1", msg["ts"], event_id="Ev1", retry_num=1, retry_reason="http_timeout"
        ).status
        == 200
    )
    first, retried = seen.get(timeout=5), seen.get(timeout=5)
    assert first[1]["item"] == {"type": "message", "channel": "C1", "ts": msg["ts"]}
    retry_headers = [first[2], retried[2]]  # listeners run concurrently: either order
    assert retry_headers in ([None, ["1"]], [["1"], None])

    challenge = driver.url_verification("chal-123")
    assert challenge.status == 200 and challenge.json()["challenge"] == "chal-123"


def test_bolt_routes_messages_home_and_suggestions(
    slack: FakeSlack, bolt: tuple[SlackDriver, queue.Queue[Any]]
) -> None:
    driver, seen = bolt
    assert driver.message("U3", "hello", "C1", thread_ts="1700000000.000100").status == 200
    kind, event = seen.get(timeout=5)
    assert (kind, event["text"], event["thread_ts"]) == ("message", "hello", "1700000000.000100")

    assert driver.app_home_opened("U3").status == 200
    assert slack.wait_for("views.publish").params["user_id"] == "U3"

    reply = driver.block_suggestion("owner", "ali", view={"type": "modal", "blocks": []})
    assert reply.status == 200
    assert reply.json()["options"][0]["value"] == "ali"
