"""SQLite's write-ahead log folded back into the database file by a thread of its own.

With WAL, a commit appends its pages to the log; now and then a checkpoint copies them into the
database file and flushes both. SQLite runs that checkpoint inside whichever commit finds the
log past 1,000 pages, so one request in a few hundred pays for everyone's pages (in a storm of
6,000 reaction events, the vote writer checkpointing in its commits left csi-bot at x0.69 of a
bare Bolt app's throughput, and at x0.87 once it stopped: README, "Emoji votes"). Here a thread asks
for a passive checkpoint every second, which copies what it can without waiting for readers or
writers, and the vote writer's connection (the busiest) no longer checkpoints in its commits.
Every other connection keeps SQLite's own checkpoints, so the log stays bounded even where this
thread does not run (the command line, a test's engine). PostgreSQL needs none of this.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

INTERVAL_S = 1.0
# How long the checkpoint's own connection waits for a lock it needs (rare: a passive
# checkpoint takes none that a writer holds); past it, the next round tries again.
BUSY_TIMEOUT_S = 0.5
# The statement that keeps a connection's commits from checkpointing.
NO_CHECKPOINT_IN_COMMITS = "PRAGMA wal_autocheckpoint=0"


class WalCheckpoints:
    """A daemon thread checkpointing the SQLite file of `engine`; does nothing for any other
    database."""

    def __init__(self, engine: Engine, *, interval: float = INTERVAL_S) -> None:
        url = engine.url
        file = url.database if url.get_backend_name() == "sqlite" else None
        self._file = file if file and file != ":memory:" and not file.startswith("file:") else None
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WalCheckpoints:
        if self._file is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        assert self._file is not None
        connection: sqlite3.Connection | None = None
        while not self._stop.wait(self._interval):
            try:
                if connection is None:
                    connection = sqlite3.connect(
                        self._file, timeout=BUSY_TIMEOUT_S, check_same_thread=False
                    )
                # Copies what no reader still needs; with nothing new to copy, it costs a read of
                # the log's index and no flush.
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:
                log.warning("event=wal_checkpoint outcome=failed reason=%s", exc)
                if connection is not None:
                    connection.close()
                    connection = None
        if connection is not None:
            connection.close()
