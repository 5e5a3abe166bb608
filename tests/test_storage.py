"""Storage: migrations, UTC datetimes and the constraints that keep the register right."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.util.exc import CommandError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage import repositories as repo
from storage.db import alembic_config, make_engine, normalise_url, ping, session_scope
from storage.models import Proposal


def _proposal(session: Session, **fields: object) -> Proposal:
    proposal = Proposal(title="Patch faster", submitter="U1", status="open", **fields)
    session.add(proposal)
    session.flush()
    return proposal


def test_migrations_match_the_models(engine: Engine) -> None:
    # `alembic check` raises when the tables differ from what the models declare.
    try:
        command.check(alembic_config(engine))
    except CommandError as exc:  # pragma: no cover - shows the drift
        pytest.fail(f"models and migrations differ: {exc}")


def test_upgrade_is_repeatable(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "head")
    assert ping(engine)


def test_datetimes_come_back_aware_in_utc(engine: Engine) -> None:
    berlin = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 1, 10, 30, tzinfo=berlin)
    with session_scope(engine) as session:
        proposal_id = _proposal(session, created_at=moment).id
    with session_scope(engine) as session:
        stored = repo.get_proposal(session=session, proposal_id=proposal_id or 0)
        assert stored is not None
        assert stored.created_at.tzinfo is not None
        assert stored.created_at == moment
        assert stored.created_at.utcoffset() == timedelta(0)


def test_naive_datetime_is_refused(engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), session_scope(engine) as session:
        _proposal(session, created_at=datetime(2026, 1, 1))


def test_one_vote_per_person_per_proposal(engine: Engine) -> None:
    with session_scope(engine) as session:
        proposal_id = _proposal(session).id or 0
        assert repo.add_vote(session=session, proposal_id=proposal_id, user_id="U2")
        assert not repo.add_vote(session=session, proposal_id=proposal_id, user_id="U2")
        assert repo.add_vote(session=session, proposal_id=proposal_id, user_id="U3")
    with session_scope(engine) as session:
        assert repo.vote_counts(session=session, proposal_ids=[proposal_id]) == {proposal_id: 2}
        assert repo.remove_vote(session=session, proposal_id=proposal_id, user_id="U2")
        assert not repo.remove_vote(session=session, proposal_id=proposal_id, user_id="U2")


def test_event_is_handled_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert repo.mark_event(session=session, event_id="Ev1")
    with session_scope(engine) as session:
        assert not repo.mark_event(session=session, event_id="Ev1")


def test_same_source_key_cannot_store_two_proposals(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        _proposal(session, source_key="view:V1")
        _proposal(session, source_key="view:V1")
    with session_scope(engine) as session:
        assert repo.list_proposals(session=session) == []


def test_postgres_urls_use_psycopg3() -> None:
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert mode == "wal"
    assert timeout == 5000


def test_ping_fails_on_unreachable_database() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    assert not ping(engine)


def test_many_ids_are_fetched_in_batches(engine: Engine) -> None:
    with session_scope(engine) as session:
        ids = [_proposal(session).id or 0 for _ in range(2500)]
    with session_scope(engine) as session:
        found = repo.list_proposals(session=session, ids=[*ids, 999_999])
    assert [p.id for p in found] == ids
