"""A poll's ballot and its count: which proposals are put to the vote, under which numbered
emoji, and how the steering group's reactions rank them. Plain Python, no Slack."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.settings import emoji_name

# Slack's names of the numbered emoji, candidate 1 to candidate 10.
NUMBER_EMOJI: tuple[str, ...] = (
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "keycap_ten",
)
MAX_CANDIDATES = len(NUMBER_EMOJI)


@dataclass(frozen=True)
class Candidate:
    """A proposal on the ballot under its number."""

    number: int
    proposal_id: int
    title: str

    @property
    def emoji(self) -> str:
        """The emoji name that votes for this candidate."""
        return NUMBER_EMOJI[self.number - 1]


@dataclass(frozen=True)
class Place:
    """A candidate's place in the result: tied candidates share a rank (1, 1, 3)."""

    candidate: Candidate
    votes: int
    rank: int


@dataclass(frozen=True)
class Result:
    """A counted poll: its places, best first, and how many steering members voted."""

    places: tuple[Place, ...]
    voters: int

    @property
    def votes(self) -> int:
        """Every counted vote (a member may vote for several candidates)."""
        return sum(place.votes for place in self.places)


def ballot(ranked: Sequence[tuple[int, str]], limit: int = MAX_CANDIDATES) -> list[Candidate]:
    """The top of the ranking, as (proposal ID, title) best first, numbered from 1."""
    limit = max(0, min(limit, MAX_CANDIDATES))
    return [
        Candidate(number=number, proposal_id=proposal_id, title=title)
        for number, (proposal_id, title) in enumerate(ranked[:limit], start=1)
    ]


def reactions_of(answer: Mapping[str, Any]) -> dict[str, set[str]]:
    """Who reacted with which emoji, from a `reactions.get` answer given as plain data.

    Slack's answer is untrusted: anything not shaped like a reaction list is left out, not
    raised. Emoji names are normalised (case, colons, skin tones).
    """
    message = answer.get("message")
    raw = message.get("reactions") if isinstance(message, Mapping) else None
    found: dict[str, set[str]] = {}
    if not isinstance(raw, list):
        return found
    for reaction in raw:
        if not isinstance(reaction, Mapping):
            continue
        name, users = reaction.get("name"), reaction.get("users")
        if not isinstance(name, str) or not isinstance(users, list):
            continue
        found.setdefault(emoji_name(name), set()).update(u for u in users if isinstance(u, str))
    return found


def count(
    candidates: Sequence[Candidate],
    reactions: Mapping[str, set[str]],
    *,
    counts: Callable[[str], bool],
) -> Result:
    """Rank the candidates by the reactions of the people `counts` accepts, one vote per
    person per candidate; other emoji and other people are left out."""
    votes: dict[int, int] = {}
    voters: set[str] = set()
    for candidate in candidates:
        members = {user for user in reactions.get(candidate.emoji, set()) if counts(user)}
        votes[candidate.number] = len(members)
        voters |= members
    ordered = sorted(candidates, key=lambda c: (-votes[c.number], c.number))
    places: list[Place] = []
    for position, candidate in enumerate(ordered, start=1):
        tied = places and places[-1].votes == votes[candidate.number]
        rank = places[-1].rank if tied else position
        places.append(Place(candidate=candidate, votes=votes[candidate.number], rank=rank))
    return Result(places=tuple(places), voters=len(voters))


def shares(places: Sequence[tuple[int, int]], voters: int) -> dict[int, float]:
    """Each proposal's share of a poll's voters, from (proposal ID, votes): the poll term of
    the priority score (see bot.scoring)."""
    if voters <= 0:
        return {}
    return {proposal_id: min(votes / voters, 1.0) for proposal_id, votes in places}
