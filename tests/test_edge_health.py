"""End to end: /healthz answers within 2 s and work that needs no database keeps answering, even
when the database stops answering."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.botproc import SIGNING_SECRET, BotProcess, bot_env, free_port
from tests.conftest import _drop_postgres_database, _fresh_postgres_database
from tests.fakeslack import FakeSlack, SlackDriver

pytestmark = pytest.mark.e2e

HEALTH_DEADLINE_S = 2.0
SLACK_WINDOW_S = 3.0


class FreezingProxy:
    """A TCP relay to PostgreSQL that can stop passing bytes on, like a server that hangs:
    connections stay open, nothing is refused, nothing is answered."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._frozen = threading.Event()
        self._stop = threading.Event()
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self._server.settimeout(0.1)
        self.port = int(self._server.getsockname()[1])
        self._sockets: list[socket.socket] = [self._server]
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        """From now on, hold every byte in either direction."""
        self._frozen.set()

    def thaw(self) -> None:
        """Pass the held bytes on and carry on relaying."""
        self._frozen.clear()

    def close(self) -> None:
        """Stop relaying and close every connection."""
        self._stop.set()
        self._frozen.clear()
        for sock in self._sockets:
            sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                continue
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65_536):
                while self._frozen.is_set() and not self._stop.is_set():
                    time.sleep(0.02)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                sock.close()


def _timed_get(driver: SlackDriver, path: str) -> tuple[int, float]:
    started = time.monotonic()
    status = driver.get(path).status
    return status, time.monotonic() - started


def _timed_help(driver: SlackDriver) -> tuple[int, str, float]:
    started = time.monotonic()
    reply = driver.slash_command("help")
    return reply.status, reply.body, time.monotonic() - started


@pytest.fixture
def proxied_postgres(postgres_server: str) -> Iterator[tuple[str, FreezingProxy]]:
    """A fresh PostgreSQL database reached through a FreezingProxy: (url, proxy)."""
    name, url = _fresh_postgres_database(postgres_server)
    proxy = FreezingProxy(("127.0.0.1", 5432))
    try:
        yield url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"), proxy
    finally:
        proxy.close()
        _drop_postgres_database(postgres_server, name)


@pytest.mark.postgres
def test_healthz_says_503_within_2_s_and_help_answers_while_postgres_hangs(
    proxied_postgres: tuple[str, FreezingProxy], tmp_path: Path
) -> None:
    url, proxy = proxied_postgres
    assert "127.0.0.1:5432" not in url
    with FakeSlack() as slack:
        env = bot_env(api_url=slack.api_url, database_url=url, port=free_port())
        with BotProcess(env, tmp_path) as bot:
            driver = SlackDriver(
                base_url=bot.url,
                signing_secret=SIGNING_SECRET,
                response_url_base=slack.response_url_base,
            )
            assert _timed_get(driver, "/healthz")[0] == 200
            proxy.freeze()
            try:
                for _ in range(3):  # later checks must not queue behind the hung one
                    status, took = _timed_get(driver, "/healthz")
                    assert status == 503
                    assert took < HEALTH_DEADLINE_S + 0.5, took
                status, body, took = _timed_help(driver)
                assert status == 200 and "/improve" in body
                assert took < SLACK_WINDOW_S, took
            finally:
                proxy.thaw()
            deadline = time.monotonic() + 10
            while _timed_get(driver, "/healthz")[0] != 200:
                assert time.monotonic() < deadline, "healthz did not recover"
                time.sleep(0.2)
            assert "Traceback" not in bot.log()


def test_healthz_and_help_answer_while_another_process_holds_the_sqlite_write_lock(
    tmp_path: Path,
) -> None:
    # A held write lock is how a SQLite database "stops answering" writes: readers and work
    # that needs no database must not wait behind it.
    database = tmp_path / "csi.db"
    with FakeSlack() as slack:
        env = bot_env(api_url=slack.api_url, database_url=f"sqlite:///{database}", port=free_port())
        with BotProcess(env, tmp_path) as bot:
            driver = SlackDriver(base_url=bot.url, signing_secret=SIGNING_SECRET)
            holder = sqlite3.connect(database, isolation_level=None)
            try:
                holder.execute("BEGIN IMMEDIATE")
                status, took = _timed_get(driver, "/healthz")
                assert status == 200 and took < HEALTH_DEADLINE_S, took
                status, body, took = _timed_help(driver)
                assert status == 200 and "/improve" in body and took < SLACK_WINDOW_S
            finally:
                holder.execute("ROLLBACK")
                holder.close()
