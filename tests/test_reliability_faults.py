"""Faults while people use the bot: the database going away and coming back, the bot killed
with SIGKILL in the middle of a burst, Slack answering 429 and 5xx at random.

What is checked each time: everything the bot acknowledged is in the database, once; nothing
half-written is left behind; nobody's vote counts twice; /healthz says 503 while the database
is away and 200 once it is back. (A single 429 per call during a burst of forms, and a locked
database, are in tests/test_e2e_faults.py.)

The PostgreSQL outage is made by a TCP proxy between the bot and the server, cut (every
connection dropped, new ones refused, as while the server restarts) and restored: the server is
shared with other work and is not restarted here. The full run can restart the real server
instead (the bot then talks to it directly):

    CSI_RELIABILITY=full CSI_RESTART_POSTGRES="pg_ctlcluster --skip-systemctl-redirect \
        $(ls /etc/postgresql) main restart" pytest -m reliability -n 0 -s

With -s it prints what it measured: how long the server refused connections, how long /healthz
said 503, how soon after the server was back a form was saved and a vote counted. The full run
also waits for every author of a saved form to be told so, once.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.confirmations import SETTLE as CONFIRMATION_SETTLE
from bot.outbox import CLAIM_FOR
from scheduler.leader import RETRY_S
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
# The full run may restart the real server instead of cutting the proxy (see the docstring).
RESTART = os.environ.get("CSI_RESTART_POSTGRES") if FULL else None
# What the person sees is told once: the card outbox runs every minute and leaves a fresh
# confirmation to the work after the ack for a while first.
TOLD_WITHIN_S = 60 + CONFIRMATION_SETTLE.total_seconds() + 30


@pytest.fixture
def postgres_behind_proxy(postgres_server: str) -> Iterator[tuple[str, CuttableProxy]]:
    name, url = _fresh_postgres_database(postgres_server)
    proxy = CuttableProxy(("127.0.0.1", 5432))
    try:
        # A real restart drops the bot's connections itself: no proxy on the way.
        yield (url if RESTART else url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")), proxy
    finally:
        proxy.close()
        _drop_postgres_database(postgres_server, name)


def _outage(proxy: CuttableProxy, seconds: float) -> None:
    """Cut the database away for `seconds`, or restart the real server (CSI_RESTART_POSTGRES):
    the command returns once the server accepts connections again."""
    if RESTART:
        subprocess.run(RESTART, shell=True, check=True, timeout=120)
        return
    proxy.cut()
    time.sleep(seconds)
    proxy.restore()


BURST_S = 10.0  # forms and votes keep coming this long; the database goes away 2 s in


@dataclass
class Watch:
    """Something asked every 0.1 s from another thread: (when, ok, detail, seconds to answer)."""

    ask: Callable[[], tuple[bool, str]]
    samples: list[tuple[float, bool, str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Watch:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            ok, detail = self.ask()
            self.samples.append((started, ok, detail, time.monotonic() - started))
            self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()

    def first(self, after: float, ok: bool, detail: str | None = None) -> float | None:
        """When the first answer asked after `after` was `ok` (with this `detail`)."""
        return next(
            (
                t
                for t, good, said, _ in self.samples
                if t >= after and good is ok and detail in (None, said)
            ),
            None,
        )


def _bot_health(driver: SlackDriver) -> tuple[bool, str]:
    try:
        reply = driver.get("/healthz")
        return reply.status == 200, str(reply.json().get("scheduler"))
    except (OSError, ValueError):
        return False, "no answer"


def _server_answers(url: str) -> tuple[bool, str]:
    import psycopg

    try:
        with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=1) as connection:
            connection.execute("SELECT 1")
        return True, ""
    except psycopg.Error as exc:
        return False, type(exc).__name__


@dataclass
class Deliveries:
    """Every delivery of every form and vote: (sent, answered, accepted) by who sent it."""

    tries: dict[str, list[tuple[float, float, bool]]] = field(default_factory=dict)

    def record(self, who: str, sent: float, accepted: bool) -> None:
        self.tries.setdefault(who, []).append((sent, time.monotonic(), accepted))

    def first_accepted(self, after: float) -> tuple[float, int]:
        """When the first delivery sent after `after` was answered accepted, and how many sent
        after `after` were not accepted."""
        sent_after = [t for tries in self.tries.values() for t in tries if t[0] >= after]
        answered = min((done for _, done, ok in sent_after if ok), default=float("inf"))
        return answered, sum(1 for *_, ok in sent_after if not ok)


def _send_form(stack: Stack, form: Submission, objective_id: int, log: Deliveries) -> None:
    sent = time.monotonic()
    _submit_once(stack, form, objective_id)
    log.record(form.user, sent, _acknowledged(form))


def _deliver_vote(stack: Stack, log: Deliveries, user: str, ts: str, event_id: str) -> None:
    """As Slack does: again while it is not answered 200 (here a second apart, for 30 s)."""
    for attempt in range(30):
        sent = time.monotonic()
        status = _react(stack, user, ts, event_id, retry=attempt or None)
        log.record(event_id, sent, status == 200)
        if status == 200:
            return
        time.sleep(1.0)


def _spread(work: list[tuple[Callable[..., None], tuple[object, ...]]], seconds: float) -> None:
    """Start each piece of work in a thread, evenly over `seconds`; wait for all of them."""
    threads = []
    for target, args in work:
        thread = threading.Thread(target=target, args=args)
        threads.append(thread)
        thread.start()
        time.sleep(seconds / len(work))
    for thread in threads:
        thread.join(timeout=120)


def _told(slack: FakeSlack, user: str) -> int:
    """How many confirmations ("in the register") Slack took for `user`."""
    return sum(
        1
        for call in slack.calls("chat.postMessage")
        if call.params.get("channel") == user
        and call.response.get("ok")
        and "is in the register" in str(call.params.get("text"))
    )


@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_postgres_going_away_mid_burst_loses_nothing_acknowledged(
    postgres_behind_proxy: tuple[str, CuttableProxy], tmp_path: Path
) -> None:
    url, proxy = postgres_behind_proxy
    with FakeSlack() as slack:
        stack = _own_stack(url, tmp_path, slack)
        with stack.bot:
            objective_id = _objective(stack)
            cards = _cards_to_vote_on(stack, objective_id, 3)
            forms = _open_forms(stack, "PG", _titles("PG", FORMS))
            voters = [(f"UPGV{n:04d}", cards[n % 3], f"EvPG{n:05d}") for n in range(FORMS * 2)]
            form_log, vote_log = Deliveries(), Deliveries()
            health = Watch(lambda: _bot_health(stack.driver)).start()
            server = Watch(lambda: _server_answers(url)).start()
            burst = [
                threading.Thread(
                    target=_spread,
                    args=(
                        [(_send_form, (stack, f, objective_id, form_log)) for f in forms],
                        BURST_S,
                    ),
                ),
                threading.Thread(
                    target=_spread,
                    args=([(_deliver_vote, (stack, vote_log, *v)) for v in voters], BURST_S),
                ),
            ]
            for thread in burst:
                thread.start()
            time.sleep(2.0)
            went = time.monotonic()
            _outage(proxy, 4.0)
            back = time.monotonic()
            for thread in burst:
                thread.join(timeout=180)
            time.sleep(RETRY_S * 3)  # the scheduler's leader asks for its lock every RETRY_S
            health.stop()
            server.stop()

            # While the database was away /healthz said 503, each answer within 2.5 s; soon
            # after it was back the bot said 200 (its scheduler leading again), and saved forms
            # and counted votes again.
            down = server.first(went, ok=False)
            up = server.first(down or went, ok=True)
            assert down is not None and up is not None and up <= back + 0.2, server.samples
            unhealthy = health.first(went, ok=False)
            healthy = health.first(up, ok=True)
            leading = health.first(up, ok=True, detail="leader")
            assert unhealthy is not None and unhealthy < up, health.samples
            assert healthy is not None and healthy - up < RECOVERY_S, health.samples
            assert leading is not None and leading - up < RECOVERY_S + 3 * RETRY_S
            assert max(took for *_, took in health.samples) < 2.5
            form_back, forms_refused_after = form_log.first_accepted(up)
            vote_back, votes_refused_after = vote_log.first_accepted(up)
            assert form_back - up < RECOVERY_S and vote_back - up < RECOVERY_S
            # Every form acknowledged is stored once; those refused are stored once when sent
            # again; every vote counts once.
            refused = _acknowledged_are_stored_once(stack, forms)
            for form in refused:
                _submit(stack, form, objective_id)
            assert _acknowledged_are_stored_once(stack, refused) == []
            assert all(tries[-1][2] for tries in vote_log.tries.values()), vote_log.tries
            assert _count(stack.engine, "SELECT count(*) FROM votes") == len(voters)
            doubled = _count(
                stack.engine,
                "SELECT count(*) FROM (SELECT proposal_id, user_id FROM votes "
                "GROUP BY proposal_id, user_id HAVING count(*) > 1) AS twice",
            )
            assert doubled == 0
            told = ""
            if FULL:
                # Each author of a saved form is told so once, also those whose telling failed
                # while the database was away (the card outbox tells them).
                authors = [form.user for form in forms]
                deadline = time.monotonic() + TOLD_WITHIN_S
                while any(_told(slack, user) == 0 for user in authors):
                    assert time.monotonic() < deadline, [u for u in authors if not _told(slack, u)]
                    time.sleep(1.0)
                assert all(_told(slack, user) == 1 for user in authors)
                told = f"; every author told once {time.monotonic() - up:.0f} s after"
            assert _unexpected_tracebacks(stack.bot.log()) == []
        stack.engine.dispose()
    print(
        f"\n{'restart' if RESTART else 'cut'}: {back - went:.1f} s outage; the server refused "
        f"{up - down:.1f} s; /healthz 503 for {healthy - unhealthy:.1f} s, from "
        f"{unhealthy - down:+.1f} s to "
        f"{healthy - up:+.1f} s after the server was back (scheduler leading {leading - up:+.1f} "
        f"s); first form saved {form_back - up:+.1f} s, first vote counted {vote_back - up:+.1f} "
        f"s after ({forms_refused_after} forms, {votes_refused_after} vote deliveries sent "
        f"after it refused); {len(refused)} of {len(forms)} forms refused in all{told}"
    )


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
            # Still claimed when last looked at; its claim may have ended and the card been
            # posted since (then once, and kept), never twice.
            assert posted.get(proposal_id, 0) <= 1
            assert message_ts is None or posted.get(proposal_id) == 1, proposal_id
            continue
        assert message_ts is not None, f"#{proposal_id} has no card"
        assert posted.get(proposal_id) == 1, (proposal_id, posted.get(proposal_id))
    votes = _count(stack.engine, "SELECT count(*) FROM votes WHERE user_id LIKE 'USRV%'")
    assert votes == len(voters)
    assert "Traceback" not in stack.bot.log()
