"""The steering group's prioritisation polls: the ballot and its count (plain Python), what a
closed poll adds to the priority, and the opening and closing of a poll in Slack."""

from bot.polls.ballot import MAX_CANDIDATES, NUMBER_EMOJI, Candidate, Place, Result
from bot.polls.standing import poll_shares

__all__ = ["MAX_CANDIDATES", "NUMBER_EMOJI", "Candidate", "Place", "Result", "poll_shares"]
