"""What the last poll means for the priority score: each proposal's share of its voters."""

from __future__ import annotations

from sqlmodel import Session

from bot.polls.ballot import shares
from storage import poll_tables as tables


def poll_shares(*, session: Session) -> dict[int, float]:
    """Proposal ID -> share (0 to 1) of the steering members who chose it in the last poll
    anybody voted in; proposals not in that poll have none. A poll without votes changes
    nothing, so the one before it keeps counting."""
    poll = tables.latest_poll_with_votes(session=session)
    if poll is None or poll.id is None:
        return {}
    places = [(r.proposal_id, r.votes) for r in tables.results(session=session, poll_id=poll.id)]
    return shares(places, poll.voters or 0)
