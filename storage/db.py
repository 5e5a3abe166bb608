"""The engine, sessions and migrations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlmodel import Session, create_engine

from storage.write_gate import GatedConnection, gate_for

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"

# Slack waits 3 s for an answer. On the server's request path every database wait (a lock, a
# connection, a statement) gives up before that, so the person gets a clear answer instead of
# Slack's "did not respond". Bulk work (migrations, the CLI's import) keeps the longer defaults.
REQUEST_LOCK_WAIT_MS = 2000
REQUEST_STATEMENT_MS = 2500
REQUEST_CONNECT_S = 2
REQUEST_POOL_WAIT_S = 2
# The server's threads that use the database at once: waitress's 8 request threads, the 4 that
# work after the acks, and the background ones (Home tabs, steering group, schedule, health,
# card redraws, outbox). The pool keeps that many open, so that under load no connection is
# opened and closed per request: SQLAlchemy's default keeps 5 and closes every one beyond,
# and a new connection costs a PostgreSQL server process (and its caches), or on SQLite a new
# page cache and schema parse.
REQUEST_POOL_SIZE = 20
REQUEST_POOL_OVERFLOW = 10
BULK_LOCK_WAIT_MS = 5000
BULK_CONNECT_S = 10


class DatabaseUnusable(Exception):
    """DATABASE_URL cannot be used (unknown kind, missing driver, unreachable); the message says
    what to fix in one line."""


def _sqlite_pragmas(busy_timeout_ms: int, database: str | None) -> Any:
    gate = gate_for(database)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The writers of this process queue for the file in order of arrival
        # (storage/write_gate.py), within the same bound as the busy timeout.
        dbapi_connection.csi_gate = gate
        dbapi_connection.csi_lock_wait_ms = int(busy_timeout_ms)
        # WAL lets readers work while a writer commits; busy_timeout makes a second writer wait
        # (a bounded time) instead of failing at once with "database is locked".
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return on_connect


def normalise_url(url: str) -> str:
    """Accept the usual `postgres://` and `postgresql://` spellings and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, *, for_requests: bool = False) -> Engine:
    """An engine for `url`, with SQLite tuned for a threaded server.

    `for_requests=True` bounds every wait below Slack's 3-second window (lock, statement,
    connect, pool); without it (migrations, CLI bulk work) waits are longer. Raises
    DatabaseUnusable for a URL no installed driver understands.
    """
    url = normalise_url(url)
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            busy_ms = REQUEST_LOCK_WAIT_MS if for_requests else BULK_LOCK_WAIT_MS
            engine = create_engine(
                url,
                connect_args={
                    "check_same_thread": False,
                    "timeout": busy_ms / 1000,
                    "factory": GatedConnection,
                },
                **_pool_args(for_requests),
            )
            event.listen(engine, "connect", _sqlite_pragmas(busy_ms, parsed.database))
            return engine
        connect_args: dict[str, Any] = {}
        if backend == "postgresql":
            connect_args = _postgres_connect_args(parsed.query, for_requests=for_requests)
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args=connect_args,
            **_pool_args(for_requests),
        )
    except (ArgumentError, ImportError) as exc:
        reason = f"its driver is not installed: {exc}" if isinstance(exc, ImportError) else exc
        raise DatabaseUnusable(
            f"DATABASE_URL={_safe(url)} is not a database csi-bot can use ({reason}). Use "
            "sqlite:///path/to/csi.db or postgresql://user:password@host:5432/database."
        ) from exc


def driver_connect_args(engine: Engine) -> tuple[list[Any], dict[str, Any]]:
    """How the driver of an engine made by `make_engine` (bulk timeouts) connects, as plain
    values, for a process that connects with the driver alone (bot/reading_process.py)."""
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    if engine.url.get_backend_name() == "postgresql":
        kwargs = {**kwargs, **_postgres_connect_args(engine.url.query, for_requests=False)}
    plain = (str, int, float, bool, type(None))
    return list(args), {k: v for k, v in kwargs.items() if isinstance(v, plain)}


def _pool_args(for_requests: bool) -> dict[str, Any]:
    if not for_requests:
        return {"pool_timeout": 30}
    return {
        "pool_timeout": REQUEST_POOL_WAIT_S,
        "pool_size": REQUEST_POOL_SIZE,
        "max_overflow": REQUEST_POOL_OVERFLOW,
    }


def _postgres_connect_args(query: Mapping[str, Any], *, for_requests: bool) -> dict[str, Any]:
    # What the URL sets itself wins: an operator may know better for their network.
    args: dict[str, Any] = {}
    if "connect_timeout" not in query:
        args["connect_timeout"] = REQUEST_CONNECT_S if for_requests else BULK_CONNECT_S
    if for_requests and "options" not in query:
        args["options"] = (
            f"-c statement_timeout={REQUEST_STATEMENT_MS} -c lock_timeout={REQUEST_LOCK_WAIT_MS}"
        )
    return args


def _safe(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url[:60])


def check_reachable(engine: Engine) -> None:
    """Open one connection; raise DatabaseUnusable with a one-line reason when that fails."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseUnusable(_unreachable_message(engine, exc)) from exc


def _unreachable_message(engine: Engine, exc: SQLAlchemyError) -> str:
    url = engine.url
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database:
        folder = Path(url.database).resolve().parent
        if not folder.is_dir():
            return (
                f"DATABASE_URL={shown}: the folder {folder} does not exist. Create it, or "
                "point DATABASE_URL at a file in an existing folder."
            )
    original = getattr(exc, "orig", None) or exc
    # The driver's message can span lines (hints, a link); keep one line of it.
    reason = " ".join(str(original).split())
    reason = reason.removeprefix("connection failed: ")
    return (
        f"Cannot use the database at {shown}: {reason}. Check DATABASE_URL and that the "
        "database server is running and the database exists."
    )


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success and rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


T = TypeVar("T")

# The database did not answer (a lock, the connection, the pool), rather than refused one write.
UNAVAILABLE = (OperationalError, InterfaceError, SQLAlchemyTimeoutError)
# Units of work committed together at most; more wait for the next commit.
MAX_SHARED = 32


@dataclass
class _Queued(Generic[T]):
    work: Callable[[Session], T]
    # Set once: when the work is committed (or failed), or when it is this request's turn to
    # commit for the others.
    woken: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    settled: bool = False  # committed, or failed with `error`
    result: T | None = None
    error: BaseException | None = None

    def settle(self, result: T | None = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.settled = result, error, True


class _Disturbed(Exception):
    """A unit of work rolled the shared transaction back (or left it unusable)."""


class CommitGroup:
    """Units of work of many requests committed together: one transaction and one commit for
    those that arrive while another commit is under way.

    `run(work)` returns once `work(session)` is committed, with what it returned, or raises
    what it raised. The first caller to find no commit under way takes everything queued, runs
    each in turn in one session and commits once; the others wait, and the first of those that
    came in meanwhile commits the next group. Nothing waits for a group to fill. On SQLite the
    file's write lock (and its flush to disk) then serves a group instead of one request.

    A group whose work or commit fails is rolled back and each of its units of work runs again
    alone, in a transaction of its own: a bad write fails only its own request. A database that
    does not answer (a lock wait, the connection) fails the whole group at once instead, and the
    units queued meanwhile with it: trying each again would keep the last past Slack's 3 s.
    Work must be safe to run again after a rollback (it is: nothing it wrote was committed).
    """

    def __init__(self, sessions: Callable[[], AbstractContextManager[Session]]) -> None:
        self._sessions = sessions
        self._queue: list[_Queued[Any]] = []
        self._committing = False
        self._lock = threading.Lock()

    def run(self, work: Callable[[Session], T]) -> T:
        """`work(session)`, committed; its result (or its error)."""
        mine: _Queued[T] = _Queued(work)
        with self._lock:
            self._queue.append(mine)
            waits, self._committing = self._committing, True
        if waits:
            mine.woken.wait()
        if not mine.done:  # this request commits now: for itself and those queued behind it
            try:
                while not mine.done:
                    with self._lock:
                        group = self._queue[:MAX_SHARED]
                        del self._queue[:MAX_SHARED]
                    self._commit(group)
            finally:
                with self._lock:
                    if self._queue:
                        self._queue[0].woken.set()  # the first one waiting commits next
                    else:
                        self._committing = False
        if mine.error is not None:
            raise mine.error
        return cast(T, mine.result)

    def _commit(self, group: list[_Queued[Any]]) -> None:
        try:
            if len(group) == 1:
                self._alone(group[0])
                if isinstance(group[0].error, UNAVAILABLE):
                    self._fail_waiting(group[0].error)
                return
            try:
                results = self._together([queued.work for queued in group])
            except UNAVAILABLE as error:
                for queued in group:
                    queued.settle(error=error)
                self._fail_waiting(error)
            except Exception:
                for queued in group:
                    self._alone(queued)
            else:
                for queued, result in zip(group, results, strict=True):
                    queued.settle(result)
        finally:
            for queued in group:
                if not queued.settled:  # interrupted before its commit was known
                    queued.settle(error=RuntimeError("the unit of work was not committed"))
                queued.done = True
                queued.woken.set()

    def _fail_waiting(self, error: BaseException) -> None:
        """Fail, with `error`, every unit of work that queued while the database did not answer:
        it has waited that long already, and another full wait would take it past Slack's 3 s."""
        with self._lock:
            waiting, self._queue = self._queue, []
        for queued in waiting:
            queued.settle(error=error)
            queued.done = True
            queued.woken.set()

    def _together(self, works: list[Callable[[Session], Any]]) -> list[Any]:
        with self._sessions() as session:
            transaction = session.begin()
            results = []
            for work in works:
                results.append(work(session))
                # A unit of work that rolled back (a copy of its request won a race) took the
                # others' writes with it: the group is tried again one by one.
                if session.get_transaction() is not transaction or not transaction.is_active:
                    raise _Disturbed
            return results

    def _alone(self, queued: _Queued[Any]) -> None:
        try:
            with self._sessions() as session:
                result = queued.work(session)
        except Exception as error:
            queued.settle(error=error)
        else:
            queued.settle(result)


class OwnTransactions:
    """Each unit of work in a transaction of its own, at once: for a database server.

    PostgreSQL lets many transactions write at once and flushes the commits that meet into one
    write of its log by itself. Queued in a CommitGroup there, every request waited for the
    statements of all the units before it, one round trip after another: under 50 people the
    requests spent half their time in that queue while the bot's processor sat idle.
    """

    def __init__(self, sessions: Callable[[], AbstractContextManager[Session]]) -> None:
        self._sessions = sessions

    def run(self, work: Callable[[Session], T]) -> T:
        """`work(session)`, committed; its result (or its error)."""
        with self._sessions() as session:
            return work(session)


_groups: dict[int, tuple[Engine, CommitGroup | OwnTransactions]] = {}
_groups_lock = threading.Lock()


def commit_group(
    engine: Engine, sessions: Callable[[], AbstractContextManager[Session]]
) -> CommitGroup | OwnTransactions:
    """How the requests' units of work on `engine` are committed (one per process and
    database): together on SQLite (`CommitGroup`), each on its own on a server; `sessions`
    opens them (the first caller's is kept)."""
    with _groups_lock:
        found = _groups.get(id(engine))
        if found is None or found[0] is not engine:
            sqlite = engine.dialect.name == "sqlite"
            way = CommitGroup(sessions) if sqlite else OwnTransactions(sessions)
            found = _groups[id(engine)] = (engine, way)
        return found[1]


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that migrates `engine`."""
    # Here, not at the top: a process that never migrates (the register's first reading)
    # does not load Alembic and its templates (8 MB).
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied."""
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


def ping(engine: Engine) -> bool:
    """True when the database answers a trivial query."""
    # SQLite's `SELECT 1` never touches the file; reading the schema does, so a database file
    # locked by another process or gone from under us shows up here.
    query = "SELECT count(*) FROM sqlite_master" if engine.dialect.name == "sqlite" else "SELECT 1"
    try:
        with engine.connect() as connection:
            connection.execute(text(query))
    except Exception:
        return False
    return True
