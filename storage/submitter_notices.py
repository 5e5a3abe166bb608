"""The confirmations owed to submitters ("your proposal is in the register"), one row each.

A row is written in the transaction that stores the proposal, so a stored proposal always has
its confirmation owed, whatever happens after the ack. It goes `owed` -> `sending` (claimed by
one process) -> `sent`, or `dropped` when Slack refused it or may have delivered it already.
Every change is one conditional statement, so two replicas (or two threads) cannot both win.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint, delete, literal_column, update
from sqlmodel import Field, Session, SQLModel, col, select

import storage.models  # noqa: F401  (the proposals table this one points to)
from storage.types import UTCDateTime, utcnow

OWED = "owed"
SENDING = "sending"
SENT = "sent"
DROPPED = "dropped"


class SubmitterNotice(SQLModel, table=True):
    """One confirmation owed to the person who stored or changed a proposal from the form."""

    __tablename__ = "submitter_notices"
    __table_args__ = (
        UniqueConstraint("key", name="uq_submitter_notices_key"),
        Index("ix_submitter_notices_state_due_at", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The submission it confirms: a copy of the same submission owes nothing more.
    key: str = Field(max_length=120)
    proposal_id: int = Field(foreign_key="proposals.id")
    user_id: str = Field(max_length=80)
    state: str = Field(default=OWED, max_length=12)
    # Owed: not before this moment (a retry after Slack's rate limit waits).
    due_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    claim: str | None = Field(default=None, max_length=40)
    attempts: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str | None = Field(default=None, max_length=200)


def owe(*, session: Session, key: str, proposal_id: int, user_id: str, now: datetime) -> bool:
    """Record the confirmation of submission `key`, in the caller's transaction; False when it
    is recorded already."""
    from sqlalchemy.dialects import postgresql, sqlite

    postgres = session.get_bind().dialect.name == "postgresql"
    dialect_insert: Any = postgresql.insert if postgres else sqlite.insert
    statement = (
        dialect_insert(SubmitterNotice)
        .values(
            key=key,
            proposal_id=proposal_id,
            user_id=user_id,
            state=OWED,
            due_at=now,
            attempts=0,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(literal_column("1"))
    )
    return session.execute(statement).first() is not None


def by_key(*, session: Session, key: str) -> SubmitterNotice | None:
    """The confirmation of submission `key`, if one is owed or was."""
    return session.exec(select(SubmitterNotice).where(col(SubmitterNotice.key) == key)).first()


def owed(
    *, session: Session, now: datetime, created_before: datetime, limit: int
) -> list[SubmitterNotice]:
    """Confirmations still owed and due, recorded before `created_before`, oldest first."""
    statement = (
        select(SubmitterNotice)
        .where(
            col(SubmitterNotice.state) == OWED,
            col(SubmitterNotice.due_at) <= now,
            col(SubmitterNotice.created_at) <= created_before,
        )
        .order_by(col(SubmitterNotice.id))
        .limit(limit)
    )
    return list(session.exec(statement))


def claim(*, session: Session, notice_id: int, token: str, now: datetime) -> bool:
    """Take the sending of an owed, due confirmation; False when another process has it (or
    had it: a claim is never taken over, see bot/confirmations.py)."""
    return _change(
        session,
        notice_id,
        (col(SubmitterNotice.state) == OWED, col(SubmitterNotice.due_at) <= now),
        state=SENDING,
        claim=token,
        attempts=SubmitterNotice.attempts + 1,
    )


def mark_sent(*, session: Session, notice_id: int, token: str, now: datetime) -> bool:
    """Slack took the message."""
    return _held(session, notice_id, token, state=SENT, sent_at=now)


def give_back(*, session: Session, notice_id: int, token: str, due_at: datetime) -> bool:
    """Nothing was sent (the database or a rate limit stopped it): owed again from `due_at`."""
    return _held(session, notice_id, token, state=OWED, claim=None, due_at=due_at)


def drop(*, session: Session, notice_id: int, token: str, note: str) -> bool:
    """Not to be tried again: Slack refused it, or may have delivered it already."""
    return _held(session, notice_id, token, state=DROPPED, note=note[:200])


def forget(*, session: Session, due_before: datetime, limit: int) -> int:
    """Delete at most `limit` settled notices (sent, dropped, or claimed by a process that died
    holding them) that were due before `due_before`; how many. Owed ones are kept, whatever
    their age: the register stays the size of its proposals, not of every form ever sent."""
    settled = (
        select(SubmitterNotice.id)
        .where(
            col(SubmitterNotice.state).in_((SENT, DROPPED, SENDING)),
            col(SubmitterNotice.due_at) < due_before,
        )
        .limit(limit)
    )
    statement: Any = (
        delete(SubmitterNotice)
        .where(col(SubmitterNotice.id).in_(settled.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(session.execute(statement).rowcount or 0)


def _held(session: Session, notice_id: int, token: str, **values: Any) -> bool:
    conditions = (col(SubmitterNotice.state) == SENDING, col(SubmitterNotice.claim) == token)
    return _change(session, notice_id, conditions, **values)


def _change(session: Session, notice_id: int, conditions: tuple[Any, ...], **values: Any) -> bool:
    statement: Any = (
        update(SubmitterNotice)
        .where(col(SubmitterNotice.id) == notice_id, *conditions)
        .values(**values)
        .returning(literal_column("1"))
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).first() is not None
