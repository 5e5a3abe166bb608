"""Every Block Kit message and view the bot sends, built by pure functions (nothing else builds
Block Kit). Split by surface; everything is re-exported here."""

from bot.blocks.commands import (
    TITLE_USAGE,
    already_merged,
    command_not_yet,
    command_refused,
    merge_done,
    no_objectives_yet,
    objective_added,
    proposal_withdrawn,
)
from bot.blocks.digest import (
    detail_messages,
    improvement_form_values,
    nothing_to_report,
    summary_message,
)
from bot.blocks.forms import proposal_modal
from bot.blocks.home import home_view, register_listing, unknown_objective
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
    merged_text,
    no_objectives_message,
    objective_chosen,
    objective_question,
    objectives_list,
    proposal_card,
    proposal_line,
    proposal_stored,
    reaction_not_counted,
    register_list,
    vote_recorded,
)
from bot.blocks.polls import poll_message, poll_notice, poll_result
from bot.blocks.priority import top_list, why_text
from bot.blocks.similar import (
    CHOICE_NEW,
    similar_choice_view,
    similar_notice,
    vote_instead_buttons,
)

__all__ = [
    "CHOICE_NEW",
    "TITLE_USAGE",
    "Block",
    "already_merged",
    "command_not_yet",
    "command_refused",
    "context",
    "detail_messages",
    "error_text",
    "help_message",
    "home_view",
    "improvement_form_values",
    "md",
    "merge_done",
    "merged_text",
    "no_objectives_message",
    "no_objectives_yet",
    "nothing_to_report",
    "objective_added",
    "objective_chosen",
    "objective_options",
    "objective_question",
    "objectives_list",
    "option",
    "plain",
    "poll_message",
    "poll_notice",
    "poll_result",
    "proposal_card",
    "proposal_line",
    "proposal_modal",
    "proposal_stored",
    "proposal_withdrawn",
    "reaction_not_counted",
    "ref",
    "register_list",
    "register_listing",
    "section",
    "similar_choice_view",
    "similar_notice",
    "summary_message",
    "top_list",
    "unknown_objective",
    "vote_instead_buttons",
    "vote_recorded",
    "why_text",
]
