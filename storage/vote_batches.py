"""The statements that store a batch of emoji votes: few, set-based, on the caller's connection.

A reaction is acked only once it is stored, so these run for every reaction event: one read of
the cards, one insert of the event marks, one insert of the votes, one of their history, each
covering the whole batch. Duplicates are left to the unique keys (ON CONFLICT DO NOTHING), and
RETURNING says which rows went in. On PostgreSQL, where each statement is a round trip to the
server, the read of the cards goes with the marks and the votes with their history: two
statements (data-modifying WITH) instead of four.

They are plain SQL, written once per dialect and number of rows and run on a cursor of the
connection's driver connection (`_run`), inside the caller's SQLAlchemy transaction. A Core
statement would spend more time in SQLAlchemy (cache key, parameter processing, building the
multi-row VALUES) than the database spends on it, and even `exec_driver_sql` costs about 50 µs a
statement in setting up its result (three times what SQLite takes for one of these). The
transaction stays SQLAlchemy's; a driver error is raised as SQLAlchemy raises it (the
`DBAPIError` of its kind), and a connection the driver lost is invalidated as SQLAlchemy would.
The values are converted by the columns' own types, so they are stored exactly as the ORM
stores them. The tests run them on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

from storage.models import AuditEntry, ProcessedEvent, Proposal, Vote

_proposals: Table = Proposal.__table__  # type: ignore[attr-defined]
_votes: Table = Vote.__table__  # type: ignore[attr-defined]
_events: Table = ProcessedEvent.__table__  # type: ignore[attr-defined]
_history: Table = AuditEntry.__table__  # type: ignore[attr-defined]

# The history columns written, in this order (the ID is the database's).
HISTORY_COLUMNS = ("proposal_id", "at", "actor", "action", "from_status", "to_status", "detail")


def _mark(dialect: Dialect) -> str:
    # sqlite3 takes `?`; psycopg takes `%s` (SQLAlchemy's own statements use its named form).
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _values(mark: str, width: int, rows: int) -> str:
    group = "(" + ", ".join([mark] * width) + ")"
    return ", ".join([group] * rows)


@cache
def _cards_sql(mark: str, count: int) -> str:
    # Channel first, as in the index on cards.
    return (
        f"SELECT id, status, message_ts FROM {_proposals.name} "
        f"WHERE channel_id = {mark} AND message_ts IN ({', '.join([mark] * count)})"
    )


@cache
def _mark_events_sql(mark: str, rows: int) -> str:
    return (
        f"INSERT INTO {_events.name} (event_id, received_at) VALUES {_values(mark, 2, rows)} "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
    )


@cache
def _add_votes_sql(mark: str, rows: int) -> str:
    return (
        f"INSERT INTO {_votes.name} (proposal_id, user_id, created_at) "
        f"VALUES {_values(mark, 3, rows)} "
        "ON CONFLICT (proposal_id, user_id) DO NOTHING RETURNING proposal_id, user_id"
    )


@cache
def _remove_vote_sql(mark: str) -> str:
    return f"DELETE FROM {_votes.name} WHERE proposal_id = {mark} AND user_id = {mark}"


@cache
def _add_history_sql(mark: str, rows: int) -> str:
    columns = ", ".join(HISTORY_COLUMNS)
    return (
        f"INSERT INTO {_history.name} ({columns}) "
        f"VALUES {_values(mark, len(HISTORY_COLUMNS), rows)}"
    )


@cache
def _cards_and_marks_pg(rows: int) -> str:
    # The cards of the reactions, and the marks of the events on them; the result has the cards'
    # rows (an ID) and the new marks' rows (no ID).
    return (
        "WITH reaction (channel_id, message_ts, event_id) AS "
        f"(VALUES {_values('%s', 3, rows)}), "
        "card AS (SELECT DISTINCT p.id, p.status, p.channel_id, p.message_ts "
        f"FROM {_proposals.name} p JOIN reaction r "
        "ON p.channel_id = r.channel_id AND p.message_ts = r.message_ts), "
        f"marked AS (INSERT INTO {_events.name} (event_id, received_at) "
        "SELECT DISTINCT r.event_id, %s FROM reaction r JOIN card c "
        "ON c.channel_id = r.channel_id AND c.message_ts = r.message_ts "
        "WHERE r.event_id IS NOT NULL ORDER BY r.event_id "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id) "
        "SELECT id, status, channel_id, message_ts, NULL::varchar FROM card "
        "UNION ALL SELECT NULL, NULL, NULL, NULL, event_id FROM marked"
    )


@cache
def _add_votes_noted_pg(rows: int) -> str:
    return (
        f"WITH added AS (INSERT INTO {_votes.name} (proposal_id, user_id, created_at) "
        f"VALUES {_values('%s', 3, rows)} "
        "ON CONFLICT (proposal_id, user_id) DO NOTHING RETURNING proposal_id, user_id), "
        f"noted AS (INSERT INTO {_history.name} ({', '.join(HISTORY_COLUMNS)}) "
        "SELECT proposal_id, %s, user_id, %s, NULL, NULL, %s FROM added "
        "ORDER BY proposal_id, user_id) "
        "SELECT proposal_id, user_id FROM added"
    )


@cache
def _added_at_once_pg(rows: int, statuses: int) -> str:
    # Reactions that each add a vote: the cards, the new marks of the events on cards that take
    # votes, and the votes those events add with their history, in one statement. Result rows:
    # a card (ID and status), a new mark (event ID only), an added vote (ID and user, no status).
    on_card = "c.channel_id = r.channel_id AND c.message_ts = r.message_ts"
    takes_votes = f"c.status IN ({', '.join(['%s'] * statuses)})"
    return (
        "WITH reaction (channel_id, message_ts, event_id, user_id) AS "
        f"(VALUES {_values('%s', 4, rows)}), "
        "card AS (SELECT DISTINCT p.id, p.status, p.channel_id, p.message_ts "
        f"FROM {_proposals.name} p JOIN reaction r "
        "ON p.channel_id = r.channel_id AND p.message_ts = r.message_ts), "
        f"marked AS (INSERT INTO {_events.name} (event_id, received_at) "
        f"SELECT DISTINCT r.event_id, %s FROM reaction r JOIN card c ON {on_card} "
        f"WHERE r.event_id IS NOT NULL AND {takes_votes} ORDER BY r.event_id "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id), "
        f"added AS (INSERT INTO {_votes.name} (proposal_id, user_id, created_at) "
        f"SELECT DISTINCT c.id, r.user_id, %s FROM reaction r JOIN card c ON {on_card} "
        f"WHERE {takes_votes} "
        "AND (r.event_id IS NULL OR r.event_id IN (SELECT event_id FROM marked)) "
        "ORDER BY 1, 2 "
        "ON CONFLICT (proposal_id, user_id) DO NOTHING RETURNING proposal_id, user_id), "
        f"noted AS (INSERT INTO {_history.name} ({', '.join(HISTORY_COLUMNS)}) "
        "SELECT proposal_id, %s, user_id, %s, NULL, NULL, %s FROM added "
        "ORDER BY proposal_id, user_id) "
        "SELECT id, status, channel_id, message_ts, NULL::varchar FROM card "
        "UNION ALL SELECT NULL, NULL, NULL, NULL, event_id FROM marked "
        "UNION ALL SELECT proposal_id, NULL, NULL, NULL, user_id FROM added"
    )


def _run(
    connection: Connection, sql: str, parameters: Sequence[Any]
) -> tuple[list[tuple[Any, ...]], int]:
    """Run one statement on the driver's cursor: its rows (none when it returns none) and its
    row count. Errors come out as SQLAlchemy's own (see the module's docstring)."""
    dialect = connection.dialect
    driver_error = dialect.loaded_dbapi.Error
    driver_connection = connection.connection.dbapi_connection
    assert driver_connection is not None  # a connection in a transaction has one
    cursor = driver_connection.cursor()
    try:
        cursor.execute(sql, tuple(parameters))
        rows = cursor.fetchall() if cursor.description is not None else []
        return rows, cursor.rowcount
    except driver_error as error:
        lost = dialect.is_disconnect(error, driver_connection, cursor)
        if lost:
            connection.invalidate(error)
        raise DBAPIError.instance(
            sql, parameters, error, driver_error, connection_invalidated=lost, dialect=dialect
        ) from error
    finally:
        with contextlib.suppress(driver_error):
            cursor.close()


# Per engine's dialect; a process has a few engines (tests make more).
@lru_cache(maxsize=256)
def _to_database(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """How the column's type hands a value to this dialect's driver (as the ORM would)."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value


def cards_and_new_events(
    *, connection: Connection, reactions: Iterable[tuple[str, str, str | None]], at: datetime
) -> tuple[dict[tuple[str, str], tuple[int, str]], set[str]]:
    """For these (channel, message ts, event ID) reactions: the cards among them, as `cards`
    says, and the IDs of the events on those cards that were not marked before, now marked
    (as `new_events`)."""
    reactions = sorted(
        {(c, ts, e or None) for c, ts, e in reactions}, key=lambda r: (*r[:2], r[2] or "")
    )
    if not reactions:
        return {}, set()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        found = cards(connection=connection, cards={(c, ts) for c, ts, _ in reactions})
        on_cards = [e for c, ts, e in reactions if e and (c, ts) in found]
        return found, new_events(connection=connection, event_ids=on_cards, at=at)
    when = _to_database(_events.c.received_at, dialect)(at)
    values = [value for reaction in reactions for value in reaction]
    rows, _ = _run(connection, _cards_and_marks_pg(len(reactions)), (*values, when))
    found: dict[tuple[str, str], tuple[int, str]] = {}
    new: set[str] = set()
    for pid, status, channel, ts, event_id in rows:
        if pid is None:
            new.add(str(event_id))
        else:
            found[(channel, ts)] = (int(pid), str(status))
    return found, new


def cards(
    *, connection: Connection, cards: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str]]:
    """(ID, status) of the proposals whose cards are these (channel, message ts) pairs."""
    by_channel: dict[str, set[str]] = {}
    for channel, ts in cards:
        by_channel.setdefault(channel, set()).add(ts)
    dialect = connection.dialect
    found: dict[tuple[str, str], tuple[int, str]] = {}
    for channel, tss in sorted(by_channel.items()):
        rows, _ = _run(connection, _cards_sql(_mark(dialect), len(tss)), (channel, *sorted(tss)))
        for pid, status, ts in rows:
            found[(channel, ts)] = (int(pid), str(status))
    return found


def new_events(*, connection: Connection, event_ids: Iterable[str], at: datetime) -> set[str]:
    """Mark these Slack events as handled; the IDs that were not marked before. The marks
    commit or roll back with the caller's transaction."""
    # In one order everywhere, so two such inserts at once wait for each other, never deadlock.
    ids = sorted(set(event_ids))
    if not ids:
        return set()
    dialect = connection.dialect
    when = _to_database(_events.c.received_at, dialect)(at)
    values = [value for event_id in ids for value in (event_id, when)]
    rows, _ = _run(connection, _mark_events_sql(_mark(dialect), len(ids)), values)
    return {str(e) for (e,) in rows}


def add_votes(
    *, connection: Connection, votes: Iterable[tuple[int, str]], at: datetime, noted_as: str
) -> set[tuple[int, str]]:
    """Record these (proposal ID, user ID) votes, each new one with a history entry of action
    `noted_as` by that person; the ones that were not there before."""
    pairs = sorted(set(votes))
    if not pairs:
        return set()
    dialect = connection.dialect
    when = _to_database(_votes.c.created_at, dialect)(at)
    values = [value for pid, user in pairs for value in (pid, user, when)]
    if dialect.name == "postgresql":
        at_value = _to_database(_history.c.at, dialect)(at)
        detail = _to_database(_history.c.detail, dialect)({})
        sql = _add_votes_noted_pg(len(pairs))
        rows, _ = _run(connection, sql, (*values, at_value, noted_as, detail))
        return {(int(p), str(u)) for p, u in rows}
    rows, _ = _run(connection, _add_votes_sql(_mark(dialect), len(pairs)), values)
    added = {(int(p), str(u)) for p, u in rows}
    add_history(
        connection=connection,
        entries=[history_entry(p, u, noted_as, at) for p, u in sorted(added)],
    )
    return added


def added_at_once(
    *,
    connection: Connection,
    reactions: Sequence[tuple[str, str, str | None, str]],
    votable: Iterable[str],
    at: datetime,
    noted_as: str,
) -> tuple[dict[tuple[str, str], tuple[int, str]], set[str], set[tuple[int, str]]]:
    """PostgreSQL, for (channel, message ts, event ID, user) reactions that each add a vote, in
    one statement: the cards among them (as `cards` says); the IDs of the events on cards whose
    status is `votable` that were not marked before, now marked; and the (proposal ID, user ID)
    votes those events added, each with a history entry of action `noted_as`. Events on cards
    that take no votes are neither marked nor counted: the caller handles them another way."""
    dialect = connection.dialect
    statuses = sorted(set(votable))
    rows = sorted(set(reactions), key=lambda r: (r[0], r[1], r[2] or "", r[3]))
    values = [value for reaction in rows for value in reaction]
    received = _to_database(_events.c.received_at, dialect)(at)
    created = _to_database(_votes.c.created_at, dialect)(at)
    noted_at = _to_database(_history.c.at, dialect)(at)
    detail = _to_database(_history.c.detail, dialect)({})
    parameters = (
        *values,
        received,
        *statuses,
        created,
        *statuses,
        noted_at,
        noted_as,
        detail,
    )
    result, _ = _run(connection, _added_at_once_pg(len(rows), len(statuses)), parameters)
    found: dict[tuple[str, str], tuple[int, str]] = {}
    new: set[str] = set()
    added: set[tuple[int, str]] = set()
    for pid, status, channel, ts, text in result:
        if pid is None:
            new.add(str(text))
        elif status is None:
            added.add((int(pid), str(text)))
        else:
            found[(channel, ts)] = (int(pid), str(status))
    return found, new, added


def history_entry(proposal_id: int, actor: str, action: str, at: datetime) -> dict[str, Any]:
    """A history entry of a vote (no status change, no detail), for `add_history`."""
    return {
        "proposal_id": proposal_id,
        "at": at,
        "actor": actor,
        "action": action,
        "from_status": None,
        "to_status": None,
        "detail": {},
    }


def remove_vote(*, connection: Connection, proposal_id: int, user_id: str) -> bool:
    """Withdraw a vote; False when there was none."""
    _, count = _run(connection, _remove_vote_sql(_mark(connection.dialect)), (proposal_id, user_id))
    return count > 0


def add_history(*, connection: Connection, entries: Sequence[dict[str, Any]]) -> None:
    """Append history entries; each names every column of HISTORY_COLUMNS."""
    if not entries:
        return
    dialect = connection.dialect
    convert = [_to_database(_history.c[name], dialect) for name in HISTORY_COLUMNS]
    values = [
        to(entry[name])
        for entry in entries
        for name, to in zip(HISTORY_COLUMNS, convert, strict=True)
    ]
    _run(connection, _add_history_sql(_mark(dialect), len(entries)), values)
