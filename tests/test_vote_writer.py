"""Reaction votes stored together: the same result as one by one, exact under concurrency, and a
failing write fails only its own reaction; on both databases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine

from bot.vote_writer import Reaction, VoteWriter, _Waiting, apply_together
from bot.votes import ReactionOutcome
from storage import repositories as repo
from storage import vote_batches
from storage.db import session_scope
from storage.models import Objective, Proposal

CHANNEL = "C0CARDS"


def _card(engine: Engine, ts: str, status: str = "open") -> int:
    with session_scope(engine) as session:
        if session.get(Objective, 1) is None:
            session.add(Objective(id=1, title="Fewer outages"))
        proposal = Proposal(
            title=f"Proposal on {ts}",
            submitter="U0SUBMIT",
            status=status,
            objective_id=1,
            channel_id=CHANNEL,
            message_ts=ts,
        )
        session.add(proposal)
        session.flush()
        return proposal.id or 0


def _voters(engine: Engine, proposal_id: int) -> set[str]:
    with session_scope(engine) as session:
        return set(repo.voters(session=session, proposal_id=proposal_id))


def _r(user: str, event: str | None, *, added: bool = True, ts: str = "1.000001") -> Reaction:
    return Reaction(CHANNEL, ts, user, added, event)


def _as_one_batch(writer: VoteWriter, reactions: list[Reaction]) -> list[ReactionOutcome]:
    # As the writer stores a burst that queued up together (no other writer runs meanwhile).
    batch = [_Waiting(reaction) for reaction in reactions]
    writer._write(batch)
    for waiting in batch:
        if waiting.error is not None:
            raise waiting.error
    return [waiting.outcome for waiting in batch if waiting.outcome is not None]


def test_a_batch_counts_as_if_applied_one_by_one(engine: Engine) -> None:
    pid = _card(engine, "1.000001")
    batch = [
        _r("U1", "Ev1"),
        _r("U1", "Ev1"),  # Slack's retry in the same batch
        _r("U1", "Ev2"),  # the same person again
        _r("U2", "Ev3"),
        _r("U2", "Ev4", added=False),  # and withdrawn
        _r("U3", "Ev5", ts="9.999999"),  # not a card
    ]
    with engine.begin() as connection:
        outcomes = apply_together(connection=connection, reactions=batch)
    assert [o.changed for o in outcomes] == [True, False, False, True, True, False]
    assert [o.proposal_id for o in outcomes] == [pid, pid, pid, pid, pid, None]
    assert _voters(engine, pid) == {"U1"}
    with engine.begin() as connection:  # a later retry of any of them changes nothing
        again = apply_together(connection=connection, reactions=[_r("U2", "Ev3")])
    assert not again[0].changed and _voters(engine, pid) == {"U1"}
    with session_scope(engine) as session:
        actions = [e.action for e in repo.history(session=session, proposal_id=pid)]
    assert actions == ["voted", "voted", "unvoted"]


def test_concurrent_reactions_and_retries_count_exactly(engine: Engine) -> None:
    pid = _card(engine, "1.000001")
    writer = VoteWriter(engine)
    reactions = [_r(f"U{n:04d}", f"Ev{n}") for n in range(120)]
    reactions += [_r(f"U{n:04d}", f"Ev{n}") for n in range(0, 120, 3)]  # retries
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(writer.apply, reactions))
    assert sum(o.changed for o in outcomes) == 120
    assert len(_voters(engine, pid)) == 120
    with session_scope(engine) as session:
        actions = [e.action for e in repo.history(session=session, proposal_id=pid)]
    assert actions == ["voted"] * 120  # each vote once in the history, retries or not


def test_a_reaction_in_another_channel_is_no_vote_even_on_the_same_ts(engine: Engine) -> None:
    pid = _card(engine, "1.000001")
    elsewhere = Reaction("C0ELSEWHERE", "1.000001", "U1", True, "Ev1")
    with engine.begin() as connection:
        outcomes = apply_together(connection=connection, reactions=[elsewhere, _r("U2", "Ev2")])
    assert [o.proposal_id for o in outcomes] == [None, pid]
    assert _voters(engine, pid) == {"U2"}
    with engine.begin() as connection:  # its event was not taken as handled either
        again = apply_together(connection=connection, reactions=[_r("U1", "Ev1")])
    assert again[0].changed and _voters(engine, pid) == {"U1", "U2"}


def test_a_failing_write_fails_only_its_own_reaction(engine: Engine) -> None:
    pid = _card(engine, "1.000001")
    closed = _card(engine, "2.000002", status="rejected")
    # Only the history entry of a refused reaction cannot be written: that reaction fails, and
    # the votes stored with it in one unit of work are stored all the same.
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        if postgres:
            connection.execute(
                text(
                    "CREATE FUNCTION csi_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    "BEGIN IF NEW.action = 'reaction_refused' THEN RAISE EXCEPTION 'no'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER csi_test_refuse BEFORE INSERT ON audit_entries "
                    "FOR EACH ROW EXECUTE FUNCTION csi_test_refuse()"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER csi_test_refuse BEFORE INSERT ON audit_entries "
                    "WHEN NEW.action = 'reaction_refused' "
                    "BEGIN SELECT RAISE(ABORT, 'no'); END"
                )
            )
    writer = VoteWriter(engine)
    with ThreadPoolExecutor(max_workers=4) as pool:
        good = [pool.submit(writer.apply, _r(f"U{n}", f"EvG{n}")) for n in range(6)]
        bad = pool.submit(writer.apply, _r("UBAD", "EvBAD", ts="2.000002"))
        for future in good:
            assert future.result().changed
        with pytest.raises(Exception, match="no"):
            bad.result()
    assert len(_voters(engine, pid)) == 6 and _voters(engine, closed) == set()
    # The same in one batch for certain: the votes stored with it are reported as stored (their
    # cards are redrawn), and only the refused one fails.
    batch = [_Waiting(_r(f"U{n}", f"EvH{n}")) for n in range(6, 9)]
    batch.insert(1, _Waiting(_r("UBAD", "EvBAD2", ts="2.000002")))
    writer._write(batch)
    assert [w.outcome.changed if w.outcome else None for w in batch] == [True, None, True, True]
    assert batch[1].error is not None and "no" in str(batch[1].error)
    assert len(_voters(engine, pid)) == 9


def test_a_vote_on_a_closed_proposal_is_refused_and_remembered_with_the_batch(
    engine: Engine,
) -> None:
    pid = _card(engine, "1.000001")
    closed = _card(engine, "2.000002", status="rejected")
    batch = [_r("U1", "Ev1"), _r("U9", "Ev2", ts="2.000002"), _r("U2", "Ev3")]
    with engine.begin() as connection:
        outcomes = apply_together(connection=connection, reactions=batch)
    assert [o.changed for o in outcomes] == [True, False, True]
    refused = outcomes[1].refused
    assert refused is not None and refused.id == closed  # the person is told why, once
    with engine.begin() as connection:  # the same person again: not told twice
        [again] = apply_together(connection=connection, reactions=[_r("U9", "Ev4", ts="2.000002")])
    assert again.refused is None and again.proposal_id == closed
    assert _voters(engine, pid) == {"U1", "U2"} and _voters(engine, closed) == set()
    with session_scope(engine) as session:
        actions = [e.action for e in repo.history(session=session, proposal_id=closed)]
    assert actions == ["reaction_refused"]


def test_a_vote_after_the_servers_restart_is_stored_at_once(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server to restart")
    pid = _card(engine, "1.000001")
    writer = VoteWriter(engine)
    assert writer.apply(_r("U1", "Ev1")).changed  # its connection is kept for the next batch
    # The server ends every session of the writer's database but this one, as a restart does.
    with engine.connect() as admin:
        admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert writer.apply(_r("U2", "Ev2")).changed
    assert _voters(engine, pid) == {"U1", "U2"}


def _flush_setting(connection: Connection) -> str:
    if connection.dialect.name == "sqlite":
        level = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        return {0: "off", 1: "normal", 2: "full", 3: "extra"}[int(level or 0)]
    return str(connection.exec_driver_sql("SHOW synchronous_commit").scalar())


def test_only_the_writers_own_connection_skips_the_flush(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = _card(engine, "1.000001")
    writer = VoteWriter(engine)
    writer.apply(_r("U1", "Ev1"))
    kept = writer._connection
    assert kept is not None
    relaxed = "normal" if engine.dialect.name == "sqlite" else "off"
    assert _flush_setting(kept) == relaxed
    if engine.dialect.name == "sqlite":  # its commits leave the log's checkpoints to a thread
        assert kept.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    kept.rollback()
    # Every other connection of the pool keeps the database's full durability, including
    # those opened after the writer let its own go (a quiet spell): it is closed, not pooled.
    monkeypatch.setattr("bot.vote_writer.KEEP_CONNECTION_S", -1.0)
    writer.apply(_r("U2", "Ev2"))
    assert kept.invalidated or kept.closed
    with engine.connect() as other:
        assert _flush_setting(other) in {"full", "on"}
        if engine.dialect.name == "sqlite":
            assert other.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    assert _voters(engine, pid) == {"U1", "U2"}


def test_a_storm_of_added_votes_counts_as_if_applied_one_by_one(engine: Engine) -> None:
    # The shape of a storm: every reaction adds. On PostgreSQL one statement stores them, and
    # those on a closed proposal go the usual way; the outcomes are the same on both databases.
    pid = _card(engine, "1.000001")
    closed = _card(engine, "2.000002", status="rejected")
    writer = VoteWriter(engine)
    [first] = _as_one_batch(writer, [_r("U0", "Ev0")])
    batch = [
        _r("U1", "Ev1"),
        _r("U9", "Ev2", ts="2.000002"),  # on a closed proposal: refused, the person told once
        _r("U1", "Ev1"),  # Slack's retry in the same batch
        _r("U1", "Ev3"),  # the same person again
        _r("U0", "Ev0"),  # Slack's retry of an earlier batch's event
        _r("U2", "Ev4"),
        _r("U3", "Ev5", ts="9.999999"),  # not a card
        _r("U9", "Ev6", ts="2.000002"),  # the same person on the closed one again
    ]
    outcomes = _as_one_batch(writer, batch)
    assert first.changed
    assert [o.changed for o in outcomes] == [True, False, False, False, False, True, False, False]
    assert [o.proposal_id for o in outcomes] == [pid, closed, pid, pid, pid, pid, None, closed]
    assert outcomes[1].refused is not None and outcomes[1].refused.id == closed
    assert outcomes[7].refused is None
    assert _voters(engine, pid) == {"U0", "U1", "U2"} and _voters(engine, closed) == set()
    with session_scope(engine) as session:
        actions = [e.action for e in repo.history(session=session, proposal_id=pid)]
        refusals = [e.action for e in repo.history(session=session, proposal_id=closed)]
    assert actions == ["voted"] * 3 and refusals == ["reaction_refused"]
    again = _as_one_batch(writer, batch)  # the whole batch delivered again changes nothing
    assert not any(o.changed for o in again) and not any(o.refused for o in again)


def _statements(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements sent to the database from now on: the vote batches' own (on the driver's
    cursor) and those that go through SQLAlchemy."""
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    run = vote_batches._run

    def counted(connection: Connection, sql: str, parameters: Any) -> Any:
        sent.append(sql)
        return run(connection, sql, parameters)

    monkeypatch.setattr(vote_batches, "_run", counted)
    return sent


def test_a_retry_of_an_event_committed_here_is_answered_without_the_database(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = _card(engine, "1.000001")
    closed = _card(engine, "2.000002", status="rejected")
    writer = VoteWriter(engine)
    stored = [writer.apply(r) for r in (_r("U1", "Ev1"), _r("U9", "Ev2", ts="2.000002"))]
    assert stored[0].changed and stored[1].refused is not None
    sent = _statements(engine, monkeypatch)
    retries = [writer.apply(r) for r in (_r("U1", "Ev1"), _r("U9", "Ev2", ts="2.000002"))]
    # What the database would have answered (counted before; the refusal not told again), and
    # nothing was written or read for it.
    assert retries == [ReactionOutcome(proposal_id=pid), ReactionOutcome(proposal_id=closed)]
    assert sent == []
    assert _voters(engine, pid) == {"U1"}
    # Another process (another writer) has not seen it: its database answers the same.
    assert VoteWriter(engine).apply(_r("U1", "Ev1")) == ReactionOutcome(proposal_id=pid)
    assert sent != []


def test_the_writer_remembers_only_committed_events_on_cards_and_only_the_newest(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.vote_writer.REMEMBER_EVENTS", 2)
    pid = _card(engine, "1.000001")
    writer = VoteWriter(engine)
    for n in range(3):
        writer.apply(_r(f"U{n}", f"Ev{n}"))
    assert writer.apply(_r("U7", "Ev7", ts="9.999999")).proposal_id is None  # not a card
    sent = _statements(engine, monkeypatch)
    writer.apply(_r("U2", "Ev2"))  # among the newest two
    assert sent == []
    # The oldest, forgotten, and the one not on a card go to the database, which still counts
    # each event once; a card made on that message later counts it then.
    assert writer.apply(_r("U0", "Ev0")) == ReactionOutcome(proposal_id=pid)
    assert len(sent) > 0
    elsewhere = _card(engine, "9.999999")
    assert writer.apply(_r("U7", "Ev7", ts="9.999999")).changed
    assert _voters(engine, pid) == {"U0", "U1", "U2"} and _voters(engine, elsewhere) == {"U7"}
