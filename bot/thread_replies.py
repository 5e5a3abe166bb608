"""Reading a reply in a card's thread: a steering decision, or discussion (None).

The words are `approve`, `reject <reason>`, `defer <reason>` and `assign @person`; case and
trailing punctuation are ignored. Anything else is discussion and is left alone, so a sentence
that merely starts with one of the words ("approve? not sure yet") is not a decision unless it is
the word alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.command_text import as_typed
from bot.lifecycle import Status

# Slack sends a mention as <@U123> or <@U123|name>.
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$")
_FIRST_WORD = re.compile(r"(\S*)(\s*)(.*)", re.DOTALL)
_TRAILING = ".!?,;:… \t\n"
_WORDS = {"approve": Status.APPROVED, "reject": Status.REJECTED, "defer": Status.DEFERRED}


@dataclass(frozen=True)
class ThreadDecision:
    """`approve`, `reject <reason>` or `defer <reason>` (the reason may be missing)."""

    decision: Status
    reason: str | None = None


@dataclass(frozen=True)
class ThreadAssign:
    """`assign @person`."""

    owner: str


ThreadCommand = ThreadDecision | ThreadAssign


def parse(text: str | None) -> ThreadCommand | None:
    """The decision in a thread reply, or None when the reply is discussion."""
    if not text:
        return None
    stripped = text.strip()
    head, _, rest = _FIRST_WORD.match(stripped).groups()  # type: ignore[union-attr]
    word = head.strip(_TRAILING).lower()
    rest = rest.strip()
    if word == "assign":
        target = rest.rstrip(_TRAILING)
        match = _MENTION.match(target)
        return ThreadAssign(owner=match.group(1)) if match else None
    decision = _WORDS.get(word)
    if decision is None:
        return None
    if decision == Status.APPROVED:
        # "approve" alone; "approve this later?" is discussion.
        return ThreadDecision(decision) if not rest.strip(_TRAILING) else None
    if head.rstrip(" \t\n").endswith("?"):
        # "reject? I'd rather wait" is a question, not a decision with a reason.
        return None
    # Slack sends & < > of a message as entities; the reason is stored as typed.
    reason = as_typed(rest.rstrip(" \t\n")) or None
    return ThreadDecision(decision, reason)
