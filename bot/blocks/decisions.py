"""The steering group's half of a card: its next-step buttons, the reason modal, and what people
are told about a decision (thread reply, direct messages, refusals)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot import mrkdwn
from bot.blocks.kit import (
    Block,
    context,
    count,
    error_text,
    plain,
    ref,
    section,
    sections,
    text_input,
)
from bot.decisions import (
    ASSIGN,
    REASON_MAX,
    AlreadyDecided,
    Change,
    NotOwner,
    owner_of,
)
from bot.errors import CsiError
from bot.ids import ActionId, CallbackId, DecisionBlockId
from bot.lifecycle import Status, label, move_word
from bot.mrkdwn import escape, truncate
from storage.models import AuditEntry, Proposal

# The buttons each status offers: (action, label, style).
_BUTTONS: dict[str, list[tuple[ActionId, str, str | None]]] = {
    Status.OPEN: [
        (ActionId.APPROVE, "Approve", "primary"),
        (ActionId.REJECT, "Reject", "danger"),
        (ActionId.DEFER, "Defer", None),
    ],
    Status.APPROVED: [(ActionId.START_WORK, "Start work", "primary")],
    Status.IN_PROGRESS: [(ActionId.MARK_IMPLEMENTED, "Mark implemented", "primary")],
    Status.DEFERRED: [(ActionId.REOPEN, "Reopen", None)],
    Status.REJECTED: [(ActionId.REOPEN, "Reopen", None)],
}

_DONE: dict[str, str] = {
    Status.APPROVED: ":white_check_mark: Approved",
    Status.REJECTED: ":no_entry_sign: Rejected",
    Status.DEFERRED: ":hourglass_flowing_sand: Deferred",
    Status.IN_PROGRESS: ":hammer_and_wrench: Work started",
    Status.IMPLEMENTED: ":checkered_flag: Marked implemented",
    Status.OPEN: ":arrows_counterclockwise: Reopened",
    Status.WITHDRAWN: ":leftwards_arrow_with_hook: Withdrawn",
    Status.VERIFIED: ":trophy: Verified",
}


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def next_step_buttons(proposal: Proposal) -> Block | None:
    """The card's buttons for the proposal's status, or None when nothing is left to press."""
    buttons = _BUTTONS.get(proposal.status)
    if not buttons:
        return None
    elements: list[dict[str, Any]] = []
    for action, text, style in buttons:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action,
            "value": str(proposal.id),
            "text": plain(text),
        }
        if style:
            button["style"] = style
        elements.append(button)
    return {"type": "actions", "block_id": f"next_step:{proposal.id}", "elements": elements}


def decided_line(proposal: Proposal, decision: AuditEntry | None) -> Block | None:
    """Who decided and when (and the owner once there is work to do), under the card."""
    parts: list[str] = []
    # A reopened proposal is undecided again: its earlier decision is in its history only.
    undecided = proposal.status in {Status.OPEN, Status.NEEDS_OBJECTIVE}
    if decision is not None and decision.to_status and not undecided:
        text = (
            f"{label(decision.to_status)} by {mrkdwn.user(decision.actor)} on {_when(decision.at)}"
        )
        reason = (decision.detail or {}).get("reason")
        if isinstance(reason, str) and reason:
            text += f": {escape(truncate(reason, 300))}"
        parts.append(text)
    if proposal.status in {Status.APPROVED, Status.IN_PROGRESS, Status.IMPLEMENTED}:
        parts.append(f"owner {mrkdwn.user(owner_of(proposal))}")
    return context(" · ".join(parts)) if parts else None


def reason_modal(proposal: Proposal, decision: Status) -> dict[str, Any]:
    """The small modal that asks why a proposal is rejected or deferred."""
    verb = "Reject" if decision == Status.REJECTED else "Defer"
    callback = CallbackId.REJECT_REASON if decision == Status.REJECTED else CallbackId.DEFER_REASON
    hint = (
        "The submitter and the voters are told this reason."
        if decision == Status.REJECTED
        else "Say what it waits for; the steering group can reopen it later."
    )
    return {
        "type": "modal",
        "callback_id": callback,
        "private_metadata": json.dumps({"proposal_id": proposal.id}),
        "title": plain(f"{verb} {ref(proposal)}"),
        "submit": plain(verb),
        "close": plain("Cancel"),
        "blocks": [
            section(f"*{ref(proposal)} {escape(proposal.title)}*"),
            {
                "type": "input",
                "block_id": DecisionBlockId.REASON,
                "label": plain("Why?"),
                "element": text_input(None, multiline=True, max_length=REASON_MAX),
                "hint": plain(hint),
            },
        ],
    }


def _what(change: Change) -> str:
    p = change.proposal
    name = f"{ref(p)} {escape(p.title)}"
    by = mrkdwn.user(change.actor)
    if change.action == ASSIGN:
        return f":bust_in_silhouette: {by} made {mrkdwn.user(change.owner)} the owner of {name}."
    text = f"{_DONE.get(change.after, label(change.after))} by {by}: {name}."
    if change.reason:
        text += f"\nReason: {escape(change.reason)}"
    return text


def thread_reply(change: Change) -> str:
    """The bot's reply in the card's thread about a change."""
    return _what(change) + _next(change)


def _next(change: Change) -> str:
    owner = mrkdwn.user(owner_of(change.proposal))
    if change.action == ASSIGN:
        return ""
    if change.after == Status.APPROVED:
        return f"\nNext: {owner}, the owner, presses *Start work* when the work begins."
    if change.after == Status.IN_PROGRESS:
        return f"\nNext: {owner} presses *Mark implemented* when it is done."
    if change.after in {Status.DEFERRED, Status.REJECTED}:
        return "\nThe steering group can reopen it from the card."
    if change.after == Status.OPEN:
        return "\nIt is open again for votes and a decision."
    return ""


def decision_dm(change: Change, *, to_submitter: bool) -> str:
    """The one direct message the submitter and each voter get about a decision."""
    p = change.proposal
    link = mrkdwn.link(p.permalink, f"{ref(p)} {p.title}")
    done = f"was {move_word(change.after)} by {mrkdwn.user(change.actor)}"
    if to_submitter:
        text = f"Your proposal {link} {done}."
    else:
        text = f"{link}, which you voted for, {done}."
    if change.reason:
        text += f" Reason: {escape(change.reason)}"
    if change.after == Status.APPROVED:
        owner = owner_of(p)
        if to_submitter and owner == p.submitter:
            text += " You own the work: press *Start work* on its card when it begins."
        else:
            text += f" {mrkdwn.user(owner)} owns the work."
    return text


def refusal_text(error: CsiError) -> str:
    """A refused decision, move or assignment, as the person who tried is told."""
    if isinstance(error, AlreadyDecided):
        who = f" by {mrkdwn.user(error.by)}" if error.by else ""
        when = f" on {_when(error.at)}" if error.at else ""
        return (
            f":information_source: #{error.proposal_id} was already "
            f"{move_word(error.status)}{who}{when}. The first decision stands, so nothing "
            "changed."
        )
    if isinstance(error, NotOwner):
        doing = "in progress" if error.to == Status.IN_PROGRESS else "implemented"
        return (
            f":warning: Only the owner of #{error.proposal_id}, {mrkdwn.user(error.owner)}, can "
            f"mark it {doing}. Nothing was changed."
        )
    return error_text(str(error))


def refusal_view(error: AlreadyDecided) -> dict[str, Any]:
    """The reason modal, replaced by what happened first: someone else decided."""
    return {
        "type": "modal",
        "title": plain("Already decided"),
        "close": plain("Close"),
        "blocks": [section(refusal_text(error))],
    }


def objective_digest(
    waiting: list[Proposal], *, now: datetime, limit: int = 30
) -> tuple[str, list[Block]]:
    """The weekly list, for the steering group, of proposals still without an objective after
    a week: fallback text and blocks."""
    heading = (
        f"*{count(len(waiting), 'proposal')} still without an objective after a week*\n"
        "Their submitters were asked and reminded. Nudge them, or merge or withdraw what is "
        "no longer wanted, so the register does not rot."
    )
    lines = []
    for proposal in waiting[:limit]:
        days = max((now - proposal.created_at).days, 0)
        lines.append(
            f"• {ref(proposal)} {escape(truncate(proposal.title, 120))} · proposed by "
            f"{mrkdwn.user(proposal.submitter)} {count(days, 'day')} ago"
        )
    if len(waiting) > limit:
        lines.append(f"…and {count(len(waiting) - limit, 'more proposal')}.")
    text = f"{count(len(waiting), 'proposal')} still without an objective after a week"
    return text, sections(heading, lines, empty="None.")
