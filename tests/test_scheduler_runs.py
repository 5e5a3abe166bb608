"""The scheduled digest runs exactly once per firing: through daylight-saving changes, Slack's
rate limits and errors, a replica that died half-way, and firings missed while nobody ran."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot import metrics
from bot.app import build_client
from bot.deps import Deps
from bot.lifecycle import Status
from bot.settings import Settings, SettingsError
from bot.steering import SteeringGroup
from scheduler import digest, objective_digest, schedules
from scheduler.leader import AdvisoryLock, OneProcess
from scheduler.runner import Context, complete_due_runs
from storage import job_runs
from storage.db import session_scope
from storage.models import JobRun, Proposal
from tests.fakeslack import FakeSlack

CHANNEL = "C0DIGEST"
STEERING = "C0STEERING"
BERLIN = ZoneInfo("Europe/Berlin")


def _settings(slack: FakeSlack | None = None, **env: str) -> Settings:
    values = {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "CSI_PROPOSALS_CHANNEL": CHANNEL,
        "CSI_TIMEZONE": "Europe/Berlin",
        **({"SLACK_API_URL": slack.api_url} if slack else {}),
        **env,
    }
    return Settings.from_mapping(values)


def _deps(engine: Engine, settings: Settings) -> Deps:
    steering = SteeringGroup(settings, WebClient(token="xoxb-test-token"))
    return Deps(settings=settings, engine=engine, steering=steering)


def _plain_client(slack: FakeSlack) -> WebClient:
    # No retries: a failure reaches the run at once.
    return WebClient(token="xoxb-test-token", base_url=slack.api_url, retry_handlers=[])


def _digests(slack: FakeSlack) -> list[str]:
    """The periods of the digest messages in the channel, one entry per message."""
    return [
        m["metadata"]["event_payload"]["period"]
        for (channel, _), m in slack.messages.items()
        if channel == CHANNEL and m.get("metadata", {}).get("event_type") == digest.EVENT_TYPE
    ]


def _run(engine: Engine, period: str) -> JobRun:
    with session_scope(engine) as session:
        run = job_runs.get_run(session=session, job=digest.JOB, period=period)
        assert run is not None
        return run


def _dead_owner() -> str:
    # A process of this machine that has ended: what a replica killed mid-run leaves behind.
    finished = subprocess.Popen(["true"])
    finished.wait()
    return f"{socket.gethostname()}:{finished.pid}"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


# ---- when it fires ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("week", "utc_before", "utc_after"),
    [(datetime(2026, 3, 26), 8, 7), (datetime(2026, 10, 22), 7, 8)],
    ids=["spring-forward", "fall-back"],
)
def test_a_daily_nine_oclock_digest_fires_at_nine_local_through_the_clock_change_week(
    week: datetime, utc_before: int, utc_after: int
) -> None:
    trigger = schedules.digest_trigger(_settings(CSI_DIGEST_CRON="0 9 * * *"))
    fire = schedules.next_slot(trigger, week.replace(tzinfo=BERLIN))
    fires: list[datetime] = []
    while fire is not None and len(fires) < 7:
        fires.append(fire)
        fire = schedules.next_slot(trigger, fire + timedelta(seconds=1))
    assert [f.astimezone(BERLIN).strftime("%a %H:%M") for f in fires] == [
        "Thu 09:00",
        "Fri 09:00",
        "Sat 09:00",
        "Sun 09:00",
        "Mon 09:00",
        "Tue 09:00",
        "Wed 09:00",
    ]
    assert [f.astimezone(UTC).hour for f in fires] == [utc_before] * 3 + [utc_after] * 4
    assert len({schedules.period_key(f) for f in fires}) == 7
    # The weekly default fires once in that week, on Monday at nine.
    weekly = schedules.digest_trigger(_settings())
    monday = schedules.next_slot(weekly, week.replace(tzinfo=BERLIN))
    assert monday is not None and monday.astimezone(BERLIN).strftime("%a %d %H:%M") in {
        "Mon 30 09:00",
        "Mon 26 09:00",
    }


def test_a_half_past_two_digest_posts_once_on_both_nights_the_clocks_change(
    engine: Engine, slack: FakeSlack
) -> None:
    deps = _deps(engine, _settings(CSI_DIGEST_CRON="30 2 * * *"))
    client = _plain_client(slack)
    trigger = schedules.digest_trigger(deps.settings)
    # Autumn: 02:30 happens twice (00:30 and 01:30 UTC), and APScheduler fires at both.
    first = schedules.next_slot(trigger, datetime(2026, 10, 25, 0, 0, tzinfo=UTC))
    assert first is not None
    second = schedules.next_slot(trigger, first + timedelta(seconds=1))
    assert (first.astimezone(UTC).hour, second and second.astimezone(UTC).hour) == (0, 1)
    assert digest.post_sla_digest(deps=deps, client=client, now=first) is not None
    assert digest.post_sla_digest(deps=deps, client=client, now=second) is None
    # Spring: 02:30 does not exist; the firing comes once, an hour later.
    spring = schedules.next_slot(trigger, datetime(2026, 3, 29, 0, 0, tzinfo=UTC))
    assert spring is not None
    assert digest.post_sla_digest(deps=deps, client=client, now=spring) is not None
    assert sorted(_digests(slack)) == ["2026-03-29T02:30", "2026-10-25T02:30"]


def test_a_cron_with_seconds_is_refused_unless_the_test_setting_allows_it() -> None:
    with pytest.raises(SettingsError, match=r"CSI_DIGEST_CRON='\*/5 \* \* \* \* \*' is not a cron"):
        schedules.digest_trigger(_settings(CSI_DIGEST_CRON="*/5 * * * * *"))
    trigger = schedules.digest_trigger(
        _settings(CSI_DIGEST_CRON="*/5 * * * * *", CSI_CRON_SECONDS="true")
    )
    start = datetime(2026, 5, 4, 9, 0, 1, tzinfo=UTC)
    assert schedules.next_slot(trigger, start) == datetime(2026, 5, 4, 9, 0, 5, tzinfo=UTC)
    assert schedules.period_key(datetime(2026, 5, 4, 9, 0, 5, tzinfo=BERLIN)) == (
        "2026-05-04T09:00:05"
    )


# ---- Slack faults -------------------------------------------------------------------------------
def test_429_then_500_then_ok_posts_the_digest_exactly_once(
    engine: Engine, slack: FakeSlack
) -> None:
    settings = _settings(slack)
    deps = _deps(engine, settings)
    before = {code: _errors("chat.postMessage", code) for code in ("http_429", "http_500")}
    slack.fail_next("chat.postMessage", error="ratelimited", status=429, retry_after=1)
    slack.fail_next("chat.postMessage", error="internal_error", status=500, retry_after=None)
    posted = digest.post_sla_digest(
        deps=deps, client=build_client(settings), now=datetime(2026, 5, 4, 9, 1, tzinfo=UTC)
    )
    assert posted is not None
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 500, 200]
    assert _digests(slack) == ["2026-05-04T09:00"]
    run = _run(engine, "2026-05-04T09:00")
    assert (run.status, run.message_ts) == (job_runs.DONE, posted.ts)
    for code, count in before.items():
        assert _errors("chat.postMessage", code) == count + 1


def _errors(method: str, error: str) -> float:
    labels = {"method": method, "error": error}
    return metrics.REGISTRY.get_sample_value("csi_bot_slack_api_errors_total", labels) or 0.0


def test_a_502_from_a_proxy_on_the_way_is_retried_too(engine: Engine, slack: FakeSlack) -> None:
    settings = _settings(slack)
    slack.fail_next("chat.postMessage", error="bad_gateway", status=502, retry_after=None)
    posted = digest.post_sla_digest(
        deps=_deps(engine, settings),
        client=build_client(settings),
        now=datetime(2026, 5, 4, 9, 1, tzinfo=UTC),
    )
    assert posted is not None
    assert [c.status for c in slack.calls("chat.postMessage")] == [502, 200]
    assert _digests(slack) == ["2026-05-04T09:00"]


def test_a_digest_slack_keeps_refusing_stays_due_and_the_next_tick_posts_it_once(
    engine: Engine, slack: FakeSlack
) -> None:
    deps = _deps(engine, _settings())
    client = _plain_client(slack)
    fired = datetime(2026, 5, 4, 7, 0, 2, tzinfo=UTC)  # Monday 09:00 in Berlin
    slack.fail_next("chat.postMessage", error="internal_error", status=500, retry_after=None)
    with pytest.raises(SlackApiError):
        digest.post_sla_digest(deps=deps, client=client, now=fired)
    run = _run(engine, "2026-05-04T09:00")
    assert (run.status, run.attempts, run.message_ts) == (job_runs.DUE, 1, None)
    context = Context(deps=deps, client=client)
    assert complete_due_runs(context, now=fired + timedelta(minutes=1)) == 1
    assert complete_due_runs(context, now=fired + timedelta(minutes=2)) == 0
    assert _digests(slack) == ["2026-05-04T09:00"]
    assert _run(engine, "2026-05-04T09:00").status == job_runs.DONE


# ---- a replica that died half-way ---------------------------------------------------------------
def _abandoned(engine: Engine, period: str, due_at: datetime, *, ts: str | None) -> None:
    with session_scope(engine) as session:
        session.add(
            JobRun(
                job=digest.JOB,
                period=period,
                status=job_runs.RUNNING,
                due_at=due_at,
                owner=_dead_owner(),
                claimed_until=due_at + timedelta(hours=1),  # its lease has not run out
                attempts=1,
                channel=CHANNEL if ts else None,
                message_ts=ts,
            )
        )


def test_a_run_left_by_a_dead_replica_updates_the_digest_it_had_posted(
    engine: Engine, slack: FakeSlack
) -> None:
    deps = _deps(engine, _settings())
    due = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
    slack.add_message(CHANNEL, "1777878005.000100", text="SLA digest (being written)")
    _abandoned(engine, "2026-05-04T09:00", due, ts="1777878005.000100")
    context = Context(deps=deps, client=_plain_client(slack))
    assert complete_due_runs(context, now=due + timedelta(seconds=30)) == 1
    assert [c for c in slack.calls("chat.postMessage") if not c.params.get("thread_ts")] == []
    [update] = slack.calls("chat.update")
    assert update.params["ts"] == "1777878005.000100"
    assert "SLA digest" in update.params["text"]
    assert _run(engine, "2026-05-04T09:00").status == job_runs.DONE


def test_a_run_that_died_before_keeping_its_ts_finds_its_digest_by_metadata(
    engine: Engine, slack: FakeSlack
) -> None:
    deps = _deps(engine, _settings())
    due = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
    ts = f"{due.timestamp() + 3:.6f}"
    payload = {"job": digest.JOB, "period": "2026-05-04T09:00"}
    slack.add_message(
        CHANNEL,
        ts,
        text="SLA digest",
        metadata={"event_type": digest.EVENT_TYPE, "event_payload": payload},
    )
    _abandoned(engine, "2026-05-04T09:00", due, ts=None)
    context = Context(deps=deps, client=_plain_client(slack))
    assert complete_due_runs(context, now=due + timedelta(seconds=30)) == 1
    assert slack.calls("chat.postMessage") == []
    assert [c.params["ts"] for c in slack.calls("chat.update")] == [ts]
    run = _run(engine, "2026-05-04T09:00")
    assert (run.status, run.message_ts) == (job_runs.DONE, ts)


def test_a_live_run_is_not_taken_over(engine: Engine, slack: FakeSlack) -> None:
    deps = _deps(engine, _settings())
    due = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        session.add(
            JobRun(
                job=digest.JOB,
                period="2026-05-04T09:00",
                status=job_runs.RUNNING,
                due_at=due,
                owner=f"{socket.gethostname()}:1",  # init: alive as long as the machine is
                claimed_until=due + timedelta(minutes=15),
                attempts=1,
            )
        )
    context = Context(deps=deps, client=_plain_client(slack))
    assert complete_due_runs(context, now=due + timedelta(minutes=1)) == 0
    # Once its lease has run out, it is taken over.
    assert complete_due_runs(context, now=due + timedelta(minutes=16)) == 1
    assert _digests(slack) == ["2026-05-04T09:00"]


# ---- firings missed while nobody ran ------------------------------------------------------------
def test_firings_missed_while_no_replica_ran_are_posted_once_for_the_latest(
    engine: Engine, slack: FakeSlack
) -> None:
    deps = _deps(engine, _settings(CSI_DIGEST_CRON="0 * * * *"))
    now = datetime(2026, 5, 4, 12, 20, tzinfo=UTC)
    with session_scope(engine) as session:
        for hours_ago in (14, 3, 2, 1):  # 14 h ago is past the grace
            slot = now.replace(minute=0) - timedelta(hours=hours_ago - 1)
            job_runs.mark_due(
                session=session,
                job=digest.JOB,
                period=schedules.period_key(slot, "Europe/Berlin"),
                due_at=slot,
                now=slot - timedelta(hours=1),
            )
    context = Context(deps=deps, client=_plain_client(slack), leadership=OneProcess())
    assert complete_due_runs(context, now=now) == 1
    assert complete_due_runs(context, now=now + timedelta(minutes=1)) == 0
    assert _digests(slack) == ["2026-05-04T14:00"]
    with session_scope(engine) as session:
        rows = session.exec(select(JobRun).where(JobRun.job == digest.JOB))
        statuses = {r.period: r.status for r in rows}
    assert statuses == {
        "2026-05-04T01:00": job_runs.DUE,  # past the grace: left alone
        "2026-05-04T12:00": job_runs.SKIPPED,
        "2026-05-04T13:00": job_runs.SKIPPED,
        "2026-05-04T14:00": job_runs.DONE,
        "2026-05-04T15:00": job_runs.DUE,  # the next firing, marked due ahead
    }


# ---- who leads ----------------------------------------------------------------------------------
def test_sqlite_has_one_process_and_it_leads() -> None:
    elected: list[bool] = []
    one = OneProcess()
    one.start(lambda: elected.append(True), lambda: elected.append(False))
    assert (one.state, one.still_leader(), elected) == ("leader", True, [True])
    one.stop()
    assert (one.state, elected) == ("stopped", [True, False])


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_standby_leads_once_the_leaders_connection_dies(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    events: list[str] = []
    # The first checks its lock seldom: the second, asking often, is the one to take over.
    first = AdvisoryLock(url, engine, retry_s=3)
    second = AdvisoryLock(url, engine, retry_s=0.2)
    try:
        first.start(lambda: events.append("first leads"), lambda: events.append("first stops"))
        _wait_for(lambda: first.state == "leader")
        second.start(lambda: events.append("second leads"), lambda: events.append("second stops"))
        time.sleep(0.6)
        assert (first.state, second.state) == ("leader", "standby")
        old_owner = first.owner
        assert not second.is_gone(old_owner)
        # The leader's own connection dies (a killed process, a cut network).
        with engine.connect() as connection:
            connection.exec_driver_sql(
                f"SELECT pg_terminate_backend({old_owner.rpartition('/pg')[2]})"
            )
        _wait_for(lambda: second.state == "leader")
        assert second.is_gone(old_owner)
        assert not first.still_leader()
        _wait_for(lambda: first.state == "standby")
        assert sorted(events) == ["first leads", "first stops", "second leads"]
    finally:
        second.stop()
        first.stop()


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# ---- the weekly list of proposals without an objective ------------------------------------------
def _waiting_for_objective(engine: Engine, now: datetime) -> None:
    with session_scope(engine) as session:
        session.add(
            Proposal(
                title="Rotate the on-call phone",
                submitter="U0WAITING",
                status=Status.NEEDS_OBJECTIVE,
                created_at=now - timedelta(days=9),
                updated_at=now - timedelta(days=9),
            )
        )


def _objective_lists(slack: FakeSlack) -> list[str]:
    return [
        m["metadata"]["event_payload"]["period"]
        for (channel, _), m in slack.messages.items()
        if channel == STEERING
        and m.get("metadata", {}).get("event_type") == objective_digest.EVENT_TYPE
    ]


def test_the_weekly_objective_list_is_posted_once_with_its_week_in_its_metadata(
    engine: Engine, slack: FakeSlack
) -> None:
    deps = _deps(engine, _settings(CSI_STEERING_CHANNEL=STEERING))
    now = datetime(2026, 5, 4, 8, 25, tzinfo=UTC)
    _waiting_for_objective(engine, now)
    client = _plain_client(slack)
    assert objective_digest.post_objective_digest(deps=deps, client=client, now=now) == 1
    later = now + timedelta(hours=1)
    assert objective_digest.post_objective_digest(deps=deps, client=client, now=later) == 0
    assert _objective_lists(slack) == ["2026-W19"]


def test_an_objective_list_whose_replica_died_before_keeping_its_ts_is_not_posted_again(
    engine: Engine, slack: FakeSlack
) -> None:
    deps = _deps(engine, _settings(CSI_STEERING_CHANNEL=STEERING))
    due = datetime(2026, 5, 4, 7, 25, tzinfo=UTC)
    _waiting_for_objective(engine, due)
    ts = f"{due.timestamp() + 2:.6f}"
    payload = {"job": objective_digest.JOB, "period": "2026-W19"}
    slack.add_message(
        STEERING,
        ts,
        text="1 proposal still without an objective after a week",
        metadata={"event_type": objective_digest.EVENT_TYPE, "event_payload": payload},
    )
    with session_scope(engine) as session:
        session.add(
            JobRun(
                job=objective_digest.JOB,
                period="2026-W19",
                status=job_runs.RUNNING,
                due_at=due,
                owner=_dead_owner(),
                claimed_until=due - timedelta(minutes=1),  # its lease has run out
                attempts=1,
            )
        )
    client = _plain_client(slack)
    later = due + timedelta(hours=1)
    assert objective_digest.post_objective_digest(deps=deps, client=client, now=later) == 0
    assert slack.calls("chat.postMessage") == []
    with session_scope(engine) as session:
        run = job_runs.get_run(session=session, job=objective_digest.JOB, period="2026-W19")
        assert run is not None
        assert (run.status, run.message_ts) == (job_runs.DONE, ts)
