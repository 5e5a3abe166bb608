"""The engine, sessions and migrations."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import Session, create_engine

from storage.write_gate import GatedConnection, gate_for

MIGRATIONS = Path(__file__).parent / "migrations"

# Slack waits 3 s for an answer. On the server's request path every database wait (a lock, a
# connection, a statement) gives up before that, so the person gets a clear answer instead of
# Slack's "did not respond". Bulk work (migrations, the CLI's import) keeps the longer defaults.
REQUEST_LOCK_WAIT_MS = 2000
REQUEST_STATEMENT_MS = 2500
REQUEST_CONNECT_S = 2
REQUEST_POOL_WAIT_S = 2
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
                pool_timeout=REQUEST_POOL_WAIT_S if for_requests else 30,
            )
            event.listen(engine, "connect", _sqlite_pragmas(busy_ms, parsed.database))
            return engine
        connect_args: dict[str, Any] = {}
        if backend == "postgresql":
            connect_args = _postgres_connect_args(parsed.query, for_requests=for_requests)
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_timeout=REQUEST_POOL_WAIT_S if for_requests else 30,
            connect_args=connect_args,
        )
    except (ArgumentError, ImportError) as exc:
        reason = f"its driver is not installed: {exc}" if isinstance(exc, ImportError) else exc
        raise DatabaseUnusable(
            f"DATABASE_URL={_safe(url)} is not a database csi-bot can use ({reason}). Use "
            "sqlite:///path/to/csi.db or postgresql://user:password@host:5432/database."
        ) from exc


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


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that migrates `engine`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied."""
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
