"""Which replica runs the scheduled jobs.

On PostgreSQL the leader is the replica that holds a session advisory lock, on a connection of
its own (never one from the pool, which recycles and shares connections). The lock lives as long
as that connection: when the leader dies, PostgreSQL drops the connection and the lock, and a
standby replica, which asks for the lock every few seconds, takes over. The leader checks that
it still holds the lock before every run.

On SQLite there is one process, and it leads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from storage.db import normalise_url

log = logging.getLogger(__name__)

# One number for "the csi-bot scheduler" among the advisory locks of the database.
LOCK_KEY = 0x637369_626F74  # "csibot"
# How often a standby asks for the lock, and the leader checks it still has it.
RETRY_S = 2.0
# The leader's connection notices a vanished server within about this many seconds.
KEEPALIVE_S = 5


def process_name() -> str:
    """This process: host and PID."""
    return f"{socket.gethostname()}:{os.getpid()}"


def local_process_gone(owner: str) -> bool:
    """True when `owner` names a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.split("/", 1)[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class Leadership(Protocol):
    """What the scheduler asks of its leader election."""

    @property
    def owner(self) -> str:
        """Who this replica is in a claim of a job run."""
        ...

    def start(self, on_elected: Callable[[], None], on_deposed: Callable[[], None]) -> None:
        """Begin; `on_elected` runs when this replica becomes leader, `on_deposed` when not."""
        ...

    def still_leader(self) -> bool:
        """True while this replica leads (checked before each run)."""
        ...

    def is_gone(self, owner: str) -> bool:
        """True when the replica named `owner` in a claim has certainly stopped running jobs."""
        ...

    def stop(self) -> None:
        """Stop leading or waiting to."""
        ...

    @property
    def state(self) -> str:
        """'leader', 'standby' or 'stopped'."""
        ...


class OneProcess:
    """SQLite (or a test): this process leads from the start."""

    def __init__(self, owner: str | None = None) -> None:
        self._owner = owner or process_name()
        self._state = "leader"
        self._on_deposed: Callable[[], None] | None = None

    @property
    def owner(self) -> str:
        return self._owner

    @property
    def state(self) -> str:
        return self._state

    def start(self, on_elected: Callable[[], None], on_deposed: Callable[[], None]) -> None:
        self._state = "leader"
        self._on_deposed = on_deposed
        on_elected()

    def still_leader(self) -> bool:
        return self._state == "leader"

    def is_gone(self, owner: str) -> bool:
        # One machine: a claim of a process that no longer runs is taken over at once; one of a
        # live process (a command run beside the bot) waits for its lease.
        return owner != self._owner and local_process_gone(owner)

    def stop(self) -> None:
        if self._state == "leader" and self._on_deposed is not None:
            self._on_deposed()
        self._state = "stopped"


class AdvisoryLock:
    """PostgreSQL: the holder of a session advisory lock on a dedicated connection leads."""

    def __init__(self, database_url: str, engine: Engine, *, retry_s: float = RETRY_S) -> None:
        url = make_url(normalise_url(database_url)).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._engine = engine  # the pool, only to look at other sessions
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._connection: Any = None
        self._backend_pid: int | None = None
        self._state = "standby"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_elected: Callable[[], None] = lambda: None
        self._on_deposed: Callable[[], None] = lambda: None
        self._reported_unreachable = False

    @property
    def owner(self) -> str:
        return f"{process_name()}/pg{self._backend_pid or 0}"

    @property
    def state(self) -> str:
        return self._state

    def start(self, on_elected: Callable[[], None], on_deposed: Callable[[], None]) -> None:
        self._on_elected, self._on_deposed = on_elected, on_deposed
        self._thread = threading.Thread(target=self._run, name="csi-leader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._state == "leader":
                if not self.still_leader():
                    self._depose("its database connection was lost")
            elif self._try_lock():
                self._state = "leader"
                try:
                    self._on_elected()
                except Exception:
                    log.exception("the scheduler did not start")
                    self._depose("its scheduler did not start")
            self._stopping.wait(self._retry_s)

    def _connect(self) -> Any:
        import psycopg

        connection = psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=KEEPALIVE_S,
            application_name="csi-bot scheduler leader",
            keepalives=1,
            keepalives_idle=KEEPALIVE_S,
            keepalives_interval=1,
            keepalives_count=3,
            options=f"-c statement_timeout={KEEPALIVE_S * 1000}",
        )
        self._backend_pid = int(connection.info.backend_pid)
        return connection

    def _try_lock(self) -> bool:
        with self._lock:
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = self._connect()
                row = self._connection.execute(
                    "SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)
                ).fetchone()
                self._reported_unreachable = False
                return bool(row and row[0])
            except Exception as exc:
                if not self._reported_unreachable:
                    log.warning("event=leader_wait replica=%s error=%r", process_name(), str(exc))
                    self._reported_unreachable = True
                self._close()
                return False

    def still_leader(self) -> bool:
        if self._state != "leader":
            return False
        with self._lock:
            try:
                row = self._connection.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = %s",
                    (LOCK_KEY,),
                ).fetchone()
                return bool(row and row[0])
            except Exception:
                return False

    def is_gone(self, owner: str) -> bool:
        if owner == self.owner:
            return False
        _, _, backend = owner.rpartition("/pg")
        if not backend.isdigit():
            # Not a leader's claim (a command run beside the bot): its process, or its lease.
            return local_process_gone(owner)
        try:
            with self._engine.connect() as connection:
                alive = connection.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": int(backend)},
                ).scalar()
        except Exception:
            return False
        return not alive

    def _depose(self, why: str) -> None:
        self._state = "standby"
        log.warning("event=leader_lost replica=%s reason=%r", process_name(), why)
        try:
            self._on_deposed()
        finally:
            with self._lock:
                self._close()

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
        self._connection = None

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self._retry_s + KEEPALIVE_S)
        try:
            if self._state == "leader":
                self._on_deposed()
        finally:
            self._state = "stopped"
            with self._lock:
                # Closing the session releases the lock: a standby takes over at once.
                self._close()


def for_database(database_url: str, engine: Engine) -> Leadership:
    """The election that fits the database: an advisory lock on PostgreSQL, else one process."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(database_url, engine)
    return OneProcess()
