"""The prioritisation poll in the steering channel: the ballot, its result in the poll's thread,
and the notice to people whose reaction does not count."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot import mrkdwn
from bot.blocks.kit import Block, context, count, header, section
from bot.polls.ballot import Candidate, Result

NOTICE = (
    "Only the steering group's reactions count in this prioritisation poll, so yours is not "
    "counted. You will not be told again about this poll."
)


def _when(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%a %d %b %Y at %H:%M} ({timezone})"


def _line(candidate: Candidate) -> str:
    return f":{candidate.emoji}: #{candidate.proposal_id} {mrkdwn.escape(candidate.title)}"


def poll_message(
    *,
    poll_id: int,
    candidates: list[Candidate],
    closes_at: datetime,
    timezone: str,
    closed_at: datetime | None = None,
) -> tuple[str, list[Block]]:
    """The poll: the candidates numbered in the order of their numbers, one emoji each; once
    `closed_at` is given, it says the poll is closed and where its result is."""
    if closed_at is None:
        intro = (
            f"Which of these {count(len(candidates), 'proposal')} should we do first? React "
            "with the number of every proposal you back (you may choose several). Only the "
            f"steering group's reactions count. The poll closes on {_when(closes_at, timezone)}; "
            "the result will be posted in this thread."
        )
    else:
        intro = (
            f"This poll closed on {_when(closed_at, timezone)}; reactions no longer count. "
            "The ranked result is in this thread."
        )
    ordered = sorted(candidates, key=lambda c: c.number)
    blocks: list[Block] = [
        header(f"Prioritisation poll {poll_id}"),
        section(intro),
        *(section(_line(c)) for c in ordered),
        context(
            "Only the steering group's reactions count; anyone else's reaction is not counted."
        ),
    ]
    text = f"Prioritisation poll {poll_id}: " + "; ".join(
        f"{c.number}. {mrkdwn.escape(c.title)}" for c in ordered
    )
    return mrkdwn.truncate(text, 3000), blocks


def poll_result(*, poll_id: int, result: Result) -> tuple[str, list[Block]]:
    """The ranked result, posted in the poll's thread."""
    if result.voters == 0:
        text = (
            f"Prioritisation poll {poll_id} closed with no votes from the steering group, "
            "so it changes no priority."
        )
        return text, [section(text)]
    heading = (
        f"*Result of prioritisation poll {poll_id}*: "
        f"{count(result.voters, 'steering member')} voted."
    )
    lines = [
        f"{place.rank}. {_line(place.candidate)} · {count(place.votes, 'vote')}"
        for place in result.places
    ]
    note = (
        "Each proposal's priority now counts the share of these voters who chose it: "
        "chosen by all of them, its priority doubles."
    )
    text = f"Result of prioritisation poll {poll_id}: " + "; ".join(
        f"{p.rank}. {mrkdwn.escape(p.candidate.title)} ({count(p.votes, 'vote')})"
        for p in result.places
    )
    return mrkdwn.truncate(text, 3000), [
        section(heading),
        *(section(line) for line in lines),
        context(note),
    ]


def poll_notice() -> str:
    """Told once, privately, to someone outside the steering group who reacted to a poll."""
    return NOTICE
