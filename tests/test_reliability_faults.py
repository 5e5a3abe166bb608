"""Faults while people use the bot: the database going away and coming back, the bot killed
with SIGKILL in the middle of a burst, Slack answering 429 and 5xx at random.

What is checked each time: everything the bot acknowledged is in the database, once; nothing
half-written is left behind; nobody's vote counts twice; /healthz says 503 while the database
is away and 200 once it is back. (A single 429 per call during a burst of forms, and a locked
database, are in tests/test_e2e_faults.py.)

The PostgreSQL outage is made by a TCP proxy between the bot and the server, cut (every
connection dropped, new ones refused, as while the server restarts) and restored: the server is
shared with other work and is not restarted here. The full run restarts the real server:

    CSI_RELIABILITY=full CSI_RESTART_POSTGRES="pg_ctlcluster --skip-systemctl-redirect \
        $(ls /etc/postgresql) main restart" pytest -m reliability -n 0

Short by default (about a minute); CSI_RELIABILITY=full makes the bursts larger.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.outbox import CLAIM_FOR
from storage.db import make_engine
from storage.types import utcnow
from tests.botproc import SIGNING_SECRET, BotProcess, bot_env, free_port
from tests.conftest import Stack, _drop_postgres_database, _fresh_postgres_database
from tests.fakeslack import Call, FakeSlack, SlackDriver
from tests.test_e2e_faults import Submission, _open_forms, _submit
from tests.test_edge_health import FreezingProxy

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]

FULL = os.environ.get("CSI_RELIABILITY") == "full"
FORMS = 40 if FULL else 8
OBJECTIVE = "Survive faults"
RECOVERY_S = 10.0  # the bot answers again within this long after the database is back


class CuttableProxy(FreezingProxy):
    """A TCP relay to PostgreSQL that can be cut like a restarting server: every connection is
    dropped and new ones are refused until it is restored."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._down = threading.Event()
        super().__init__(upstream)

    def cut(self) -> None:
        self._down.set()
        for sock in self._sockets[1:]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        del self._sockets[1:]

    def restore(self) -> None:
        self._down.clear()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        # When one side ends (a killed bot), the other sees it end at once: closing a socket
        # another thread reads from sends nothing, so shut it down first. The server would
        # otherwise keep the dead bot's session, and its scheduler lock.
        try:
            while data := source.recv(65_536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                continue
            if self._down.is_set():
                client.close()  # the server is not there
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def _unexpected_tracebacks(log: str) -> list[str]:
    """The log records with a traceback, other than work after the ack that failed while the
    database was away (the index refresher saying it retries; a card or message whose sending
    failed, which the card outbox posts later): those are worth a traceback in the log."""
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", log)
    expected = ("retrying", "background work")
    return [
        record[:300]
        for record in records
        if "Traceback" in record
        and not any(word in record.partition("Traceback")[0] for word in expected)
    ]


def _health(driver: SlackDriver) -> int:
    try:
        return driver.get("/healthz").status
    except OSError:
        return 0


def _own_stack(url: str, workdir: Path, slack: FakeSlack, **extra: str) -> Stack:
    env = bot_env(
        api_url=slack.api_url,
        database_url=url,
        port=free_port(),
        CSI_STEERING_MEMBERS="USTEER",
        **extra,
    )
    bot = BotProcess(env, workdir)
    driver = SlackDriver(
        base_url=bot.url, signing_secret=SIGNING_SECRET, response_url_base=slack.response_url_base
    )
    return Stack(
        slack=slack, driver=driver, bot=bot, env=env, workdir=workdir, engine=make_engine(url)
    )


def _objective(stack: Stack) -> int:
    done = stack.cli("objective", "add", OBJECTIVE)
    assert done.returncode == 0, done.stderr
    return _count(stack.engine, f"SELECT id FROM objectives WHERE title = '{OBJECTIVE}'")


def _stored(stack: Stack, form: Submission) -> int:
    return _count(
        stack.engine,
        f"SELECT count(*) FROM proposals WHERE submitter = '{form.user}' AND title = "
        f"'{form.title}'",
    )


def _titles(prefix: str, count: int) -> list[str]:
    """Titles that share no word, so that no form is held next to a similar proposal."""
    rng = random.Random(prefix)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]

    def word() -> str:
        return "".join(rng.choice(syllables) for _ in range(3))

    return [f"{word().capitalize()} {word()} {word()} {word()}" for _ in range(count)]


def _submit_once(stack: Stack, form: Submission, objective_id: int) -> None:
    """Submit the form; a connection the bot dropped (it was killed) leaves no reply."""
    try:
        _submit(stack, form, objective_id)
    except OSError:
        form.reply = None


def _send_all(stack: Stack, forms: list[Submission], objective_id: int, spread: float) -> None:
    threads = []
    for form in forms:
        thread = threading.Thread(target=_submit_once, args=(stack, form, objective_id))
        threads.append(thread)
        thread.start()
        time.sleep(spread)
    for thread in threads:
        thread.join(timeout=60)


def _acknowledged(form: Submission) -> bool:
    """Whether the form closed: the person was told their proposal is saved."""
    return form.reply is not None and form.reply.status == 200 and form.refused is None


def _acknowledged_are_stored_once(stack: Stack, forms: list[Submission]) -> list[Submission]:
    """Every closed form's proposal is stored once, every refused one not at all; the refused."""
    refused = []
    for form in forms:
        assert form.reply is not None and form.reply.status < 500, (form.user, form.reply)
        if _acknowledged(form):
            assert _stored(stack, form) == 1, (form.user, "acknowledged but not stored once")
        else:
            assert _stored(stack, form) == 0, (form.user, form.reply.body)
            refused.append(form)
    return refused


# ---- the database goes away and comes back -------------------------------------------------
@pytest.fixture
def postgres_behind_proxy(postgres_server: str) -> Iterator[tuple[str, CuttableProxy]]:
    name, url = _fresh_postgres_database(postgres_server)
    proxy = CuttableProxy(("127.0.0.1", 5432))
    try:
        yield url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"), proxy
    finally:
        proxy.close()
        _drop_postgres_database(postgres_server, name)


def _outage(proxy: CuttableProxy, seconds: float) -> None:
    """Cut the database away for `seconds` (or restart the real server in the full run)."""
    command = os.environ.get("CSI_RESTART_POSTGRES")
    if FULL and command:
        subprocess.run(command, shell=True, check=True, timeout=120)
        return
    proxy.cut()
    time.sleep(seconds)
    proxy.restore()


@pytest.mark.postgres
def test_postgres_going_away_mid_burst_loses_nothing_acknowledged(
    postgres_behind_proxy: tuple[str, CuttableProxy], tmp_path: Path
) -> None:
    url, proxy = postgres_behind_proxy
    with FakeSlack() as slack:
        stack = _own_stack(url, tmp_path, slack)
        with stack.bot:
            objective_id = _objective(stack)
            forms = _open_forms(stack, "PG", _titles("PG", FORMS))
            sender = threading.Thread(target=_send_all, args=(stack, forms, objective_id, 0.4))
            sender.start()
            time.sleep(0.4 * FORMS / 3)  # a third of the forms are in
            health: list[int] = []
            outage = threading.Thread(target=_outage, args=(proxy, 4.0))
            outage.start()
            time.sleep(1.0)
            started = time.monotonic()
            health.append(_health(stack.driver))
            took = time.monotonic() - started
            outage.join()
            back = time.monotonic()
            while _health(stack.driver) != 200:
                assert time.monotonic() - back < RECOVERY_S, "the bot did not answer again"
                time.sleep(0.2)
            recovered = time.monotonic() - back
            sender.join()
            assert health == [503] and took < 2.5, (health, took)
            refused = _acknowledged_are_stored_once(stack, forms)
            # Those told the form could not be saved submit it again: stored once now.
            for form in refused:
                _submit(stack, form, objective_id)
            assert _acknowledged_are_stored_once(stack, refused) == []
            assert _unexpected_tracebacks(stack.bot.log()) == []
        stack.engine.dispose()
    print(f"recovered {recovered:.1f} s after the database came back; {len(refused)} refused")


# ---- SIGKILL in the middle of a burst --------------------------------------------------------
def _cards_to_vote_on(stack: Stack, objective_id: int, count: int) -> list[str]:
    """Open proposals whose cards are in the proposals channel: their message ts."""
    stamps = [f"{time.time():.0f}.{n + 1:06d}" for n in range(count)]
    with stack.engine.begin() as connection:
        for n, ts in enumerate(stamps):
            connection.execute(
                text(
                    "INSERT INTO proposals (title, description, outcome, submitter, status, "
                    "objective_id, channel_id, message_ts, created_at, updated_at) VALUES "
                    "(:title, '', '', 'UKCARD', 'open', :objective, 'C0PROPOSALS', :ts, "
                    ":now, :now)"
                ),
                {
                    "title": f"Card {n} of the drill",
                    "objective": objective_id,
                    "ts": ts,
                    "now": utcnow().replace(tzinfo=None),
                },
            )
    for ts in stamps:
        stack.slack.add_message("C0PROPOSALS", ts, text="card", user="UBOT")
    return stamps


def _react(stack: Stack, user: str, ts: str, event_id: str, retry: int | None = None) -> int:
    try:
        return stack.driver.reaction_added(
            user, "+1", "C0PROPOSALS", ts, event_id=event_id, retry_num=retry
        ).status
    except OSError:
        return 0


def _delivered(stack: Stack, user: str, ts: str, event_id: str, first: int = 0) -> int:
    """Send the event as Slack does: again (as a retry) while it is not answered 200."""
    status = 0
    for attempt in range(first, first + 4):
        status = _react(stack, user, ts, event_id, retry=attempt or None)
        if status == 200:
            break
        time.sleep(1.0)
    return status


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_sigkill_during_a_burst_leaves_nothing_half_written_and_no_double_vote(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url, cleanup = f"sqlite:///{tmp_path / 'csi.db'}", None
    else:
        admin = request.getfixturevalue("postgres_server")
        name, url = _fresh_postgres_database(admin)
        cleanup = (admin, name)
    try:
        with FakeSlack() as slack:
            stack = _own_stack(url, tmp_path, slack)
            stack.bot.start()
            objective_id = _objective(stack)
            card_ids = _cards_to_vote_on(stack, objective_id, 3)
            # Votes and forms at once; the bot is killed part way through.
            voters = [(f"UKV{n:04d}", card_ids[n % 3], f"EvKill{n:05d}") for n in range(FORMS * 5)]
            forms = _open_forms(stack, "KL", _titles("KL", FORMS))
            answers: dict[str, int] = {}

            def vote_all() -> None:
                for user, ts, event_id in voters:
                    answers[event_id] = _react(stack, user, ts, event_id)

            threads = [
                threading.Thread(target=vote_all),
                threading.Thread(target=_send_all, args=(stack, forms, objective_id, 0.05)),
            ]
            for thread in threads:
                thread.start()
            time.sleep(1.0)
            process = stack.bot._process
            assert process is not None
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            for thread in threads:
                thread.join(timeout=60)
            # Started again on the same database, as a supervisor would.
            stack.bot.start()
            try:
                # No half-written proposal: each one has its history from the moment it exists.
                orphans = _count(
                    stack.engine,
                    "SELECT count(*) FROM proposals p WHERE NOT EXISTS "
                    "(SELECT 1 FROM audit_entries a WHERE a.proposal_id = p.id)",
                )
                assert orphans == 0
                for form in forms:
                    # Acknowledged: stored once. Cut off by the kill: stored once or not at all.
                    assert (
                        _stored(stack, form) == 1
                        if _acknowledged(form)
                        else _stored(stack, form) in (0, 1)
                    )
                # Slack retries every event it got no 200 for; each vote counts once.
                for user, ts, event_id in voters:
                    if answers.get(event_id) != 200:
                        assert _delivered(stack, user, ts, event_id) == 200
                for user, ts, event_id in voters[:20]:  # and a retry of an acknowledged one
                    assert _delivered(stack, user, ts, event_id) == 200
                votes = _count(stack.engine, "SELECT count(*) FROM votes")
                assert votes == len(voters)
                doubled = _count(
                    stack.engine,
                    "SELECT count(*) FROM (SELECT proposal_id, user_id FROM votes "
                    "GROUP BY proposal_id, user_id HAVING count(*) > 1) AS twice",
                )
                assert doubled == 0
                assert "Traceback" not in stack.bot.log()
            finally:
                stack.bot.stop()
                stack.engine.dispose()
    finally:
        if cleanup:
            _drop_postgres_database(*cleanup)


# ---- Slack answering 429 and 5xx at random ----------------------------------------------------
@pytest.mark.timeout(CLAIM_FOR.total_seconds() + 300)
def test_slack_failing_at_random_drops_and_doubles_nothing(stack: Stack) -> None:
    objective_id = _objective(stack)
    forms = _open_forms(stack, "SR", _titles("SR", FORMS))
    rng = random.Random(13)
    decided: dict[int, bool] = {}

    def unlucky(call: Call) -> bool:
        """Three calls in ten fail (one coin per call, whatever failures are queued)."""
        return decided.setdefault(id(call), rng.random() < 0.3)

    failures = 0
    for method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.getPermalink"):
        for _ in range(FORMS * 2):
            status = rng.choice([429, 500, 502, 503])
            stack.slack.fail_next(
                method,
                error="ratelimited" if status == 429 else "internal_error",
                status=status,
                retry_after=1 if status == 429 else None,
                when=unlucky,
            )
            failures += 1
    _send_all(stack, forms, objective_id, 0.05)
    refused = _acknowledged_are_stored_once(stack, forms)
    for form in refused:  # told "nothing was changed" (the database was busy): sent again
        _submit(stack, form, objective_id)
    assert _acknowledged_are_stored_once(stack, refused) == []
    # What Slack refused for good is posted by the outbox (its scheduled run, or this command,
    # run until Slack lets every card through).
    # A post that Slack answered with a 5xx may or may not have gone through: the outbox keeps
    # its claim until CLAIM_FOR has passed, then looks in the channel before posting again. The
    # full run waits for that; the short one accepts such a card as pending, not dropped.
    deadline = time.monotonic() + (CLAIM_FOR.total_seconds() + 60 if FULL else 20)
    pending: list[int] = []
    while True:
        done = stack.cli("cards", "post")
        assert done.returncode in (0, 1), done.stdout + done.stderr
        with stack.engine.connect() as connection:
            without = connection.execute(
                text(
                    "SELECT id, card_claimed_until FROM proposals "
                    "WHERE message_ts IS NULL AND submitter LIKE 'U0SR%'"
                )
            ).all()
        pending = [pid for pid, claimed in without if claimed is not None]
        if len(pending) == len(without) and (not FULL or not pending):
            break
        assert time.monotonic() < deadline, (done.stdout + done.stderr, without)
        time.sleep(2.0)
    with stack.engine.connect() as connection:
        cards = list(
            connection.execute(
                text(
                    "SELECT message_ts FROM proposals WHERE message_ts IS NOT NULL "
                    "AND submitter LIKE 'U0SR%'"
                )
            ).scalars()
        )
    # Votes, while Slack still fails now and then (the cards' counts are redrawn after each).
    voters = [(f"USRV{n:04d}", cards[n % len(cards)], f"EvSR{n:05d}") for n in range(4 * FORMS)]
    for user, ts, event_id in voters:
        assert _delivered(stack, user, ts, event_id) == 200
        assert _delivered(stack, user, ts, event_id, first=1) == 200  # a retry: counted once
    with stack.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, message_ts FROM proposals WHERE submitter LIKE 'U0SR%'")
        ).all()
    posted: dict[int, int] = {}
    for call in stack.slack.calls("chat.postMessage"):
        meta = (call.params.get("metadata") or {}).get("event_payload", {})
        if call.response.get("ok") and meta.get("proposal_id") is not None:
            posted[int(meta["proposal_id"])] = posted.get(int(meta["proposal_id"]), 0) + 1
    assert len(rows) == FORMS
    for proposal_id, message_ts in rows:
        if proposal_id in pending:
            assert posted.get(proposal_id, 0) <= 1 and message_ts is None
            continue
        assert message_ts is not None, f"#{proposal_id} has no card"
        assert posted.get(proposal_id) == 1, (proposal_id, posted.get(proposal_id))
    votes = _count(stack.engine, "SELECT count(*) FROM votes WHERE user_id LIKE 'USRV%'")
    assert votes == len(voters)
    assert "Traceback" not in stack.bot.log()
