"""Reads the proposal modal's submitted state back into a draft, and a proposal into the form."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.drafts import ProposalDraft
from bot.ids import BlockId
from storage.models import Proposal

# ASCII digits, at most nine: '²' or a 20-digit number must not reach int() or the database.
_SMALL_NUMBER = re.compile(r"[0-9]{1,9}")


def _number(raw: str | None) -> int | None:
    """A chosen ID or rating; anything that is not a plain number reads as 0 (refused later)."""
    if raw is None:
        return None
    return int(raw) if _SMALL_NUMBER.fullmatch(raw) else 0


def draft_from_state(values: Mapping[str, str | None]) -> ProposalDraft:
    """A draft from the modal's entered values (`ModalView.values`); a choice that is not a
    plain number becomes a validation error, not a crash."""

    def text(block_id: BlockId) -> str:
        return values.get(block_id) or ""

    objective = _number(values.get(BlockId.OBJECTIVE) or None)
    return ProposalDraft(
        title=text(BlockId.TITLE),
        description=text(BlockId.DESCRIPTION),
        outcome=text(BlockId.OUTCOME),
        # A forged or stale ID maps to "no such objective".
        objective_id=-1 if objective == 0 else objective,
        service=text(BlockId.SERVICE),
        benefit=text(BlockId.BENEFIT) or None,
        value=_number(values.get(BlockId.VALUE) or None),
        effort=text(BlockId.EFFORT) or None,
        kpi=text(BlockId.KPI),
        kpi_baseline=text(BlockId.KPI_BASELINE) or None,
        kpi_target=text(BlockId.KPI_TARGET) or None,
    )


def initial_from_state(values: Mapping[str, str | None]) -> dict[str, Any]:
    """The form's current values, to carry over when the form is redrawn."""
    return {block_id.value: values.get(block_id) for block_id in BlockId}


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
