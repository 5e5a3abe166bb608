"""The priority score: the best effect for a reasonable input. Plain arithmetic, no Slack."""

from __future__ import annotations

import math

from bot.drafts import EFFORT_SIZES

DEFAULT_VALUE = 3
DEFAULT_EFFORT_DAYS = EFFORT_SIZES["M"]

FORMULA = (
    "priority = objective weight x value x (1 + ln(1 + votes)) / sqrt(effort in person-days)\n"
    f"(value defaults to {DEFAULT_VALUE} and effort to M = {DEFAULT_EFFORT_DAYS:g} person-days "
    "when not given; sizes S=2, M=5, L=15, XL=40 person-days)"
)


def priority(
    *, value: int | None, effort_days: float | None, votes: int, weight: float = 1.0
) -> float:
    """Rank score: value and votes raise it, effort lowers it, the objective's weight scales it.

    Votes count logarithmically so that a popular small fix does not bury a valuable one, and
    effort by its square root so that large work is discounted but not ruled out.
    """
    value = value if value is not None else DEFAULT_VALUE
    days = effort_days if effort_days and effort_days > 0 else DEFAULT_EFFORT_DAYS
    score = weight * value * (1 + math.log1p(max(votes, 0))) / math.sqrt(days)
    return round(score, 3)
