"""Captures and forms committed together (storage/db.py, CommitGroup): each request is answered
only once its own proposal is stored, a copy of a request stores nothing more, and a write that
fails fails only its own request; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import held_forms, proposals
from bot.drafts import ProposalDraft
from bot.similar_proposals import SimilarProposals
from storage import repositories as repo
from storage.db import CommitGroup, commit_group, session_scope
from storage.models import Proposal


def _objective(engine: Engine) -> int:
    with session_scope(engine) as session:
        return proposals.add_objective(session=session, title="Fewer outages", actor="U0").id or 0


def _capture(title: str, source_key: str, session: Session) -> tuple[Proposal, bool]:
    return proposals.capture(
        session=session,
        draft=ProposalDraft(title=title),
        submitter="U1",
        source_key=source_key,
    )


def _stored(engine: Engine) -> dict[str, str]:
    with session_scope(engine) as session:
        return {p.source_key or "": p.title for p in repo.list_proposals(session=session)}


def _together(engine: Engine, works: list[Callable[[Session], Any]]) -> list[Future[Any]]:
    """Run `works` through one group, all queued behind a first unit of work that is still
    being written, so that they are committed together."""
    group = CommitGroup(partial(session_scope, engine))
    writing, release = threading.Event(), threading.Event()

    def first(session: Session) -> tuple[Proposal, bool]:
        writing.set()
        release.wait(10)
        return _capture("The first one", "command:T0", session)

    pool = ThreadPoolExecutor(max_workers=len(works) + 1)
    head = pool.submit(group.run, first)
    writing.wait(10)
    futures = [pool.submit(group.run, work) for work in works]
    time.sleep(0.3)  # all of them wait behind the first
    release.set()
    head.result(timeout=10)
    pool.shutdown(wait=True)
    return futures


def test_requests_committed_together_are_each_stored_and_answered(engine: Engine) -> None:
    _objective(engine)
    works = [partial(_capture, f"Proposal {n}", f"command:T{n}") for n in range(1, 11)]
    futures = _together(engine, works)
    answers = [future.result() for future in futures]
    assert [(p.title, created) for p, created in answers] == [
        (f"Proposal {n}", True) for n in range(1, 11)
    ]
    assert len({p.id for p, _ in answers}) == 10
    expected = {f"command:T{n}": f"Proposal {n}" for n in range(1, 11)}
    assert _stored(engine) == {"command:T0": "The first one", **expected}


def test_copies_of_one_request_in_the_same_commit_store_one_proposal(engine: Engine) -> None:
    _objective(engine)
    works = [partial(_capture, "Patch monthly", "command:TSAME") for _ in range(3)]
    answers = [future.result() for future in _together(engine, works)]
    assert [created for _, created in answers] == [True, False, False]
    assert len({p.id for p, _ in answers}) == 1
    assert list(_stored(engine).values()).count("Patch monthly") == 1


def test_a_write_that_fails_fails_only_its_own_request(engine: Engine) -> None:
    _objective(engine)
    # The database refuses one title: that request fails, the others committed with it are
    # stored all the same.
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(
                    "CREATE FUNCTION csi_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    "BEGIN IF NEW.title = 'Refused' THEN RAISE EXCEPTION 'no'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER csi_test_refuse BEFORE INSERT ON proposals "
                    "FOR EACH ROW EXECUTE FUNCTION csi_test_refuse()"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER csi_test_refuse BEFORE INSERT ON proposals "
                    "WHEN NEW.title = 'Refused' BEGIN SELECT RAISE(ABORT, 'no'); END"
                )
            )
    works = [partial(_capture, f"Proposal {n}", f"command:T{n}") for n in range(1, 4)]
    works.insert(1, partial(_capture, "Refused", "command:TBAD"))
    futures = _together(engine, works)
    with pytest.raises(Exception, match="no"):
        futures[1].result()
    assert [futures[n].result()[1] for n in (0, 2, 3)] == [True, True, True]
    assert set(_stored(engine)) == {"command:T0", "command:T1", "command:T2", "command:T3"}


def test_a_form_whose_copy_holds_it_does_not_lose_the_others(engine: Engine) -> None:
    objective = _objective(engine)
    similar = SimilarProposals()
    source = "view:VCOPY"
    # A copy of this form holds its key (it was shown similar proposals): the copy here finds
    # the key taken, which rolls its unit of work back; the proposals committed with it are
    # stored all the same, each once.
    with session_scope(engine) as session:
        assert repo.hold_draft(
            session=session,
            key=held_forms.held_key(source),
            user_id="U2",
            draft={"fields": {}, "source_key": source},
        )

    def form(session: Session) -> held_forms.Held | held_forms.Stored:
        draft = ProposalDraft(title="Rotate the on-call rota weekly", objective_id=objective)
        looked = held_forms.Looked(draft, "U2", source, {objective}, None, None)
        return held_forms.store(session=session, similar=similar, looked=looked)

    works: list[Callable[[Session], Any]] = [
        partial(_capture, "Proposal 1", "command:T1"),
        form,
        partial(_capture, "Proposal 2", "command:T2"),
    ]
    futures = _together(engine, works)
    outcome = futures[1].result()
    assert isinstance(outcome, held_forms.Stored) and outcome.created
    assert futures[0].result()[1] and futures[2].result()[1]
    stored = _stored(engine)
    assert stored == {
        "command:T0": "The first one",
        "command:T1": "Proposal 1",
        source: "Rotate the on-call rota weekly",
        "command:T2": "Proposal 2",
    }


def test_on_a_server_a_request_is_not_queued_behind_anothers_unit_of_work(engine: Engine) -> None:
    # On SQLite the units of work share commits (one writer at a time anyway); on PostgreSQL
    # each commits on its own at once: a capture still being written holds up no other.
    runner = commit_group(engine, partial(session_scope, engine))
    writing, release = threading.Event(), threading.Event()

    def slow(session: Session) -> tuple[Proposal, bool]:
        writing.set()
        release.wait(10)
        return _capture("The slow one", "command:TSLOW", session)

    with ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(runner.run, slow)
        assert writing.wait(10)
        quick = pool.submit(runner.run, partial(_capture, "The quick one", "command:TQUICK"))
        if engine.dialect.name == "sqlite":
            assert isinstance(runner, CommitGroup)
            time.sleep(0.3)
            assert not quick.done()  # waits to be committed with the slow one's group
        else:
            proposal, created = quick.result(timeout=5)  # committed while the other is held
            assert created and proposal.title == "The quick one"
            assert not held.done()
        release.set()
        held.result(timeout=10)
        quick.result(timeout=10)
    assert _stored(engine) == {
        "command:TSLOW": "The slow one",
        "command:TQUICK": "The quick one",
    }
