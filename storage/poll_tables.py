"""The steering group's prioritisation polls: the tables and their queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from storage.models import SHORT_MAX, TITLE_MAX
from storage.types import UTCDateTime, utcnow

# The value of `Poll.open_slot` while a poll is open. The column is unique and NULL once the
# poll is closed (NULLs never collide), so the database itself keeps one poll open at a time,
# on SQLite and PostgreSQL alike.
OPEN = 1


class Poll(SQLModel, table=True):
    """One prioritisation poll in the steering channel."""

    __tablename__ = "polls"

    id: int | None = Field(default=None, primary_key=True)
    open_slot: int | None = Field(default=OPEN, unique=True)
    channel_id: str = Field(max_length=SHORT_MAX)
    # Set once the poll message is posted; a poll without one was never seen by anybody.
    message_ts: str | None = Field(default=None, max_length=40)
    opened_by: str = Field(max_length=SHORT_MAX)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    closes_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # A process counting the result holds the poll until then; a claim outliving a crashed
    # process expires and the next close takes over.
    closing_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # How many steering members voted for at least one candidate (NULL while open).
    voters: int | None = Field(default=None)
    result_ts: str | None = Field(default=None, max_length=40)


class PollCandidate(SQLModel, table=True):
    """A proposal put to a poll under a number (1 to 10), with its title when the poll opened."""

    __tablename__ = "poll_candidates"
    __table_args__ = (
        UniqueConstraint("poll_id", "number", name="uq_poll_candidates_number"),
        UniqueConstraint("poll_id", "proposal_id", name="uq_poll_candidates_proposal"),
    )

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="polls.id", index=True)
    number: int
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    title: str = Field(max_length=TITLE_MAX)


class PollResult(SQLModel, table=True):
    """One candidate's votes and place in a closed poll."""

    __tablename__ = "poll_results"
    __table_args__ = (UniqueConstraint("poll_id", "proposal_id", name="uq_poll_results_proposal"),)

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="polls.id", index=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    number: int
    votes: int
    rank: int


class PollNotice(SQLModel, table=True):
    """Someone outside the steering group was told their reaction on this poll does not count."""

    __tablename__ = "poll_notices"
    __table_args__ = (UniqueConstraint("poll_id", "user_id", name="uq_poll_notices_user"),)

    id: int | None = Field(default=None, primary_key=True)
    poll_id: int = Field(foreign_key="polls.id", index=True)
    user_id: str = Field(max_length=SHORT_MAX)


def open_poll(*, session: Session) -> Poll | None:
    """The poll open now, if any."""
    return session.exec(select(Poll).where(Poll.open_slot == OPEN)).first()


def poll_by_message(*, session: Session, channel_id: str, message_ts: str) -> Poll | None:
    """The poll whose message this is (open or closed)."""
    statement = select(Poll).where(Poll.channel_id == channel_id, Poll.message_ts == message_ts)
    return session.exec(statement).first()


def add_poll(
    *,
    session: Session,
    channel_id: str,
    opened_by: str,
    opened_at: datetime,
    closes_at: datetime,
    candidates: list[tuple[int, int, str]],
) -> Poll | None:
    """Open a poll with its (number, proposal ID, title) candidates; None when one is open
    already (the unique open slot says so, even against a concurrent opener)."""
    poll = Poll(
        channel_id=channel_id, opened_by=opened_by, opened_at=opened_at, closes_at=closes_at
    )
    try:
        with session.begin_nested():
            session.add(poll)
            session.flush()
            assert poll.id is not None
            for number, proposal_id, title in candidates:
                session.add(
                    PollCandidate(
                        poll_id=poll.id, number=number, proposal_id=proposal_id, title=title
                    )
                )
    except IntegrityError:
        return None
    return poll


def candidates(*, session: Session, poll_id: int) -> list[PollCandidate]:
    """A poll's candidates by number."""
    statement = (
        select(PollCandidate)
        .where(PollCandidate.poll_id == poll_id)
        .order_by(col(PollCandidate.number))
    )
    return list(session.exec(statement))


def store_message(*, session: Session, poll_id: int, message_ts: str) -> None:
    """Record where the poll was posted."""
    session.execute(
        update(Poll)
        .where(col(Poll.id) == poll_id)
        .values(message_ts=message_ts)
        .execution_options(synchronize_session=False)
    )


def delete_unposted(*, session: Session, poll_id: int) -> None:
    """Remove a poll whose message Slack refused, so that the next open starts afresh."""
    session.execute(delete(PollCandidate).where(col(PollCandidate.poll_id) == poll_id))
    session.execute(delete(PollNotice).where(col(PollNotice.poll_id) == poll_id))
    session.execute(delete(Poll).where(col(Poll.id) == poll_id, col(Poll.message_ts).is_(None)))


def claim_closing(*, session: Session, poll_id: int, now: datetime, until: datetime) -> bool:
    """Hold an open poll for counting until `until`; False when it is closed or another process
    holds it. One conditional UPDATE decides between the schedule, the CLI and replicas."""
    result: Any = session.execute(
        update(Poll)
        .where(
            col(Poll.id) == poll_id,
            col(Poll.open_slot) == OPEN,
            (col(Poll.closing_until).is_(None)) | (col(Poll.closing_until) < now),
        )
        .values(closing_until=until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def release_closing(*, session: Session, poll_id: int) -> None:
    """Let the poll be closed again (its result could not be posted)."""
    session.execute(
        update(Poll)
        .where(col(Poll.id) == poll_id, col(Poll.open_slot) == OPEN)
        .values(closing_until=None)
        .execution_options(synchronize_session=False)
    )


def store_result(
    *,
    session: Session,
    poll_id: int,
    closed_at: datetime,
    voters: int,
    result_ts: str | None,
    places: list[tuple[int, int, int, int]],
) -> None:
    """Close the poll and keep its (proposal ID, number, votes, rank) places."""
    session.execute(
        update(Poll)
        .where(col(Poll.id) == poll_id)
        .values(
            open_slot=None,
            closing_until=None,
            closed_at=closed_at,
            voters=voters,
            result_ts=result_ts,
        )
        .execution_options(synchronize_session=False)
    )
    for proposal_id, number, votes, rank in places:
        session.add(
            PollResult(
                poll_id=poll_id, proposal_id=proposal_id, number=number, votes=votes, rank=rank
            )
        )


def results(*, session: Session, poll_id: int) -> list[PollResult]:
    """A closed poll's places, best first."""
    statement = (
        select(PollResult)
        .where(PollResult.poll_id == poll_id)
        .order_by(col(PollResult.rank), col(PollResult.number))
    )
    return list(session.exec(statement))


def latest_poll_with_votes(*, session: Session) -> Poll | None:
    """The most recently closed poll in which at least one steering member voted."""
    statement = (
        select(Poll)
        .where(col(Poll.closed_at).is_not(None), col(Poll.voters) > 0)
        .order_by(col(Poll.closed_at).desc(), col(Poll.id).desc())
    )
    return session.exec(statement).first()


def claim_notice(*, session: Session, poll_id: int, user_id: str) -> bool:
    """Mark that this person was told their reaction does not count; False if told before."""
    try:
        with session.begin_nested():
            session.add(PollNotice(poll_id=poll_id, user_id=user_id))
    except IntegrityError:
        return False
    return True
