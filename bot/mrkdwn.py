"""Safe mrkdwn: user text can never ping, link or format as markup.

Where user text can stand alone, the builders put it in `plain_text` (or `rich_text`) objects,
which Slack shows exactly as typed. Where it must sit inside a mrkdwn sentence (a linked title
in a list, a title in a direct message), `escape` makes it inert:

- `&`, `<` and `>` become entities, the escape Slack documents: no `<!channel>`, `<@U…>` or
  `<url|label>` can be formed.
- `*`, `_`, `~` and the backtick have no escape in Slack's mrkdwn, so they are replaced by
  look-alike characters (see LOOKALIKES) that read the same but are not markup. A zero-width joiner
  next to the markup character was the other candidate; it was not chosen because whether it
  breaks a formatting span depends on undocumented parser rules (and some clients strip it),
  so it cannot be shown to work in a test, while a look-alike never formats anywhere.
"""

from __future__ import annotations

import re

# Slack mrkdwn's formatting characters and what is shown in their place.
LOOKALIKES = str.maketrans(
    {
        "*": "\u2217",  # asterisk operator
        "_": "\u02cd",  # modifier letter low macron
        "~": "\u223c",  # tilde operator
        "`": "\u02cb",  # modifier letter grave accent
    }
)
_UNESCAPED_AMP = re.compile(r"&(?!(?:amp|lt|gt);)")


def escape(text: str | None) -> str:
    """User text made inert for mrkdwn: entities for `& < >`, look-alikes for `* _ ~` and `."""
    if not text:
        return ""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.translate(LOOKALIKES)


def escape_once(text: str) -> str:
    """Escape `& < >` in a message that may already be escaped (entities are left as they are).

    For our own messages that carry code spans and may embed escaped user text: nothing in them
    can ping or link, and nothing is escaped twice.
    """
    return _UNESCAPED_AMP.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")


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


def truncate_markup(text: str, limit: int) -> str:
    """Cut mrkdwn to at most `limit` characters without splitting a `<…>` link or an entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    opened, closed = cut.rfind("<"), cut.rfind(">")
    if opened > closed:
        cut = cut[:opened]
    amp = cut.rfind("&")
    if amp >= 0 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + "…"
