"""The statements that store a batch of emoji votes: few, set-based, on the caller's connection.

A reaction is acked only once it is stored, so these run for every reaction event. They are
SQLAlchemy Core statements built once per dialect (compiled once, then taken from the cache),
each covering the whole batch: one read of the cards, one insert of the event marks, one insert
of the votes, one of the history. Duplicates are left to the unique keys (ON CONFLICT DO
NOTHING), and RETURNING says which rows went in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Delete, Insert
from sqlalchemy.sql.selectable import Select

from storage.models import AuditEntry, ProcessedEvent, Proposal, Vote

_proposals: Table = Proposal.__table__  # type: ignore[attr-defined]
_votes: Table = Vote.__table__  # type: ignore[attr-defined]
_events: Table = ProcessedEvent.__table__  # type: ignore[attr-defined]
_history: Table = AuditEntry.__table__  # type: ignore[attr-defined]


class _Statements(NamedTuple):
    cards: Select[Any]
    mark_events: Insert
    add_votes: Insert
    remove_vote: Delete
    add_history: Insert


@cache
def _statements(dialect: str) -> _Statements:
    dialect_insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return _Statements(
        # Channel first, as in the index on cards.
        cards=select(_proposals.c.id, _proposals.c.status, _proposals.c.message_ts).where(
            _proposals.c.channel_id == bindparam("channel"),
            _proposals.c.message_ts.in_(bindparam("tss", expanding=True)),
        ),
        mark_events=dialect_insert(_events)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(_events.c.event_id),
        add_votes=dialect_insert(_votes)
        .on_conflict_do_nothing(index_elements=["proposal_id", "user_id"])
        .returning(_votes.c.proposal_id, _votes.c.user_id),
        remove_vote=delete(_votes).where(
            _votes.c.proposal_id == bindparam("pid"), _votes.c.user_id == bindparam("uid")
        ),
        add_history=insert(_history),
    )


def cards(
    *, connection: Connection, cards: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str]]:
    """(ID, status) of the proposals whose cards are these (channel, message ts) pairs."""
    by_channel: dict[str, set[str]] = {}
    for channel, ts in cards:
        by_channel.setdefault(channel, set()).add(ts)
    statement = _statements(connection.dialect.name).cards
    found: dict[tuple[str, str], tuple[int, str]] = {}
    for channel, tss in sorted(by_channel.items()):
        rows = connection.execute(statement, {"channel": channel, "tss": sorted(tss)})
        for pid, status, ts in rows:
            found[(channel, ts)] = (int(pid), str(status))
    return found


def new_events(*, connection: Connection, event_ids: Iterable[str], at: datetime) -> set[str]:
    """Mark these Slack events as handled; the IDs that were not marked before. The marks
    commit or roll back with the caller's transaction."""
    # In one order everywhere, so two such inserts at once wait for each other, never deadlock.
    rows = [{"event_id": e, "received_at": at} for e in sorted(set(event_ids))]
    if not rows:
        return set()
    statement = _statements(connection.dialect.name).mark_events
    return {str(e) for e in connection.execute(statement, rows).scalars()}


def add_votes(
    *, connection: Connection, votes: Iterable[tuple[int, str]], at: datetime
) -> set[tuple[int, str]]:
    """Record these (proposal ID, user ID) votes; the ones that were not there before."""
    rows = [{"proposal_id": p, "user_id": u, "created_at": at} for p, u in sorted(set(votes))]
    if not rows:
        return set()
    statement = _statements(connection.dialect.name).add_votes
    return {(int(p), str(u)) for p, u in connection.execute(statement, rows)}


def remove_vote(*, connection: Connection, proposal_id: int, user_id: str) -> bool:
    """Withdraw a vote; False when there was none."""
    statement = _statements(connection.dialect.name).remove_vote
    result = connection.execute(statement, {"pid": proposal_id, "uid": user_id})
    return bool(result.rowcount)


def add_history(*, connection: Connection, entries: Sequence[dict[str, Any]]) -> None:
    """Append history entries; each names every column but the ID."""
    if entries:
        connection.execute(_statements(connection.dialect.name).add_history, list(entries))
