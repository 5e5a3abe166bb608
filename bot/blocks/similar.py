"""Similar and related proposals, as shown while a proposal is written."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot import mrkdwn
from bot.blocks.kit import Block, context, count, plain, ref, section
from bot.ids import ActionId, BlockId, CallbackId
from bot.lifecycle import VOTABLE, label
from bot.proposals import ProposalSummary

if TYPE_CHECKING:  # the engine (numpy) is not needed to draw its matches
    from bot.similar_proposals import SimilarMatch

CHOICE_NEW = "new"


def _line(summary: ProposalSummary, *, vote_emoji: str) -> str:
    p = summary.proposal
    title = mrkdwn.link(p.permalink, f"{ref(p)} {p.title}")
    votes = f":{vote_emoji}: {count(summary.votes, 'vote')}"
    return f"{title} · {label(p.status)} · {votes}"


def _why(match: SimilarMatch) -> str:
    """Why the warning names a match (its reasons), or how alike it is when none were given."""
    if match.reasons:
        return "_" + ", ".join(match.reasons) + "_"
    return f"{round(match.score * 100)}% alike"


def similar_notice(
    matches: Sequence[SimilarMatch], related: Sequence[ProposalSummary], *, vote_emoji: str
) -> list[Block]:
    """What is already in the register that looks like this, and what to coordinate with."""
    shown: list[Block] = []
    if matches:
        lines = [f"• {_line(m.summary, vote_emoji=vote_emoji)} · {_why(m)}" for m in matches]
        if any(m.proposal.status in VOTABLE for m in matches):
            advice = ": vote for one of them instead of starting the same work twice."
        else:
            advice = ". None of them takes votes now; see what became of them before you go on."
        shown.append(
            section(
                ":mag: *Similar proposals already in the register*"
                + advice
                + "\n"
                + "\n".join(lines),
                block_id=BlockId.SIMILAR,
            )
        )
    if related:
        lines = [f"• {_line(s, vote_emoji=vote_emoji)}" for s in related]
        shown.append(
            section(
                ":handshake: *Related: coordinate with* (same service and objective)\n"
                + "\n".join(lines),
                block_id="related",
            )
        )
    if not shown:
        shown.append(context(":white_check_mark: No similar proposal in the register."))
    return shown


def vote_instead_buttons(matches: Sequence[SimilarMatch], *, new_proposal_id: int) -> list[Block]:
    """Buttons under a one-line proposal: give the vote to an existing one instead (none when no
    match can still take votes)."""
    votable = [m for m in matches if m.proposal.status in VOTABLE][:5]
    if not votable:
        return []
    return [
        {
            "type": "actions",
            "block_id": f"vote_instead:{new_proposal_id}",
            "elements": [
                {
                    "type": "button",
                    "action_id": f"{ActionId.VOTE_INSTEAD}:{m.proposal.id}",
                    "value": f"{m.proposal.id}:{new_proposal_id}",
                    "text": plain(f"Vote for {ref(m.proposal)} instead"),
                }
                for m in votable
            ],
        }
    ]


def similar_choice_view(
    *,
    matches: Sequence[SimilarMatch],
    related: Sequence[ProposalSummary],
    pending_key: str,
    title: str,
    vote_emoji: str,
) -> dict[str, Any]:
    """The form turned into a choice: vote for an existing proposal, or submit anyway.

    Submitting anyway is chosen already, so that one click on Continue does it: the warning
    may be wrong, and the reasons shown let the author judge it at a glance.
    """
    options = [
        {
            "text": plain(mrkdwn.truncate(f"Vote for {ref(m.proposal)} {m.proposal.title}", 75)),
            "value": f"vote:{m.proposal.id}",
        }
        for m in matches
        if m.proposal.status in VOTABLE
    ]
    submit = "Submit mine anyway" if options else "Submit mine"
    new = {"text": plain(submit), "value": CHOICE_NEW}
    options_all = [*options, new]
    if options:
        advice = (
            "Voting for one of them keeps the work in one place; if yours is different, "
            "Continue submits it anyway and the two are linked as related."
        )
    else:
        advice = "None of them takes votes now; if yours is still needed, submit it."
    intro = f"*{mrkdwn.escape(title)}* looks like proposals already in the register. {advice}"
    blocks: list[Block] = [
        section(intro),
        *similar_notice(matches, related, vote_emoji=vote_emoji),
        {
            "type": "input",
            "block_id": BlockId.CHOICE,
            "label": plain("What would you like to do?"),
            "element": {
                "type": "radio_buttons",
                "action_id": ActionId.INPUT,
                "options": options_all,
                "initial_option": new,
            },
        },
    ]
    return {
        "type": "modal",
        "callback_id": CallbackId.SIMILAR_CHOICE,
        "title": plain("Similar proposals"),
        "submit": plain("Continue"),
        "close": plain("Cancel"),
        "private_metadata": json.dumps({"pending": pending_key}),
        "blocks": blocks,
    }
