"""Many people writing at once: on SQLite the bot's writers take turns in order of arrival, so
none waits past the request path's bound while later ones get through (storage/write_gate.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from storage.db import make_engine, session_scope, upgrade
from storage.write_gate import WriteGate

SLACK_WINDOW_S = 3.0
# Enough people, each holding the write lock long enough (a slow machine), that the last in
# line waits about a third of the request path's 2-second bound (room for a machine busy with
# other work): in turn, everyone gets through; left to SQLite's busy handler, some lose the
# race for the lock again and again, and give up (checked with the gate taken out).
PEOPLE = 12
WRITES_EACH = 3
HOLD_S = 0.06


@pytest.fixture
def request_engine(database_url: str) -> Iterator[Engine]:
    """A migrated database seen through the engine `csi-bot serve` uses for requests."""
    bulk = make_engine(database_url)
    upgrade(bulk)
    bulk.dispose()
    engine = make_engine(database_url, for_requests=True)
    yield engine
    engine.dispose()


def _propose(engine: Engine, title: str) -> None:
    """One proposal stored, with slow work inside its transaction after the first write."""
    with session_scope(engine) as session:
        session.connection().execute(
            text(
                "INSERT INTO objectives (title, description, weight, active, created_at) "
                "VALUES (:title, '', 1.0, true, CURRENT_TIMESTAMP)"
            ),
            {"title": title},
        )
        time.sleep(HOLD_S)


def test_people_writing_at_once_are_all_stored_within_slacks_window(
    request_engine: Engine,
) -> None:
    took: list[float] = []
    failed: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(PEOPLE)

    def person(n: int) -> None:
        start.wait()
        for k in range(WRITES_EACH):
            began = time.monotonic()
            try:
                _propose(request_engine, f"person {n} write {k}")
            except OperationalError as exc:
                with lock:
                    failed.append(str(exc.orig))
                continue
            with lock:
                took.append(time.monotonic() - began)

    threads = [threading.Thread(target=person, args=(n,)) for n in range(PEOPLE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failed == []
    assert len(took) == PEOPLE * WRITES_EACH
    assert max(took) < SLACK_WINDOW_S, max(took)
    with request_engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM objectives")).scalar_one()
    assert stored == PEOPLE * WRITES_EACH


def test_a_read_does_not_wait_for_a_writer(request_engine: Engine) -> None:
    writing, done = threading.Event(), threading.Event()

    def writer() -> None:
        with session_scope(request_engine) as session:
            session.connection().execute(
                text(
                    "INSERT INTO objectives (title, description, weight, active, created_at) "
                    "VALUES ('held', '', 1.0, true, CURRENT_TIMESTAMP)"
                )
            )
            writing.set()
            done.wait(5)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(5)
        began = time.monotonic()
        with session_scope(request_engine) as session:
            count = session.connection().execute(text("SELECT count(*) FROM objectives"))
            assert count.scalar_one() == 0  # the writer has not committed
        assert time.monotonic() - began < 0.5
    finally:
        done.set()
        thread.join()


def test_the_gate_is_handed_on_in_order_of_arrival() -> None:
    gate = WriteGate()
    assert gate.acquire(1)
    order: list[int] = []
    threads = []
    for n in range(5):
        thread = threading.Thread(target=lambda n=n: (gate.acquire(5), order.append(n)))
        thread.start()
        threads.append(thread)
        _until(lambda n=n: len(gate._waiting) == n + 1)  # queued before the next arrives
    for n in range(5):
        gate.release()
        _until(lambda n=n: len(order) == n + 1)  # the next one holds the gate now
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3, 4]
    gate.release()


def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for `condition` (however slow a busy machine makes the threads)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the threads did not get there"
        time.sleep(0.005)


def test_a_wait_for_the_gate_ends_at_its_bound_and_leaves_the_gate_usable() -> None:
    gate = WriteGate()
    assert gate.acquire(1)
    waited = threading.Thread(target=lambda: results.append(gate.acquire(0.2)))
    results: list[bool] = []
    began = time.monotonic()
    waited.start()
    waited.join()
    assert results == [False]
    assert 0.2 <= time.monotonic() - began < 1
    gate.release()
    assert gate.acquire(0.1)  # the one who gave up is not in line any more
    gate.release()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_second_connection_of_the_writing_thread_is_bounded_not_stuck(
    request_engine: Engine,
) -> None:
    # Waiting for itself would never end; it meets SQLite's lock and its bound, as before.
    began = time.monotonic()
    with session_scope(request_engine) as session:
        session.connection().execute(
            text(
                "INSERT INTO objectives (title, description, weight, active, created_at) "
                "VALUES ('first', '', 1.0, true, CURRENT_TIMESTAMP)"
            )
        )
        with pytest.raises(OperationalError), session_scope(request_engine) as other:
            other.connection().execute(
                text(
                    "INSERT INTO objectives (title, description, weight, active, "
                    "created_at) VALUES ('second', '', 1.0, true, CURRENT_TIMESTAMP)"
                )
            )
    assert time.monotonic() - began < SLACK_WINDOW_S
