"""Direct messages: a person who cannot be reached never breaks the change being reported."""

from __future__ import annotations

from slack_sdk import WebClient

from bot import notify
from tests.fakeslack import FakeSlack


def test_messages_reach_slack_users_only() -> None:
    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test-token", base_url=slack.api_url)
        assert notify.tell(client, "U0ALICE", "hello")
        assert not notify.tell(client, "import", "nobody to tell")
        assert not notify.tell(client, None, "nobody to tell")
        assert [c.params["channel"] for c in slack.calls("chat.postMessage")] == ["U0ALICE"]


def test_a_refused_message_is_reported_not_raised() -> None:
    with FakeSlack() as slack:
        slack.set_response("chat.postMessage", {"ok": False, "error": "user_not_found"})
        client = WebClient(token="xoxb-test-token", base_url=slack.api_url)
        assert not notify.tell(client, "U0GONE", "hello")
