"""Shared fixtures: a fresh database on SQLite and on PostgreSQL, and the bot process."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.db import make_engine, session_scope, upgrade
from tests.botproc import SIGNING_SECRET, BotProcess, bot_env, free_port, run_cli
from tests.fakeslack import FakeSlack, SlackDriver

POSTGRES_ADMIN_URL = os.environ.get(
    "CSI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _postgres_available() -> str | None:
    """None when the server answers, else why not."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the PostgreSQL server; skips (fails in CI) when it is down."""
    problem = _postgres_available()
    if problem:
        message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {problem}"
        if IN_CI:
            pytest.fail(message + " (CI=true: the PostgreSQL tests must run)")
        pytest.skip(message)
    return POSTGRES_ADMIN_URL


def _fresh_postgres_database(admin_url: str) -> tuple[str, str]:
    import psycopg

    name = f"csi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    return name, f"{base}/{name}"


def _drop_postgres_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Where a stack's bot keeps its similar-proposal index between runs (on both backends).
KEPT_INDEX = "similar-index.npz"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def _empty_database(request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{folder / 'csi.db'}"
        return
    admin_url = request.getfixturevalue("postgres_server")
    name, url = _fresh_postgres_database(admin_url)
    try:
        yield url
    finally:
        _drop_postgres_database(admin_url, name)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database, once on SQLite and once on PostgreSQL."""
    with _empty_database(request, tmp_path) as url:
        yield url


@dataclass
class Stack:
    """The real bot process, the fake Slack it talks to, and a driver that signs requests."""

    slack: FakeSlack
    driver: SlackDriver
    bot: BotProcess
    env: dict[str, str]
    workdir: Path
    engine: Engine

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a `csi-bot` command against the same database."""
        return run_cli(*args, env=self.env, cwd=self.workdir)


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """`csi-bot serve` against the fake Slack, once per database backend, shared by a module."""
    workdir = tmp_path_factory.mktemp("bot")
    with _empty_database(request, workdir) as url, FakeSlack() as slack:
        env = bot_env(
            api_url=slack.api_url,
            database_url=url,
            port=free_port(),
            CSI_STEERING_MEMBERS="USTEER",
            CSI_SIMILARITY_INDEX=str(workdir / KEPT_INDEX),
        )
        with BotProcess(env, workdir) as bot:
            engine = make_engine(url)
            driver = SlackDriver(
                base_url=bot.url,
                signing_secret=SIGNING_SECRET,
                response_url_base=slack.response_url_base,
            )
            try:
                yield Stack(
                    slack=slack, driver=driver, bot=bot, env=env, workdir=workdir, engine=engine
                )
            finally:
                engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database, for domain tests that need no second backend."""
    engine = make_engine(f"sqlite:///{tmp_path / 'unit.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A unit of work on the migrated database, committed at the end."""
    with session_scope(engine) as session:
        yield session
