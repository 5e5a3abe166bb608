"""Reads the proposal modal's submitted state back into a draft, and a proposal into the form."""

from __future__ import annotations

from typing import Any

from bot.drafts import ProposalDraft
from bot.ids import BlockId
from storage.models import Proposal


def selected_value(state: dict[str, Any], block_id: str) -> str | None:
    """The single element's value in an input block (text, or a select's chosen option)."""
    block = state.get(block_id) or {}
    for element in block.values():
        if not isinstance(element, dict):
            continue
        if "selected_option" in element or element.get("type") in {
            "static_select",
            "radio_buttons",
        }:
            selected = element.get("selected_option") or {}
            return selected.get("value")
        return element.get("value")
    return None


def draft_from_state(state_values: dict[str, Any]) -> ProposalDraft:
    """A draft from `view.state.values`; unparseable choices become validation errors later."""

    def text(block_id: BlockId) -> str:
        return selected_value(state_values, block_id) or ""

    objective = text(BlockId.OBJECTIVE)
    value = text(BlockId.VALUE)
    return ProposalDraft(
        title=text(BlockId.TITLE),
        description=text(BlockId.DESCRIPTION),
        outcome=text(BlockId.OUTCOME),
        # A forged or stale ID that is not a number maps to "no such objective", not a crash.
        objective_id=int(objective) if objective.isdigit() else (-1 if objective else None),
        service=text(BlockId.SERVICE),
        benefit=text(BlockId.BENEFIT) or None,
        value=int(value) if value.isdigit() else (0 if value else None),
        effort=text(BlockId.EFFORT) or None,
        kpi=text(BlockId.KPI),
        kpi_baseline=text(BlockId.KPI_BASELINE) or None,
        kpi_target=text(BlockId.KPI_TARGET) or None,
    )


def initial_from_state(state_values: dict[str, Any]) -> dict[str, Any]:
    """The form's current values, to carry over when the form is redrawn."""
    return {block_id.value: selected_value(state_values, block_id) for block_id in BlockId}


def initial_from_proposal(proposal: Proposal) -> dict[str, Any]:
    """The form's initial values for an existing proposal."""

    def number(value: float | None) -> str | None:
        return None if value is None else f"{value:g}"

    return {
        BlockId.TITLE: proposal.title,
        BlockId.DESCRIPTION: proposal.description,
        BlockId.OUTCOME: proposal.outcome,
        BlockId.OBJECTIVE: str(proposal.objective_id) if proposal.objective_id else None,
        BlockId.SERVICE: proposal.service,
        BlockId.BENEFIT: proposal.benefit,
        BlockId.VALUE: str(proposal.value) if proposal.value else None,
        BlockId.EFFORT: proposal.effort,
        BlockId.KPI: proposal.kpi,
        BlockId.KPI_BASELINE: number(proposal.kpi_baseline),
        BlockId.KPI_TARGET: number(proposal.kpi_target),
    }
