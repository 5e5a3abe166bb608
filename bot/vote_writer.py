"""Emoji votes written before Slack's 200, many requests to one commit.

A vote is acked only once it is stored (a failed write answers 503 and Slack retries), so each
reaction waits for a commit. Reactions that arrive together share one: the first request to
find no write under way takes everything queued, writes it in one unit of work (the event
marks, the votes, the history) and wakes the others with their outcomes; the first of those
that came in meanwhile then writes the next batch. Nothing waits for a batch to fill: what
queues up during one commit goes into the next. One commit and a few statements serve a
burst, instead of a connection, a lock and a commit per reaction; on SQLite the process also
stops racing itself for the file's single write lock.

When a shared unit of work is refused, each of its reactions is tried alone, so one bad write
only fails its own request; when the database does not answer, they all fail at once (503, and
Slack delivers them again).

A vote's commit does not wait for the disk flush (`PRAGMA synchronous=NORMAL` on SQLite's WAL,
`synchronous_commit = off` on PostgreSQL), on the writer's own connection only: every other
write keeps the database's full durability. A committed vote survives the bot's crash and a
restart of the database; what a power cut or a crash of the database's machine can take is the
last moment's votes (never a part of a batch: each one still commits whole or not at all), while
the emoji stay on the message in Slack. That flush was half of each vote's wait.

Slack delivers an event again when its ack came late or not at all, so its retries come in
numbers exactly when the bot is busiest. The writer remembers the events on cards it has
committed (the last `REMEMBER_EVENTS`): a retry of one of those is answered from memory, with
the outcome the database would give (counted before, nothing changed), and writes nothing. The
database's event marks stay the rule: a retry this process has not seen committed (another
replica's, one older than its memory, one that comes while its first delivery is still being
written) goes the usual way.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlmodel import Session

from bot import votes
from bot.lifecycle import VOTABLE
from bot.votes import ReactionOutcome
from storage import vote_batches as batches
from storage.types import utcnow
from storage.wal_checkpoints import NO_CHECKPOINT_IN_COMMITS

_T = TypeVar("_T")

AUTOCOMMIT = "AUTOCOMMIT"
# Whether the writer's connection is in the server's one-statement transactions now.
ONE_STATEMENT = "csi_one_statement"

# The database did not answer in time (a lock, the connection, the pool), rather than refused
# one reaction's write.
_UNAVAILABLE = (OperationalError, InterfaceError, SQLAlchemyTimeoutError)

# The history entries of a vote counted and of one withdrawn.
VOTED = "voted"
UNVOTED = "unvoted"

# More than a burst from Slack's usual concurrency; bounds one unit of work.
MAX_BATCH = 64

# How many committed events on cards the writer remembers, to answer their retries (see the
# module's docstring): Slack retries within minutes, and an event ID and a proposal ID take
# about 150 bytes, so some 1.5 MB at most. The database keeps its marks for a week.
REMEMBER_EVENTS = 10_000

# The writer keeps its connection from one batch to the next while reactions keep coming: no
# pool checkout, no reset on return and on PostgreSQL no liveness ping (a round trip) per batch.
# After a quiet spell, or a failed batch, it is closed for good (it carries the relaxed flush,
# which must not reach the pool's other users) and the next batch opens another.
KEEP_CONNECTION_S = 10.0

# Set once on the writer's connection, outside any transaction. On SQLite its commits also leave
# the log's checkpoints to the server's thread for them (storage/wal_checkpoints.py).
_WRITERS_SETTINGS = {
    "sqlite": ("PRAGMA synchronous=NORMAL", NO_CHECKPOINT_IN_COMMITS),
    "postgresql": ("SET synchronous_commit TO off",),
}


@dataclass(frozen=True)
class Reaction:
    """A vote emoji added to or removed from a message, as the event said."""

    channel_id: str
    message_ts: str
    user_id: str
    added: bool
    event_id: str | None


@dataclass
class _Waiting:
    reaction: Reaction
    # Set once: when the reaction is stored (or failed), or when it is this request's turn to
    # write for the others. One wake-up per request, never a crowd woken to find nothing.
    woken: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    outcome: ReactionOutcome | None = None
    error: BaseException | None = None


@dataclass
class VoteWriter:
    """Group commit of reaction votes for one engine (see the module's docstring)."""

    engine: Engine
    _queue: list[_Waiting] = field(default_factory=list)
    _writing: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Used only by the request that is writing, one at a time.
    _connection: Connection | None = None
    _last_used: float = 0.0
    # Event ID -> the proposal whose card it was on, for events committed by this writer, the
    # newest last (under `_lock`).
    _handled: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def apply(self, reaction: Reaction) -> ReactionOutcome:
        """Store the reaction's effect (once per event) and return it; raises what the
        database raised when it could not be stored."""
        mine = _Waiting(reaction)
        with self._lock:
            if reaction.event_id is not None:
                handled = self._handled.get(reaction.event_id)
                if handled is not None:  # a retry of an event committed here
                    return ReactionOutcome(proposal_id=handled)
            self._queue.append(mine)
            waits, self._writing = self._writing, True
        if waits:
            mine.woken.wait()
        if not mine.done:  # this request writes now: for itself and all queued behind it
            try:
                while not mine.done:
                    with self._lock:
                        batch = self._queue[:MAX_BATCH]
                        del self._queue[:MAX_BATCH]
                    self._write(batch)
            finally:
                with self._lock:
                    if self._queue:
                        self._queue[0].woken.set()  # the first one waiting writes next
                    else:
                        self._writing = False
        if mine.error is not None:
            raise mine.error
        assert mine.outcome is not None
        return mine.outcome

    def _write(self, batch: list[_Waiting]) -> None:
        everyone = batch
        try:
            # What one statement stores is committed whatever happens to the rest after it.
            batch = [batch[i] for i in self._at_once(batch)]
            if batch:
                outcomes = self._committed(apply_together, [w.reaction for w in batch])
                for waiting, outcome in zip(batch, outcomes, strict=True):
                    waiting.outcome = outcome
        except Exception as shared_error:
            if len(batch) == 1 or isinstance(shared_error, _UNAVAILABLE):
                # A database that is locked or gone fails every one of them alike, and trying
                # each again would keep the last past Slack's 3 s: all answer 503, Slack retries.
                for waiting in batch:
                    waiting.error = shared_error
            else:
                for waiting in batch:
                    self._write_alone(waiting)
        finally:
            self._remember(everyone)
            for waiting in everyone:
                waiting.done = True
                waiting.woken.set()

    def _remember(self, batch: list[_Waiting]) -> None:
        """Note the events of `batch` that are stored on a card (their outcome is set only once
        committed), forgetting the oldest beyond `REMEMBER_EVENTS`."""
        with self._lock:
            for waiting in batch:
                event_id, outcome = waiting.reaction.event_id, waiting.outcome
                if event_id and outcome is not None and outcome.proposal_id is not None:
                    self._handled[event_id] = outcome.proposal_id
            while len(self._handled) > REMEMBER_EVENTS:
                self._handled.popitem(last=False)

    def _at_once(self, batch: list[_Waiting]) -> list[int]:
        """On PostgreSQL, a batch of added votes (what a storm is made of) is stored by one
        statement: its outcomes are set here. Returns the positions of the reactions left for
        the usual way (all of them elsewhere; on PostgreSQL those on cards that take no votes,
        which the statement left unmarked)."""
        reactions = [w.reaction for w in batch]
        if self.engine.dialect.name != "postgresql" or not all(r.added for r in reactions):
            return list(range(len(batch)))
        outcomes, rest = self._committed(add_at_once, reactions, one_statement=True)
        left = set(rest)
        for index, (waiting, outcome) in enumerate(zip(batch, outcomes, strict=True)):
            if index not in left:
                waiting.outcome = outcome
        return rest

    @contextmanager
    def _unit_of_work(self, *, one_statement: bool = False) -> Iterator[Connection]:
        """The writer's connection in a transaction; with `one_statement` on PostgreSQL, in the
        server's own transaction of a single statement (no BEGIN and COMMIT round trips)."""
        connection, self._connection = self._connection, None
        if connection is not None and time.monotonic() - self._last_used > KEEP_CONNECTION_S:
            _discard(connection)
            connection = None
        if connection is None:
            connection = _writers_connection(self.engine)
        try:
            if connection.dialect.name == "postgresql" and (
                connection.info.get(ONE_STATEMENT, False) != one_statement
            ):
                level = AUTOCOMMIT if one_statement else connection.default_isolation_level
                connection.execution_options(isolation_level=level)
                connection.info[ONE_STATEMENT] = one_statement
            with connection.begin():
                yield connection
        except BaseException:
            _discard(connection)
            raise
        self._connection, self._last_used = connection, time.monotonic()

    def _write_alone(self, waiting: _Waiting) -> None:
        try:
            if self._at_once([waiting]):
                [waiting.outcome] = self._committed(apply_together, [waiting.reaction])
        except Exception as error:
            waiting.error = error

    def _committed(
        self, work: Callable[..., _T], reactions: list[Reaction], *, one_statement: bool = False
    ) -> _T:
        """`work`'s result, committed. A connection kept from an earlier batch may have died
        since (the server restarted while no vote came): then the unit of work runs once more on
        a fresh one, rather than answer 503 for a database that is back. Running it again is
        safe: it is one transaction, and the event marks count each reaction once."""
        kept = self._connection is not None
        try:
            with self._unit_of_work(one_statement=one_statement) as connection:
                return work(connection=connection, reactions=reactions)
        except DBAPIError as error:
            if not (kept and error.connection_invalidated):
                raise
        with self._unit_of_work(one_statement=one_statement) as connection:
            return work(connection=connection, reactions=reactions)


def _writers_connection(engine: Engine) -> Connection:
    """A connection of the pool's, made the vote writer's own: its commits do not wait for the
    disk flush (see the module's docstring)."""
    connection = engine.connect()
    try:
        for setting in _WRITERS_SETTINGS.get(connection.dialect.name, ()):
            connection.exec_driver_sql(setting)
        connection.commit()
    except BaseException:
        _discard(connection)
        raise
    return connection


def _discard(connection: Connection) -> None:
    # Closed for good, not handed back to the pool with the writer's settings.
    try:
        connection.invalidate()
    finally:
        connection.close()


def apply_together(*, connection: Connection, reactions: list[Reaction]) -> list[ReactionOutcome]:
    """The effects of `reactions`, in order, in the caller's transaction: as if applied one
    after another (a retry, or the same person twice, in one batch counts once)."""
    now = utcnow()
    cards, new = batches.cards_and_new_events(
        connection=connection,
        reactions=[(r.channel_id, r.message_ts, r.event_id) for r in reactions],
        at=now,
    )
    outcomes: list[ReactionOutcome] = [_NOTHING] * len(reactions)
    # Votes added one after another go in with one statement (with their history); whatever
    # else comes (a withdrawal, a refusal) first stores those before it, so the order holds.
    adding: dict[tuple[int, str], int] = {}

    def store_added() -> None:
        stored = batches.add_votes(connection=connection, votes=adding, at=now, noted_as=VOTED)
        for (pid, user), index in adding.items():
            outcomes[index] = ReactionOutcome(proposal_id=pid, changed=(pid, user) in stored)
        adding.clear()

    for index, reaction in enumerate(reactions):
        card = cards.get((reaction.channel_id, reaction.message_ts))
        if card is None:
            continue
        pid, status = card
        if reaction.event_id:
            if reaction.event_id not in new:  # handled before, or earlier in this batch
                outcomes[index] = ReactionOutcome(proposal_id=pid)
                continue
            new.discard(reaction.event_id)
        user = reaction.user_id
        if reaction.added and status in VOTABLE:
            if (pid, user) in adding:  # the same person twice in this batch
                outcomes[index] = ReactionOutcome(proposal_id=pid)
            else:
                adding[(pid, user)] = index
            continue
        store_added()
        if reaction.added:
            outcomes[index] = _refuse_once(connection, pid, user)
            continue
        changed = batches.remove_vote(connection=connection, proposal_id=pid, user_id=user)
        if changed:
            entry = batches.history_entry(pid, user, UNVOTED, now)
            batches.add_history(connection=connection, entries=[entry])
        outcomes[index] = ReactionOutcome(proposal_id=pid, changed=changed)
    store_added()
    return outcomes


def add_at_once(
    *, connection: Connection, reactions: list[Reaction]
) -> tuple[list[ReactionOutcome], list[int]]:
    """PostgreSQL, reactions that each add a vote: their effects in one statement, as if
    applied one after another; and the indexes of those on cards that take no votes, which the
    statement left alone for `apply_together` (it tells the person once, in a transaction)."""
    found, new, added = batches.added_at_once(
        connection=connection,
        reactions=[(r.channel_id, r.message_ts, r.event_id, r.user_id) for r in reactions],
        votable=VOTABLE,
        at=utcnow(),
        noted_as=VOTED,
    )
    outcomes: list[ReactionOutcome] = [_NOTHING] * len(reactions)
    rest: list[int] = []
    for index, reaction in enumerate(reactions):
        card = found.get((reaction.channel_id, reaction.message_ts))
        if card is None:
            continue
        pid, status = card
        if status not in VOTABLE:
            rest.append(index)
            continue
        if reaction.event_id:
            if reaction.event_id not in new:  # handled before, or earlier in this batch
                outcomes[index] = ReactionOutcome(proposal_id=pid)
                continue
            new.discard(reaction.event_id)
        vote = (pid, reaction.user_id)
        outcomes[index] = ReactionOutcome(proposal_id=pid, changed=vote in added)
        added.discard(vote)  # the same person again in this batch changes nothing
    return outcomes, rest


_NOTHING = ReactionOutcome(proposal_id=None)


def _refuse_once(connection: Connection, proposal_id: int, user_id: str) -> ReactionOutcome:
    # Rare (a vote on a closed proposal): the domain's ORM code, in the batch's transaction.
    with Session(bind=connection) as session:
        outcome = votes.refuse_once(session=session, proposal_id=proposal_id, user_id=user_id)
        session.flush()
    return outcome


_writers: dict[int, VoteWriter] = {}
_writers_lock = threading.Lock()


def for_engine(engine: Engine) -> VoteWriter:
    """The writer of this engine (one per process and database)."""
    with _writers_lock:
        writer = _writers.get(id(engine))
        if writer is None or writer.engine is not engine:
            writer = _writers[id(engine)] = VoteWriter(engine)
        return writer
