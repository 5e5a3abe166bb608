"""Stale work in the digest's thread: the quiet open proposals with keep / park / withdraw."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot import mrkdwn
from bot.blocks.kit import Block, context, count, plain, ref, section
from bot.ids import ActionId
from bot.stale import StaleProposal
from storage.models import Proposal

PER_MESSAGE = 15  # two blocks each: a message holds 50


def _when(at: datetime) -> str:
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}}|{at:%Y-%m-%d} UTC>"


def _buttons(proposal: Proposal) -> Block:
    value = str(proposal.id)
    return {
        "type": "actions",
        "block_id": f"stale:{proposal.id}",
        "elements": [
            {
                "type": "button",
                "action_id": ActionId.STALE_KEEP,
                "value": value,
                "text": plain("Keep open"),
            },
            {
                "type": "button",
                "action_id": ActionId.STALE_PARK,
                "value": value,
                "text": plain("Park (defer)"),
            },
            {
                "type": "button",
                "action_id": ActionId.STALE_WITHDRAW,
                "value": value,
                "text": plain("Withdraw"),
                "style": "danger",
            },
        ],
    }


def stale_messages(
    stale: Sequence[StaleProposal], *, total: int, weeks: int
) -> list[tuple[str, list[Block]]]:
    """The thread replies: an introduction, then the proposals with their buttons, whole."""
    if not stale:
        return []
    intro = (
        f"*Stale work*: {count(total, 'open proposal')} with no activity for {weeks} weeks. "
        "Steering group: keep each open, park it (deferred) or withdraw it."
    )
    messages: list[tuple[str, list[Block]]] = []
    for start in range(0, len(stale), PER_MESSAGE):
        blocks: list[Block] = [section(intro)] if start == 0 else []
        for item in stale[start : start + PER_MESSAGE]:
            p = item.proposal
            name = mrkdwn.link(p.permalink, f"{ref(p)} {p.title}")
            who, since = mrkdwn.user(p.submitter), _when(item.last_activity)
            blocks.append(section(f"{name} · by {who} · quiet since {since}"))
            blocks.append(_buttons(p))
        messages.append((f"Stale work: {count(total, 'quiet open proposal')}", blocks))
    more = total - len(stale)
    if more > 0:
        messages[-1][1].append(context(f"…and {more} more, listed again in the next digest."))
    return messages


def stale_done(proposal: Proposal, what: str, actor: str) -> str:
    """The steering member's confirmation after a button."""
    return f"{ref(proposal)} {mrkdwn.escape(proposal.title)}: {what} by {mrkdwn.user(actor)}."
