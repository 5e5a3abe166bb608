"""The priority score: the best effect for a reasonable input. Plain arithmetic, no Slack.

`breakdown` gives the score term by term (what `/improve why` shows); `priority` is its total.
Every place that shows a score (card, `/improve top`, `/improve why`, `/improve list`, export)
takes it from here, so they all show the same number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.drafts import EFFORT_SIZES

DEFAULT_VALUE = 3
DEFAULT_EFFORT_DAYS = EFFORT_SIZES["M"]

FORMULA = (
    "priority = objective weight x value x (1 + ln(1 + votes)) x (1 + poll share) "
    "/ sqrt(effort in person-days)\n"
    "(poll share: of the steering members who voted in the last prioritisation poll anybody "
    "voted in, the fraction who chose the proposal; 0 when it was not chosen or not in it)\n"
    f"(value defaults to {DEFAULT_VALUE} and effort to M = {DEFAULT_EFFORT_DAYS:g} person-days "
    "when not given; sizes S=2, M=5, L=15, XL=40 person-days)"
)

# Scores are shown and exported with this many decimals.
DECIMALS = 3


@dataclass(frozen=True)
class Term:
    """One factor of the score: its name, what went in, and the factor it contributes."""

    name: str
    given: str  # the input as a person reads it ("4 votes", "not given: M = 5 person-days")
    factor: float
    operation: str  # "x" multiplies, "/" divides, "+" adds


@dataclass(frozen=True)
class Breakdown:
    """A score term by term; `total` is the number shown everywhere."""

    terms: tuple[Term, ...]
    total: float


def breakdown(
    *,
    value: int | None,
    effort_days: float | None,
    votes: int,
    weight: float = 1.0,
    poll_share: float = 0.0,
) -> Breakdown:
    """The score with each of its terms.

    Votes count logarithmically so that a popular small fix does not bury a valuable one, and
    effort by its square root so that large work is discounted but not ruled out. The steering
    group's last prioritisation poll multiplies it by 1 + the share of its voters who chose the
    proposal (see bot.polls): chosen by all of them, the score doubles.
    """
    votes = max(votes, 0)
    share = min(max(poll_share, 0.0), 1.0)
    value_used = value if value is not None else DEFAULT_VALUE
    days = effort_days if effort_days and effort_days > 0 else DEFAULT_EFFORT_DAYS
    terms = (
        Term("objective weight", f"{weight:g}", weight, "x"),
        Term(
            "value",
            f"{value}" if value is not None else f"not given: {DEFAULT_VALUE}",
            float(value_used),
            "x",
        ),
        Term("votes: 1 + ln(1 + votes)", _plural(votes, "vote"), 1 + math.log1p(votes), "x"),
        Term(
            "prioritisation poll: 1 + share of its voters",
            f"chosen by {share:.0%} of the last poll's voters",
            1 + share,
            "x",
        ),
        Term(
            "effort: sqrt(person-days)",
            f"{days:g} person-days"
            if effort_days and effort_days > 0
            else f"not given: M = {DEFAULT_EFFORT_DAYS:g} person-days",
            math.sqrt(days),
            "/",
        ),
    )
    total = 1.0
    for term in terms:
        if term.operation == "x":
            total *= term.factor
        elif term.operation == "/":
            total /= term.factor
        else:
            total += term.factor
    return Breakdown(terms=terms, total=round(total, DECIMALS))


def priority(
    *,
    value: int | None,
    effort_days: float | None,
    votes: int,
    weight: float = 1.0,
    poll_share: float = 0.0,
) -> float:
    """Rank score: value, votes and the last poll raise it, effort lowers it, the objective's
    weight scales it."""
    return breakdown(
        value=value, effort_days=effort_days, votes=votes, weight=weight, poll_share=poll_share
    ).total


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
