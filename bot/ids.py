"""Every callback_id, action_id and block_id the bot uses, in one place."""

from __future__ import annotations

from enum import StrEnum


class CallbackId(StrEnum):
    """Views (modals) the bot opens."""

    PROPOSAL = "proposal_modal"
    SIMILAR_CHOICE = "similar_choice_modal"


class BlockId(StrEnum):
    """Input blocks of the proposal modal; the values are the field names errors are keyed by."""

    TITLE = "title"
    DESCRIPTION = "description"
    OUTCOME = "outcome"
    OBJECTIVE = "objective"
    SERVICE = "service"
    BENEFIT = "benefit"
    VALUE = "value"
    EFFORT = "effort"
    KPI = "kpi"
    KPI_BASELINE = "kpi_baseline"
    KPI_TARGET = "kpi_target"
    SIMILAR = "similar"
    CHOICE = "choice"  # the similar-choice modal's radio buttons


class ActionId(StrEnum):
    """Interactive elements."""

    INPUT = "input"  # the single element inside each input block
    TITLE = "title_input"  # dispatches on enter, to look up similar proposals
    CHOOSE_OBJECTIVE = "choose_objective"
    ADD_DETAILS = "add_details"
    VOTE_INSTEAD = "vote_instead"
    SUBMIT_ANYWAY = "submit_anyway"
    OPEN_PROPOSAL = "open_proposal"
    DISCARD = "discard_proposal"  # the submitter withdraws a one-line proposal from its question
    # The SLA digest's button on a breach no proposal addresses (value: the target ID).
    PROPOSE_IMPROVEMENT = "propose_improvement"
