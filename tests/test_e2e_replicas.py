"""End to end: two `csi-bot serve` replicas on one PostgreSQL post the scheduled digest exactly
once per firing, through Slack's rate limits and errors, a leader killed with SIGKILL (even
between posting and marking its run done), and a stop over a firing.

The digest fires every 5 seconds (CSI_CRON_SECONDS, a setting for tests only, lets the cron
take a seconds field) so that several firings fit in a short test. The replicas and the fake
Slack are shared by the module's tests, which run in order, each going on where the last left.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.settings import Settings
from scheduler import digest, schedules
from storage import job_runs
from storage.db import make_engine, session_scope
from storage.models import JobRun
from tests.botproc import SIGNING_SECRET, BotProcess, bot_env, free_port
from tests.conftest import _drop_postgres_database, _fresh_postgres_database
from tests.fakeslack import FakeSlack, SlackDriver
from tests.fakeslack.server import Call

pytestmark = pytest.mark.e2e

CHANNEL = "C0DIGEST"
EVERY = timedelta(seconds=5)
CRON = "*/5 * * * * *"


@dataclass
class Replicas:
    """Two bot processes on one database and one fake Slack."""

    slack: FakeSlack
    bots: list[BotProcess]
    engine: Engine
    settings: Settings

    def leader(self, timeout: float = 15.0) -> BotProcess:
        """The one running bot whose /healthz says it leads the scheduler."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leading = [bot for bot in self.bots if _scheduler_state(bot) == "leader"]
            if len(leading) == 1:
                return leading[0]
            assert len(leading) < 2, "two replicas lead at once"
            time.sleep(0.2)
        raise AssertionError("no replica leads")

    def slots(self, start: datetime, end: datetime) -> list[str]:
        """The periods of the firings between `start` and `end`."""
        trigger = schedules.digest_trigger(self.settings)
        found, fire = [], schedules.next_slot(trigger, start)
        while fire is not None and fire <= end:
            found.append(schedules.period_key(fire))
            fire = schedules.next_slot(trigger, fire + timedelta(seconds=1))
        return found

    def posted(self) -> Counter[str]:
        """How many digest messages the channel holds for each period."""
        return Counter(
            m["metadata"]["event_payload"]["period"]
            for (channel, _), m in list(self.slack.messages.items())
            if channel == CHANNEL and m.get("metadata", {}).get("event_type") == digest.EVENT_TYPE
        )

    def wait_posted(self, period: str, timeout: float = 20.0) -> None:
        """Until the digest of `period` is in the channel."""
        deadline = time.monotonic() + timeout
        while self.posted()[period] == 0:
            assert time.monotonic() < deadline, f"the digest of {period} was not posted"
            time.sleep(0.1)

    def wait_done(self, period: str, timeout: float = 20.0) -> JobRun:
        """Until the run of `period` is done; the run."""
        deadline = time.monotonic() + timeout
        while True:
            with session_scope(self.engine) as session:
                run = job_runs.get_run(session=session, job=digest.JOB, period=period)
            if run is not None and run.status == job_runs.DONE:
                return run
            assert time.monotonic() < deadline, f"the run of {period} is not done: {run}"
            time.sleep(0.1)

    def assert_none_twice(self) -> None:
        twice = {period: n for period, n in self.posted().items() if n > 1}
        assert not twice, f"posted more than once: {twice}"


def _scheduler_state(bot: BotProcess) -> str | None:
    if not bot.running:
        return None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{bot.url}/healthz", timeout=2) as response:
            return str(json.load(response).get("scheduler"))
    except OSError:
        return None


def _is_digest(call: Call) -> bool:
    metadata = call.params.get("metadata") or {}
    return isinstance(metadata, dict) and metadata.get("event_type") == digest.EVENT_TYPE


def _period_of(call: Call) -> str:
    return str(call.params["metadata"]["event_payload"]["period"])


@pytest.fixture(scope="module")
def replicas(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    name, url = _fresh_postgres_database(postgres_server)
    engine = make_engine(url)
    try:
        with FakeSlack() as slack:
            bots = []
            for n in range(2):
                env = bot_env(
                    api_url=slack.api_url,
                    database_url=url,
                    port=free_port(),
                    CSI_DIGEST_CHANNEL=CHANNEL,
                    CSI_DIGEST_CRON=CRON,
                    CSI_CRON_SECONDS="true",
                )
                bots.append(BotProcess(env, tmp_path_factory.mktemp(f"replica{n}")))
            try:
                for bot in bots:
                    bot.start()
                settings = Settings.from_mapping(bots[0].env)
                yield Replicas(slack=slack, bots=bots, engine=engine, settings=settings)
            finally:
                for bot in bots:
                    bot.stop()
    finally:
        engine.dispose()
        _drop_postgres_database(postgres_server, name)


@pytest.mark.postgres
def test_two_replicas_post_every_firing_once(replicas: Replicas) -> None:
    leader = replicas.leader()
    started = datetime.now(UTC)
    first = replicas.slots(started, started + EVERY)[0]
    replicas.wait_posted(first)
    time.sleep(3.2 * EVERY.total_seconds())
    until = datetime.now(UTC) - timedelta(seconds=3)  # a firing just now may still be posting
    expected = replicas.slots(started, until)
    assert len(expected) >= 3
    assert all(replicas.posted()[period] == 1 for period in expected), replicas.posted()
    replicas.assert_none_twice()
    assert replicas.leader() is leader  # nobody else ran jobs meanwhile
    assert "event=leader" in leader.log()
    assert f"event=job_run job=sla_digest period={first} outcome=posted" in leader.log()
    # What an operator's Prometheus reads from each replica.
    standby = next(bot for bot in replicas.bots if bot is not leader)
    driver = SlackDriver(
        base_url=leader.url,
        signing_secret=SIGNING_SECRET,
        response_url_base=replicas.slack.response_url_base,
    )
    assert driver.slash_command("help").status == 200
    leading, waiting = _metrics(leader), _metrics(standby)
    assert (leading["csi_bot_scheduler_leader"], waiting["csi_bot_scheduler_leader"]) == (1, 0)
    assert leading['csi_bot_job_runs_total{job="sla_digest",outcome="posted"}'] >= len(expected)
    assert leading['csi_bot_slack_requests_total{outcome="ok",surface="command"}'] == 1
    assert leading['csi_bot_ack_latency_seconds_count{surface="command"}'] == 1
    assert not any(key.startswith("csi_bot_job_runs_total") for key in waiting)


def _metrics(bot: BotProcess) -> dict[str, float]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{bot.url}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    return {
        key: float(value)
        for key, _, value in (line.rpartition(" ") for line in text.splitlines())
        if key and not key.startswith("#")
    }


@pytest.mark.postgres
def test_slack_answering_429_then_500_then_ok_posts_the_digest_once(replicas: Replicas) -> None:
    slack = replicas.slack
    slack.fail_next("chat.postMessage", "ratelimited", 429, retry_after=1, when=_is_digest)
    slack.fail_next("chat.postMessage", "internal_error", 500, retry_after=None, when=_is_digest)
    refused = slack.wait_for(
        "chat.postMessage", lambda c: _is_digest(c) and c.status == 500, timeout=15
    )
    period = _period_of(refused)
    replicas.wait_done(period)
    tries = [
        c.status
        for c in slack.calls("chat.postMessage")
        if _is_digest(c) and _period_of(c) == period
    ]
    assert tries == [429, 500, 200]
    assert replicas.posted()[period] == 1
    replicas.assert_none_twice()


@pytest.mark.postgres
def test_a_leader_killed_between_posting_and_done_leaves_the_digest_once_and_the_other_takes_over(
    replicas: Replicas,
) -> None:
    slack = replicas.slack
    hung, release = threading.Event(), threading.Event()
    hung_period: list[str] = []

    def post_then_hang(call: Call) -> dict[str, Any]:
        answer = slack.answer(call.method, call.params)  # the message is in the channel
        if _is_digest(call) and not hung.is_set():
            hung_period.append(_period_of(call))
            hung.set()
            release.wait(30)  # Slack's answer never reaches the leader: it is killed first
        return answer

    leader = replicas.leader()
    standby = next(bot for bot in replicas.bots if bot is not leader)
    slack.set_response("chat.postMessage", post_then_hang)
    try:
        assert hung.wait(15), "no digest was posted"
        leader.kill()
        killed = datetime.now(UTC)
    finally:
        slack.set_response("chat.postMessage", None)
        release.set()
    [period] = hung_period
    assert replicas.posted()[period] == 1
    # The standby leads, completes the dead leader's run by updating its message, and posts
    # the next firing itself.
    run = replicas.wait_done(period, timeout=20)
    assert replicas.leader() is standby
    assert [c.params["ts"] for c in slack.calls("chat.update") if _is_digest(c)] == [run.message_ts]
    # The very next firing after the kill is posted on time, by the standby.
    next_firing = replicas.slots(killed, killed + EVERY)[0]
    replicas.wait_posted(next_firing, timeout=EVERY.total_seconds() + 3)
    assert replicas.posted()[period] == 1
    replicas.assert_none_twice()
    assert "taken_over=true" in standby.log()


def _stop_over_two_firings_and_start(replicas: Replicas, bot: BotProcess) -> str:
    """Stop `bot` (the only one running), leave it down over two firings, start it again; the
    period of the firing that was due when it stopped, checked to be posted once, the others
    that passed not at all (coalesced)."""
    bot.stop()
    with session_scope(replicas.engine) as session:
        due = [
            (run.period, run.due_at)
            for run in session.exec(select(JobRun).where(JobRun.job == digest.JOB))
            if run.status == job_runs.DUE
        ]
    # The next firing was recorded as due before the bot stopped.
    [(period, due_at)] = due
    assert due_at is not None and replicas.posted()[period] == 0
    after = replicas.slots(due_at + timedelta(seconds=1), due_at + 2 * EVERY)[0]
    time.sleep(max(0.0, (due_at + EVERY - datetime.now(UTC)).total_seconds()) + 0.5)
    restarting = datetime.now(UTC)
    assert replicas.posted()[period] == 0
    bot.start()
    back = datetime.now(UTC)
    replicas.wait_posted(period, timeout=15)
    passed = [p for p in replicas.slots(due_at + timedelta(seconds=1), restarting)]
    assert after in passed and all(replicas.posted()[p] == 0 for p in passed)
    # And the schedule goes on.
    replicas.wait_posted(replicas.slots(back + timedelta(seconds=3), back + 3 * EVERY)[0])
    replicas.assert_none_twice()
    return period


@pytest.mark.postgres
def test_a_firing_missed_while_the_bot_was_stopped_is_posted_once_when_it_is_back(
    replicas: Replicas,
) -> None:
    [bot] = [b for b in replicas.bots if b.running]
    period = _stop_over_two_firings_and_start(replicas, bot)
    assert replicas.wait_done(period).note


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_one_process_makes_up_a_firing_missed_while_it_was_stopped(
    database_url: str, tmp_path: Path
) -> None:
    with FakeSlack() as slack:
        env = bot_env(
            api_url=slack.api_url,
            database_url=database_url,
            port=free_port(),
            CSI_DIGEST_CHANNEL=CHANNEL,
            CSI_DIGEST_CRON=CRON,
            CSI_CRON_SECONDS="true",
        )
        bot = BotProcess(env, tmp_path)
        engine = make_engine(database_url)
        one = Replicas(slack, [bot], engine, Settings.from_mapping(env))
        try:
            bot.start()
            assert _scheduler_state(bot) == "leader"
            up = datetime.now(UTC)
            one.wait_posted(one.slots(up, up + EVERY)[0])
            _stop_over_two_firings_and_start(one, bot)
        finally:
            bot.stop()
            engine.dispose()
