"""The APScheduler that runs the jobs inside `csi-bot serve`, on the leader replica only.

APScheduler 3 keeps its jobs in memory: a job store cannot be shared between schedulers, so
each replica builds the same schedule, and only the leader (scheduler/leader.py) starts it.
What must happen once is decided in the database (job_runs), never by APScheduler.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk import WebClient

from bot import confirmations, metrics
from bot.deps import Deps
from scheduler import benefit_checks, digest, jobs, objective_digest, polls, runs, schedules
from scheduler.leader import Leadership, OneProcess, process_name
from storage import job_runs
from storage.types import utcnow

log = logging.getLogger(__name__)
# APScheduler's own lines ("Adding job tentatively", "Added job", once per job at every
# election) would bury the scheduler's structured events; its warnings still show.
_apscheduler_log = logging.getLogger("scheduler.apscheduler")
_apscheduler_log.setLevel(logging.WARNING)

# How often the leader looks for runs that are due and not done (missed, failed, abandoned).
TICK = timedelta(minutes=1)
TICK_WITH_SECONDS = timedelta(seconds=5)  # CSI_CRON_SECONDS, for tests


@dataclass(frozen=True)
class Context:
    """What every scheduled job gets: the bot's services, the Slack client, the leadership."""

    deps: Deps
    client: WebClient
    leadership: Leadership = field(default_factory=OneProcess)


# ---- the jobs, as APScheduler calls them ------------------------------------------------------
def run_job(job: str, context: Context) -> None:
    """Run the job named `job`, if this replica still leads; what APScheduler calls."""
    if not context.leadership.still_leader():
        runs.report(job=job, period=None, outcome="not_leader")
        return
    try:
        JOBS[job](context)
    except Exception as exc:
        # Period jobs gave their run back and reported it; the others are reported here.
        if job not in PERIOD_JOBS:
            runs.report(job=job, period=None, outcome="failed", error=repr(exc))
        log.debug("job %s failed", job, exc_info=True)


def sla_digest(context: Context) -> None:
    """The firing of CSI_DIGEST_CRON."""
    now = utcnow()
    mark_next_due(context.deps, digest.JOB, digest.digest_trigger(context.deps.settings), now)
    digest.post_sla_digest(
        deps=context.deps, client=context.client, now=now, leadership=context.leadership
    )


def poll_open(context: Context) -> None:
    """The firing of CSI_POLL_CRON."""
    now = utcnow()
    mark_next_due(context.deps, polls.OPEN_JOB, polls.poll_trigger(context.deps.settings), now)
    polls.open_scheduled_poll(
        deps=context.deps, client=context.client, now=now, leadership=context.leadership
    )


def objective_list(context: Context) -> None:
    """The weekly list of proposals still without an objective."""
    objective_digest.post_objective_digest(
        deps=context.deps, client=context.client, leadership=context.leadership
    )


def poll_close(context: Context) -> None:
    """Close the open poll once CSI_POLL_DAYS have passed."""
    outcome = polls.close_due_poll(deps=context.deps, client=context.client)
    if outcome is not None:
        runs.report(job=polls.CLOSE_JOB, period=None, outcome=type(outcome).__name__.lower())


def objective_reminders(context: Context) -> None:
    """Remind submitters of one-line proposals to choose an objective."""
    sent = jobs.remind_missing_objectives(deps=context.deps, client=context.client)
    runs.report(job="objective_reminders", period=None, outcome="sent" if sent else "nothing_due")


def benefit_check(context: Context) -> None:
    """Ask owners of implemented proposals for the measured result."""
    sent = benefit_checks.ask_for_benefit(deps=context.deps, client=context.client)
    did = "sent" if sent.asked or sent.reminded else "nothing_due"
    runs.report(job="benefit_checks", period=None, outcome=did)


def housekeeping(context: Context) -> None:
    """Forget old event IDs and abandoned forms."""
    jobs.housekeeping(deps=context.deps)
    runs.report(job="housekeeping", period=None, outcome="done")


def card_outbox(context: Context) -> None:
    """Post the cards that proposals lack, then tell the submitters not yet told."""
    if jobs.post_missing_cards(deps=context.deps, client=context.client):
        runs.report(job="card_outbox", period=None, outcome="posted")
    confirmations.tell_owed(deps=context.deps, client=context.client)


def catch_up(context: Context) -> None:
    """The tick: complete the period jobs that are due and not done."""
    complete_due_runs(context)


JOBS: dict[str, Callable[[Context], None]] = {
    digest.JOB: sla_digest,
    polls.OPEN_JOB: poll_open,
    polls.CLOSE_JOB: poll_close,
    objective_digest.JOB: objective_list,
    "objective_reminders": objective_reminders,
    "benefit_checks": benefit_check,
    "housekeeping": housekeeping,
    "card_outbox": card_outbox,
    "catch_up": catch_up,
}
PERIOD_JOBS = frozenset({digest.JOB, polls.OPEN_JOB, objective_digest.JOB, "catch_up"})


# ---- runs that are due and not done ------------------------------------------------------------
def _complete_digest(context: Context, period: str, due_at: datetime) -> None:
    digest.complete_digest(
        deps=context.deps,
        client=context.client,
        period=period,
        due_at=due_at,
        leadership=context.leadership,
    )


def _complete_poll_open(context: Context, period: str, due_at: datetime) -> None:
    polls.complete_poll_open(
        deps=context.deps,
        client=context.client,
        period=period,
        due_at=due_at,
        leadership=context.leadership,
    )


CATCH_UP: dict[str, tuple[Callable[[Any], CronTrigger], Callable[..., None]]] = {
    digest.JOB: (digest.digest_trigger, _complete_digest),
    polls.OPEN_JOB: (polls.poll_trigger, _complete_poll_open),
}


def mark_next_due(deps: Deps, job: str, trigger: CronTrigger, now: datetime) -> None:
    """Record the next firing as due: if every replica is down then, the first one back posts it
    (within schedules.MISFIRE_GRACE)."""
    slot = schedules.next_slot(trigger, now)
    if slot is None:
        return
    with deps.session() as session:
        job_runs.mark_due(
            session=session, job=job, period=schedules.period_key(slot), due_at=slot, now=now
        )


def complete_due_runs(context: Context, now: datetime | None = None) -> int:
    """Run every period job whose firing passed, within the grace, without being done: missed
    while no replica led, failed on Slack, or left unfinished by a replica that died (oldest
    first). Firings missed while nobody led are coalesced: only the latest runs, older ones are
    marked skipped. Returns how many ran."""
    now = now or utcnow()
    deps, ran = context.deps, 0
    for job, (trigger_of, complete) in CATCH_UP.items():
        mark_next_due(deps, job, trigger_of(deps.settings), now)
        with deps.session() as session:
            pending = job_runs.unfinished(
                session=session, job=job, since=now - schedules.MISFIRE_GRACE, until=now
            )
            never_tried = [r for r in pending[:-1] if r.status == job_runs.DUE and not r.attempts]
            if never_tried:
                note = f"coalesced into {pending[-1].period}"
                job_runs.skip(session=session, runs=never_tried, note=note)
        for run in never_tried:
            runs.report(job=job, period=run.period, outcome="coalesced")
        skipped = {run.id for run in never_tried}
        for run in pending:
            if run.id in skipped or not _may_run(context, run, now):
                continue
            try:
                complete(context, run.period, run.due_at or now)
                ran += 1
            except Exception:
                # Reported by the run itself; it stays due for the next tick.
                log.debug("catch-up of %s %s failed", job, run.period, exc_info=True)
    return ran


def _may_run(context: Context, run: job_runs.JobRun, now: datetime) -> bool:
    if run.status == job_runs.DUE:
        return True
    expired = run.claimed_until is None or run.claimed_until < now
    return expired or (run.owner is not None and context.leadership.is_gone(run.owner))


# ---- the scheduler -------------------------------------------------------------------------------
def build_scheduler(
    *, deps: Deps, client: WebClient, leadership: Leadership | None = None
) -> BackgroundScheduler:
    """A scheduler with every job; not started. An invalid CSI_*_CRON raises SettingsError."""
    settings = deps.settings
    timezone = settings.timezone
    context = Context(deps=deps, client=client, leadership=leadership or OneProcess())
    digest_trigger = digest.digest_trigger(settings)
    poll_trigger = polls.poll_trigger(settings)
    grace = int(schedules.MISFIRE_GRACE.total_seconds())
    scheduler = BackgroundScheduler(
        logger=_apscheduler_log,
        timezone=timezone,
        job_defaults={
            # A firing the scheduler could not start on time (busy, paused) runs once, late,
            # within the grace; the database decides whether it runs at all.
            "coalesce": True,
            "misfire_grace_time": grace,
            "max_instances": 1,
        },
    )

    def add(job: str, trigger: Any, **options: Any) -> None:
        scheduler.add_job(
            run_job, trigger, args=[job, context], id=job, replace_existing=True, **options
        )

    # Tried every working hour; the daily period claim makes only the first try send anything,
    # so a replica that was down at nine still reminds people later that day.
    add("objective_reminders", CronTrigger(hour="9-17", minute=5, timezone=timezone))
    # Each question is claimed before it is sent: only the first try of the day asks.
    add("benefit_checks", CronTrigger(hour="9-17", minute=15, timezone=timezone))
    # Weekly, for the steering group: proposals still without an objective after a week.
    add(objective_digest.JOB, objective_digest.trigger(timezone))
    add("housekeeping", CronTrigger(hour=3, minute=17, timezone=timezone))
    # The card outbox runs at start (cards lost to a crash or a stop) and then every tick: a
    # minute (5 s with CSI_CRON_SECONDS, for tests).
    now = datetime.now().astimezone()
    tick = TICK_WITH_SECONDS if settings.cron_seconds else TICK
    add(
        "card_outbox",
        IntervalTrigger(seconds=tick.total_seconds(), timezone=timezone),
        next_run_time=now,
    )
    add(digest.JOB, digest_trigger)
    add(polls.OPEN_JOB, poll_trigger)
    add(polls.CLOSE_JOB, polls.close_trigger(settings))
    # At start and then every tick: what was missed, failed or abandoned.
    add(
        "catch_up",
        IntervalTrigger(seconds=tick.total_seconds(), timezone=timezone),
        next_run_time=now,
    )
    return scheduler


class ScheduledWork:
    """The scheduler of one replica: started when it becomes leader, stopped when it is not."""

    def __init__(self, *, deps: Deps, client: WebClient, leadership: Leadership) -> None:
        # Parsed now: an invalid CSI_*_CRON stops start-up (SettingsError), leader or not.
        digest.digest_trigger(deps.settings)
        polls.poll_trigger(deps.settings)
        self._deps, self._client, self._leadership = deps, client, leadership
        self._lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None

    @property
    def state(self) -> str:
        """'leader' (runs the jobs), 'standby' (waits to) or 'stopped'."""
        return self._leadership.state

    def start(self) -> None:
        """Join the election; the jobs start when this replica leads."""
        log.info("event=scheduler replica=%s state=standby", process_name())
        metrics.SCHEDULER_LEADER.set(0)
        self._leadership.start(self._elected, self._deposed)

    def _elected(self) -> None:
        with self._lock:
            self._scheduler = build_scheduler(
                deps=self._deps, client=self._client, leadership=self._leadership
            )
            self._scheduler.start()
        metrics.SCHEDULER_LEADER.set(1)
        log.info("event=leader replica=%s state=leader", self._leadership.owner)

    def _deposed(self) -> None:
        with self._lock:
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
                self._scheduler = None
        metrics.SCHEDULER_LEADER.set(0)
        log.info("event=standby replica=%s state=standby", self._leadership.owner)

    def stop(self) -> None:
        """Let the running jobs finish, then leave the election (a standby takes over at once):
        the lock is never handed on while this replica still posts."""
        with self._lock:
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=True)
                self._scheduler = None
        self._leadership.stop()
