"""Safe mrkdwn: user text is escaped so it can never ping, link or format as markup."""

from __future__ import annotations


def escape(text: str | None) -> str:
    """Escape the three characters Slack treats as control sequences in mrkdwn."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def user(user_id: str | None) -> str:
    """A mention of a Slack user ID; anything that is not an ID is shown escaped, not linked."""
    if user_id and user_id.isalnum() and user_id[:1] in {"U", "W"}:
        return f"<@{user_id}>"
    return escape(user_id) or "someone"


def link(url: str | None, label: str) -> str:
    """A link with escaped label; just the label when there is no URL."""
    if not url or not url.startswith(("https://", "http://")) or any(c in url for c in "<>| "):
        return escape(label)
    return f"<{url}|{escape(label).replace('|', '¦')}>"


def truncate(text: str, limit: int) -> str:
    """Cut text to at most `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
