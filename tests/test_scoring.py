"""The priority score: its terms multiply out to the total shown everywhere, and it moves the way
the formula says (value and votes up, effort down, weight scales)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import scoring
from bot.blocks.priority import score_of, top_list, why_text
from bot.proposals import ProposalSummary
from storage.models import Objective, Proposal


def _summary(
    *, votes: int = 0, value: int | None = 4, days: float | None = 4.0, weight: float = 2.0
) -> ProposalSummary:
    objective = Objective(id=1, title="Fewer outages", weight=weight)
    proposal = Proposal(
        id=7,
        title="Alert on full disks",
        submitter="U0ANA",
        status="open",
        objective_id=1,
        value=value,
        effort_days=days,
    )
    return ProposalSummary(proposal=proposal, objective=objective, votes=votes)


def test_the_terms_of_a_score_are_the_formula() -> None:
    score = scoring.breakdown(value=4, effort_days=4.0, votes=3, weight=2.0)
    factors = {t.name: t.factor for t in score.terms}
    assert factors["objective weight"] == 2.0
    assert factors["value"] == 4.0
    assert factors["votes: 1 + ln(1 + votes)"] == pytest.approx(1 + math.log(4))
    assert factors["effort: sqrt(person-days)"] == 2.0
    assert score.total == round(2 * 4 * (1 + math.log(4)) / 2, 3)


def test_missing_value_and_effort_use_the_documented_defaults() -> None:
    score = scoring.breakdown(value=None, effort_days=None, votes=0)
    given = {t.name: t.given for t in score.terms}
    assert given["value"] == "not given: 3"
    assert given["effort: sqrt(person-days)"] == "not given: M = 5 person-days"
    assert score.total == round(3 / math.sqrt(5), 3)


@given(
    value=st.integers(1, 5),
    days=st.floats(0.5, 400),
    votes=st.integers(0, 10_000),
    weight=st.floats(0.01, 100),
)
def test_more_votes_or_value_never_lower_a_score_and_more_effort_never_raises_it(
    value: int, days: float, votes: int, weight: float
) -> None:
    def score(**changes: float) -> float:
        args: dict[str, float] = {"value": value, "effort_days": days, "votes": votes}
        args.update(changes)
        return scoring.priority(weight=weight, **args)  # type: ignore[arg-type]

    base = score()
    assert score(votes=votes + 1) >= base
    assert score(value=min(value + 1, 5)) >= base
    assert score(effort_days=days * 2) <= base


def test_the_breakdown_total_is_the_number_on_the_card_and_in_the_list() -> None:
    summary = _summary(votes=5)
    assert score_of(summary).total == summary.priority
    explained = why_text(summary, rank=1, ranked_count=3)
    assert f"{summary.priority:g}" in explained
    assert "Formula: `priority = objective weight x value" in explained
    assert "It ranks 1 of the 3 open or approved proposals." in explained
    assert "Fewer outages" in explained


def test_top_shows_at_most_twenty_five_and_says_so() -> None:
    ranked = [_summary(votes=n) for n in range(30)]
    text = top_list(ranked, asked=40, vote_emoji="+1")
    assert text.count("\n25. ") == 1 and "\n26. " not in text
    assert "At most 25 are shown at once." in text
    assert "5 more proposals rank lower." in text
    assert "\n10. " in top_list(ranked, asked=None, vote_emoji="+1")
    assert "\n11. " not in top_list(ranked, asked=None, vote_emoji="+1")


def test_top_links_only_a_card_that_was_posted() -> None:
    summary = _summary()
    summary.proposal.permalink = "https://example.slack.com/archives/C1/p1"
    assert "<https://" not in top_list([summary], asked=None, vote_emoji="+1")
    summary.proposal.message_ts = "1.000001"
    assert "<https://example.slack.com/archives/C1/p1|#7 " in top_list(
        [summary], asked=None, vote_emoji="+1"
    )
