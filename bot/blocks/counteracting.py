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
