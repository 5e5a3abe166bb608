"""A fake Slack for end-to-end tests: a recording Web API server and a signed-request driver."""

from .driver import Reply, SlackDriver, sign
from .server import Call, FakeSlack

__all__ = ["Call", "FakeSlack", "Reply", "SlackDriver", "sign"]
