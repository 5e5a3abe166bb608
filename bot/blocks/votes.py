"""What a person is told after giving their vote instead of a proposal of their own."""

from __future__ import annotations

from bot import mrkdwn
from bot.blocks.kit import ref
from bot.mrkdwn import escape
from bot.votes import VotedInstead, VoteGiven


def _count(votes: int) -> str:
    return f"{votes} vote" if votes == 1 else f"{votes} votes"


def _target(given: VoteGiven) -> str:
    p = given.summary.proposal
    return mrkdwn.link(p.permalink, f"{ref(p)} {p.title}")


def _notes(given: VoteGiven) -> str:
    p = given.summary.proposal
    notes = []
    if given.followed_merge:
        notes.append(f"#{given.asked_for} was merged into it, so your vote counts there.")
    if p.message_ts:
        # Only a proposal with a card has a thread to point to.
        notes.append("Add what yours would have said in its thread.")
    return (" " + " ".join(notes)) if notes else ""


def vote_given(given: VoteGiven) -> str:
    """After choosing "vote for it instead" in the similar-proposals form."""
    if given.added:
        head = (
            f":+1: Your vote went to {_target(given)} ({_count(given.summary.votes)} now) "
            "instead of a new proposal."
        )
    else:
        head = (
            f":+1: Your vote for {_target(given)} is already recorded "
            f"({_count(given.summary.votes)}); no new proposal was stored."
        )
    return head + _notes(given)


def voted_instead(result: VotedInstead) -> str:
    """After pressing "Vote for #N instead" under a one-line proposal."""
    given = result.vote
    mine = result.withdrawn
    if result.already:
        return (
            f":+1: Your vote for {_target(given)} is already recorded; your proposal "
            f"*{ref(mine)} {escape(mine.title)}* was withdrawn in its favour."
        )
    return (
        f":+1: Your vote went to {_target(given)} ({_count(given.summary.votes)} now), and your "
        f"proposal *{ref(mine)} {escape(mine.title)}* was withdrawn in its favour."
    ) + _notes(given)
