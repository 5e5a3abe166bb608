"""The modals: the proposal form."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.blocks.kit import (
    VALUE_LABELS,
    Block,
    input_block,
    option,
    plain,
    select,
    text_input,
)
from bot.blocks.objectives import objective_select
from bot.drafts import BENEFIT_LABELS
from bot.ids import ActionId, BlockId, CallbackId
from storage.models import TEXT_MAX, TITLE_MAX, Objective

SERVICES_HINT_NAMES = 200  # characters of names in the hint; Slack allows 2,000 in all


def services_hint(services: Sequence[str]) -> str | None:
    """The service field's hint: the known services, so a proposal names one the same way.

    The field stays free text, so a new service can still be typed; one typed in another case
    or spacing is the same service.
    """
    if not services:
        return None
    shown: list[str] = []
    length = 0
    for name in services:
        if shown and length + len(name) > SERVICES_HINT_NAMES:
            break
        shown.append(name)
        length += len(name) + 2
    rest = len(services) - len(shown)
    names = ", ".join(shown) + (f" and {rest} more" if rest else "")
    return f"Known services: {names}. Type one of them, or a new service."


def proposal_modal(
    *,
    objectives: Sequence[Objective],
    initial: dict[str, Any] | None = None,
    proposal_id: int | None = None,
    notice_blocks: Sequence[Block] = (),
    services: Sequence[str] = (),
) -> dict[str, Any]:
    """The proposal form: every register field; objective required. With more active
    objectives than a list holds, the objective is a select that searches as you type.

    `initial` pre-fills fields by block id; `proposal_id` means the form completes an existing
    proposal (added details) instead of capturing a new one. `services` are the known service
    names, offered in the service field's hint.
    """
    initial = initial or {}

    def text(key: str) -> str | None:
        value = initial.get(key)
        return None if value is None else str(value)

    blocks: list[Block] = [
        input_block(
            BlockId.TITLE,
            "Title",
            text_input(
                text(BlockId.TITLE),
                max_length=TITLE_MAX,
                action_id=ActionId.TITLE,
                placeholder="Automate certificate renewal on the web tier",
            ),
            optional=False,
            dispatch=True,
            hint="Press Enter to see similar proposals before you go on.",
        ),
        *notice_blocks,
        input_block(
            BlockId.DESCRIPTION,
            "Where are we now?",
            text_input(text(BlockId.DESCRIPTION), multiline=True, max_length=TEXT_MAX),
            hint="The problem, or the current state this improvement starts from.",
        ),
        input_block(
            BlockId.OUTCOME,
            "Where do we want to be?",
            text_input(text(BlockId.OUTCOME), multiline=True, max_length=TEXT_MAX),
            hint="The outcome you want once it is done.",
        ),
        input_block(
            BlockId.OBJECTIVE,
            "Objective it serves",
            objective_select(
                objectives,
                action_id=ActionId.INPUT,
                initial=next((o for o in objectives if str(o.id) == text(BlockId.OBJECTIVE)), None),
            ),
            optional=False,
            hint="Set by the steering group. Every improvement serves one.",
        ),
        input_block(
            BlockId.SERVICE,
            "Affected service",
            text_input(
                text(BlockId.SERVICE), max_length=80, placeholder="e.g. Email, VPN, Service desk"
            ),
            hint=services_hint(services),
        ),
        input_block(
            BlockId.BENEFIT,
            "Expected benefit",
            select(
                [option(lbl, b.value) for b, lbl in BENEFIT_LABELS.items()],
                text(BlockId.BENEFIT),
                "Choose a benefit",
            ),
        ),
        input_block(
            BlockId.VALUE,
            "Value",
            select(
                [option(lbl, str(v)) for v, lbl in VALUE_LABELS.items()],
                text(BlockId.VALUE),
                "1 (low) to 5 (high)",
            ),
        ),
        input_block(
            BlockId.EFFORT,
            "Effort",
            text_input(
                text(BlockId.EFFORT),
                max_length=20,
                placeholder="S, M, L, XL or person-days like 3d",
            ),
        ),
        input_block(
            BlockId.KPI,
            "KPI",
            text_input(
                text(BlockId.KPI), max_length=TITLE_MAX, placeholder="e.g. Mean time to restore (h)"
            ),
        ),
        input_block(
            BlockId.KPI_BASELINE,
            "KPI baseline",
            text_input(
                text(BlockId.KPI_BASELINE), max_length=30, placeholder="Today's value, e.g. 6.5"
            ),
        ),
        input_block(
            BlockId.KPI_TARGET,
            "KPI target",
            text_input(
                text(BlockId.KPI_TARGET), max_length=30, placeholder="The value to reach, e.g. 2"
            ),
            # The direction a proposal moves its KPI is read from these two (bot.counteracting).
            hint="Above the baseline moves the KPI up, below moves it down.",
        ),
    ]
    return {
        "type": "modal",
        "callback_id": CallbackId.PROPOSAL,
        "title": plain("Improvement proposal"),
        "submit": plain("Submit"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps({"proposal_id": proposal_id}),
        "blocks": blocks,
    }
