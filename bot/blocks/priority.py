"""What `/improve top` and `/improve why` answer: the ranking, and one score term by term."""

from __future__ import annotations

from collections.abc import Sequence

from bot import mrkdwn, scoring
from bot.blocks.kit import count, ref
from bot.lifecycle import label, state_phrase
from bot.proposals import ProposalSummary
from bot.scoring import Breakdown

TOP_DEFAULT = 10
TOP_MAX = 25


def _title(summary: ProposalSummary) -> str:
    p = summary.proposal
    # Only a card that was posted is linked: a stored permalink without its message is not one.
    url = p.permalink if p.message_ts else None
    return mrkdwn.link(url, f"{ref(p)} {p.title}")


def score_of(summary: ProposalSummary) -> Breakdown:
    """The breakdown behind `summary.priority` (the same inputs, so the same total)."""
    p = summary.proposal
    return scoring.breakdown(
        value=p.value,
        effort_days=p.effort_days,
        votes=summary.votes,
        weight=summary.objective.weight if summary.objective else 1.0,
        poll_share=summary.poll_share,
    )


def top_list(ranked: Sequence[ProposalSummary], *, asked: int | None, vote_emoji: str) -> str:
    """The `asked` highest-ranked open and approved proposals (default 10, at most 25)."""
    if not ranked:
        return "No proposal is open or approved yet, so there is nothing to rank."
    limit = min(asked or TOP_DEFAULT, TOP_MAX)
    shown = list(ranked[:limit])
    heading = (
        f"*The top {len(shown)} open and approved proposals by priority*"
        if len(shown) > 1
        else "*The open and approved proposal with the highest priority*"
    )
    lines = [
        f"{place}. *{s.priority:g}* · {_title(s)} · {label(s.proposal.status)} · "
        f":{vote_emoji}: {count(s.votes, 'vote')}"
        for place, s in enumerate(shown, start=1)
    ]
    notes = []
    if asked is not None and asked > TOP_MAX:
        notes.append(f"At most {TOP_MAX} are shown at once.")
    if len(ranked) > limit:
        notes.append(f"{count(len(ranked) - limit, 'more proposal')} rank lower.")
    notes.append("`/improve why <number>` explains a score.")
    return "\n".join([heading, *lines, " ".join(notes)])


def why_text(summary: ProposalSummary, *, rank: int | None, ranked_count: int) -> str:
    """One proposal's score, term by term, with the formula."""
    p = summary.proposal
    score = score_of(summary)
    objective = (
        f" (objective: {mrkdwn.escape(summary.objective.title)})" if summary.objective else ""
    )
    lines = [f"*Priority of {_title(summary)}: {summary.priority:g}*"]
    for term in score.terms:
        shown_as = {"x": "\u00d7", "/": "\u00f7", "+": "+"}[term.operation]  # times, divided by
        note = objective if term.name == "objective weight" else ""
        lines.append(
            f"{shown_as} {term.name}: {mrkdwn.escape(term.given)}{note} → {term.factor:.3g}"
        )
    lines.append(f"= {score.total:g}")
    formula = scoring.FORMULA.replace("\n", " ")
    lines.append(f"Formula: `{formula}`")
    if rank is not None:
        lines.append(f"It ranks {rank} of the {count(ranked_count, 'open or approved proposal')}.")
    else:
        lines.append(
            f"It is not ranked: {ref(p)} {state_phrase(p.status, merged_into=p.merged_into_id)}, "
            "and only open and approved proposals are."
        )
    return "\n".join(lines)
