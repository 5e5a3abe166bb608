"""The SQLite log is folded back into the database file by the server's own thread, so the vote
writer's commits never pay for a checkpoint; other databases are left alone."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from storage.db import make_engine
from storage.wal_checkpoints import NO_CHECKPOINT_IN_COMMITS, WalCheckpoints


def _fill(engine: Engine, rows: int) -> None:
    # As the vote writer commits: many small transactions on a connection that never checkpoints.
    with engine.connect() as connection:
        connection.exec_driver_sql(NO_CHECKPOINT_IN_COMMITS)
        connection.exec_driver_sql("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)")
        connection.commit()
        for start in range(0, rows, 100):
            for n in range(start, start + 100):
                connection.exec_driver_sql("INSERT INTO filler VALUES (?, ?)", (n, "x" * 400))
            connection.commit()


def test_the_thread_copies_the_log_into_the_database_file(tmp_path: Path) -> None:
    file = tmp_path / "log.db"
    engine = make_engine(f"sqlite:///{file}", for_requests=True)
    try:
        _fill(engine, 3000)  # about 1.2 MB of rows, all still in the log
        assert file.stat().st_size < 200_000
        checkpoints = WalCheckpoints(engine, interval=0.05).start()
        try:
            deadline = time.monotonic() + 10
            while file.stat().st_size < 1_000_000 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            checkpoints.stop()
        assert file.stat().st_size >= 1_000_000
        with engine.connect() as connection:  # and the rows read back whole
            count = connection.exec_driver_sql("SELECT count(*) FROM filler").scalar()
        assert count == 3000
    finally:
        engine.dispose()


def test_only_a_sqlite_file_gets_the_thread(tmp_path: Path) -> None:
    memory = create_engine("sqlite://")
    postgres = make_engine("postgresql://postgres@127.0.0.1:5432/test")  # never connected
    try:
        for engine in (memory, postgres):
            checkpoints = WalCheckpoints(engine).start()
            assert checkpoints._thread is None
            checkpoints.stop()
    finally:
        memory.dispose()
        postgres.dispose()
