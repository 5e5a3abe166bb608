"""The steering group's prioritisation polls as plain Python: the ballot, its count and what a
closed poll adds to the priority. Opening and closing one in Slack is `bot.poll_posting`."""

from bot.polls.ballot import MAX_CANDIDATES, NUMBER_EMOJI, Candidate, Place, Result
from bot.polls.standing import poll_shares

__all__ = ["MAX_CANDIDATES", "NUMBER_EMOJI", "Candidate", "Place", "Result", "poll_shares"]
