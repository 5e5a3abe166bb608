"""`POST /api/measurements` through the running bot, on SQLite and PostgreSQL: the token, bad
bodies refused with nothing stored, an over-large body, duplicates counted."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from storage.db import make_engine
from tests.botproc import BotProcess, bot_env, free_port, send_oversized
from tests.conftest import BACKENDS, _empty_database
from tests.fakeslack import FakeSlack

TOKEN = "ingest-test-token-5f1c"
PATH = "/api/measurements"


class Ingest:
    def __init__(self, bot: BotProcess, engine: Engine) -> None:
        self.bot = bot
        self.engine = engine
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def post(
        self, body: bytes | dict[str, Any], *, token: str | None = TOKEN, scheme: str = "Bearer"
    ) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"{scheme} {token}"
        request = urllib.request.Request(
            self.bot.url + PATH, data=data, headers=headers, method="POST"
        )
        try:
            with self._opener.open(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                return error.code, json.loads(raw)
            except ValueError:
                # The HTTP server itself refuses an over-large body, in plain text.
                return error.code, {"text": raw.decode(errors="replace")}

    def stored(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM measurements")).scalar_one())


@pytest.fixture(scope="module", params=BACKENDS)
def ingest(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ingest]:
    workdir = tmp_path_factory.mktemp("ingest")
    with _empty_database(request, workdir) as url, FakeSlack() as slack:
        env = bot_env(
            api_url=slack.api_url, database_url=url, port=free_port(), CSI_INGEST_TOKEN=TOKEN
        )
        with BotProcess(env, workdir) as bot:
            engine = make_engine(url)
            try:
                yield Ingest(bot, engine)
            finally:
                engine.dispose()


def _item(hour: int, value: Any = 99.9, **changes: Any) -> dict[str, Any]:
    item = {
        "service": "Email",
        "metric": "availability",
        "timestamp": f"2026-11-16T{hour:02d}:00:00Z",
        "value": value,
    }
    item.update(changes)
    return {k: v for k, v in item.items() if v is not None}


def test_without_or_with_a_wrong_token_is_401_and_stores_nothing(ingest: Ingest) -> None:
    body = {"measurements": [_item(0)]}
    for token, scheme in (
        (None, "Bearer"),
        ("wrong", "Bearer"),
        (TOKEN[:-1], "Bearer"),
        (TOKEN, "Basic"),
    ):
        status, answer = ingest.post(body, token=token, scheme=scheme)
        assert status == 401
        assert "Bearer" in answer["error"]
    assert ingest.stored() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"measurements": [', "not valid JSON"),
        (b'[{"service": "Email"}]', '{"measurements": [...]}'),
        (
            json.dumps({"measurements": [_item(1), _item(2, value=None)]}).encode(),
            "measurements[1]: the value is missing",
        ),
        (
            json.dumps(
                {"measurements": [_item(1), _item(2, timestamp="2026-11-16T02:00")]}
            ).encode(),
            "measurements[1]: the timestamp '2026-11-16T02:00' has no time zone",
        ),
        (
            b'{"measurements": [{"service": "Email", "metric": "a", '
            b'"timestamp": "2026-11-16T00:00:00Z", "value": NaN}]}',
            "finite number",
        ),
        (
            b'{"measurements": [{"service": "Email", "metric": "a", '
            b'"timestamp": "2026-11-16T00:00:00Z", "value": 1e999}]}',
            "finite number",
        ),
        (json.dumps({"measurements": [_item(1, value="99.9x")]}).encode(), "not a number"),
    ],
)
def test_a_bad_body_is_400_with_a_clear_message_and_nothing_stored(
    ingest: Ingest, body: bytes, message: str
) -> None:
    before = ingest.stored()

    status, answer = ingest.post(body)

    assert status == 400
    assert message in answer["error"]
    assert ingest.stored() == before


def test_an_over_large_body_is_413(ingest: Ingest) -> None:
    # The server answers 413 while the body is still being sent: read its answer the way a
    # client that reads early does (urllib would see only the closed pipe).
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    status_line = send_oversized(ingest.bot.url, PATH, headers, chunked=False)

    assert status_line.startswith("HTTP/1.1 413"), status_line
    assert ingest.stored() == 0


def test_measurements_are_stored_once_and_counted(ingest: Ingest) -> None:
    batch = {"measurements": [_item(10), _item(11, service=" email "), _item(11)]}

    status, answer = ingest.post(batch)
    again_status, again = ingest.post(batch)

    assert (status, answer) == (200, {"received": 3, "stored": 2, "duplicates": 1})
    assert (again_status, again) == (200, {"received": 3, "stored": 0, "duplicates": 3})
    with ingest.engine.connect() as connection:
        services = connection.execute(text("SELECT name FROM services")).scalars().all()
    assert services == ["Email"]


def test_the_endpoint_is_off_without_a_token(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        env = bot_env(
            api_url=slack.api_url,
            database_url=f"sqlite:///{tmp_path / 'csi.db'}",
            port=free_port(),
        )
        with BotProcess(env, tmp_path) as bot:
            engine = make_engine(env["DATABASE_URL"])
            try:
                status, _ = Ingest(bot, engine).post({"measurements": [_item(0)]})
            finally:
                engine.dispose()
    assert status == 404
