"""Every Block Kit message and view the bot sends, built by pure functions (nothing else builds
Block Kit). Split by surface; everything is re-exported here."""

from bot.blocks.forms import proposal_modal
from bot.blocks.kit import (
    Block,
    context,
    error_text,
    md,
    objective_options,
    option,
    plain,
    ref,
    section,
)
from bot.blocks.messages import (
    help_message,
    home_view,
    merged_text,
    no_objectives_message,
    objective_chosen,
    objective_question,
    objectives_list,
    proposal_card,
    proposal_line,
    proposal_stored,
    register_list,
    vote_recorded,
)
from bot.blocks.similar import (
    CHOICE_NEW,
    similar_choice_view,
    similar_notice,
    vote_instead_buttons,
)

__all__ = [
    "CHOICE_NEW",
    "Block",
    "context",
    "error_text",
    "help_message",
    "home_view",
    "md",
    "merged_text",
    "no_objectives_message",
    "objective_chosen",
    "objective_options",
    "objective_question",
    "objectives_list",
    "option",
    "plain",
    "proposal_card",
    "proposal_line",
    "proposal_modal",
    "proposal_stored",
    "ref",
    "register_list",
    "section",
    "similar_choice_view",
    "similar_notice",
    "vote_instead_buttons",
    "vote_recorded",
]
