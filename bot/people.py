"""Who a stored name refers to: a Slack user, or a placeholder from an import."""

from __future__ import annotations

import re

# Slack user IDs: U… (or W… on Enterprise Grid), upper-case letters and digits.
USER_ID = re.compile(r"[UW][A-Z0-9]{1,39}")


def is_slack_user(value: str | None) -> bool:
    """True for a Slack user ID; imported rows may name a submitter that is not one."""
    return bool(value and USER_ID.fullmatch(value))
