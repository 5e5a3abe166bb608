"""Objectives in Slack: the select that offers them, the steering group's objective modal, and
the notice to submitters whose objective was retired."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot import mrkdwn
from bot.blocks.kit import Block, plain, ref, section, text_input
from bot.ids import ActionId, CallbackId, ObjectiveBlockId
from bot.mrkdwn import escape, truncate
from bot.objectives import NO_SLA_TARGET, OPTIONS_MAX
from bot.sla.targets import TargetView, describe
from storage.models import TITLE_MAX, Objective, Proposal

OPTION_TEXT_MAX = 75  # Slack's limit on an option's text
KEEP, RETIRE = "keep", "retire"
# Proposals listed with a select each in one retire notice (a message holds 50 blocks).
NOTICE_PROPOSALS_MAX = 15


def objective_label(objective: Objective) -> str:
    """How an objective reads in a menu: its title, cut to Slack's 75 characters; a cut title
    ends with its number, so that two titles sharing their first 75 characters stay apart."""
    if len(objective.title) <= OPTION_TEXT_MAX:
        return objective.title
    suffix = f" (#{objective.id})"
    return truncate(objective.title, OPTION_TEXT_MAX - len(suffix)) + suffix


def objective_option(objective: Objective) -> dict[str, Any]:
    """One objective as a select option (value = its ID)."""
    return {"text": plain(objective_label(objective)), "value": str(objective.id)}


def objective_options(objectives: Sequence[Objective]) -> list[dict[str, Any]]:
    """Objectives as options, at most as many as a select may hold."""
    return [objective_option(o) for o in objectives[:OPTIONS_MAX]]


def objective_select(
    objectives: Sequence[Objective],
    *,
    action_id: str,
    initial: Objective | None = None,
    placeholder: str = "Choose an objective",
) -> dict[str, Any]:
    """The objective select: a list while every active objective fits in one (100), else a
    select that searches as you type (Slack asks the bot for options, see handlers/options.py).

    `objectives` holds up to OPTIONS_MAX + 1 active objectives: one more says they do not fit.
    """
    element: dict[str, Any] = {"action_id": action_id, "placeholder": plain(placeholder)}
    if len(objectives) <= OPTIONS_MAX:
        element.update(type="static_select", options=objective_options(objectives))
        if initial is not None and any(o.id == initial.id for o in objectives):
            element["initial_option"] = objective_option(initial)
        return element
    element.update(type="external_select", min_query_length=0)
    if initial is not None:
        element["initial_option"] = objective_option(initial)
    return element


def _input(
    block_id: str,
    label: str,
    element: dict[str, Any],
    *,
    optional: bool = True,
    hint: str | None = None,
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint)
    return block


def options_answer(objectives: Sequence[Objective]) -> list[dict[str, Any]]:
    """The options Slack shows while someone types in an objective select."""
    return objective_options(objectives)


def _number_text(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


def _sla_target_select(
    sla_targets: Sequence[TargetView], objective: Objective | None
) -> dict[str, Any]:
    none = {"text": plain("None: the KPI is named above"), "value": NO_SLA_TARGET}
    options = [none] + [
        {"text": plain(truncate(describe(t), OPTION_TEXT_MAX)), "value": str(t.id)}
        for t in sla_targets[: OPTIONS_MAX - 1]
    ]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": ActionId.INPUT,
        "placeholder": plain("Choose an SLA target"),
        "options": options,
    }
    linked = None if objective is None else objective.kpi_sla_target_id
    chosen = [o for o in options if o["value"] == str(linked)] if linked else []
    if chosen:
        element["initial_option"] = chosen[0]
    return element


def _target_blocks(objective: Objective | None, sla_targets: Sequence[TargetView]) -> list[Block]:
    """The optional measurable target: a KPI in words or an SLA target, baseline, target, date."""
    linked = objective is not None and objective.kpi_sla_target_id is not None
    kpi = None if objective is None or linked else objective.kpi
    blocks: list[Block] = [
        _input(
            ObjectiveBlockId.KPI,
            "KPI (optional)",
            text_input(kpi, max_length=TITLE_MAX, placeholder="e.g. Major incidents per month"),
            hint="The measure that shows how far the objective got. Leave the target fields "
            "empty for an objective without a measurable target.",
        )
    ]
    if sla_targets:
        blocks.append(
            _input(
                ObjectiveBlockId.SLA_TARGET,
                "…or one of the SLA targets as its KPI",
                _sla_target_select(sla_targets, objective),
                hint="Its measurements show the latest value (the last 7 days).",
            )
        )
    blocks += [
        _input(
            ObjectiveBlockId.BASELINE,
            "Baseline",
            text_input(_number_text(objective.kpi_baseline if objective else None), max_length=20),
            hint="The KPI's value today: where the path to the target starts.",
        ),
        _input(
            ObjectiveBlockId.TARGET,
            "Target value",
            text_input(_number_text(objective.kpi_target if objective else None), max_length=20),
            hint="The value to reach (above the baseline: up; below: down). For an SLA target, "
            "its own target unless given.",
        ),
        _input(
            ObjectiveBlockId.TARGET_DATE,
            "Target date",
            text_input(
                objective.kpi_target_date.isoformat()
                if objective and objective.kpi_target_date
                else None,
                max_length=10,
                placeholder="YYYY-MM-DD",
            ),
            hint="When the target should be reached; on track means at or beyond the straight "
            "path from the baseline to the target by then.",
        ),
    ]
    return blocks


def objective_modal(
    objective: Objective | None = None, *, sla_targets: Sequence[TargetView] = ()
) -> dict[str, Any]:
    """The steering group's form: a new objective, or an existing one to edit or retire, with
    its optional measurable target (`sla_targets` are offered as KPIs)."""
    weight = None if objective is None else f"{objective.weight:g}"
    blocks: list[Block] = [
        _input(
            ObjectiveBlockId.TITLE,
            "Title",
            text_input(objective.title if objective else None, max_length=TITLE_MAX),
            optional=False,
        ),
        _input(
            ObjectiveBlockId.DESCRIPTION,
            "What it means",
            text_input(objective.description if objective else None, multiline=True),
        ),
        _input(
            ObjectiveBlockId.WEIGHT,
            "Weight",
            text_input(weight or "1", max_length=10),
            optional=False,
            hint="How much proposals serving it count in the priority: more than 0, at most 100.",
        ),
        *_target_blocks(objective, sla_targets),
    ]
    if objective is not None:
        keep = {"text": plain("Keep it active"), "value": KEEP}
        retire = {
            "text": plain("Retire it: no new proposal can serve it"),
            "value": RETIRE,
        }
        blocks.append(
            _input(
                ObjectiveBlockId.RETIRE,
                "Status",
                {
                    "type": "radio_buttons",
                    "action_id": ActionId.INPUT,
                    "options": [keep, retire],
                    "initial_option": keep,
                },
                hint="The submitters of its open proposals are asked to choose another.",
            )
        )
    return {
        "type": "modal",
        "callback_id": CallbackId.OBJECTIVE,
        "title": plain("Edit objective" if objective else "New objective"),
        "submit": plain("Save"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps({"objective_id": objective.id if objective else None}),
        "blocks": blocks,
    }


def notice_view(title: str, text: str) -> dict[str, Any]:
    """A modal that only tells something (a refusal, a confirmation)."""
    return {
        "type": "modal",
        "title": plain(title),
        "close": plain("Close"),
        "blocks": [section(text)],
    }


def objective_saved(objective: Objective, *, created: bool, changed: bool) -> str:
    """Shown to the steering member once the objective modal is saved."""
    name = f"*{escape(objective.title)}* (weight {objective.weight:g})"
    if created:
        return f":dart: Added the objective {name}; proposals can serve it now."
    if not changed:
        return f"Nothing changed: the objective is still {name}."
    return f":pencil2: Saved the objective {name}."


def objective_retired(objective: Objective, *, submitters: int, proposals: int) -> str:
    """Shown to the steering member who retired an objective."""
    text = f":file_cabinet: Retired the objective *{escape(objective.title)}*."
    if proposals:
        people = "its submitter" if submitters == 1 else f"their {submitters} submitters"
        noun = "open proposal served" if proposals == 1 else "open proposals served"
        text += f" {proposals} {noun} it; I am asking {people} to choose another objective."
    else:
        text += " No open proposal served it."
    return text


def retire_notices(
    objective: Objective, mine: Sequence[Proposal], objectives: Sequence[Objective]
) -> list[tuple[str, list[Block]]]:
    """Tells a submitter that the objective of their proposals was retired, with a select per
    proposal to choose another (the same select as a one-line proposal's question); one message
    per NOTICE_PROPOSALS_MAX proposals, as a message holds 50 blocks."""
    count = len(mine)
    which = "your proposal" if count == 1 else f"{count} of your proposals"
    intro = (
        f"The steering group retired the objective *{escape(objective.title)}*, which {which} "
        "served."
    )
    intro += (
        " Which objective does each serve now?"
        if objectives
        else " No objective is active right now, so they wait until the steering group adds one."
    )
    text = f"The objective {escape(objective.title)} was retired: choose another"
    notices: list[tuple[str, list[Block]]] = []
    for start in range(0, count, NOTICE_PROPOSALS_MAX):
        blocks: list[Block] = [section(intro)] if start == 0 else []
        for proposal in mine[start : start + NOTICE_PROPOSALS_MAX]:
            blocks.append(
                section(mrkdwn.link(proposal.permalink, f"{ref(proposal)} {proposal.title}"))
            )
            if objectives:
                select = objective_select(objectives, action_id=ActionId.CHOOSE_OBJECTIVE)
                blocks.append(
                    {
                        "type": "actions",
                        "block_id": f"objective:{proposal.id}",
                        "elements": [select],
                    }
                )
        notices.append((text, blocks))
    return notices
