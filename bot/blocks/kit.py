"""The small pieces every message and view is made of."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.ids import ActionId, BlockId
from bot.mrkdwn import escape_once, truncate, truncate_markup
from storage.models import Objective, Proposal

Block = dict[str, Any]
VALUE_LABELS = {1: "1 · low", 2: "2", 3: "3 · medium", 4: "4", 5: "5 · high"}
SECTION_MAX = 3000  # Slack's limit on a section's text
HEADER_MAX = 150  # Slack's limit on a header's text


def count(number: int, noun: str, plural: str | None = None) -> str:
    """A number with its noun in agreement: 1 vote, 2 votes, 0 proposals."""
    return f"{number} {noun if number == 1 else (plural or noun + 's')}"


def plain(text: str) -> dict[str, Any]:
    """A plain_text object (Slack shows it verbatim, never as markup)."""
    return {"type": "plain_text", "text": truncate(text, 3000) or " ", "emoji": True}


def md(text: str) -> dict[str, Any]:
    """A mrkdwn text object; callers escape user text first."""
    return {"type": "mrkdwn", "text": truncate_markup(text, SECTION_MAX) or " "}


def header(text: str) -> Block:
    """A header block: plain text, shown exactly as typed."""
    return {"type": "header", "text": plain(truncate(text, HEADER_MAX))}


def plain_section(text: str) -> Block:
    """A section of plain text: user text shown exactly as typed, never as markup."""
    return {"type": "section", "text": plain(text)}


def labelled(rows: Sequence[tuple[str, str]]) -> Block:
    """Lines of a bold label and user text shown exactly as typed (rich text is never parsed as
    markup, so `*`, `_`, `~`, backticks and `<!channel>` in the text stay as they are)."""
    return {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": f"{label}: ", "style": {"bold": True}},
                    {"type": "text", "text": text or "—"},
                ],
            }
            for label, text in rows
        ],
    }


def sections(heading: str, lines: Sequence[str], *, empty: str) -> list[Block]:
    """A heading and its lines as sections that each stay within Slack's limit, split between
    lines (never inside a link)."""
    chunks: list[list[str]] = [[heading]]
    size = len(heading)
    for line in lines or [empty]:
        if size + 1 + len(line) > SECTION_MAX and chunks[-1]:
            chunks.append([])
            size = -1
        chunks[-1].append(line)
        size += 1 + len(line)
    return [section("\n".join(chunk)) for chunk in chunks if chunk]


def section(text: str, **extra: Any) -> Block:
    """A mrkdwn section."""
    return {"type": "section", "text": md(text), **extra}


def context(*texts: str) -> Block:
    """A context line of mrkdwn elements."""
    return {"type": "context", "elements": [md(t) for t in texts]}


def option(text: str, value: str) -> dict[str, Any]:
    """An option of a select."""
    return {"text": plain(truncate(text, 75)), "value": value}


def ref(proposal: Proposal) -> str:
    """How a proposal is named in messages: #12."""
    return f"#{proposal.id}"


def objective_options(objectives: Sequence[Objective]) -> list[dict[str, Any]]:
    """The active objectives as select options (value = objective ID)."""
    return [option(o.title, str(o.id)) for o in objectives[:100]]


def input_block(
    block_id: BlockId,
    title: str,
    element: dict[str, Any],
    *,
    optional: bool = True,
    hint: str | None = None,
    dispatch: bool = False,
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(title),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint)
    if dispatch:
        block["dispatch_action"] = True
    return block


def text_input(
    initial: str | None,
    *,
    multiline: bool = False,
    max_length: int | None = None,
    placeholder: str | None = None,
    action_id: str = ActionId.INPUT,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": action_id,
        "multiline": multiline,
    }
    if initial:
        element["initial_value"] = initial
    if max_length:
        element["max_length"] = max_length
    if placeholder:
        element["placeholder"] = plain(placeholder)
    return element


def select(options: list[dict[str, Any]], initial: str | None, placeholder: str) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": ActionId.INPUT,
        "options": options,
        "placeholder": plain(placeholder),
    }
    chosen = [o for o in options if o["value"] == initial]
    if chosen:
        element["initial_option"] = chosen[0]
    return element


def error_text(message: str) -> str:
    """A user-facing error line. `message` is our text, which may carry code spans and user text
    escaped with `mrkdwn.escape`; `& < >` left unescaped are escaped here, never twice, so an
    error that echoes unescaped user text (a duplicate objective's title) cannot ping or link."""
    return f":warning: {escape_once(message)}"
