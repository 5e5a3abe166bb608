"""The server's database waits end before Slack's 3-second window, on SQLite and PostgreSQL.

A request blocked by a lock, a slow statement, an unanswered connection or a full pool fails
with an error the bot can answer, instead of hanging until Slack gives up.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from storage.db import (
    REQUEST_POOL_SIZE,
    DatabaseUnusable,
    check_reachable,
    make_engine,
    ping,
    session_scope,
    upgrade,
)

SLACK_WINDOW_S = 3.0


@pytest.fixture
def request_engine(database_url: str) -> Iterator[Engine]:
    """A migrated database seen through the engine `csi-bot serve` uses for requests."""
    bulk = make_engine(database_url)
    upgrade(bulk)
    bulk.dispose()
    engine = make_engine(database_url, for_requests=True)
    yield engine
    engine.dispose()


def _timed_failure(work: object, expected: type[BaseException]) -> float:
    started = time.monotonic()
    with pytest.raises(expected):
        work()  # type: ignore[operator]
    return time.monotonic() - started


def _insert_objective(engine: Engine, title: str) -> None:
    with session_scope(engine) as session:
        session.connection().execute(
            text(
                "INSERT INTO objectives (title, description, weight, active, created_at) "
                "VALUES (:title, '', 1.0, true, CURRENT_TIMESTAMP)"
            ),
            {"title": title},
        )


def test_a_writer_blocked_by_a_held_lock_gives_up_within_slacks_window(
    request_engine: Engine, database_url: str
) -> None:
    with ExitStack() as held:
        if request_engine.dialect.name == "sqlite":
            holder = sqlite3.connect(request_engine.url.database or "", isolation_level=None)
            held.callback(holder.close)
            holder.execute("BEGIN IMMEDIATE")  # the write lock, held until we let go
            held.callback(holder.execute, "ROLLBACK")
        else:
            import psycopg

            holder_pg = psycopg.connect(database_url)
            held.callback(holder_pg.close)
            holder_pg.execute("LOCK TABLE objectives IN ACCESS EXCLUSIVE MODE")
            held.callback(holder_pg.rollback)
        took = _timed_failure(
            lambda: _insert_objective(request_engine, "blocked"), sa_exc.OperationalError
        )
    assert 1.5 <= took < SLACK_WINDOW_S, took
    # Once the lock is gone the same write goes through.
    _insert_objective(request_engine, "after the lock")


def test_sqlite_busy_timeout_is_under_slacks_window_for_requests_only(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/t.db"
    for_requests, bulk = make_engine(url, for_requests=True), make_engine(url)
    try:
        with for_requests.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2000
        with bulk.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        for_requests.dispose()
        bulk.dispose()


@pytest.mark.postgres
def test_a_slow_statement_is_cancelled_on_the_request_path_only(postgres_server: str) -> None:
    engine = make_engine(postgres_server, for_requests=True)
    bulk = make_engine(postgres_server)
    try:

        def sleep() -> None:
            with engine.connect() as connection:
                connection.execute(text("SELECT pg_sleep(10)"))

        took = _timed_failure(sleep, sa_exc.OperationalError)
        assert 2.0 <= took < SLACK_WINDOW_S, took
        with bulk.connect() as connection:
            # CLI bulk work (migrations, imports) may take longer than a request.
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "0"
    finally:
        engine.dispose()
        bulk.dispose()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_a_postgres_server_that_never_answers_fails_the_connection_in_time(
    silent_server: int,
) -> None:
    engine = make_engine(f"postgresql://u@127.0.0.1:{silent_server}/db", for_requests=True)
    try:
        took = _timed_failure(lambda: check_reachable(engine), DatabaseUnusable)
        assert took < SLACK_WINDOW_S, took
        started = time.monotonic()
        assert not ping(engine)
        assert time.monotonic() - started < SLACK_WINDOW_S
    finally:
        engine.dispose()


def test_a_full_connection_pool_gives_up_within_slacks_window(request_engine: Engine) -> None:
    pool_size = request_engine.pool.size() + request_engine.pool._max_overflow  # type: ignore[attr-defined]
    with ExitStack() as held:
        for _ in range(pool_size):
            held.enter_context(request_engine.connect())

        def one_more() -> None:
            with request_engine.connect():
                pass

        took = _timed_failure(one_more, sa_exc.TimeoutError)
    assert 1.5 <= took < SLACK_WINDOW_S, took


def test_the_servers_threads_keep_their_connections_open_between_requests(
    request_engine: Engine,
) -> None:
    # As many at once as the server's threads that use the database: handed back, every one
    # stays open for the next request instead of being closed and opened again under load.
    connects: list[object] = []
    event.listen(request_engine, "connect", lambda *_: connects.append(1))
    for _round in range(3):
        with ExitStack() as held:
            for _ in range(REQUEST_POOL_SIZE):
                held.enter_context(request_engine.connect()).execute(text("SELECT 1"))
    assert len(connects) == REQUEST_POOL_SIZE
    assert request_engine.pool.checkedin() == REQUEST_POOL_SIZE  # type: ignore[attr-defined]
