"""One writer at a time, in order of arrival, for each SQLite database file of this process.

SQLite lets one connection write at a time. A writer that finds the file's lock taken is left to
SQLite's busy handler, which sleeps and tries again with growing pauses (up to 100 ms): the
lock goes to whoever tries at the right moment, not to whoever waited longest, and under a
crowd of writers a few wait past the request path's bound while newcomers get through. Here the
connections of one process queue for the lock instead: a connection about to begin a write
transaction (the driver begins one before its first INSERT, UPDATE or DELETE) waits for the
gate, first come first served, and hands it on when the transaction commits or rolls back. SQLite's
own lock is then taken at once, or after a writer of another process (the CLI) is done.

The wait for the gate counts against the same bound as SQLite's busy timeout: a connection that
waited 1.5 s for the gate waits at most the rest for the file. Reads never wait here.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

# The statements that take the file's write lock. The driver begins a transaction before the
# first INSERT, UPDATE, DELETE or REPLACE; DDL writes too.
_WRITES = re.compile(
    r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b",
    re.IGNORECASE | re.DOTALL,
)
# Below this, SQLite's busy timeout is left as it is after a wait for the gate.
_MIN_FILE_WAIT_MS = 50


class WriteGate:
    """A lock handed to its waiters in order of arrival, with a bounded wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken = False
        self._waiting: deque[threading.Event] = deque()
        # The thread whose connection holds the gate: a second connection of the same thread
        # does not queue behind it (it would wait for itself); it meets SQLite's lock as before.
        self.holder: int | None = None

    def acquire(self, timeout: float) -> bool:
        """Take the gate, waiting at most `timeout` seconds for those who came first."""
        with self._lock:
            if not self._taken:
                self._taken = True
                self.holder = threading.get_ident()
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        if not turn.wait(timeout):
            with self._lock:
                if not turn.is_set():
                    self._waiting.remove(turn)
                    return False
            # Handed over just as the wait ran out: ours after all.
        self.holder = threading.get_ident()
        return True

    def release(self) -> None:
        """Hand the gate to the one who has waited longest, or leave it open."""
        with self._lock:
            self.holder = None
            if self._waiting:
                self._waiting.popleft().set()  # still taken: it passes straight to them
            else:
                self._taken = False


_gates: dict[str, WriteGate] = {}
_gates_lock = threading.Lock()


def gate_for(database: str | None) -> WriteGate | None:
    """The gate of a database file (one per file and process); None for an in-memory one."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    key = str(Path(database).resolve())
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = WriteGate()
        return gate


class GatedConnection(sqlite3.Connection):
    """A sqlite3 connection whose write transactions pass the gate of its file.

    `csi_gate` and `csi_lock_wait_ms` are set when the engine opens it (storage/db.py); without
    a gate it behaves as a plain connection.
    """

    csi_gate: WriteGate | None = None
    csi_lock_wait_ms: int = 0
    _csi_holding = False
    _csi_busy_ms: int | None = None

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or GatedCursor)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._csi_let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._csi_let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._csi_let_go()

    def __del__(self) -> None:
        # A connection dropped without being closed: SQLite lets go of the file as it is freed,
        # and so does the gate.
        self._csi_let_go()

    def _csi_before(self, sql: str) -> None:
        gate = self.csi_gate
        if gate is None or self._csi_holding or not _WRITES.match(sql):
            return
        if gate.holder == threading.get_ident():
            return  # this thread's other connection writes: SQLite's lock decides, as before
        started = time.monotonic()
        if not gate.acquire(self.csi_lock_wait_ms / 1000):
            raise sqlite3.OperationalError(
                "database is locked (other writers of this process came first)"
            )
        self._csi_holding = True
        waited_ms = int((time.monotonic() - started) * 1000)
        # What is left of the bound, for a writer of another process holding the file.
        busy_ms = self.csi_lock_wait_ms
        if waited_ms >= _MIN_FILE_WAIT_MS:
            busy_ms = max(busy_ms - waited_ms, _MIN_FILE_WAIT_MS)
        if busy_ms != (self._csi_busy_ms or self.csi_lock_wait_ms):
            sqlite3.Cursor(self).execute(f"PRAGMA busy_timeout={busy_ms}").close()
            self._csi_busy_ms = busy_ms

    def _csi_after(self) -> None:
        # A statement that wrote outside a transaction (DDL), or failed before beginning one.
        if self._csi_holding and not self.in_transaction:
            self._csi_let_go()

    def _csi_let_go(self) -> None:
        if self._csi_holding:
            self._csi_holding = False
            assert self.csi_gate is not None
            self.csi_gate.release()


class GatedCursor(sqlite3.Cursor):
    """A cursor that lets its connection pass the gate before a write."""

    connection: GatedConnection

    def execute(self, sql: str, parameters: Any = (), /) -> GatedCursor:
        self.connection._csi_before(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            self.connection._csi_after()

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> GatedCursor:
        self.connection._csi_before(sql)
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            self.connection._csi_after()
