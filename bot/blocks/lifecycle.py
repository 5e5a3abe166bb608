"""Messages and views of the lifecycle: `/improve show`, `/improve history`, `/improve status`,
the benefit check's question to the owner, its modal, and the report in the card's thread.

Times are written with Slack's date formatting (`<!date^…>`), so each reader sees them in their
own time zone; the fallback (for clients that cannot format dates) is UTC.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot import mrkdwn
from bot.benefit import VERIFIES, Answer, Outcome, has_measure
from bot.blocks.kit import (
    SECTION_MAX,
    Block,
    context,
    count,
    option,
    plain,
    ref,
    section,
    text_input,
)
from bot.decisions import REOPENABLE, Change, owner_of
from bot.history import HistoryEntry
from bot.ids import ActionId, BenefitBlockId, CallbackId
from bot.lifecycle import Status, can_move, label, move_word, state_phrase
from bot.mrkdwn import escape, truncate
from bot.proposals import ProposalSummary
from storage.models import Proposal

# `/improve history`: whole entries up to this many characters (Slack takes 3,000 a section and
# 50 blocks a message; ten full sections keep the answer readable and well inside both).
HISTORY_SECTIONS = 10
# `/improve show`: the latest entries under the proposal.
SHOW_ENTRIES = 10
REASON_SHOWN = 300

# Statuses nobody sets by hand with `/improve status` (the bot or a merge sets them).
_NOT_BY_HAND = frozenset({Status.VERIFIED, Status.MERGED, Status.NEEDS_OBJECTIVE})


def when(at: datetime) -> str:
    """A moment in each reader's own time zone (Slack formats it), UTC where it cannot."""
    stamp = int(at.timestamp())
    fallback = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{fallback}>"


def _who(actor: str) -> str:
    # Imports and the bot itself record a word, not a Slack user: `user` shows it escaped.
    return mrkdwn.user(actor)


def history_line(entry: HistoryEntry) -> str:
    """One change: when, who, what (and why)."""
    what = entry.what.replace("{person}", _who(entry.person) if entry.person else "someone")
    line = f"• {when(entry.at)} · {_who(entry.actor)} {what}"
    if entry.reason:
        line += f": “{escape(truncate(' '.join(entry.reason.split()), REASON_SHOWN))}”"
    return line


def _fit(lines: Sequence[str], budget: int) -> tuple[list[str], int]:
    """The latest whole lines that fit in `budget` characters, oldest first, and how many
    earlier ones were left out."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) + 1 > budget:
            break
        kept.append(line)
        size += len(line) + 1
    kept.reverse()
    return kept, len(lines) - len(kept)


def _chunks(lines: Sequence[str]) -> list[Block]:
    blocks: list[Block] = []
    chunk: list[str] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) + 1 > SECTION_MAX:
            blocks.append(section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return blocks


def _history_blocks(entries: Sequence[HistoryEntry], *, sections: int) -> tuple[list[Block], int]:
    """The latest entries as whole lines in at most `sections` sections, and how many earlier
    ones did not fit."""
    lines = [truncate(history_line(e), SECTION_MAX - 10) for e in entries]
    if not lines:
        return [context("No changes are recorded yet.")], 0
    # Room for whole sections: a section holds lines up to its limit, never a part of one.
    kept, left_out = _fit(lines, sections * (SECTION_MAX - 200))
    while len(_chunks(kept)) > sections:
        kept = kept[1:]
        left_out += 1
    return _chunks(kept), left_out


def _earlier(left_out: int, where: str) -> str:
    return f"…and {left_out} more, earlier: {where}"


def history_message(proposal: Proposal, entries: Sequence[HistoryEntry]) -> tuple[str, list[Block]]:
    """`/improve history <id>`: every change with who and when, the latest when there are many."""
    title = f"History of {ref(proposal)} {escape(truncate(proposal.title, 100))}"
    blocks: list[Block] = [section(f"*{title}*")]
    shown, left_out = _history_blocks(entries, sections=HISTORY_SECTIONS)
    if left_out:
        blocks.append(context(_earlier(left_out, "`csi-bot export` lists the register")))
    blocks += shown
    blocks.append(
        context(
            f"{count(len(entries), 'change')} in all · {ref(proposal)} "
            f"{state_phrase(proposal.status, merged_into=proposal.merged_into_id)} · "
            "times are in your own time zone"
        )
    )
    return title, blocks


def show_message(
    summary: ProposalSummary, entries: Sequence[HistoryEntry], *, card: list[Block]
) -> tuple[str, list[Block]]:
    """`/improve show <id>`: the proposal as its card shows it, its owner and its latest changes."""
    p = summary.proposal
    # The card's own buttons belong in the channel; here the proposal is only shown.
    blocks = [b for b in card if b.get("type") != "actions"]
    facts = [f"Owner: {_who(owner_of(p))}"]
    if p.kpi_actual is not None:
        facts.append(f"last measured {p.kpi_actual:g}")
    if p.permalink:
        facts.append(mrkdwn.link(p.permalink, "card in the channel"))
    blocks.append(context(" · ".join(facts)))
    blocks.append(section("*History*"))
    shown, left_out = _history_blocks(entries[-SHOW_ENTRIES:], sections=2)
    left_out += max(len(entries) - SHOW_ENTRIES, 0)
    if left_out:
        blocks.append(context(_earlier(left_out, f"`/improve history {p.id}` shows them")))
    blocks += shown
    return f"{ref(p)} {escape(p.title)}", blocks


def possible_moves(status: str) -> list[Status]:
    """Where `/improve status` can take a proposal from `status` (the rules of
    `decisions.move`: decisions from open, the owner's two steps, reopening, withdrawing)."""
    try:
        current = Status(status)
    except ValueError:
        return []
    sources = {
        Status.APPROVED: {Status.OPEN},
        Status.REJECTED: {Status.OPEN},
        Status.DEFERRED: {Status.OPEN},
        Status.IN_PROGRESS: {Status.APPROVED},
        Status.IMPLEMENTED: {Status.IN_PROGRESS},
        Status.OPEN: set(REOPENABLE),
        Status.WITHDRAWN: {s for s in Status if can_move(s, Status.WITHDRAWN)},
    }
    return [to for to in Status if current in sources.get(to, set()) and can_move(current, to)]


def status_refused(proposal: Proposal | None, refusal: str) -> str:
    """A refused `/improve status` (`refusal` says why, as `refusal_text` words it), with what
    is possible from the present status."""
    if proposal is None:
        return refusal
    moves = possible_moves(proposal.status)
    now = f"{ref(proposal)} {state_phrase(proposal.status, merged_into=proposal.merged_into_id)}"
    if moves:
        choices = ", ".join(f"`{m.value}`" for m in moves)
        return f"{refusal}\n{now}; from here it can move to {choices}."
    if proposal.status == Status.IMPLEMENTED:
        return f"{refusal}\n{now}; it becomes verified when its owner records a measured result."
    return f"{refusal}\n{now}; it does not move on from here."


def cannot_move(proposal_id: int, status: str, to: Status) -> str:
    """A move the present status does not allow."""
    return f":warning: #{proposal_id} {state_phrase(status)}, so it cannot be {move_word(to)}."


def status_unknown(typed: str, proposal_id: int) -> str:
    """`/improve status <id> <word>` with a word that is no status."""
    shown = escape(truncate(typed, 30))
    names = ", ".join(f"`{s.value}`" for s in Status if s not in _NOT_BY_HAND)
    return (
        f":warning: “{shown}” is not a status. Use `/improve status {proposal_id} <status>` "
        f"with one of {names}."
    ).replace("<status>", "&lt;status&gt;")


def status_moved(change: Change) -> str:
    """The answer to a move made with `/improve status`."""
    p = change.proposal
    text = f"{ref(p)} {escape(truncate(p.title, 100))} is now *{label(change.after)}*."
    if change.after == Status.IMPLEMENTED:
        text += (
            " The owner will be asked for the measured result later, to check the benefit "
            "was reached."
        )
    return text


def thread_status_note(change: Change) -> str:
    """What the card's thread is told about a move."""
    reason = f": “{escape(truncate(change.reason, REASON_SHOWN))}”" if change.reason else ""
    return f"{mrkdwn.user(change.actor)} {move_word(change.after)} {ref(change.proposal)}{reason}."


# ---- the benefit check -------------------------------------------------------------------------


def _kpi_words(p: Proposal) -> str:
    kpi = escape(truncate(p.kpi or "the KPI", 100))
    if p.kpi_target is None:
        return kpi
    if p.kpi_baseline is None:
        return f"{kpi} (target {p.kpi_target:g}, no baseline yet)"
    return f"{kpi} (from {p.kpi_baseline:g} to {p.kpi_target:g})"


def benefit_question(
    proposal: Proposal, *, days: int, reminder: bool = False
) -> tuple[str, list[Block]]:
    """The DM to the owner: did we get there? With the button that opens the modal."""
    p = proposal
    name = f"{ref(p)} {escape(truncate(p.title, 100))}"
    if has_measure(p):
        ask = f"What does {_kpi_words(p)} measure now?"
    else:
        ask = "Was the expected benefit realised?"
    opening = "A reminder: " if reminder else ""
    text = (
        f"{opening}{name} has been implemented for {count(days, 'day')} or more. "
        f"Did we get there? {ask}"
    )
    button = {
        "type": "button",
        "action_id": ActionId.RECORD_BENEFIT,
        "text": plain("Record the result"),
        "value": str(p.id),
        "style": "primary",
    }
    blocks: list[Block] = [
        section(text),
        {"type": "actions", "block_id": f"benefit:{p.id}", "elements": [button]},
        context("Until it is recorded, you are reminded once a week."),
    ]
    return text, blocks


def _required_input(
    block_id: BenefitBlockId, label: str, element: dict[str, Any], *, hint: str
) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": element,
        "optional": False,
        "hint": plain(hint),
    }


def benefit_modal(proposal: Proposal) -> dict[str, Any]:
    """The small modal where the owner records the measured result."""
    p = proposal
    if has_measure(p):
        field = _required_input(
            BenefitBlockId.MEASURED,
            "Measured value",
            text_input(None, max_length=40, placeholder="e.g. 42 or 97.5"),
            hint=f"KPI: {truncate(p.kpi or 'the KPI', 100)}"
            + ("" if p.kpi_target is None else f", target {p.kpi_target:g}"),
        )
    else:
        field = _required_input(
            BenefitBlockId.REALISED,
            "Was the expected benefit realised?",
            {
                "type": "radio_buttons",
                "action_id": ActionId.INPUT,
                "options": [
                    option("Yes, it was realised", "yes"),
                    option("Not yet", "no"),
                ],
            },
            hint="This proposal has no KPI target, so you judge it.",
        )
    return {
        "type": "modal",
        "callback_id": CallbackId.BENEFIT,
        "private_metadata": json.dumps({"proposal_id": p.id}),
        "title": plain("Did we get there?"),
        "submit": plain("Record"),
        "close": plain("Cancel"),
        "blocks": [section(f"*{ref(p)} {escape(truncate(p.title, 140))}*"), field],
    }


def _result_words(answer: Answer, *, days: int) -> str:
    p = answer.proposal
    value = answer.check.value
    measured = "" if value is None else f"{value:g}"
    target = "" if p.kpi_target is None else f"{p.kpi_target:g}"
    if answer.outcome is Outcome.REACHED:
        return (
            f"measured {measured} against a target of {target}: target reached, so it is verified."
        )
    if answer.outcome is Outcome.MISSED:
        short = f"{answer.shortfall:g}" if answer.shortfall is not None else "?"
        return (
            f"measured {measured} against a target of {target}: {short} short of the target. "
            f"It stays implemented; the owner is asked again in {count(days, 'day')}."
        )
    if answer.outcome is Outcome.BASELINE:
        return (
            f"measured {measured}. The KPI had no baseline, so this is its baseline now; the owner "
            f"is asked again in {count(days, 'day')} to see the change against it."
        )
    if answer.outcome is Outcome.REALISED:
        return "the expected benefit was realised, so it is verified."
    return (
        "the expected benefit is not realised yet. It stays implemented; the owner is asked "
        f"again in {count(days, 'day')}."
    )


def benefit_report(answer: Answer, *, days: int) -> str:
    """The report in the card's thread."""
    p = answer.proposal
    who = mrkdwn.user(answer.check.answered_by or owner_of(p))
    kpi = f" ({escape(truncate(p.kpi, 100))})" if p.kpi else ""
    icon = ":white_check_mark:" if answer.outcome in VERIFIES else ":bar_chart:"
    return f"{icon} Benefit check of {ref(p)}{kpi}: {who} {_result_words(answer, days=days)}"


def benefit_recorded_view(answer: Answer, *, days: int) -> dict[str, Any]:
    """What the modal turns into once the answer is recorded."""
    p = answer.proposal
    text = f"Recorded for {ref(p)}: {_result_words(answer, days=days)}"
    return {
        "type": "modal",
        "callback_id": CallbackId.BENEFIT,
        "title": plain("Did we get there?"),
        "close": plain("Close"),
        "blocks": [section(text)],
    }
