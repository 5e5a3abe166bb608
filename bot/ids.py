"""Every callback_id, action_id and block_id the bot uses, in one place."""

from __future__ import annotations

from enum import StrEnum


class CallbackId(StrEnum):
    """Views (modals) the bot opens."""

    PROPOSAL = "proposal_modal"
    SIMILAR_CHOICE = "similar_choice_modal"
    BENEFIT = "benefit_modal"  # the owner records the measured result of an implemented proposal
    OBJECTIVE = "objective_modal"  # the steering group adds, edits or retires an objective
    # The reason asked for when a steering member rejects or defers from the card.
    REJECT_REASON = "reject_reason_modal"
    DEFER_REASON = "defer_reason_modal"


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
    RECORD_BENEFIT = "record_benefit"  # opens the benefit modal from the owner's question
    # The SLA digest's button on a breach no proposal addresses (value: the target ID).
    PROPOSE_IMPROVEMENT = "propose_improvement"
    # The objective select that searches as you type (more objectives than a list may hold).
    PICK_OBJECTIVE = "pick_objective"
    PROPOSE_FROM_HOME = "propose_from_home"
    ADD_OBJECTIVE = "add_objective"
    MANAGE_OBJECTIVE = "manage_objective"  # the Home tab's "edit or retire an objective" select
    # Stale work in the digest's thread (steering group only).
    STALE_KEEP = "stale_keep"
    STALE_PARK = "stale_park"
    STALE_WITHDRAW = "stale_withdraw"
    # The card's next-step buttons (value: the proposal ID).
    APPROVE = "decision_approve"
    REJECT = "decision_reject"
    DEFER = "decision_defer"
    START_WORK = "start_work"
    MARK_IMPLEMENTED = "mark_implemented"
    REOPEN = "reopen_proposal"


class DecisionBlockId(StrEnum):
    """Input blocks of the reason modal."""

    REASON = "decision_reason"


class ObjectiveBlockId(StrEnum):
    """Input blocks of the objective modal."""

    TITLE = "objective_title"
    DESCRIPTION = "objective_description"
    WEIGHT = "objective_weight"
    KPI = "objective_kpi"
    SLA_TARGET = "objective_sla_target"
    BASELINE = "objective_baseline"
    TARGET = "objective_target"
    TARGET_DATE = "objective_target_date"
    RETIRE = "objective_retire"


class BenefitBlockId(StrEnum):
    """Input blocks of the benefit modal; errors are keyed by these values."""

    MEASURED = "measured"  # the measured KPI value
    REALISED = "realised"  # yes / not yet, for a proposal without a KPI target
