"""The fake Slack refuses what Slack refuses: messages and views are checked as Slack checks them.

Driven by the real slack_sdk clients, so a refusal here is what the bot would get in production.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from tests.fakeslack import FakeSlack
from tests.fakeslack.validation import check_ack

TOKEN = "xoxb-test-token"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def client_for(slack: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.api_url)


# ---- the fake refuses what Slack refuses -------------------------------------------------


def _section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _select(options: list[dict[str, Any]], action_id: str = "pick") -> dict[str, Any]:
    return {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": _plain("Choose"),
        "options": options,
    }


def _modal(blocks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": _plain("Proposal"),
        "submit": _plain("Submit"),
        "blocks": blocks,
        **extra,
    }


BAD_MESSAGES = {
    "51 blocks": [_section(f"{i}") for i in range(51)],
    "section text of 3001": [_section("x" * 3001)],
    "empty section text": [_section("")],
    "11 fields": [{"type": "section", "fields": [_plain("f")] * 11}],
    "field of 2001": [{"type": "section", "fields": [_plain("f" * 2001)]}],
    "mrkdwn header": [{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}],
    "header of 151": [{"type": "header", "text": _plain("h" * 151)}],
    "button text of 76": [
        {
            "type": "actions",
            "elements": [{"type": "button", "action_id": "b", "text": _plain("b" * 76)}],
        }
    ],
    "option text of 76": [
        {"type": "actions", "elements": [_select([{"text": _plain("o" * 76), "value": "1"}])]}
    ],
    "option value of 151": [
        {"type": "actions", "elements": [_select([{"text": _plain("o"), "value": "v" * 151}])]}
    ],
    "101 options": [
        {
            "type": "actions",
            "elements": [_select([{"text": _plain(f"{i}"), "value": f"{i}"} for i in range(101)])],
        }
    ],
    "block_id of 256": [_section("x", block_id="b" * 256)],
    "repeated block_id": [_section("x", block_id="same"), _section("y", block_id="same")],
    "repeated action_id in a block": [
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "a", "text": _plain("1")},
                {"type": "button", "action_id": "a", "text": _plain("2")},
            ],
        }
    ],
    "unknown block type": [{"type": "banner", "text": _plain("x")}],
    "section without text": [{"type": "section"}],
}


@pytest.mark.parametrize("name", sorted(BAD_MESSAGES))
def test_message_slack_refuses_is_refused_and_recorded(slack: FakeSlack, name: str) -> None:
    with pytest.raises(SlackApiError) as err:
        client_for(slack).chat_postMessage(channel="C1", text="fallback", blocks=BAD_MESSAGES[name])
    answer = err.value.response
    assert answer["error"] == "invalid_blocks"
    assert answer["errors"] and all("[json-pointer:/blocks" in e for e in answer["errors"])
    (refused,) = slack.refused("chat.postMessage")
    assert refused.params["blocks"] == BAD_MESSAGES[name]
    assert slack.messages == {}  # nothing was posted


def test_good_message_at_every_limit_is_accepted(slack: FakeSlack) -> None:
    at_limits = [
        {"type": "header", "text": _plain("h" * 150)},
        _section("x" * 3000, block_id="b" * 255),
        {"type": "section", "fields": [_plain("f" * 2000)] * 10},
        {"type": "context", "elements": [_plain("c")]},
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "a" * 255, "text": _plain("b" * 75), "value": "1"},
                _select([{"text": _plain("o" * 75), "value": f"{i:0>150}"} for i in range(100)]),
            ],
        },
        *[{"type": "divider"} for _ in range(45)],
    ]
    assert len(at_limits) == 50
    client = client_for(slack)
    assert client.chat_postMessage(channel="C1", text="t" * 40_000, blocks=at_limits)["ok"]
    ts = slack.calls("chat.postMessage")[0].response["ts"]
    assert client.chat_update(channel="C1", ts=ts, text="again", blocks=at_limits)["ok"]
    assert client.chat_postEphemeral(channel="C1", user="U1", text="t", blocks=at_limits)["ok"]
    assert slack.refused() == []


def test_text_limits_and_empty_messages_are_refused_like_slack(slack: FakeSlack) -> None:
    client = client_for(slack)
    cases = [
        (lambda: client.chat_postMessage(channel="C1", text="t" * 40_001), "msg_too_long"),
        (lambda: client.chat_postMessage(channel="C1", text=""), "no_text"),
        (lambda: client.chat_update(channel="C1", ts="1.1", text=""), "no_text"),
        (lambda: client.chat_postEphemeral(channel="C1", user="U1", text="", blocks=[]), "no_text"),
        (
            lambda: client.api_call("chat.postMessage", params={"channel": "C1", "blocks": "[{"}),
            "invalid_blocks_format",
        ),
    ]
    for send, error in cases:
        with pytest.raises(SlackApiError) as err:
            send()
        assert err.value.response["error"] == error
    assert [c.response["error"] for c in slack.refused()] == [e for _, e in cases]


BAD_VIEWS = {
    "title of 25": _modal([_section("x")], title=_plain("t" * 25)),
    "mrkdwn title": _modal([_section("x")], title={"type": "mrkdwn", "text": "t"}),
    "submit of 25": _modal([_section("x")], submit=_plain("s" * 25)),
    "close of 25": _modal([_section("x")], close=_plain("c" * 25)),
    "private_metadata of 3001": _modal([_section("x")], private_metadata="m" * 3001),
    "101 blocks": _modal([_section(f"{i}") for i in range(101)]),
    "input without submit": {
        "type": "modal",
        "title": _plain("T"),
        "blocks": [
            {
                "type": "input",
                "label": _plain("L"),
                "element": {"type": "plain_text_input", "action_id": "a"},
            }
        ],
    },
    "initial value over max_length": _modal(
        [
            {
                "type": "input",
                "label": _plain("L"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "a",
                    "max_length": 3,
                    "initial_value": "four",
                },
            }
        ]
    ),
    "initial option not offered": _modal(
        [
            {
                "type": "input",
                "label": _plain("L"),
                "element": {
                    **_select([{"text": _plain("a"), "value": "1"}]),
                    "initial_option": {"text": _plain("b"), "value": "2"},
                },
            }
        ]
    ),
    "home with 101 blocks": {"type": "home", "blocks": [_section(f"{i}") for i in range(101)]},
}


@pytest.mark.parametrize("name", sorted(BAD_VIEWS))
def test_view_slack_refuses_is_refused_on_every_views_method(slack: FakeSlack, name: str) -> None:
    view = BAD_VIEWS[name]
    client = client_for(slack)
    sends = [
        lambda: client.views_open(trigger_id="1.2.a", view=view),
        lambda: client.views_push(trigger_id="1.2.a", view=view),
        lambda: client.views_update(view_id="V1", view=view),
        lambda: client.views_publish(user_id="U1", view=view),
    ]
    for send in sends:
        with pytest.raises(SlackApiError) as err:
            send()
        assert err.value.response["error"] == "invalid_arguments"
        messages = err.value.response["response_metadata"]["messages"]
        assert messages and all(m.startswith("[ERROR] ") for m in messages)
    assert len(slack.refused()) == 4


def test_good_views_are_accepted(slack: FakeSlack) -> None:
    client = client_for(slack)
    modal = _modal(
        [
            {
                "type": "input",
                "block_id": "title",
                "label": _plain("Title"),
                "element": {"type": "plain_text_input", "action_id": "input", "max_length": 150},
            },
            {
                "type": "input",
                "block_id": "objective",
                "label": _plain("Objective"),
                "element": _select([{"text": _plain("a"), "value": "1"}], action_id="input"),
            },
            *[_section(f"{i}") for i in range(98)],
        ],
        title=_plain("t" * 24),
        close=_plain("c" * 24),
        private_metadata="m" * 3000,
    )
    assert client.views_open(trigger_id="1.2.a", view=modal)["ok"]
    assert client.views_publish(user_id="U1", view={"type": "home", "blocks": [_section("h")]})
    assert slack.refused() == []


def test_response_url_posts_are_checked_like_messages(slack: FakeSlack) -> None:
    hook = WebhookClient(slack.response_url_base + "T1/1/abc")
    assert hook.send(text="fine").status_code == 200
    refused = hook.send(text="fallback", blocks=[_section("x" * 3001)])
    assert refused.status_code == 400
    assert json.loads(refused.body)["error"] == "invalid_blocks"
    assert hook.send(text="").status_code == 400
    assert hook.send_dict({"delete_original": True}).status_code == 200
    assert [c.status for c in slack.calls("response_url")] == [200, 400, 400, 200]
    assert [c.response["error"] for c in slack.refused("response_url")] == [
        "invalid_blocks",
        "no_text",
    ]


def test_validation_can_be_switched_off_for_tests_of_the_fake_itself() -> None:
    with FakeSlack(validate=False) as lax:
        assert client_for(lax).chat_postMessage(channel="C1", blocks=[_section("")])["ok"]


def test_an_answer_to_a_slash_command_or_form_is_checked_too() -> None:
    assert check_ack({}) is None
    assert check_ack({"response_action": "errors", "errors": {"title": "Too long"}}) is None
    assert check_ack({"text": "ok", "response_type": "ephemeral"}) is None
    refused = check_ack({"text": "x", "blocks": [_section("")]})
    assert refused is not None and refused.error == "invalid_blocks"
    view = check_ack({"response_action": "update", "view": _modal([], title=_plain("t" * 30))})
    assert view is not None and view.error == "invalid_arguments"
