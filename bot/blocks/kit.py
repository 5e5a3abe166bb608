"""The small pieces every message and view is made of."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.ids import ActionId, BlockId
from bot.mrkdwn import truncate
from storage.models import Objective, Proposal

Block = dict[str, Any]
VALUE_LABELS = {1: "1 · low", 2: "2", 3: "3 · medium", 4: "4", 5: "5 · high"}


def plain(text: str) -> dict[str, Any]:
    """A plain_text object (Slack shows it verbatim, never as markup)."""
    return {"type": "plain_text", "text": truncate(text, 3000) or " ", "emoji": True}


def md(text: str) -> dict[str, Any]:
    """A mrkdwn text object; callers escape user text first."""
    return {"type": "mrkdwn", "text": truncate(text, 3000) or " "}


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
    """A user-facing error line."""
    return f":warning: {message}"
