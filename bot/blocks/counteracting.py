"""Counteracting proposals in Slack: the line on both cards and the message to both submitters."""

from __future__ import annotations

from collections.abc import Sequence

from bot import mrkdwn
from bot.blocks.kit import Block, context, ref, section
from bot.counteracting import direction
from bot.lifecycle import state_phrase
from bot.mrkdwn import escape
from storage.models import Proposal


def counteracts_line(proposal: Proposal, others: Sequence[int]) -> Block:
    """On a card: the active proposals that move the same KPI of the same service the other way."""
    names = ", ".join(f"#{other}" for other in others[:10])
    return context(
        f":warning: Counteracts {names}: it moves *{escape(proposal.kpi)}* on "
        f"*{escape(proposal.service)}* the other way. Coordinate before the work starts."
    )


def _moves(proposal: Proposal) -> str:
    baseline = f"{proposal.kpi_baseline:g}" if proposal.kpi_baseline is not None else "?"
    target = f"{proposal.kpi_target:g}" if proposal.kpi_target is not None else "?"
    return f"{direction(proposal)} ({baseline} → {target})"


def counteracting_notice(mine: Proposal, other: Proposal) -> tuple[str, list[Block]]:
    """Told to the submitter of `mine`: `other` moves the same KPI of the same service the other
    way, with who proposed it, so that the two can agree before either starts."""
    name = mrkdwn.link(mine.permalink, f"{ref(mine)} {mine.title}")
    theirs = mrkdwn.link(other.permalink, f"{ref(other)} {other.title}")
    kpi, service = escape(mine.kpi), escape(mine.service)
    whose = (
        "also yours"
        if other.submitter == mine.submitter
        else f"proposed by {mrkdwn.user(other.submitter)}"
    )
    text = (
        f":warning: Your proposal {name} moves *{kpi}* on *{service}* {_moves(mine)}, and "
        f"{theirs} ({whose}, {state_phrase(other.status)}) moves it {_moves(other)}. "
        "The two would counteract each other: agree in the cards' threads which way to go "
        "before either starts."
    )
    return f"{ref(mine)} and {ref(other)} counteract each other", [section(text)]


def counteracting_pairs(pairs: Sequence[tuple[Proposal, Proposal]]) -> tuple[str, list[Block]]:
    """For the digest's thread: each pair of active proposals that pull one KPI of one service
    in opposite directions, side by side, so the steering group can settle which way to go."""
    if not pairs:
        return "No counteracting proposals", []
    blocks: list[Block] = [
        section(
            f"*Counteracting proposals* ({len(pairs)}): each pair moves the same KPI of the "
            "same service in opposite directions. Decide which way to go before either starts."
        )
    ]
    for left, right in pairs[:MAX_PAIRS_SHOWN]:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _side(left)},
                    {"type": "mrkdwn", "text": _side(right)},
                ],
            }
        )
    return f"{len(pairs)} pairs of proposals counteract each other", blocks


# A digest thread message holds 50 blocks; a heading and 40 pairs leave room to spare.
MAX_PAIRS_SHOWN = 40


def _side(proposal: Proposal) -> str:
    name = mrkdwn.link(
        proposal.permalink, f"{ref(proposal)} {mrkdwn.truncate(proposal.title, 120)}"
    )
    return (
        f"{name}\n*{escape(mrkdwn.truncate(proposal.kpi or '', 80))}* on "
        f"*{escape(mrkdwn.truncate(proposal.service or '', 80))}*: {_moves(proposal)}, "
        f"{state_phrase(proposal.status)}"
    )
